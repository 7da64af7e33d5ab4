"""What the HTML report shows, from result documents built here (report_data.py,
report_series.py, report_page.py): pure, no browser (tests/integration/test_report.py
opens the pages)."""

import json

from harness import histogram, report_data, report_series
from harness.report_page import inline_json, render
from harness.results import harness_block
from harness.stats import CommandStats
from tests.memtier_layout import memtier_document


def charts_of(page: dict) -> dict:
    return {chart["id"]: chart for section in page["sections"] for chart in section["charts"]}


def tables_of(page: dict) -> dict:
    return {table["title"]: table for section in page["sections"] for table in section["tables"]}


def test_the_spectrum_is_read_from_the_stored_histogram():
    document = memtier_document(seconds=2)
    block = document["ALL STATS"]["Gets"]
    counts = histogram.decode(block["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"])
    assert histogram.Summary(counts).percentile(50) / 1000 == block["Percentile Latencies"]["p50.000"]
    spectrum = charts_of(report_data.build(document, "m.json"))["spectrum"]
    gets = next(s["values"] for s in spectrum["series"] if s["label"] == "Gets")
    # x = 1/(1-q): x = 1 is the minimum, x = 10 the 90th percentile, x = 100 the 99th
    summary = histogram.Summary(counts)
    assert gets[0] == summary.min() / 1000
    assert gets[spectrum["x"].index(10.0)] == summary.percentile(90) / 1000
    assert gets[spectrum["x"].index(100.0)] == block["Percentile Latencies"]["p99.000"]
    # past 1/(1-q) = count the histogram tells nothing more: no points there
    count = block["Count"]
    assert all(v is None for x, v in zip(spectrum["x"], gets) if x > count * 1.0001)


def test_a_memtier_file_gives_its_commands_and_no_harness_parts():
    page = report_data.build(memtier_document(seconds=5), "m.json")
    assert page["title"] == "memtier_benchmark report"
    per_command = tables_of(page)["whole run (latency in ms)"]
    assert [row[0] for row in per_command["rows"]] == ["Sets", "Gets", "Totals"]  # Waits had no operations
    assert per_command["rows"][1][4] == "90.0%"  # hit rate from Hits/sec and Misses/sec
    throughput = charts_of(page)["throughput"]
    assert throughput["x"] == [0, 1, 2, 3, 4]
    assert [s["label"] for s in throughput["series"]] == ["total", "Sets", "Gets"]
    titles = [section["title"] for section in page["sections"]]
    assert "Harness and server resources" not in titles and "Pub/sub delivery" not in titles


def test_a_run_that_never_started_gives_a_page_of_what_it_knows():
    document = {"harness": harness_block(CommandStats(), 0.0, 3, "connection refused")}
    page = report_data.build(document, "r.json")
    assert ["exit", "3: connection refused"] in page["glance"]
    assert charts_of(page) == {}
    assert "connection refused" in render(page)


def test_garbage_in_every_part_never_fails():
    for document in ({}, {"ALL STATS": []}, {"ALL STATS": {"GET": {"Ops/sec": "x", "Time-Serie": [1]}}},
                     {"harness": {"samples": [1, {"second": "a"}], "run": [], "totals": "x", "exit": 3}},
                     {"harness": {"cluster": {"nodes": [], "redirections": 5}, "pubsub": {"expected": "x"}}}):
        render(report_data.build(document, "x.json"))


def harness_document(**harness) -> dict:
    block = harness_block(CommandStats(), 10.0, 0, "completed")
    block.update(harness)
    return {"harness": block}


def test_the_bottleneck_warning_is_shown_where_it_fired():
    samples = [{"second": 5.0, "processes": {}, "server": None},
               {"second": 10.0, "processes": {}, "server": None, "busy": ["harness:client1"]}]
    page = report_data.build(harness_document(samples=samples), "r.json")
    assert page["warnings"] == ["at 10.0 s: WARNING client1 above 90% CPU: the harness, not the server, "
                                "may be the limit"]


