"""Turn configuration text into typed values.

Each parser is a callable `parse(text) -> value` that raises ValueError whose message
says what is allowed ("expected a whole number >= 1"); settings.py adds the key and
where the text came from. Pure: no I/O. The `describe` attribute is shown in --help.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable
from urllib.parse import unquote, urlsplit

Parser = Callable[[str], object]

# Redis refuses string values larger than 512 MiB (proto-max-bulk-len).
MAX_VALUE_SIZE = 512 * 1024 * 1024


class Secret:
    """A string that prints as *** so it cannot leak through a log line or repr.

    Call reveal() at the one place the real value is needed (the AUTH handshake).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "***" if self._value else "''"

    __str__ = __repr__


def _named(describe: str, func: Callable[[str], object]) -> Parser:
    func.describe = describe  # type: ignore[attr-defined]
    return func


def integer(minimum: int = 0, maximum: int | None = None, auto: bool = False) -> Parser:
    """A whole number in [minimum, maximum]; with auto=True the word 'auto' too."""
    bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    expected = f"a whole number {bounds}" + (", or auto" if auto else "")

    def parse(text: str) -> int | str:
        text = text.strip()
        if auto and text.lower() == "auto":
            return "auto"
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(f"expected {expected}")
        return value

    return _named(expected, parse)


def number(minimum: float = 0.0, above: bool = False, maximum: float | None = None) -> Parser:
    """A finite decimal number >= minimum (> minimum with above=True), <= maximum."""
    low = f"> {minimum:g}" if above else f">= {minimum:g}"
    expected = f"a number {low}" + ("" if maximum is None else f" and <= {maximum:g}")

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        too_low = value <= minimum if above else value < minimum
        if not math.isfinite(value) or too_low or (maximum is not None and value > maximum):
            raise ValueError(f"expected {expected}")
        return value

    return _named(expected, parse)


def choice(*allowed: str) -> Parser:
    expected = "one of " + ", ".join(allowed)

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected {expected}")
        return value

    return _named(expected, parse)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(auto: bool = False) -> Parser:
    expected = "true or false" + (", or auto" if auto else "")

    def parse(text: str) -> bool | str:
        value = text.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        if auto and value == "auto":
            return "auto"
        raise ValueError(f"expected {expected}")

    return _named(expected, parse)


def text() -> Parser:
    return _named("text", lambda value: value.strip())


def secret() -> Parser:
    return _named("text (never shown)", lambda value: Secret(value.strip()))


def addresses() -> Parser:
    """host:port[,host:port...] (Sentinel addresses); IPv6 hosts in brackets."""
    expected = "host:port[,host:port...]"

    def parse(value: str) -> tuple:
        found = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            host, sep, port = item.rpartition(":")
            host = host.strip("[]")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected {expected}, not {item!r}")
            found.append((host, int(port)))
        return tuple(found)

    return _named(expected, parse)


@dataclasses.dataclass(frozen=True)
class SizeChoice:
    """Values of `low` to `high` bytes (equal for a fixed size), picked `weight` parts."""

    low: int
    high: int
    weight: float


def _size_range(part: str) -> tuple[int, int]:
    low_text, sep, high_text = part.partition("-")
    low = int(low_text)
    high = int(high_text) if sep else low
    if not 1 <= low <= high <= MAX_VALUE_SIZE:
        raise ValueError
    return low, high


def value_size_spec() -> Parser:
    expected = (
        f"a size in bytes (1 to {MAX_VALUE_SIZE}), a range MIN-MAX, "
        "or a weighted list SIZE:WEIGHT,... such as 32:70,1024:25,65536:5"
    )

    def parse(value: str) -> tuple[SizeChoice, ...]:
        parts = [part.strip() for part in value.split(",")]
        weighted = len(parts) > 1 or ":" in value
        choices = []
        try:
            for part in parts:
                size_text, sep, weight_text = part.partition(":")
                if weighted and not sep:
                    raise ValueError
                weight = float(weight_text) if sep else 1.0
                if not (math.isfinite(weight) and weight > 0):
                    raise ValueError
                choices.append(SizeChoice(*_size_range(size_text.strip()), weight))
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        return tuple(choices)

    return _named(expected, parse)


URL_SCHEMES = ("redis", "rediss", "unix")


