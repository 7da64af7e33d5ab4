"""The coordinator's heartbeats and its fallback account of a run."""

from harness.messages import Delta
from harness.stats import CommandStats
from harness.supervision import Fallback, Heartbeats


def test_silence_counts_only_after_the_start_and_for_live_processes():
    beats = Heartbeats(3, timeout=5)
    assert beats.silent(100.0, [0, 1, 2]) == []  # not started: preparing is not silence
    beats.start(10.0)
    beats.seen(0, 14.0)
    beats.seen(1, 16.0)

    assert beats.silent(19.5, [1]) == []
    assert [index for index, _ in beats.silent(19.5, [0, 1, 2])] == [0, 2]


def test_the_fallback_merges_deltas_and_says_it_is_partial():
    fallback = Fallback()
    for process, until in ((0, 11.0), (1, 12.5)):
        stats = CommandStats()
        stats.ok["GET"] = 10
        stats.errors["SET", "OOM"] = 2
        stats.samples = [("GET", 1.0, 1.1, "")]
        fallback.add(Delta(process, stats, until=until))
    assert fallback.totals.total == 24 and fallback.totals.samples == []
    assert fallback.seconds(10.0) == 2.5
    document = fallback.document("abcd1234", 2.5, 3, "reporter process (pid 7) killed by SIGKILL",
                                 ["reporter process (pid 7) killed by SIGKILL"])
    block = document["harness"]
    assert block["totals"]["count"] == 24 and block["commands"]["GET"]["count"] == 20
    assert block["exit"]["status"] == 3 and block["exit"]["failures"]
    assert "reporter process died" in block["partial"] and block["run"]["run_id"] == "abcd1234"


def test_final_deltas_are_remembered_and_exit_codes_named():
    from harness.supervision import how_it_ended

    beats = Heartbeats(2, timeout=5)
    beats.start(0.0)
    beats.seen(1, 1.0, final=True)
    assert beats.finished == {1}
    assert how_it_ended(-9) == "killed by SIGKILL" and how_it_ended(3) == "exited with status 3"
