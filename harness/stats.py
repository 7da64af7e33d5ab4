"""Operation counts per command and errors per (command, error type).

Pure data; merged across threads and processes by adding. The metrics issue adds
latency histograms beside the counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CommandStats:
    # Successful operations per command name.
    ok: Counter = field(default_factory=Counter)
    # Failed operations per (command name, error type).
    errors: Counter = field(default_factory=Counter)

    def add(self, other: "CommandStats") -> None:
        self.ok.update(other.ok)
        self.errors.update(other.errors)

    def errors_of(self, command: str) -> int:
        return sum(n for (name, _), n in self.errors.items() if name == command)

    def count_of(self, command: str) -> int:
        """Every operation sent, failed or not: what the server's commandstats counts."""
        return self.ok[command] + self.errors_of(command)

    def commands(self) -> list[str]:
        return sorted(set(self.ok) | {name for name, _ in self.errors})

    @property
    def total(self) -> int:
        return sum(self.ok.values()) + self.total_errors

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())


def error_type(exc: BaseException) -> str:
    """connection, timeout, or the server's error prefix (OOM, WRONGTYPE, NOPERM, MOVED...)."""
    import redis

    # redis-py strips known prefixes (OOM, NOPERM, MOVED...) from the message and keeps
    # them here; unknown ones (WRONGTYPE, BUSY...) stay the message's first word.
    code = getattr(exc, "status_code", None)
    if code:
        return code
    if isinstance(exc, redis.TimeoutError):
        return "timeout"
    if isinstance(exc, (redis.ConnectionError, OSError)):
        return "connection"
    if isinstance(exc, redis.ResponseError):
        word = str(exc).split(" ", 1)[0]
        return word if word.isupper() else "ERR"
    return type(exc).__name__
