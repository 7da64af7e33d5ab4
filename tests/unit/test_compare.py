import io
import json

import pytest

from harness.cli import main


def result_file(tmp_path, name, ops, p50, p99):
    block = {"Ops/sec": ops, "Percentile Latencies": {"p50.000": p50, "p99.000": p99}}
    path = tmp_path / name
    path.write_text(json.dumps({"ALL STATS": {"Runtime": {}, "GET": block, "Totals": block}}))
    return str(path)


def compare(*argv):
    out = io.StringIO()
    status = main(["compare", *argv], out=out, env={})
    return status, out.getvalue()


def test_within_bounds_passes(tmp_path):
    base = result_file(tmp_path, "base.json", 10000, 0.20, 1.00)
    current = result_file(tmp_path, "cur.json", 9500, 0.21, 1.05)
    status, text = compare(base, current)
    assert status == 0 and "no regression beyond 10%" in text
    assert "GET" in text and "-5.0%" in text


def test_a_slowdown_beyond_the_bound_fails(tmp_path):
    base = result_file(tmp_path, "base.json", 10000, 0.20, 1.00)
    current = result_file(tmp_path, "cur.json", 9500, 0.21, 1.30)
    status, text = compare(base, current, "--max-regression=20")
    assert status == 1
    assert "GET p99 ms: 1 -> 1.3 (+30.0%)" in text
    status, _ = compare(base, current, "--max-regression=50")
    assert status == 0


def test_fewer_ops_is_a_regression_and_more_is_not(tmp_path):
    base = result_file(tmp_path, "base.json", 10000, 0.2, 1.0)
    assert compare(base, result_file(tmp_path, "slow.json", 8000, 0.2, 1.0))[0] == 1
    assert compare(base, result_file(tmp_path, "fast.json", 15000, 0.1, 0.5))[0] == 0


@pytest.mark.parametrize("content, message", [
    ("not json", "is not JSON"),
    ("{}", "has no \"ALL STATS\" section"),
])
def test_bad_files_give_one_line_and_status_2(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = result_file(tmp_path, "good.json", 1, 1, 1)
    status, _ = compare(good, str(bad))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0]
    assert compare(good, str(tmp_path / "missing.json"))[0] == 2
    assert compare(good, good, "--max-regression=-3")[0] == 2
