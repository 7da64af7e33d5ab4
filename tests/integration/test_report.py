"""The HTML report and the compare page, opened in the real browser (Debian's chromium
through Playwright): no console error, no request but the file itself, every chart
drew data points; a screenshot of each lands in the test's tmp dir."""

import json
import re
import socket

import pytest

from harness.messages import Delta
from harness.reporter import RunState
from harness.results import all_stats, harness_block
from tests.conftest import run_harness
from tests.memtier_layout import memtier_document
from tests.report_browser import assert_drawn, open_report
from tests.unit.test_reporter_bounds import DAY, delta_for

# The limits for a day-long run's report.
MAX_DAY_REPORT_BYTES = 5 * 2**20
MAX_DAY_RENDER_SECONDS = 3.0


def _run(server, tmp_path, name, *extra):
    output, report = tmp_path / f"{name}.json", tmp_path / f"{name}.html"
    done = run_harness("run", "--port", str(server.port), "--duration", "3", "--stats-interval", "1",
                       "--client-instances", "2", "--workload", "basic_rw", "--output", str(output),
                       "--report", str(report), *extra)
    return done, output, report


def test_a_real_runs_report_draws_every_chart_offline(redis_server, tmp_path):
    done, output, report = _run(redis_server, tmp_path, "run", "--warmup", "1")
    assert done.returncode == 0, done.stderr
    assert f"report file: {report}" in done.stdout.splitlines()
    opened = open_report(report, tmp_path / "report.png")
    assert_drawn(opened, report)
    document = json.loads(output.read_text())
    commands = [name for name in document["ALL STATS"] if name not in ("Runtime", "Totals")]
    assert {"throughput", "spectrum", "latency-Totals", "harness-cpu", "harness-rss", "server-cpu",
            "server-memory"} <= set(opened.charts)
    assert {f"latency-{name}" for name in commands} <= set(opened.charts)
    # one curve per command and the total; the spectrum has each command and "all"
    assert len(opened.charts["throughput"]) == len(commands) + 1
    assert len(opened.charts["spectrum"]) == len(commands) + 1
    # each client process's CPU is drawn: the result file holds it per process and interval
    assert len(opened.charts["harness-cpu"]) >= 3  # client0, client1, the reporter
    for label in ("target", "workload", "shape", "errors", "exit", "shaded: warmup"):
        assert label in opened.text
    assert f"{document['harness']['totals']['count']:,}" in opened.text
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_paced_runs_report_draws_service_time_beside_latency(redis_server, tmp_path):
    done, output, report = _run(redis_server, tmp_path, "paced", "--rate", "2000")
    assert done.returncode == 0, done.stderr
    serie = json.loads(output.read_text())["ALL STATS"]["Totals"]["Time-Serie"]
    assert all("Service p50.00" in point and point["Service p99.00"] <= point["p99.00"]
               for point in serie.values() if point["Count"])
    opened = open_report(report, tmp_path / "paced.png")
    assert_drawn(opened, report)
    assert len(opened.charts["latency-Totals"]) == 6  # p50, p99, p99.9, max, service p50, service p99
    assert len(opened.charts["throughput"]) == 6  # total, four commands, the target
    assert "latency from the intended start / service time" in opened.text


def test_a_closed_loop_runs_series_has_no_service_time(redis_server, tmp_path):
    done, output, _ = _run(redis_server, tmp_path, "closed")
    assert done.returncode == 0, done.stderr
    serie = json.loads(output.read_text())["ALL STATS"]["Totals"]["Time-Serie"]
    assert serie and not any("Service p50.00" in point for point in serie.values())


