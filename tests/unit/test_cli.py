import io
import os
import subprocess
import sys

import pytest

from harness import __version__
from harness.cli import main
from harness.settings import KEYS
from tests.conftest import REPO_ROOT, clean_env


def test_help_lists_every_key_with_its_default():
    out = io.StringIO()
    assert main(["--help"], out=out, env={}) == 0
    text = out.getvalue()
    for spec in KEYS:
        shown = spec.option + ("=" if spec.metavar else " ")  # a key without a metavar is a flag
        # output also has a short form: "-o FILE, --output=FILE"
        line = next(line for line in text.splitlines() if line.strip().removeprefix("-o FILE, ").startswith(shown))
        assert f"(default: {spec.default or 'none'})" in line, line
    assert "Exit status:" in text and "130" in text


def test_subcommand_help():
    out = io.StringIO()
    assert main(["run", "--help"], out=out, env={}) == 0
    assert "harness run [-c FILE] [--threshold=EXPR]... [options]" in out.getvalue()


def test_version():
    out = io.StringIO()
    assert main(["--version"], out=out, env={}) == 0
    assert out.getvalue().strip() == f"harness {__version__}"


def test_console_script_and_module_both_work():
    script = os.path.join(os.path.dirname(sys.executable), "harness")
    for command in ([script, "--version"], [sys.executable, "-m", "harness", "--version"]):
        done = subprocess.run(command, capture_output=True, text=True, env=clean_env(), cwd=REPO_ROOT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"harness {__version__}"


def test_no_argparse_or_click_anywhere():
    for folder in ("harness", "workloads"):
        for root, _, files in os.walk(os.path.join(REPO_ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    source = open(os.path.join(root, name), encoding="utf-8").read()
                    assert "import argparse" not in source and "import click" not in source, name


def usage_error(capsys, *argv):
    """(the error line, the lines under it) of a command line that does not parse."""
    status = main(list(argv), out=io.StringIO(), env={})
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, (status, captured.err)
    assert lines[0].startswith("harness: error: ") and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    return lines[0][len("harness: error: "):], lines[1:]


RUN_USAGE = "usage: harness run [-c FILE] [--threshold=EXPR]... [options]   (harness --help lists every option)"


def test_a_bare_harness_prints_the_short_usage(capsys):
    assert main([], out=io.StringIO(), env={}) == 2
    err = capsys.readouterr().err.splitlines()
    assert "Usage:" in err and "  harness run [-c FILE] [--threshold=EXPR]... [options]" in err
    assert err[-1].startswith("harness --help lists every option")
    assert len(err) < 14  # the short usage, not the whole --help


@pytest.mark.parametrize("argv, message", [
    (["run", "-d", "3"],
     "unknown option -d: the short options are -c, -o and -h; did you mean --dask, --db, --dry-run or --duration?"),
    (["run", "--durration", "3"], "unknown option --durration on the command line; did you mean --duration?"),
    (["run", "--bogus", "1"], "unknown option --bogus on the command line"),
    (["run", "--dur", "3"], "option --dur is abbreviated (options are written in full); did you mean --duration?"),
    (["run", "--dur=3"], "option --dur is abbreviated (options are written in full); did you mean --duration?"),
    (["run", "--thread", "2"],
     "option --thread is abbreviated (options are written in full); did you mean --threads-per-client?"),
    (["run", "--duration"], "option --duration needs a value on the command line"),
    (["run", "-c"], "option -c needs a value (the INI file) on the command line"),
    (["run", "--dry-run=yes"], "option --dry-run takes no value"),
    (["run", "--format", "json"], "option --format applies to compare only"),
    (["run", "extra"], "run takes no arguments besides options; a value with spaces needs quotes"),
    (["run", "--keyspace=10", "--duration", "3", "--keyspace", "20"],
     "option --keyspace is given more than once; give it once"),
    (["run", "--config=a.ini", "-c", "b.ini"], "option --config (-c) is given more than once; give it once"),
])
def test_run_usage_errors_name_the_problem_and_show_the_usage_line(capsys, argv, message):
    line, under = usage_error(capsys, *argv)
    assert line == message
    assert under == [RUN_USAGE]


def test_compare_usage_errors(capsys):
    line, under = usage_error(capsys, "compare", "a.json")
    assert line == "compare needs two result files: harness compare BASELINE.json CURRENT.json"
    assert under == ["usage: harness compare BASELINE CURRENT [--max-regression=PCT] [--format=FORMAT] [--html=FILE]"
                     "   (harness --help lists every option)"]
    line, _ = usage_error(capsys, "compare", "a.json", "b.json", "--duration", "3")
    assert line == "option --duration does not apply to compare"
    line, _ = usage_error(capsys, "compare", "a.json", "b.json", "--max-reg=5")
    assert line == "option --max-reg is abbreviated (options are written in full); did you mean --max-regression?"


def test_unknown_or_missing_command_lists_every_usage_line(capsys):
    line, under = usage_error(capsys, "rnu")
    assert line == ("unknown command 'rnu': use run, test-connection, compare, report or merge; "
                    "did you mean run?")
    assert under[0] == "usage:" and len(under) == 6 and "harness compare" in under[3]
    assert "harness report" in under[4] and "harness merge" in under[5]
    line, _ = usage_error(capsys, "--dry-run")
    assert line == "no command given: use run, test-connection, compare, report or merge"


def test_report_usage_errors(capsys):
    line, under = usage_error(capsys, "report")
    assert line == "report needs one result file: harness report RESULT.json [-o REPORT.html]"
    assert under == ["usage: harness report RESULT [options]   (harness --help lists every option)"]
    line, _ = usage_error(capsys, "report", "a.json", "-o")
    assert line == "option -o needs a value (the HTML file) on the command line"
    line, _ = usage_error(capsys, "report", "a.json", "--duration", "3")
    assert line == "option --duration does not apply to report"
    line, _ = usage_error(capsys, "report", "a.json", "-c", "x.ini")
    assert line == "option -c does not apply to report"
    line, _ = usage_error(capsys, "run", "--html", "r.html")
    assert line == "option --html applies to compare only"
    line, _ = usage_error(capsys, "run", "--force")
    assert line == "option --force applies to merge only"


def test_option_values_that_look_like_options_are_values(capsys):
    # A value is never taken for an option: `--key-prefix --x` and `--output -` are fine.
    out = io.StringIO()
    assert main(["run", "--dry-run", "--key-prefix", "--x:", "--output", "-", "-c", "config/soak.ini"],
                out=out, env={}) == 0, capsys.readouterr().err
    assert "key_prefix = --x:" in out.getvalue()


def test_help_lists_the_allowed_values_of_every_choice_key():
    out = io.StringIO()
    assert main(["--help"], out=out, env={}) == 0
    text = " ".join(out.getvalue().split())
    choice_keys = [spec for spec in KEYS if getattr(spec.parser, "describe", "").startswith("one of ")]
    assert {spec.name for spec in choice_keys} >= {"workload", "key_distribution", "log_level", "otlp_protocol"}
    for spec in choice_keys:
        allowed = spec.parser.describe[len("one of "):]
        assert f"one of: {allowed}" in text, spec.name
    assert all(len(line) <= 110 for line in out.getvalue().splitlines() if "one of:" in line)


def test_plurals_in_messages():
    from harness.disruptions import describe
    from harness.plural import plural

    assert plural(1, "client process") == "1 client process"
    assert plural(2, "client process") == "2 client processes"
    assert plural(0, "connection") == "0 connections"
    assert plural(1234, "operation") == "1,234 operations"
    line = describe({"at_s": 1.0, "failed_operations": 1, "connections": 1, "recovered_after_s": 0.5})
    assert "1 operation failed or unanswered on 1 connection;" in line


@pytest.mark.parametrize("argv", [["run", "--dry-run", "--quiet"], ["run", "--quiet", "--dry-run"]])
def test_a_flag_takes_no_value_wherever_it_stands(capsys, argv):
    """--quiet last was refused as "needs a value" (the Kubernetes manifest ends with it)."""
    out = io.StringIO()
    assert main(argv, out=out, env={}) == 0, capsys.readouterr().err
    assert "quiet = true" in out.getvalue()