@dataclasses.dataclass(frozen=True)
class RedisUrl:
    """The parts of a redis://, rediss:// or unix:// URL, or the word `embedded`."""

    scheme: str
    host: str = ""
    port: int | None = None
    db: int | None = None
    path: str = ""
    username: str = ""
    password: Secret = Secret("")

    @property
    def embedded(self) -> bool:
        return self.scheme == "embedded"

    def masked(self) -> str:
        """The URL as the user would recognise it, with any password as ***."""
        if self.embedded:
            return "embedded"
        auth = ""
        if self.username or self.password:
            auth = self.username + (":***" if self.password else "") + "@"
        if self.scheme == "unix":
            return f"unix://{auth}{self.path}" + (f"?db={self.db}" if self.db else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        db = f"/{self.db}" if self.db is not None else ""
        return f"{self.scheme}://{auth}{host}{port}{db}"

    __repr__ = masked
    __str__ = masked


def redis_url() -> Parser:
    expected = "redis://[user:password@]host[:port][/db], rediss://..., unix:///path.sock, or embedded"

    def parse(value: str) -> RedisUrl | None:
        value = value.strip()
        if not value:
            return None
        if value.lower() == "embedded":
            return RedisUrl("embedded")
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if parts.scheme not in URL_SCHEMES:
            raise ValueError(f"expected {expected}")
        db = _url_db(parts, expected)
        auth = dict(
            username=unquote(parts.username or ""), password=Secret(unquote(parts.password or ""))
        )
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError(f"expected {expected}: a unix:// URL needs a socket path")
            return RedisUrl("unix", path=unquote(parts.path), db=db, **auth)
        if not parts.hostname:
            raise ValueError(f"expected {expected}: the URL names no host")
        return RedisUrl(parts.scheme, host=parts.hostname, port=port, db=db, **auth)

    return _named(expected, parse)


def _url_db(parts, expected: str) -> int | None:
    """The db number from the path (/3) or, for unix:// URLs, the query (?db=3)."""
    if parts.scheme == "unix":
        query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
        raw = query.get("db", "")
    else:
        raw = parts.path.strip("/")
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"expected {expected}: db must be a whole number, not {raw!r}")
    return int(raw)


def _pairs(value: str, expected: str, parse_pair: Callable[[str, str], tuple]) -> tuple[tuple, ...]:
    """A comma-separated list of LEFT:RIGHT, each made by parse_pair (which raises
    ValueError for a bad one); any bad part is the one error `expected ...`."""
    pairs = []
    try:
        for part in value.split(","):
            left, sep, right = part.strip().partition(":")
            if not sep:
                raise ValueError
            pairs.append(parse_pair(left.strip(), right))
    except ValueError:
        raise ValueError(f"expected {expected}") from None
    return tuple(pairs)


def weights(*allowed: str) -> Parser:
    """NAME:WEIGHT,... with names from `allowed` (case-insensitive) and weights > 0."""
    expected = "a list NAME:WEIGHT,... with names from " + ", ".join(allowed)

    def weighted(name: str, weight_text: str) -> tuple[str, float]:
        name, weight = name.upper(), float(weight_text)
        if name not in allowed or not (math.isfinite(weight) and weight >= 0):
            raise ValueError
        return name, weight

    def parse(value: str) -> tuple[tuple[str, float], ...]:
        pairs = _pairs(value, expected, weighted)
        if not any(weight > 0 for _, weight in pairs):
            raise ValueError(f"expected {expected}, with at least one weight above 0")
        return pairs

    return _named(expected, parse)


_STAGE_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def stages() -> Parser:
    """DURATION:RATE,... (as k6's ramping-arrival-rate): each stage moves the target
    rate linearly to RATE over DURATION (30s, 2m, 1h, 500ms or plain seconds)."""
    expected = "a list DURATION:RATE,... such as 30s:1000,60s:5000,30s:0 (durations > 0, rates >= 0)"

    def stage(length_text: str, rate_text: str) -> tuple[float, float]:
        length_text = length_text.lower()
        unit = next((u for u in ("ms", "s", "m", "h") if length_text.endswith(u)), "")
        seconds = float(length_text[:len(length_text) - len(unit)]) * _STAGE_UNITS.get(unit, 1.0)
        rate = float(rate_text)
        if not (math.isfinite(seconds) and seconds > 0 and math.isfinite(rate) and rate >= 0):
            raise ValueError
        return seconds, rate

    def parse(value: str) -> tuple[tuple[float, float], ...]:
        if not value.strip():
            return ()
        result = _pairs(value, expected, stage)
        if not any(rate > 0 for _, rate in result):
            raise ValueError(f"expected {expected}, with a rate above 0 somewhere")
        return result

    return _named(expected, parse)


def optional_number(minimum: float = 0.0) -> Parser:
    """Empty (meaning: derived from other keys) or a number >= minimum."""
    inner = number(minimum)
    expected = f"empty or {inner.describe}"

    def parse(value: str) -> float | None:
        return inner(value) if value.strip() else None

    return _named(expected, parse)


# Commands a custom template may not send: they touch data or state the run does not own,
# block the connection, or change what the connection is.
FORBIDDEN_COMMANDS = frozenset({
    "FLUSHALL", "FLUSHDB", "SWAPDB", "MOVE", "COPY", "SELECT", "SHUTDOWN", "DEBUG", "CONFIG",
    "REPLICAOF", "SLAVEOF", "FAILOVER", "CLUSTER", "SCRIPT", "FUNCTION", "MONITOR", "SYNC",
    "PSYNC", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "RESET",
    "QUIT", "AUTH", "HELLO", "CLIENT", "MULTI", "EXEC", "DISCARD", "WATCH", "BLPOP", "BRPOP",
    "BLMOVE", "BRPOPLPUSH", "BZPOPMIN", "BZPOPMAX", "BLMPOP", "BZMPOP", "XREAD", "XREADGROUP",
    "WAIT", "KEYS", "SCAN", "RANDOMKEY", "ACL", "MODULE", "SAVE", "BGSAVE", "BGREWRITEAOF",
})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclasses.dataclass(frozen=True)
class CommandTemplate:
    """One weighted custom command: `text` split into words, placeholders kept as text."""

    weight: float
    words: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.words[0].upper()


