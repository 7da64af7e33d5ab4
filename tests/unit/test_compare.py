"""`harness compare`: every number it prints is checked against the files it read."""

import io
import json
import os
import re

import pytest

from harness.cli import main


def series(ops, p50, p99, step=1):
    """A Time-Serie: one point per value, `step` seconds apart."""
    return {str(i * step): {"Count": round(o * step), "p50.00": a, "p99.00": b}
            for i, (o, a, b) in enumerate(zip(ops, p50, p99))}


def block(ops, p50, p99, serie=None):
    figures = {"Ops/sec": ops, "Percentile Latencies": {"p50.000": p50, "p99.000": p99}}
    if serie is not None:
        figures["Time-Serie"] = serie
    return figures


def result_file(tmp_path, name, ops, p50, p99, serie=None, commands=("GET",)):
    stats = {"Runtime": {"Start time": 1}}
    for command in commands:
        stats[command] = block(ops, p50, p99, serie)
    stats["Totals"] = block(ops, p50, p99, serie)
    path = tmp_path / name
    path.write_text(json.dumps({"ALL STATS": stats}))
    return str(path)


def compare(*argv, columns=200):
    """(status, stdout) with the terminal COLUMNS wide, as shutil reads it."""
    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        status = main(["compare", *argv], out=out, env={})
    finally:
        os.environ.pop("COLUMNS") if saved is None else os.environ.__setitem__("COLUMNS", saved)
    return status, out.getvalue()


NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


def numbers(text):
    """Every number printed, leaving out the names that hold digits (p50, 25-75%)."""
    for label in ("p50 ms", "p99 ms", "25-75%"):
        text = text.replace(label, "")
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def rows(text):
    """{(command, figure): [cells]} from the table's data lines."""
    found = {}
    for line in text.splitlines()[1:]:
        cells = line.split()
        if len(cells) >= 6 and cells[1] in ("ops/s", "p50", "p99"):
            figure = cells[1] if cells[1] == "ops/s" else cells[1] + " " + cells[2]
            rest = cells[2:] if cells[1] == "ops/s" else cells[3:]
            found[(cells[0], figure)] = rest
    return found


# Interior points (first and last are left out as partial seconds) are the middle five:
# baseline p99 1.1, 1.2, 1.3, 1.4, 1.5 -> quartiles 1.2 and 1.4 (inclusive method).
BASE_SERIE = series(ops=[100, 37000, 37100, 37400, 37500, 37900, 5],
                    p50=[0.9, 0.250, 0.260, 0.270, 0.280, 0.290, 0.9],
                    p99=[9.0, 1.1, 1.2, 1.3, 1.4, 1.5, 9.0])


def test_every_printed_number_comes_from_the_files(tmp_path):
    # The reported bug: 37344.450 printed as ".450" (cells cut to their last 28 characters).
    base = result_file(tmp_path, "base.json", 37344.45, 0.263, 1.287, BASE_SERIE)
    slow = series(ops=[50, 30000, 30100, 30200, 30300, 30400, 9],
                  p50=[0.3, 0.300, 0.310, 0.320, 0.330, 0.340, 0.3],
                  p99=[2.0, 1.6, 1.7, 1.8, 1.9, 2.0, 2.0])
    current = result_file(tmp_path, "cur.json", 30247.79, 0.311, 1.795, slow)
    status, text = compare(base, current)
    assert status == 1
    table = rows(text)
    assert table[("GET", "ops/s")] == ["37,344.45", "30,247.79", "-19.0%", "37,100.00..37,500.00",
                                       "30,100.00..30,300.00", "REGRESSION"]
    assert table[("GET", "p50 ms")] == ["0.263", "0.311", "+18.3%", "0.260..0.280", "0.310..0.330", "REGRESSION"]
    assert table[("GET", "p99 ms")] == ["1.287", "1.795", "+39.5%", "1.200..1.400", "1.700..1.900", "REGRESSION"]
    assert table[("Totals", "p99 ms")] == table[("GET", "p99 ms")]
    # Every number on the screen is one of these (the bound, the column title's 25-75).
    allowed = {37344.45, 30247.79, -19.0, 37100, 37500, 30100, 30300, 0.263, 0.311, 18.3, 0.26, 0.28, 0.31,
               0.33, 1.287, 1.795, 39.5, 1.2, 1.4, 1.7, 1.9, 10, 25, -75, 75, -19.0, 18.3, 39.5}
    printed = numbers(text)
    assert printed and all(value in allowed or -value in allowed for value in printed), \
        sorted(set(printed) - allowed)
    assert text.splitlines()[-1] == ("regression beyond 10%: GET ops/s -19.0%; GET p50 ms +18.3%; "
                                     "GET p99 ms +39.5%; Totals ops/s -19.0%; Totals p50 ms +18.3%; "
                                     "Totals p99 ms +39.5%")


