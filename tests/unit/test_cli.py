import io
import os
import subprocess
import sys

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
        line = next(line for line in text.splitlines() if line.strip().startswith(shown))
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
