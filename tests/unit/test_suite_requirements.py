"""The README's test command on a machine without the suite's system packages stops at
once with one line naming them and the apt-get line (tests/conftest.py)."""

import os
import shutil
import subprocess
import sys

from tests.conftest import REPO_ROOT, SYSTEM_COMMANDS, clean_env


def test_missing_packages_stop_the_suite_in_one_line(tmp_path):
    # A PATH with every command the suite needs except Prometheus and the Pushgateway.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in SYSTEM_COMMANDS:
        if not command.startswith("prometheus"):
            os.symlink(shutil.which(command), bin_dir / command)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/unit/test_target_default.py"],
                          env=clean_env(PATH=str(bin_dir)), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 4, done.stdout + done.stderr
    assert lines == ["ERROR: the test suite needs system packages that are missing: prometheus, "
                     "prometheus-pushgateway; install them with: apt-get install prometheus "
                     "prometheus-pushgateway (or run .ci/run as root)"]
