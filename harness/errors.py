"""Exceptions that end a command with a one-line message, and the exit statuses.

Every command returns one of these statuses; the README's table documents them.
"""

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    # A threshold failed (run) or the target could not be reached (test-connection).
    FAILED_CHECK = 1
    USAGE = 2
    RUN_FAILED = 3
    SIGINT = 130
    SIGTERM = 143


class HarnessError(Exception):
    """An error the user can act on: printed as one line, never with a traceback."""

    status = ExitStatus.RUN_FAILED


class ConfigError(HarnessError):
    """Bad configuration or usage: names the key, its source and what is allowed."""

    status = ExitStatus.USAGE


class TargetError(HarnessError):
    """The target could not be reached or refused us (refused, auth, TLS, timeout...)."""

    status = ExitStatus.RUN_FAILED


class Stopped(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM handlers; carries the exit status.

    A BaseException so that `except Exception` blocks in library code do not swallow it.
    """

    def __init__(self, status: ExitStatus):
        super().__init__(status.name)
        self.status = status
