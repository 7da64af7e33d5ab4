"""log_file: whole lines from every process, rotated by size.

The coordinator, the reporter and the client processes all log to the same file.
Each record is one os.write() of a complete line on an O_APPEND descriptor opened for
that record, under an flock on PATH.lock, so lines from several processes never
interleave, and whichever process finds the file over log_max_bytes rotates it
(PATH -> PATH.1 -> ... PATH.<log_backups>) while the others wait. Logs are a few lines
per interval, so opening per record costs nothing that matters.

A write that fails during the run (a full filesystem, say) is one warning on stderr
from the process that hit it, after which that process stops writing to the file:
logging must never print tracebacks or end the run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys


class SharedRotatingFileHandler(logging.Handler):
    def __init__(self, path: str, max_bytes: int, backups: int):
        super().__init__()
        self.path = os.path.abspath(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.broken = False
        # Fail now, with the caller's error message, if the file cannot be written.
        os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            line = (self.format(record).replace("\n", " | ") + "\n").encode("utf-8", "replace")
            with open(self.path + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._rotate_if_full(len(line))
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(descriptor, line)
                finally:
                    os.close(descriptor)
        except Exception as exc:  # noqa: BLE001 - logging must never break the run
            self.broken = True
            reason = getattr(exc, "strerror", None) or str(exc)
            print(f"harness: warning: cannot write log_file {self.path}: {reason}; "
                  "this process writes no more log lines there", file=sys.stderr, flush=True)

    def _rotate_if_full(self, incoming: int) -> None:
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        if self.backups == 0:
            os.truncate(self.path, 0)
            return
        for number in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")
