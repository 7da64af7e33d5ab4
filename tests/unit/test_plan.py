import pytest

from harness.errors import ConfigError
from harness.plan import make_plan, ramp_time, split_evenly
from harness.settings import resolve


def plan_for(cpu_count=2, **options):
    config = resolve(None, {}, {key: str(value) for key, value in options.items()})
    return make_plan(config, cpu_count)


@pytest.mark.parametrize(
    "total, parts, expected",
    [(10, 3, [4, 3, 3]), (9, 3, [3, 3, 3]), (2, 4, [1, 1, 0, 0]), (0, 2, [0, 0])],
)
def test_split_evenly(total, parts, expected):
    assert split_evenly(total, parts) == expected


@pytest.mark.parametrize(
    "options, processes, threads, connections_by_thread",
    [
        (dict(client_instances=3, connections_per_client=4, threads_per_client=2), 3, 2, [2, 2]),
        (dict(client_instances=1, connections_per_client=5, threads_per_client=2), 1, 2, [3, 2]),
        (dict(client_instances="auto", connections_per_client=1, threads_per_client=1), 2, 1, [1]),
    ],
)
def test_processes_threads_and_connections(options, processes, threads, connections_by_thread):
    plan = plan_for(**options)
    assert plan.processes == processes and plan.threads_per_process == threads
    for process in range(processes):
        shares = plan.shares_of(process)
        assert [len(share.connections) for share in shares] == connections_by_thread
        used = [index for share in shares for index in share.connections]
        assert used == list(range(plan.connections_per_process))
    assert sorted(share.global_index for share in plan.shares) == list(range(processes * threads))


def test_auto_uses_the_cpu_count():
    assert plan_for(cpu_count=8, client_instances="auto").processes == 8


def test_requests_are_split_exactly():
    plan = plan_for(client_instances=3, threads_per_client=2, connections_per_client=2, requests=100001)
    assert sum(share.quota for share in plan.shares) == 100001
    assert max(s.quota for s in plan.shares) - min(s.quota for s in plan.shares) <= 1
    assert all(share.quota == -1 for share in plan_for().shares)


def test_rate_is_split_across_all_threads():
    plan = plan_for(client_instances=2, threads_per_client=2, connections_per_client=2, rate=5000)
    assert [share.rate for share in plan.shares] == [1250.0] * 4
    assert all(share.rate == 0 for share in plan_for().shares)


def test_more_threads_than_connections_is_refused():
    with pytest.raises(ConfigError, match="threads_per_client = 4 .* connections_per_client = 2"):
        plan_for(threads_per_client=4, connections_per_client=2)


def test_ramp_grows_linearly_from_one_to_all():
    plan = plan_for(client_instances=2, connections_per_client=3, threads_per_client=1, ramp=10)
    times = sorted(at for share in plan.shares for at in share.activation)
    assert times == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    # every process gains connections at the same pace
    assert sorted(plan.shares_of(0)[0].activation) == [0.0, 4.0, 8.0]
    assert ramp_time(0, 5, 10) == 0.0
