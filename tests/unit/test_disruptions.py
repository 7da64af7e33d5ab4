"""Merging per-connection failure spans into disruptions with a recovery time."""

from harness import disruptions


def test_overlapping_spans_of_many_connections_are_one_disruption():
    merged = disruptions.merge([], [(10.0, 10.5, 3, (1, 0)), (10.2, 11.4, 5, (1, 1))])
    merged = disruptions.merge(merged, [(11.9, 12.0, 0, (2, 0))])  # within the 1 s gap
    report = disruptions.report(merged, run_start=4.0)
    assert report == [{"at_s": 6.0, "recovered_after_s": 2.0, "failed_operations": 8, "connections": 3}]


def test_a_connection_failing_twice_within_the_gap_counts_once():
    merged = disruptions.merge([], [(10.0, 10.5, 3, (1, 0)), (11.0, 11.2, 2, (1, 0)), (10.1, 10.3, 1, (1, 1))])
    assert [(d.failed, d.connections) for d in merged] == [(6, 2)]


def test_separate_disruptions_and_one_never_recovered():
    merged = disruptions.merge([], [(20.0, 21.0, 1, (1, 0)), (5.0, 5.5, 2, (1, 0)), (40.0, None, 7, (1, 1))])
    merged = disruptions.merge(merged, [(40.5, 41.0, 1, (1, 2))])  # joins the open one: still open
    report = disruptions.report(merged, run_start=0.0)
    assert [entry["at_s"] for entry in report] == [5.0, 20.0, 40.0]
    assert report[2]["recovered_after_s"] is None and report[2]["failed_operations"] == 8
    assert report[2]["connections"] == 2
    assert "not served again" in disruptions.describe(report[2])


def test_a_span_bridging_two_disruptions_joins_them():
    merged = disruptions.merge([], [(0.0, 1.0, 1, (1, 0)), (5.0, 6.0, 1, (1, 1))])
    merged = disruptions.merge(merged, [(1.5, 4.5, 1, (1, 2))])
    assert [(d.start, d.end, d.failed, d.connections) for d in merged] == [(0.0, 6.0, 3, 3)]


def test_the_list_stays_bounded():
    spans = [(float(i * 10), float(i * 10 + 1), 1, (1, i % 7)) for i in range(disruptions.MAX_DISRUPTIONS + 50)]
    merged = []
    for span in spans:
        merged = disruptions.merge(merged, [span])
    assert len(merged) == disruptions.MAX_DISRUPTIONS
    assert sum(d.failed for d in merged) == len(spans)
