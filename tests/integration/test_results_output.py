"""Where a run's results go and what it prints about them: the result file's path,
the default results/ path, --csv, --quiet, and the cost line after a second Ctrl-C."""

import csv
import json
import re
import signal
import time

from tests.conftest import client_for, commandstats, run_harness, start_harness


def test_the_result_files_path_is_printed(redis_server, tmp_path):
    output = tmp_path / "r.json"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert f"result file: {output}" in done.stdout.splitlines()
    assert json.loads(output.read_text())["harness"]["exit"]["status"] == 0


def test_without_output_the_run_writes_under_results(redis_server, tmp_path):
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "2", "--stats-interval", "1",
                       "--workload", "basic_rw", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = list((tmp_path / "results").iterdir())
    assert len(written) == 1 and written[0].name.startswith("basic_rw-") and written[0].suffix == ".json"
    assert f"result file: results/{written[0].name}" in done.stdout.splitlines()
    harness = json.loads(written[0].read_text())["harness"]
    assert harness["totals"]["count"] > 0
    # CPU% is measured from the first interval on: the busy client process is not 0% there.
    first = harness["samples"][0]["processes"]["harness:client0"]
    assert first["cpu_percent"] is not None and first["cpu_percent"] > 0 and first["full"]


def test_a_second_run_in_the_same_second_does_not_replace_the_first(redis_server, tmp_path):
    for _ in range(2):
        done = run_harness("run", "--port", str(redis_server.port), "--requests", "100", "--duration", "0",
                           cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "results").iterdir())) == 2


def test_quiet_prints_only_the_one_line_summary(redis_server, tmp_path):
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1", "--stats-interval", "0.2",
                       "--quiet", "--output", "r.json", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    count = json.loads((tmp_path / "r.json").read_text())["harness"]["totals"]["count"]
    assert lines[0].startswith(f"{count:,} ops in ") and "ops/s" in lines[0] and lines[0].endswith("-> r.json")
    assert " INFO " not in done.stderr  # only warnings reach the terminal


def test_csv_holds_the_result_files_figures(redis_server, tmp_path):
    output, table = tmp_path / "r.json", tmp_path / "r.csv"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "3", "--workload", "basic_rw",
                       "--output", str(output), "--csv", str(table))
    assert done.returncode == 0, done.stderr
    assert f"csv file: {table}" in done.stdout.splitlines()
    document = json.loads(output.read_text())
    harness, stats = document["harness"], document["ALL STATS"]
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    run_rows = {row["command"]: row for row in rows if row["scope"] == "run"}
    assert set(run_rows) == set(harness["commands"]) | {"TOTAL"}
    for command, block in harness["commands"].items():
        row = run_rows[command]
        assert int(row["count"]) == block["count"] > 0
        assert int(row["errors"]) == block["errors"]
        assert float(row["p99_ms"]) == block["latency"]["p99_ms"]
        assert float(row["max_ms"]) == block["latency"]["max_ms"]
    assert int(run_rows["TOTAL"]["count"]) == harness["totals"]["count"]
    assert float(run_rows["TOTAL"]["seconds"]) == harness["totals"]["seconds"]
    for command in list(harness["commands"]) + ["TOTAL"]:
        serie = stats["Totals" if command == "TOTAL" else command]["Time-Serie"]
        seconds = {row["second"]: row for row in rows if row["scope"] == "second" and row["command"] == command}
        assert set(seconds) == set(serie)
        for second, entry in serie.items():
            assert int(seconds[second]["count"]) == entry["Count"]
            if "p99.00" in entry:
                assert float(seconds[second]["p99_ms"]) == entry["p99.00"]


def test_an_unwritable_csv_is_refused_before_any_load(redis_server, tmp_path):
    before = commandstats(client_for(redis_server))
    missing = tmp_path / "no-such-directory" / "r.csv"
    done = run_harness("run", "--port", str(redis_server.port), "--duration", "1", "--csv", str(missing),
                       "--output", str(tmp_path / "r.json"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"harness: error: csv = {missing} (option --csv): the directory {missing.parent} does not exist"]
    after = commandstats(client_for(redis_server))
    assert {name: n for name, n in after.items() if name not in ("INFO", "HELLO")} == \
        {name: n for name, n in before.items() if name not in ("INFO", "HELLO")}
    assert not (tmp_path / "r.json").exists()


def test_cost_line_after_a_second_ctrl_c_claims_nothing(redis_server, tmp_path):
    output = tmp_path / "r.json"
    process = start_harness("run", "--port", str(redis_server.port), "--duration", "60", "--stats-interval", "0.2",
                            "--output", str(output))
    for line in process.stdout:  # until operations have been counted
        assert line.startswith("[ "), line + process.stderr.read()
        if not re.match(r"\[ *[\d.]+s\] 0 ops", line):
            break
    # The server holds every command, so the first Ctrl-C cannot end the run cleanly
    # (its operations stay unanswered) and the second kills the client processes
    # before they report.
    client_for(redis_server).execute_command("CLIENT", "PAUSE", "5000")
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)  # two signals at once may arrive as one
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "harness cost: not measured (client0 stopped before reporting its CPU time)" in out
    assert "operations per harness CPU-second" not in out
    assert json.loads(output.read_text())["harness"]["resources"]["ops_per_harness_cpu_second"] is None
