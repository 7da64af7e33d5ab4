"""harness merge on memtier_benchmark files (built as memtier writes them: see
tests/memtier_files.py), layouts of different widths, refusals and bad input.
The merge of real harness runs is in tests/integration/test_merge.py."""

from __future__ import annotations

import io
import json
import math
import random

import pytest
from hdrh.histogram import HdrHistogram

from harness.cli import main
from harness.errors import ConfigError
from harness.merge import merge_documents
from tests.memtier_files import MEMTIER_LAYOUT, REQUEST_BYTES, memtier_document

START_MS = 1_790_000_000_250


def latencies(rng: random.Random, n: int) -> list[int]:
    """Microseconds: a body around 300 us and a tail to tens of ms."""
    values = [max(12, int(rng.lognormvariate(math.log(300), 0.5))) for _ in range(n)]
    return values + [rng.randint(5_000, 40_000) for _ in range(n // 200)]


def seconds_of(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"SET": latencies(rng, 300 + 10 * s), "GET": latencies(rng, 900 + 7 * s)} for s in range(count)]


def truth_at(values: list[int], percentile: float) -> int:
    """The value at a percentile, ranked as HdrHistogram ranks (nearest rank, half up)."""
    ordered = sorted(values)
    rank = max(int(percentile * len(ordered) / 100 + 0.5), 1)
    return ordered[rank - 1]


def bucket_width(value: int) -> int:
    hdr = HdrHistogram(*MEMTIER_LAYOUT)
    return hdr.get_highest_equivalent_value(value) - hdr.get_lowest_equivalent_value(value) + 1


def test_two_memtier_files_add_up_and_percentiles_are_within_one_bucket():
    first, second = seconds_of(1, 5), seconds_of(2, 4)
    # A second host started 1.4 s later: its points fall one and two seconds later.
    documents = [memtier_document(START_MS, first, out_file="a.json"),
                 memtier_document(START_MS + 1400, second, out_file="b.json")]
    merged = merge_documents(documents)
    stats = merged["ALL STATS"]
    for command in ("SET", "GET"):
        values = [v for run in (first, second) for s in run for v in s[command]]
        block = stats[command]
        assert block["Count"] == len(values) == sum(d["ALL STATS"][name]["Count"] for d in documents
                                                    for name in ("Sets" if command == "SET" else "Gets",))
        assert merged["harness"]["commands"][command]["bytes_sent"] == len(values) * REQUEST_BYTES[command]
        for percentile in (50.0, 99.0, 99.9):
            got = round(block["Percentile Latencies"][f"p{percentile:.3f}"] * 1000)
            truth = truth_at(values, percentile)
            assert abs(got - truth) < bucket_width(truth), (command, percentile, got, truth)
    assert stats["Totals"]["Count"] == sum(d["ALL STATS"]["Totals"]["Count"] for d in documents)
    # The duration is the union of the spans: 5 s from the start, the other ends at 5.4 s.
    assert stats["Runtime"]["Total duration"] == 5400
    assert stats["Totals"]["Ops/sec"] == round(stats["Totals"]["Count"] / 5.4, 2)
    # Points add where they fall in the same absolute second.
    expected: dict = {}
    for document in documents:
        start = document["ALL STATS"]["Runtime"]["Start time"]
        for key, entry in document["ALL STATS"]["Gets"]["Time-Serie"].items():
            epoch_second = (start + int(key) * 1000) // 1000
            expected[epoch_second] = expected.get(epoch_second, 0) + entry["Count"]
    serie = stats["GET"]["Time-Serie"]
    assert {entry["Time"] // 1000: entry["Count"] for entry in serie.values()} == expected
    assert all(entry["Time"] == (START_MS // 1000 + int(key)) * 1000 for key, entry in serie.items())
    shards = merged["harness"]["shards"]
    assert [shard["totals"]["count"] for shard in shards] == [d["ALL STATS"]["Totals"]["Count"] for d in documents]


def test_files_of_different_runs_are_refused_in_one_line_unless_forced():
    first = memtier_document(START_MS, seconds_of(1, 2))
    other = memtier_document(START_MS, seconds_of(2, 2))
    other["configuration"]["clients"] = 10
    with pytest.raises(ConfigError) as refused:
        merge_documents([first, other], names=["a.json", "b.json"])
    message = str(refused.value)
    assert "\n" not in message and "a.json and b.json differ in their configuration (clients)" in message
    assert "--force" in message
    merged = merge_documents([first, other], force=True, names=["a.json", "b.json"])
    assert merged["harness"]["merge"]["forced"] is True
    assert any("clients" in note for note in merged["harness"]["merge"]["notes"])
    assert merged["ALL STATS"]["Totals"]["Count"] == sum(
        d["ALL STATS"]["Totals"]["Count"] for d in (first, other))


def test_a_value_beyond_the_narrower_layout_is_kept_and_one_beyond_every_layout_is_clamped():
    # memtier's per-second layout holds up to 1 s at 2 digits; the other file holds 50 s.
    narrow = memtier_document(START_MS, [{"SET": [500, 900_000], "GET": [700]}], layout=(10, 1_000_000, 2))
    wide = memtier_document(START_MS, [{"SET": [50_000_000], "GET": [800]}])
    merged = merge_documents([narrow, wide])
    assert merged["ALL STATS"]["SET"]["Count"] == 3
    assert 49_900 < merged["ALL STATS"]["SET"]["Max Latency"] < 50_100
    assert not merged["harness"]["merge"]["notes"][:-1]  # only the note that memtier points hold no histogram
    # A layout reaching an hour, with a value of 1,000 s: past the 60 s the figures use.
    hour = memtier_document(START_MS, [{"SET": [1_000_000_000], "GET": [600]}], layout=(1, 3_600_000_000, 3))
    merged = merge_documents([narrow, hour])
    assert merged["ALL STATS"]["SET"]["Count"] == 3
    assert 59_900 < merged["ALL STATS"]["SET"]["Max Latency"] < 60_100
    assert any("1 latency value" in note and "clamped" in note for note in merged["harness"]["merge"]["notes"])
    # The file keeps the widest layout: the hour-long value is in it.
    encoded = merged["ALL STATS"]["SET"]["Percentile Latencies"]["Histogram log format"]["Compressed Histogram"]
    kept = HdrHistogram.decode(encoded)
    assert kept.highest_trackable_value == 3_600_000_000 and kept.get_max_value() >= 999_000_000


def write(tmp_path, name: str, document) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def test_the_merge_command_prints_the_summary_writes_the_file_and_checks_thresholds(tmp_path, capsys):
    a = write(tmp_path, "a.json", memtier_document(START_MS, seconds_of(3, 3), out_file="a.json"))
    b = write(tmp_path, "b.json", memtier_document(START_MS + 200, seconds_of(4, 3), out_file="b.json"))
    output = tmp_path / "merged.json"
    out = io.StringIO()
    assert main(["merge", a, b, "-o", str(output), "--threshold", "error_rate < 0.01"], out=out, env={}) == 0
    text = out.getvalue()
    merged = json.loads(output.read_text())
    total = merged["ALL STATS"]["Totals"]["Count"]
    assert f"{total:,} ops" in text and "TOTAL" in text and "threshold error_rate < 0.01: measured 0 PASS" in text
    assert text.rstrip().endswith(f"result file: {output}")
    assert merged["harness"]["thresholds"] == [{"threshold": "error_rate < 0.01", "measured": 0.0, "passed": True}]
    out = io.StringIO()
    assert main(["merge", a, b, "--threshold", f"count > {total}"], out=out, env={}) == 1
    assert f"threshold count > {total}: measured {total} FAIL" in out.getvalue()


@pytest.mark.parametrize("content, message", [
    (None, "cannot read result file {path}: No such file or directory"),
    ("{not json", "result file {path} is not JSON"),
    ('{"ALL STATS": {}}', '{path} is not a result file: it has no "ALL STATS" section with "Totals"'),
    ("[1, 2]", "{path} is not a result file: its top level is not a JSON object"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, content, message):
    good = write(tmp_path, "good.json", memtier_document(START_MS, seconds_of(5, 1)))
    path = str(tmp_path / "bad.json") if content is None else write(tmp_path, "bad.json", content)
    assert main(["merge", good, path], out=io.StringIO(), env={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("harness: error: " + message.format(path=path)), err


def test_merging_one_file_gives_back_its_own_figures():
    document = memtier_document(START_MS, seconds_of(6, 3))
    merged = merge_documents([document])
    for name, command in (("Sets", "SET"), ("Gets", "GET"), ("Totals", "Totals")):
        mine, theirs = merged["ALL STATS"][command], document["ALL STATS"][name]
        assert mine["Count"] == theirs["Count"] and mine["Ops/sec"] == theirs["Ops/sec"]
        for key in ("p50.000", "p99.000", "p99.900", "p100.000"):
            assert mine["Percentile Latencies"][key] == theirs["Percentile Latencies"][key]