def test_two_like_runs_whose_p99_moved_within_their_spread_pass(tmp_path):
    # The soak script's complaint: p99 3.269 -> 3.765 ms between two identical runs.
    noisy = series(ops=[10, 5000, 5000, 5000, 5000, 5000, 5000, 3],
                   p50=[0.2] * 8, p99=[9, 2.6, 4.4, 3.0, 3.9, 2.8, 4.1, 9])
    also = series(ops=[10, 5000, 5000, 5000, 5000, 5000, 5000, 3],
                  p50=[0.2] * 8, p99=[9, 3.1, 4.6, 2.7, 4.0, 3.3, 4.3, 9])
    base = result_file(tmp_path, "a.json", 5000.0, 0.2, 3.269, noisy)
    current = result_file(tmp_path, "b.json", 5000.0, 0.2, 3.765, also)
    status, text = compare(base, current)
    assert status == 0, text
    assert rows(text)[("GET", "p99 ms")][-1] == "noise"
    assert rows(text)[("GET", "ops/s")][-1] == "ok"
    assert text.splitlines()[-1] == ("no regression beyond 10% and the runs' own spread "
                                     "(GET p99 ms +15.2%, Totals p99 ms +15.2% within it)")


def test_without_a_series_only_the_bound_judges(tmp_path):
    base = result_file(tmp_path, "base.json", 10000, 0.20, 1.00)
    current = result_file(tmp_path, "cur.json", 9500, 0.21, 1.30)
    status, text = compare(base, current, "--max-regression=20")
    assert status == 1
    assert rows(text)[("GET", "p99 ms")] == ["1.000", "1.300", "+30.0%", "-", "-", "REGRESSION"]
    assert rows(text)[("GET", "ops/s")] == ["10,000.00", "9,500.00", "-5.0%", "-", "-", "ok"]
    assert compare(base, current, "--max-regression=50")[0] == 0
    # Three points are too few for quartiles: the same as no series.
    short = series([1, 2, 3], [1, 1, 1], [1, 1, 1])
    base = result_file(tmp_path, "base3.json", 10000, 0.20, 1.00, short)
    current = result_file(tmp_path, "cur3.json", 8000, 0.20, 1.00, short)
    status, text = compare(base, current)
    assert status == 1 and rows(text)[("GET", "ops/s")][3:] == ["-", "-", "REGRESSION"]


def test_fewer_ops_is_a_regression_and_more_is_not(tmp_path):
    base = result_file(tmp_path, "base.json", 10000, 0.2, 1.0)
    assert compare(base, result_file(tmp_path, "slow.json", 8000, 0.2, 1.0))[0] == 1
    assert compare(base, result_file(tmp_path, "fast.json", 15000, 0.1, 0.5))[0] == 0


def test_a_coarsened_series_counts_ops_per_second_of_each_point(tmp_path):
    # A long run's points cover 4 s each: Count 40,000 is 10,000 ops/s.
    coarse = series([10000] * 6, [0.2] * 6, [1.0] * 6, step=4)
    base = result_file(tmp_path, "base.json", 10000, 0.2, 1.0, coarse)
    status, text = compare(base, base)
    assert status == 0
    assert rows(text)[("GET", "ops/s")][3] == "10,000.00..10,000.00"


def test_a_narrow_terminal_drops_the_spread_columns_not_the_digits(tmp_path):
    base = result_file(tmp_path, "base.json", 37344.45, 0.263, 1.287, BASE_SERIE)
    status, wide = compare(base, base, columns=200)
    status, narrow = compare(base, base, columns=60)
    assert status == 0
    assert max(len(line) for line in wide.splitlines()[:-2]) > 60
    table_lines = narrow.splitlines()[:-2]
    assert all(len(line) <= 60 for line in table_lines), narrow
    assert "37,344.45" in narrow and "25-75%" not in table_lines[0]
    assert "(per-second spread columns left out to fit 60 columns; --format json has them)" in narrow


def test_json_for_scripts(tmp_path):
    base = result_file(tmp_path, "base.json", 37344.45, 0.263, 1.287, BASE_SERIE, commands=("GET", "SET"))
    current = result_file(tmp_path, "cur.json", 36000.0, 0.263, 1.287, BASE_SERIE)
    status, text = compare(base, current, "--format=json", "--max-regression", "5")
    assert status == 0
    document = json.loads(text)
    assert document["max_regression_percent"] == 5 and document["regression"] is False
    assert document["only_in_baseline"] == ["SET"] and document["only_in_current"] == []
    first = document["figures"][0]
    assert first["command"] == "GET" and first["figure"] == "ops/s"
    assert first["baseline"] == 37344.45 and first["current"] == 36000.0
    assert first["change_percent"] == pytest.approx(100 * (36000.0 - 37344.45) / 37344.45)
    assert first["baseline_spread"] == {"q1": 37100, "q3": 37500, "points": 5}
    assert first["verdict"] == "ok"
    assert [(f["command"], f["figure"]) for f in document["figures"]] == [
        (c, f) for c in ("GET", "Totals") for f in ("ops/s", "p50 ms", "p99 ms")]


def test_commands_in_one_file_only_are_named(tmp_path):
    base = result_file(tmp_path, "base.json", 100, 0.2, 1.0, commands=("GET", "SET"))
    current = result_file(tmp_path, "cur.json", 100, 0.2, 1.0, commands=("GET", "INCR"))
    status, text = compare(base, current)
    assert status == 0
    assert "only in baseline: SET" in text and "only in current: INCR" in text


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
    assert compare(good, good, "--max-regression=nan")[0] == 2
    capsys.readouterr()
    assert compare(good, good, "--format=xml")[0] == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["harness: error: invalid --format 'xml' (command line): expected table or json"]
