"""Command-line mistakes, named one at a time before docopt sees the arguments.

docopt-ng says only that it cannot match a pattern, and it takes any unambiguous
prefix of a long option (`--dur 3` becomes `--duration 3`), which hides typos in
scripts that outlive the option list. So the arguments are walked here first: every
long option must be spelled out, belong to the command, and an unknown one gets the
nearest known names (difflib). Pure: no I/O.
"""

from __future__ import annotations

import difflib

from harness.errors import ConfigError

COMMANDS = ("run", "test-connection", "compare", "report", "merge")
# Options of compare, report and merge (run and test-connection take the keys' own), and
# of any command. name -> takes a value.
COMPARE_OPTIONS = {"--max-regression": True, "--format": True, "--html": True}
REPORT_OPTIONS = {"--output": True}
MERGE_OPTIONS = {"--output": True, "--force": False, "--config": True, "--threshold": True, "--log-level": True}
OWN_OPTIONS = {"compare": COMPARE_OPTIONS, "report": REPORT_OPTIONS, "merge": MERGE_OPTIONS}
ANYWHERE = {"--help": False, "--version": False}
SHORT = {"-c": "--config", "-h": "--help", "-o": "--output"}
# The only options that may be given more than once (each adds a threshold).
REPEATABLE = frozenset({"--threshold"})
COMMAND_LIST = "run, test-connection, compare, report or merge"


class UsageError(ConfigError):
    """A command line that does not parse: main() prints the usage line under it."""

    def __init__(self, message: str, command: str | None = None):
        super().__init__(message)
        self.command = command


def run_options(key_options: list[str], flags=frozenset()) -> dict[str, bool]:
    """`flags`: the key options that take no value (--quiet)."""
    options = {option: option not in flags for option in key_options}
    options.update({"--config": True, "--dry-run": False})
    return options


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _suggest(name: str, known: list[str], cutoff: float = 0.8) -> str:
    # 0.8 for options: among 70 long names a lower bar suggests unrelated ones.
    close = difflib.get_close_matches(name, known, n=3, cutoff=cutoff)
    return "; did you mean " + _either(close) + "?" if close else ""


def _command(argv: list[str], valued: set[str]) -> str | None:
    """The first word that is not an option or an option's value."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--":
            return None
        elif token.startswith("-") and token != "-":
            skip = token in valued or token in ("-c", "-o")
        else:
            return token
    return None


def check(argv: list[str], key_options: list[str], flags=frozenset()) -> None:
    """Raise UsageError for the first option that is unknown, abbreviated, misplaced or
    missing its value; leave the rest (positional arguments) to docopt."""
    for_run = run_options(key_options, flags)
    every = {**for_run, **COMPARE_OPTIONS, **REPORT_OPTIONS, **MERGE_OPTIONS, **ANYWHERE}
    command = _command(argv, {name for name, valued in every.items() if valued})
    own = OWN_OPTIONS.get(command, for_run)
    allowed = {**own, **ANYWHERE}
    seen: set[str] = set()
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if token == "--":  # everything after it is positional
            return
        if not token.startswith("-") or token == "-":
            continue
        if not token.startswith("--"):
            name = SHORT.get(token[:2])
            if name is None:
                # -d 3: perhaps a long option's initial; name the ones it could be.
                similar = sorted(o for o in allowed if o.startswith("--" + token[1:2]))
                hint = "; did you mean " + _either(similar) + "?" if similar else ""
                raise UsageError(f"unknown option {token[:2]}: the short options are -c, -o and -h{hint}", command)
            if name not in allowed:
                raise UsageError(f"option {token[:2]} {_misplaced(name, command)}", command)
            _once(name, token[:2], seen, command)
            if name in ("--config", "--output") and len(token) == 2:
                if index >= len(argv):
                    what = {"--config": "the INI file", "--output": "the HTML file" if command == "report"
                            else "the result file"}[name]
                    raise UsageError(f"option {token} needs a value ({what}) on the command line", command)
                index += 1  # -c FILE, -o FILE
            continue
        name, has_value = token.split("=", 1)[0], "=" in token
        if name not in every:
            prefixed = sorted(o for o in every if o.startswith(name))
            if prefixed:
                raise UsageError(f"option {name} is abbreviated (options are written in full); "
                                 f"did you mean {_either(prefixed)}?", command)
            raise UsageError(f"unknown option {name} on the command line{_suggest(name, list(allowed))}", command)
        if name not in allowed:
            raise UsageError(f"option {name} {_misplaced(name, command)}", command)
        _once(name, name, seen, command)
        if every[name] and not has_value:
            if index >= len(argv):
                raise UsageError(f"option {name} needs a value on the command line", command)
            index += 1
        elif not every[name] and has_value:
            raise UsageError(f"option {name} takes no value", command)


def _once(name: str, written: str, seen: set[str], command: str | None) -> None:
    """Name an option given twice (docopt says only that it cannot match, and which of
    two values would win is not obvious). `written`: as typed (-c for --config)."""
    if name in seen and name not in REPEATABLE:
        short = f" ({written})" if written != name else ""
        raise UsageError(f"option {name}{short} is given more than once; give it once", command)
    seen.add(name)


def _misplaced(name: str, command: str | None) -> str:
    if command in OWN_OPTIONS:
        return f"does not apply to {command}"
    return "applies to " + _either([other for other, options in OWN_OPTIONS.items() if name in options]) + " only"


def docopt_failure(argv: list[str], key_options: list[str], flags=frozenset()) -> UsageError:
    """What docopt could not match once every option is known: the command or the
    positional arguments. argv itself is not echoed: it may hold a password."""
    valued = {name for name, v in {**run_options(key_options, flags), **COMPARE_OPTIONS, **REPORT_OPTIONS,
                                   **MERGE_OPTIONS}.items() if v}
    command = _command(argv, valued)
    if command is None:
        return UsageError(f"no command given: use {COMMAND_LIST}", None)
    if command not in COMMANDS:
        close = _suggest(command, list(COMMANDS), cutoff=0.6)
        return UsageError(f"unknown command {command!r}: use {COMMAND_LIST}{close}", None)
    if command == "compare":
        return UsageError("compare needs two result files: harness compare BASELINE.json CURRENT.json", command)
    if command == "report":
        return UsageError("report needs one result file: harness report RESULT.json [-o REPORT.html]", command)
    if command == "merge":
        return UsageError("merge needs result files: harness merge A.json B.json ... [-o merged.json]", command)
    return UsageError(f"{command} takes no arguments besides options; a value with spaces needs quotes", command)