def test_a_cluster_runs_report_shows_operations_per_master(cluster_factory, tmp_path):
    masters, _ = cluster_factory(3)
    output, report = tmp_path / "c.json", tmp_path / "c.html"
    done = run_harness("run", "--port", str(masters[0].port), "--duration", "2", "--stats-interval", "1",
                       "--client-instances", "1", "--output", str(output), "--report", str(report))
    assert done.returncode == 0, done.stderr
    opened = open_report(report, tmp_path / "cluster.png")
    assert_drawn(opened, report)
    document = json.loads(output.read_text())
    nodes = document["harness"]["cluster"]["nodes"]
    assert len(nodes) == 3 and "operations per master" in opened.text
    assert len(opened.charts["masters"]) == 3  # each master's operations over time
    per_second = document["ALL STATS"]["Totals"]["Time-Serie"].values()
    assert {node: sum(point.get("Nodes", {}).get(node, 0) for point in per_second) for node in nodes} == {
        node: figures["count"] for node, figures in nodes.items()}
    for node, figures in nodes.items():
        assert f"{node}\t{figures['count']:,}\t{figures['share']:.1%}" in opened.text


def test_harness_report_writes_beside_the_result_file_by_default(redis_server, tmp_path):
    done, output, _ = _run(redis_server, tmp_path, "first")
    assert done.returncode == 0, done.stderr
    made = run_harness("report", str(output))
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [f"report file: {tmp_path / 'first.html'}"]
    assert_drawn(open_report(tmp_path / "first.html"), tmp_path / "first.html")