def test_service_time_is_shown_beside_latency_only_for_a_paced_run():
    commands = {"GET": {"latency": {"count": 5, "p50_ms": 1.0, "p99_ms": 2.0, "p99.9_ms": 3.0, "max_ms": 4.0},
                        "service_time": {"count": 5, "p50_ms": 0.1, "p99_ms": 0.2, "p99.9_ms": 0.3, "max_ms": 0.4}}}
    title = "paced run: latency from the intended start / service time (write to reply), ms"
    closed = report_data.build(harness_document(commands=commands, run={"workload": "x"}), "r.json")
    assert title not in tables_of(closed)
    paced = report_data.build(harness_document(commands=commands, run={"target_rate": {"rate": 100}}), "r.json")
    assert tables_of(paced)[title]["rows"] == [["GET", "1.000 / 0.100", "2.000 / 0.200", "3.000 / 0.300",
                                                "4.000 / 0.400"]]


def test_cluster_and_pubsub_sections():
    document = harness_document(
        cluster={"nodes": {"127.0.0.1:7000": {"count": 600, "share": 0.6}, "127.0.0.1:7001": {"count": 400,
                                                                                            "share": 0.4}},
                 "redirections": {"MOVED": 3, "ASK": 0}},
        pubsub={"published": 100, "subscribers": 2, "expected": 200, "received": 198, "lost": 2,
                "out_of_order": 0, "resubscribes": 0, "latency": {"count": 198, "p50_ms": 0.2, "p99_ms": 0.9,
                                                                   "p99.9_ms": 1.0, "max_ms": 1.1}})
    document["ALL STATS"] = {"Totals": {"Count": 10, "Ops/sec": 1.0, "Time-Serie": {
        "0": {"Count": 5, "Redirections": {"MOVED": 3}}, "1": {"Count": 5}}}}
    page = report_data.build(document, "r.json")
    tables = tables_of(page)
    assert tables["operations per master"]["rows"][0] == ["127.0.0.1:7000", "600", "60.0%"]
    assert charts_of(page)["redirections"]["series"][0] == {"label": "MOVED", "values": [3.0, 0.0]}
    assert ["loss", "1.000%"] in tables["deliveries"]["rows"]


def test_inline_json_cannot_close_its_script_element():
    data = {"title": "</script><script>alert(1)</script>", "text": "a & b > c"}
    text = inline_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data
    page = render({"title": data["title"], "glance": [], "warnings": [], "sections": []})
    assert page.count("</script>") == 3  # the data, uPlot and the page's own script


def test_the_page_holds_everything_it_needs():
    page = render(report_data.build(memtier_document(seconds=2), "m.json"))
    assert "uPlot" in page and "Content-Security-Policy" in page
    assert "http://" not in page and "https://" not in page.replace("https://github.com/leeoniya/uPlot", "")
    assert report_series.TOTALS in page


def test_warmup_ramp_disruptions_and_the_target_are_marked_on_the_throughput_chart():
    document = harness_document(disruptions=[
        {"at_s": 3.0, "recovered_after_s": 1.5, "failed_operations": 4, "connections": 2},
        {"at_s": 8.0, "recovered_after_s": None, "failed_operations": 9, "connections": 1}])
    document["configuration"] = {"warmup": "1", "ramp": "2"}
    document["ALL STATS"] = {"Totals": {"Count": 40, "Ops/sec": 4.0, "Time-Serie": {
        str(second): {"Count": 4, "Target Count": 5} for second in range(10)}}}
    page = report_data.build(document, "r.json")
    throughput = charts_of(page)["throughput"]
    assert throughput["bands"] == [{"from": 0, "to": 1.0, "label": "warmup"}, {"from": 0, "to": 2.0, "label": "ramp"},
                                   {"from": 3.0, "to": 4.5, "label": "disruption"},
                                   {"from": 8.0, "to": 9, "label": "disruption"}]
    assert throughput["series"][-1] == {"label": "target", "values": [5.0] * 10, "dash": True}
    assert tables_of(page)["disruptions"]["rows"][1] == ["8.0 s", "not within the run", "9", "1"]
