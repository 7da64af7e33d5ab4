"""The harness's cost line counts the CPU the client processes reported when they
ended (resources.clients), and is not claimed when one never reported."""

from harness.messages import Delta, ProcessEnded
from harness.reporter import RunState, ops_per_cpu_second
from harness.stats import CommandStats


def state_of_two_processes() -> RunState:
    state = RunState(start=100.0)
    for process in (0, 1):
        stats = CommandStats()
        stats.ok["GET"] += 500_000
        state.apply(Delta(process=process, stats=stats, until=110.0))
    return state


def test_cost_from_every_client_processs_reported_cpu():
    state = state_of_two_processes()
    for process in (0, 1):
        state.apply(ProcessEnded(process=process, last_reply=110.0, cpu_seconds=5.0))
    cost = ops_per_cpu_second(state, processes=2)
    # 1,000,000 operations over 10 client CPU-seconds and the little this process used
    assert cost is not None and 90_000 < cost <= 100_000


def test_no_cost_when_a_client_was_killed_before_reporting():
    """After a second Ctrl-C the clients are killed: their operations were once
    divided by the reporter's CPU alone (938,463 operations per CPU-second)."""
    state = state_of_two_processes()
    state.apply(ProcessEnded(process=0, last_reply=110.0, cpu_seconds=5.0))
    assert ops_per_cpu_second(state, processes=2) is None
    assert ops_per_cpu_second(RunState(start=100.0), processes=1) is None
