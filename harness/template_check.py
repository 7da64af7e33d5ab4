"""Which custom command templates a run may send, decided by the server's own knowledge.

Runs in the coordinator before any fork, on the pre-flight connection (the configured
user), before any command of the load is sent. A refusal is a sentence; the caller
turns it into a ConfigError (one line, exit status 2).

Two questions are asked of the server, never of a hand-kept list:
- what a command is: COMMAND INFO gives its ACL categories (@admin, @dangerous,
  @scripting, @blocking; Redis 7 per subcommand, e.g. SLOWLOG|RESET), so a command the
  harness has never heard of is judged the way the server's ACLs judge it;
- which arguments are keys: COMMAND GETKEYS, asked for every shape a template can take.
  A template is not one command but all of its draws: `LMPOP {int:1:2} {key} other LEFT`
  has one key when the draw is 1 and two when it is 2. So every {int:LOW:HIGH} is tried
  over its range (all of it when small, the ends and the small numbers otherwise) and
  the template is refused when the key positions change with the draw.

`confined` says whether the run's commands go through a per-run ACL user
(harness.run_user): then the server checks every key a script touches and scripting is
allowed; without it (no ACL rights, Redis < 6) scripts could touch anything, so
@scripting is refused too.

Usage:
    problem = check_templates(client, Custom(spec), prefix.encode(), confined=True)
"""

from __future__ import annotations

import re

import redis

# Commands that reach another database or another server: the per-run ACL user is
# denied them too (harness.run_user), and without ACLs they are refused here. COPY is
# among them because its DB option writes into another database.
REACHES_OUTSIDE = ("SELECT", "SWAPDB", "MOVE", "MIGRATE", "COPY")
# Categories refused in every case: the run user lacks them anyway, and a clear
# refusal before the run beats a run full of NOPERM. @blocking would stall the
# harness's connection.
ALWAYS_REFUSED = ("@admin", "@dangerous", "@blocking")
UNCONFINED_REFUSED = ALWAYS_REFUSED + ("@scripting",)
# {int:LOW:HIGH} ranges up to this size are tried in full; larger ones at their ends
# and small numbers (where a numkeys-like argument lives).
ENUMERATE_UP_TO = 256
EDGE = 32

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_templates(client, workload, prefix: bytes, confined: bool) -> str | None:
    """The first problem as a sentence, or None when every template may run."""
    refused = ALWAYS_REFUSED if confined else UNCONFINED_REFUSED
    for template in workload.config.commands:
        text = " ".join(template.words)
        problem = _check_command(client, template, text, refused, confined) \
            or _check_keys(client, template, text, workload, prefix)
        if problem:
            return problem
    return None


def _check_command(client, template, text: str, refused: tuple, confined: bool) -> str | None:
    name = template.name
    if name in REACHES_OUTSIDE:
        return f"command template {text!r} is refused: {name} reaches another database or server"
    info = command_info(client, name, template.words[1] if len(template.words) > 1 else "")
    if info is None:
        return f"the server refuses command template {text!r}: unknown command {name}"
    label, categories = info
    bad = [category for category in refused if category in categories]
    if not bad:
        return None
    why = ", ".join(bad)
    if bad == ["@scripting"] and not confined:
        return (f"command template {text!r} is refused: {label} is in @scripting, and without ACL "
                "rights (ACL SETUSER refused, or Redis < 6) the server cannot confine a script "
                "to the run's keys")
    return f"command template {text!r} is refused: {label} is in {why} (the server's own categories)"


def command_info(client, name: str, first_arg: str = "") -> tuple[str, set[str]] | None:
    """(label, categories) by COMMAND INFO; Redis 7's subcommands (SLOWLOG|RESET)
    answered for themselves. Before Redis 6 (no categories) the flags stand in:
    admin -> @admin, noscript -> @scripting. None for an unknown command."""
    # "COMMAND INFO" as one word: redis-py then applies no reply parsing of its own.
    reply = client.execute_command("COMMAND INFO", name)
    entry = reply[0] if reply else None
    if not entry:
        return None
    label, categories = name, _categories(entry)
    subcommands = entry[9] if len(entry) > 9 and entry[9] else []
    if subcommands:
        wanted = f"{name}|{first_arg}".lower()
        chosen = [sub for sub in subcommands if _text(sub[0]).lower() == wanted]
        if chosen and "{" not in first_arg:
            label, categories = f"{name} {first_arg.upper()}", _categories(chosen[0])
        else:  # a placeholder or an unknown subcommand: judge by the worst of them
            categories = set().union(*(_categories(sub) for sub in subcommands))
    return label, categories