def check_placeholder(inner: str) -> None:
    kind, _, rest = inner.partition(":")
    if kind in ("value", "member", "field") and not rest:
        return
    if kind == "key" and (not rest or _KEY_NAME.match(rest)):
        return
    if kind == "int":
        low, sep, high = rest.partition(":")
        if sep and low.lstrip("-").isdigit() and high.lstrip("-").isdigit() and int(low) <= int(high):
            return
    raise ValueError(
        f"unknown placeholder {{{inner}}}: use {{key}}, {{key:NAME}}, {{value}}, {{member}}, "
        "{field} or {int:LOW:HIGH}"
    )


def command_templates() -> Parser:
    expected = "lines 'WEIGHT COMMAND ARGS...' separated by newlines or ';', e.g. '7 GET {key}; 3 SET {key} {value}'"

    def parse(value: str) -> tuple[CommandTemplate, ...]:
        templates = []
        for line in re.split(r"[;\n]", value):
            words = line.split()
            if not words:
                continue
            try:
                weight = float(words[0])
            except ValueError:
                raise ValueError(f"expected {expected}: {line.strip()!r} does not start with a weight") from None
            if not (math.isfinite(weight) and weight > 0) or len(words) < 2:
                raise ValueError(f"expected {expected}: {line.strip()!r}")
            template = CommandTemplate(weight, tuple(words[1:]))
            if template.name in FORBIDDEN_COMMANDS:
                raise ValueError(f"{template.name} is not allowed in a command template")
            for word in template.words:
                for inner in _PLACEHOLDER.findall(word):
                    check_placeholder(inner)
            templates.append(template)
        return tuple(templates)

    return _named(expected, parse)


def threshold_list() -> Parser:
    """Threshold expressions separated by ';' or newlines (see harness/thresholds.py)."""
    from harness import thresholds

    def parse(value: str) -> tuple:
        return tuple(thresholds.parse(part) for part in re.split(r"[;\n]", value) if part.strip())

    return _named("expressions such as 'p99_ms < 2; error_rate < 0.001'", parse)


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """Shard `index` of `count` (0-based); index None: JOB_COMPLETION_INDEX gives it
    (settings fills it in, since a parser reads no environment)."""

    index: int | None
    count: int

    def __str__(self) -> str:
        return f"{'' if self.index is None else self.index}/{self.count}"


def shard() -> Parser:
    """I/N (shard I of N, 0 <= I < N), or /N: I from JOB_COMPLETION_INDEX."""
    expected = "I/N with 0 <= I < N (shard I of N), or /N to take I from JOB_COMPLETION_INDEX"

    def parse(value: str) -> ShardSpec | None:
        value = value.strip()
        if not value:
            return None
        index_text, sep, count_text = value.partition("/")
        try:
            count = int(count_text)
            index = int(index_text) if index_text.strip() else None
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if not sep or count < 1 or (index is not None and not 0 <= index < count):
            raise ValueError(f"expected {expected}")
        return ShardSpec(index, count)

    return _named(expected, parse)


# The word that makes start_at come from standard input (see harness/barrier.py).
START_FROM_STDIN = "stdin"


def start_instant() -> Parser:
    """When every shard starts: epoch seconds, ISO-8601 with a timezone, or `stdin`."""
    expected = ("epoch seconds (1767225600), ISO-8601 with a timezone (2026-01-01T00:00:00Z), "
                f"or {START_FROM_STDIN}")

    def parse(value: str) -> float | str | None:
        import datetime

        value = value.strip()
        if not value:
            return None
        if value.lower() == START_FROM_STDIN:
            return START_FROM_STDIN
        try:
            seconds = float(value)
        except ValueError:
            try:
                instant = datetime.datetime.fromisoformat(value.replace("z", "Z"))
            except ValueError:
                raise ValueError(f"expected {expected}") from None
            if instant.tzinfo is None:
                raise ValueError(f"expected {expected}: this one has no timezone (add Z or +00:00)") from None
            seconds = instant.timestamp()
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"expected {expected}")
        return seconds

    return _named(expected, parse)


_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def run_id() -> Parser:
    """A run id shared by all shards: it names keys, connections and the ACL user, so
    only characters all three accept."""
    expected = "up to 64 letters, digits, '.', '_' or '-'"

    def parse(value: str) -> str:
        value = value.strip()
        if value and not _RUN_ID.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return _named(expected, parse)
