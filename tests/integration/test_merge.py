"""harness merge on the result files of real runs against a real redis-server: counts
equal the server's commandstats, percentiles equal those of one histogram holding every
file's values, per-second points add on absolute time; refusals; a mix with a
memtier_benchmark file (built as memtier writes it: tests/memtier_files.py)."""

from __future__ import annotations

import json
import time

from hdrh.histogram import HdrHistogram

from tests.conftest import client_for, commandstats, run_harness
from tests.memtier_files import MEMTIER_LAYOUT, memtier_document

REQUESTS = 6000


def run_once(server, output, *extra):
    done = run_harness("run", "--port", str(server.port), "--requests", str(REQUESTS), "--duration", "60",
                       "--client-instances", "1", "--connections-per-client", "4", "--threads-per-client", "2",
                       "--rate", "3000", "--threshold", "errors == 0", "--output", str(output), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(output.read_text())


def test_two_runs_merge_exactly(redis_server, tmp_path):
    client = client_for(redis_server)
    before = commandstats(client)
    began = time.time()
    documents = [run_once(redis_server, tmp_path / name) for name in ("a.json", "b.json")]
    ended = time.time()
    after = commandstats(client)
    for document in documents:  # the file's own clock: the first measured second, and points on it
        runtime = document["ALL STATS"]["Runtime"]
        assert began * 1000 <= runtime["Start time"] <= runtime["Finish time"] <= ended * 1000
        for key, entry in document["ALL STATS"]["Totals"]["Time-Serie"].items():
            assert entry["Time"] == runtime["Start time"] + int(key) * 1000
        for key, entry in document["ALL STATS"]["GET"]["Time-Serie"].items():
            if entry["Count"]:
                point = HdrHistogram.decode(entry["Compressed Histogram"])
                assert point.get_total_count() == entry["Count"] and point.significant_figures == 2
    sizes = [len(e["Compressed Histogram"]) for d in documents for b in d["ALL STATS"].values()
             if isinstance(b, dict) for e in b.get("Time-Serie", {}).values() if "Compressed Histogram" in e]
    print(f"point histograms: {len(sizes)} points, mean {sum(sizes) / len(sizes):.0f} B, max {max(sizes)} B")

    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    refused = run_harness("merge", a, b)  # two runs: two run ids
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "is of run" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr

    merged_path = tmp_path / "merged.json"
    done = run_harness("merge", a, b, "--force", "-o", str(merged_path))
    assert done.returncode == 0, done.stderr
    assert "threshold errors == 0: measured 0 PASS" in done.stdout  # from the files' configuration
    assert f"{2 * REQUESTS:,} ops" in done.stdout and f"result file: {merged_path}" in done.stdout
    merged = json.loads(merged_path.read_text())
    stats, harness = merged["ALL STATS"], merged["harness"]
    for command in ("GET", "SET"):
        sent = after.get(command, 0) - before.get(command, 0)
        assert harness["commands"][command]["count"] == stats[command]["Count"] == sent > 0
        assert sent == sum(d["harness"]["commands"][command]["count"] for d in documents)
        assert harness["commands"][command]["bytes_sent"] == sum(
            d["harness"]["commands"][command]["bytes_sent"] for d in documents)
    assert stats["Totals"]["Count"] == harness["totals"]["count"] == 2 * REQUESTS
    for name in ("GET", "SET", "Totals"):
        one = HdrHistogram(1, 60_000_000, 3)
        for document in documents:
            one.add(HdrHistogram.decode(
                document["ALL STATS"][name]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"]))
        percentiles = stats[name]["Percentile Latencies"]
        for percentile in (50.0, 99.0, 99.9):
            assert percentiles[f"p{percentile:.3f}"] == one.get_value_at_percentile(percentile) / 1000
    # The two runs were one after the other: the duration is the sum of their spans.
    spans = [d["ALL STATS"]["Runtime"]["Total duration"] for d in documents]
    assert stats["Runtime"]["Total duration"] == sum(spans)
    assert harness["totals"]["ops_per_sec"] == round(2 * REQUESTS / (sum(spans) / 1000), 3)
    # Per-second points add on absolute time.
    expected: dict = {}
    for document in documents:
        for entry in document["ALL STATS"]["GET"]["Time-Serie"].values():
            expected[entry["Time"] // 1000] = expected.get(entry["Time"] // 1000, 0) + entry["Count"]
    got = {entry["Time"] // 1000: entry["Count"] for entry in stats["GET"]["Time-Serie"].values()}
    assert got == expected
    assert [shard["file"] for shard in harness["shards"]] == [a, b]
    assert [shard["totals"]["count"] for shard in harness["shards"]] == [REQUESTS, REQUESTS]
    assert harness["merge"]["forced"] and harness["exit"]["status"] == 0

    # A memtier_benchmark file beside them: counts add, percentiles within one bucket.
    memtier = tmp_path / "memtier.json"
    values = [150 + 7 * i for i in range(2000)]
    memtier.write_text(json.dumps(memtier_document(documents[0]["ALL STATS"]["Runtime"]["Start time"],
                                                   [{"GET": values[:1000], "SET": values[1000:]}])))
    refused = run_harness("merge", a, str(memtier))
    assert refused.returncode == 2 and "written by redis-harness" in refused.stderr
    mixed_path = tmp_path / "mixed.json"
    done = run_harness("merge", a, str(memtier), "--force", "-o", str(mixed_path))
    assert done.returncode == 0, done.stderr
    mixed = json.loads(mixed_path.read_text())["ALL STATS"]
    assert mixed["GET"]["Count"] == documents[0]["ALL STATS"]["GET"]["Count"] + 1000
    assert mixed["Totals"]["Count"] == REQUESTS + 2000
    truth = HdrHistogram(*MEMTIER_LAYOUT)
    for value in values:
        truth.record_value(value)
    truth.add(HdrHistogram.decode(
        documents[0]["ALL STATS"]["Totals"]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"]))
    for percentile in (50.0, 99.0, 99.9):
        exact = truth.get_value_at_percentile(percentile)
        width = truth.get_highest_equivalent_value(exact) - truth.get_lowest_equivalent_value(exact) + 1
        got = mixed["Totals"]["Percentile Latencies"][f"p{percentile:.3f}"] * 1000
        assert abs(got - exact) < width, (percentile, got, exact)


def test_errors_by_type_and_null_replies_add_up(redis_server_factory, tmp_path):
    """Two runs against a full server (OOM on SET) merge their errors by type, null
    replies (GET misses) and hit rates exactly; the server saw the merged counts."""
    server = redis_server_factory("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    client = client_for(server)

    def calls() -> dict:
        return {name[len("cmdstat_"):].upper(): entry["calls"] + entry.get("rejected_calls", 0)
                for name, entry in client.info("commandstats").items()}

    before = calls()
    paths = [tmp_path / name for name in ("a.json", "b.json")]
    for path in paths:
        done = run_harness("run", "--port", str(server.port), "--requests", "8000", "--duration", "0",
                           "--value-size", "1000", "--keyspace", "100000", "--output", str(path))
        assert done.returncode == 0, done.stderr
    after = calls()
    documents = [json.loads(path.read_text())["harness"] for path in paths]
    merged_path = tmp_path / "merged.json"
    done = run_harness("merge", *map(str, paths), "--force", "-o", str(merged_path))
    assert done.returncode == 0, done.stderr
    merged = json.loads(merged_path.read_text())["harness"]
    errors = sum(d["totals"]["errors_by_type"].get("OOM", 0) for d in documents)
    assert merged["totals"]["errors_by_type"] == {"OOM": errors} and errors > 0
    assert merged["commands"]["SET"]["errors_by_type"] == {"OOM": errors}
    for command in ("GET", "SET"):  # the server counts a SET refused for OOM as a rejected call
        assert merged["commands"][command]["count"] == after[command] - before.get(command, 0)
    get = merged["commands"]["GET"]
    nulls = sum(d["commands"]["GET"]["nulls"] for d in documents)
    assert get["nulls"] == nulls > 0
    ok = get["count"] - get["errors"] - get["indeterminate"]
    assert get["hit_rate"] == round(1 - nulls / ok, 6)