def _categories(entry) -> set[str]:
    if len(entry) > 6:
        return {_text(item) for item in entry[6]}
    flags = {_text(item) for item in entry[2]}
    return {category for flag, category in (("admin", "@admin"), ("noscript", "@scripting")) if flag in flags}


def _text(item) -> str:
    return item.decode() if isinstance(item, bytes) else str(item)


def _check_keys(client, template, text: str, workload, prefix: bytes) -> str | None:
    if len(template.words) == 1:  # no arguments, so no keys (PING, DBSIZE...)
        return None
    shapes = list(_shapes(template, workload))
    replies = _getkeys(client, shapes)
    base = replies[0]
    if isinstance(base, Exception):
        return f"the server refuses command template {text!r}: {base}"
    base_positions = _positions(shapes[0], base)
    for argv, reply in zip(shapes, replies):
        if isinstance(reply, Exception) or _positions(argv, reply) != base_positions:
            return (f"command template {text!r} is refused: its {{int:...}} draws decide which "
                    "arguments are keys (COMMAND GETKEYS differs between draws); use a fixed number")
        for key in reply:
            if not key.startswith(prefix):
                return (f"command template {text!r} touches key {key.decode(errors='replace')!r}, "
                        "which is outside the run's key prefix: use {key} or {key:NAME} for keys")
    return None


def _getkeys(client, shapes: list[list[bytes]]) -> list:
    """COMMAND GETKEYS for every shape in one round trip; each reply a list of bytes
    keys or the exception; no keys is an empty list."""
    pipe = client.pipeline(transaction=False)
    for argv in shapes:
        pipe.execute_command("COMMAND GETKEYS", *argv)
    replies = []
    for reply in pipe.execute(raise_on_error=False):
        if isinstance(reply, redis.ResponseError) and _no_keys(reply):
            reply = []
        elif not isinstance(reply, Exception):
            reply = [key if isinstance(key, bytes) else str(key).encode() for key in reply]
        replies.append(reply)
    return replies


def _no_keys(error: redis.ResponseError) -> bool:
    """Redis 7 says a command has no key arguments; 6.2 says "Invalid arguments" for
    that too (a real argument error then shows when the run sends it, harmlessly)."""
    text = str(error).lower()
    return "no key arguments" in text or "invalid arguments specified" in text


def _positions(argv: list[bytes], keys: list[bytes]) -> tuple[int, ...]:
    """Where in argv each key sits (the first unused equal argument)."""
    used: list[int] = []
    for key in keys:
        at = next((i for i, word in enumerate(argv) if word == key and i not in used), -1)
        used.append(at)
    return tuple(used)


def _shapes(template, workload):
    """argv lists: every {int} at its low end, then each {int} varied over its tries
    with the others at their low ends. Other placeholders take one drawn value each."""
    ints = [(w, n, _int_range(inner)) for w, word in enumerate(template.words[1:])
            for n, inner in enumerate(_PLACEHOLDER.findall(word)) if inner.startswith("int:")]
    lows = {(w, n): low for w, n, (low, _) in ints}
    yield _render(template, workload, lows)
    for w, n, (low, high) in ints:
        for number in _tries(low, high):
            if number != low:
                yield _render(template, workload, {**lows, (w, n): number})


def _int_range(inner: str) -> tuple[int, int]:
    _, low, high = inner.split(":")
    return int(low), int(high)


def _tries(low: int, high: int) -> list[int]:
    if high - low < ENUMERATE_UP_TO:
        return list(range(low, high + 1))
    small = range(max(low, -EDGE), min(high, EDGE) + 1)
    return sorted({*range(low, low + EDGE), *range(high - EDGE + 1, high + 1), *small})


def _render(template, workload, ints: dict) -> list[bytes]:
    """One argv: literals as custom.py encodes them (UTF-8), placeholders filled."""
    argv = [template.name.encode()]
    for w, word in enumerate(template.words[1:]):
        pieces = _PLACEHOLDER.split(word)  # literal, inner, literal, inner, ..., literal
        filled = b"".join(
            piece.encode() if i % 2 == 0 else _value(piece, workload, ints.get((w, i // 2)))
            for i, piece in enumerate(pieces)
        )
        argv.append(filled)
    return argv


def _value(inner: str, workload, number: int | None) -> bytes:
    kind, _, rest = inner.partition(":")
    if kind == "key":
        return workload.key_at(0, rest.encode() + b":" if rest else b"")
    if kind == "value":
        return workload.values.next_value()
    if kind == "member":
        return b"m0"
    if kind == "field":
        return b"f0"
    return b"%d" % number
