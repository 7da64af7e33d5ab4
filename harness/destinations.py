"""Where a run's results go, settled before the run (in the coordinator, before any
fork, so the reporter and the fallback write the same path).

With no `output` configured a run still leaves its result file, at
results/<workload>-<timestamp>.json under the current directory (created when
missing); the path is printed at the end of the run. --dry-run creates nothing.
"""

from __future__ import annotations

import dataclasses
import os
import time

from harness.errors import ConfigError

RESULTS_DIR = "results"


def default_output(workload: str, when: float | None = None, directory: str = RESULTS_DIR) -> str:
    """A fresh path: a second run in the same second gets -2, -3, ... rather than
    replacing the first one's file."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    path = os.path.join(directory, f"{workload}-{stamp}.json")
    number = 2
    while os.path.lexists(path):
        path = os.path.join(directory, f"{workload}-{stamp}-{number}.json")
        number += 1
    return path


def with_default_output(config):
    """`config` itself when output is set; otherwise a copy naming the default path,
    whose directory now exists. ConfigError (exit 2) when it cannot be made."""
    if config.output:
        return config
    try:
        os.makedirs(RESULTS_DIR, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output is not set and the default directory {os.path.abspath(RESULTS_DIR)} "
                          f"cannot be created: {exc.strerror}; set output (--output FILE)") from None
    return dataclasses.replace(config, output=default_output(config.workload))