def test_compare_html_overlays_both_runs_and_holds_the_table(redis_server, tmp_path):
    runs = []
    for name in ("a", "b"):
        done, output, _ = _run(redis_server, tmp_path, name)
        assert done.returncode == 0, done.stderr
        runs.append(output)
    page = tmp_path / "compare.html"
    done = run_harness("compare", str(runs[0]), str(runs[1]), "--html", str(page), "--max-regression", "1000")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"report file: {page}"
    opened = open_report(page, tmp_path / "compare.png")
    assert_drawn(opened, page)
    assert {"throughput", "latency", "spectrum"} <= set(opened.charts)
    # both runs in every chart: the baseline's series beside the current one's
    assert len(opened.charts["throughput"]) % 2 == 0 and len(opened.charts["spectrum"]) % 2 == 0
    # the same table as the terminal's: every row's cells appear in the page
    table = [line for line in lines if re.match(r"^(GET|SET|INCR|DEL|Totals)\s", line)]
    assert table
    for line in table:
        command, figure = line.split()[0], " ".join(line.split()[1:3]) if "ops/s" not in line else "ops/s"
        assert command in opened.text and figure in opened.text
    assert lines[-2] in opened.text  # the verdict line
    # with --format json, standard output stays one JSON document and the page is still written
    page.unlink()
    done = run_harness("compare", str(runs[0]), str(runs[1]), "--html", str(page), "--max-regression", "1000",
                       "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["regression"] is False and page.stat().st_size > 50_000


def test_a_memtier_result_file_shows_what_it_holds(tmp_path):
    source, page = tmp_path / "memtier.json", tmp_path / "memtier.html"
    source.write_text(json.dumps(memtier_document()))
    done = run_harness("report", str(source), "-o", str(page))
    assert done.returncode == 0, done.stderr
    opened = open_report(page, tmp_path / "memtier.png")
    assert_drawn(opened, page)
    # per-second series and histograms are there; resources, cluster and pub/sub are not
    assert set(opened.charts) == {"throughput", "latency-Totals", "latency-Sets", "latency-Gets", "spectrum"}
    assert "memtier_benchmark report" in opened.text and "Gets" in opened.text
    assert "Harness and server resources" not in opened.text


def test_a_memtier_file_with_damaged_parts_still_gives_a_page(tmp_path):
    document = memtier_document(seconds=3)
    document["ALL STATS"]["Gets"]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"] = "x!"
    document["ALL STATS"]["Sets"]["Time-Serie"] = "nonsense"
    del document["ALL STATS"]["Runtime"]
    source, page = tmp_path / "damaged.json", tmp_path / "damaged.html"
    source.write_text(json.dumps(document))
    done = run_harness("report", str(source), "-o", str(page))
    assert done.returncode == 0, done.stderr
    opened = open_report(page)
    assert_drawn(opened, page)
    assert "latency-Sets" not in opened.charts and "spectrum" in opened.charts


def test_a_failed_run_that_wrote_its_result_file_gets_its_report(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output, report = tmp_path / "r.json", tmp_path / "r.html"
    done = run_harness("run", "--port", str(port), "--connect-retries", "0", "--duration", "1",
                       "--output", str(output), "--report", str(report))
    assert done.returncode == 3, done.stderr
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 3
    opened = open_report(report)
    assert opened.errors == [] and opened.requests == [f"file://{report}"]
    assert "3: " in opened.text and "refused" in opened.text


@pytest.mark.parametrize("args, message", [
    (["report", "missing.json"], "harness: error: cannot read result file missing.json: No such file or directory"),
    (["report", "bad.json"], "harness: error: result file bad.json is not JSON: Expecting value: line 1 column 1 "
                             "(char 0)"),
    (["report", "list.json"], "harness: error: result file list.json is not a JSON object"),
    (["report", "list.json", "-o", "list.json"],
     "harness: error: the report list.json would replace its own result file: name another with -o"),
    (["report", "memtier.json", "-o", "nodir/x.html"],
     "harness: error: report = nodir/x.html (command line): the directory {tmp}/nodir does not exist"),
    (["compare", "memtier.json", "memtier.json", "--html", "nodir/x.html"],
     "harness: error: --html = nodir/x.html (command line): the directory {tmp}/nodir does not exist"),
    (["run", "--output", "-", "--report", "r.html"],
     "harness: error: report = r.html (option --report) is made from the result file, but output = - "
     "(option --output) writes none: name a result file too"),
    (["run", "--output", "r.html", "--report", "r.html"],
     "harness: error: report = r.html (option --report) is also output (option --output): give each its own file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "bad.json").write_text("not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "memtier.json").write_text(json.dumps(memtier_document(seconds=2)))
    done = run_harness(*args, cwd=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == message.format(tmp=tmp_path), done.stderr
    assert "Traceback" not in done.stderr


def day_long_document() -> dict:
    """The bounded-series test's 24 hours of Deltas (tests/unit/test_reporter_bounds.py),
    with a resources sample every 5 s as the reporter keeps them, as a result file."""
    state = RunState(start=100.0)
    for second in range(DAY):
        state.apply(delta_for(second))
        if second % 5 == 0:
            state.add_sample({"second": second, "processes": {
                "harness:client0": {"cpu_percent": 50 + second % 40, "rss_mb": 60.0, "full": True},
                "harness:report": {"cpu_percent": 2.0, "rss_mb": 45.0, "full": True}},
                "server": {"cpu_percent": 40.0, "connected_clients": 26, "instantaneous_ops_per_sec": 2000,
                           "used_memory": 5 * 2**20}})
    block = harness_block(state.totals, float(DAY), 0, "completed")
    block["samples"] = state.resources
    return {"ALL STATS": all_stats(state.totals, float(DAY), state.series, {}), "harness": block}


def test_a_day_long_runs_report_stays_small_and_renders_fast(tmp_path):
    source, page = tmp_path / "day.json", tmp_path / "day.html"
    source.write_text(json.dumps(day_long_document()))
    done = run_harness("report", str(source), "-o", str(page))
    assert done.returncode == 0, done.stderr
    size = page.stat().st_size
    opened = open_report(page, tmp_path / "day.png")
    assert_drawn(opened, page)
    assert max(opened.charts["throughput"]) >= 2700  # every point of the bounded series is drawn
    print(f"\n24-hour run: report {size / 2**20:.2f} MiB, rendered in {opened.seconds:.2f} s")
    assert size < MAX_DAY_REPORT_BYTES, size
    assert opened.seconds < MAX_DAY_RENDER_SECONDS, opened.seconds

