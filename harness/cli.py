"""The command line: docopt-ng usage built from the configuration keys, and main().

main(argv) -> exit status. Errors the user can act on are one line on stderr; a
traceback only with --log-level=debug. No sockets or processes here: commands live in
coordinator.py (run) and connection_check.py (test-connection).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback

from docopt import DocoptExit, docopt

from harness import __version__
from harness.errors import ConfigError, ExitStatus, HarnessError, Stopped
from harness.logfile import SharedRotatingFileHandler
from harness.redact import has_credentials, mask_text
from harness.metrics import is_loopback
from harness.settings import KEYS, KEYS_BY_NAME, SECTIONS, RunConfig, resolve

log = logging.getLogger("harness")

SECTION_TITLES = {
    "target": "Target options",
    "run": "Run options",
    "workload": "Workload options",
    "metrics": "Metrics options",
    "thresholds": "Threshold options",
}

EXIT_TEXT = """\
Exit status:
  0    success
  1    a threshold failed (run); the target could not be reached (test-connection)
  2    bad configuration or usage, or a pre-flight check refused the run before any load
  3    the target was unreachable or the run failed (a client or the reporter died or hung)
  130  stopped by SIGINT (Ctrl-C); 143 stopped by SIGTERM"""


def usage_text() -> str:
    lines = [
        "redis-harness: push a Redis server hard and report what it saw.",
        "",
        "Usage:",
        "  harness run [-c FILE] [--threshold=EXPR]... [options]",
        "  harness test-connection [-c FILE] [options]",
        "  harness compare BASELINE CURRENT [--max-regression=PCT]",
        "  harness (-h | --help)",
        "  harness --version",
        "",
        "General options:",
        "  -c FILE, --config=FILE   INI file with [target], [run], [workload], [metrics], [thresholds].",
        "  --dry-run                Print the resolved configuration with each value's source;",
        "                           do not connect.",
        "  --max-regression=PCT     compare: the largest slowdown allowed, in percent (default: 10).",
        "  -h, --help               Show this help.",
        "  --version                Show the version.",
    ]
    for section in SECTIONS:
        lines += ["", f"{SECTION_TITLES[section]} (INI [{section}]; env HARNESS_<KEY>):"]
        for spec in KEYS:
            if spec.section == section:
                flag = f"{spec.option}={spec.metavar}" if spec.metavar else spec.option  # no metavar: a flag
                default = spec.default if spec.default else "none"
                lines.append(f"  {flag:<29} {spec.help} (default: {default}).")
    lines += ["", "Precedence: defaults < INI file < environment < command line.", "", EXIT_TEXT]
    return "\n".join(lines)


USAGE = usage_text()


def parse_argv(argv: list[str]) -> dict:
    """docopt's result; usage errors become a one-line ConfigError."""
    try:
        return docopt(USAGE, argv=argv, default_help=False, version=None)
    except DocoptExit as exc:
        raise ConfigError(_usage_error(argv, str(exc))) from None


def _usage_error(argv: list[str], message: str) -> str:
    known = ["--config", "--dry-run", "--help", "--version", "--max-regression"] + [spec.option for spec in KEYS]
    for token in argv:
        if token.startswith("--") and not any(o.startswith(token.split("=", 1)[0]) for o in known):
            return f"unknown option {token.split('=', 1)[0]} on the command line; see harness --help"
    first = message.strip().splitlines()[0] if message.strip() else ""
    if first.endswith("requires argument"):
        return f"option {first.split()[0]} needs a value on the command line; see harness --help"
    commands = [token for token in argv if not token.startswith("-")]
    if commands and commands[0] not in ("run", "test-connection", "compare"):
        return f"unknown command {commands[0]!r}: use run, test-connection or compare; see harness --help"
    if commands and commands[0] == "compare":
        return "compare needs two result files: harness compare BASELINE.json CURRENT.json"
    # argv itself is not echoed: it may hold a password.
    return "cannot parse the command line; see harness --help"


def options_given(arguments: dict) -> dict[str, str]:
    given = {}
    for spec in KEYS:
        value = arguments.get(spec.option)
        if isinstance(value, list):  # a repeatable option (--threshold)
            value = "; ".join(value) if value else None
        if isinstance(value, bool):  # a flag (--quiet): absent leaves the INI or environment's value
            value = "true" if value else None
        if value is not None:
            given[spec.name] = value
    return given


def dry_run_text(config: RunConfig, config_file: str | None) -> str:
    lines = [f"# resolved configuration (config file: {config_file or 'none'})"]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for spec in KEYS:
            if spec.section == section:
                value = f"{spec.name} = {config.display_value(spec.name)}"
                lines.append(f"{value:<44} # {config.source(spec.name)}")
    return "\n".join(lines)


def setup_logging(config: RunConfig | None) -> None:
    level = getattr(logging, (config.log_level if config else "info").upper())
    formatter = logging.Formatter("%(asctime)s harness %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    file_handler = None
    if config and config.log_file:
        from harness.preflight import check_writable_file

        check_writable_file(config.log_file, "log_file", config.source("log_file"),
                            min(config.log_max_bytes, LOG_ROOM))
        try:
            file_handler = SharedRotatingFileHandler(config.log_file, config.log_max_bytes, config.log_backups)
        except OSError as exc:
            raise ConfigError(
                f"cannot open log_file {config.log_file} ({config.source('log_file')}): {exc.strerror}"
            ) from None
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(formatter)
    if config and config.quiet and not config.is_set("log_level"):
        handlers[0].setLevel(logging.WARNING)  # --quiet: the terminal gets warnings only; log_file all
    log.handlers[:] = handlers
    log.setLevel(level)
    log.propagate = False
    # The live view's one line per interval goes to the file only (stdout has its own).
    intervals = logging.getLogger("harness.intervals")
    intervals.handlers[:] = [file_handler] if file_handler else []
    intervals.setLevel(logging.INFO)
    intervals.propagate = False


# log_file needs room for this much (or log_max_bytes if smaller) when the run starts.
LOG_ROOM = 2**20


def warn_about_exposure(config: RunConfig, given: dict[str, str]) -> None:
    """Secrets on the command line are visible to every local user through ps and
    /proc; a /metrics bound beyond loopback is visible to the network. Say so, once."""
    on_command_line = [name for name in ("password", "sentinel_password") if name in given]
    if "url" in given and config.url is not None and config.url.password:
        on_command_line.append("url")
    on_command_line += [name for name in ("pushgateway", "otlp_endpoint") if name in given
                        and has_credentials(getattr(config, name))]
    if on_command_line:
        options = ", ".join(KEYS_BY_NAME[name].option for name in on_command_line)
        log.warning("credentials given on the command line (%s) are visible to other users in ps; put the "
                    "password in password_file or HARNESS_PASSWORD, or the URL in the INI file or its "
                    "HARNESS_ variable", options)
    if config.prometheus_port and not is_loopback(config.prometheus_bind):
        log.warning("prometheus_bind = %s (%s): /metrics (run id, target, workload and figures) is reachable "
                    "from other machines; bind 127.0.0.1 unless that is what you want",
                    config.prometheus_bind, config.source("prometheus_bind"))


def _raise_stopped(signum, _frame):
    status = ExitStatus.SIGINT if signum == signal.SIGINT else ExitStatus.SIGTERM
    # A second signal while stopping exits at once, as an operator expects of Ctrl-C.
    signal.signal(signum, lambda *_: os._exit(status))
    raise Stopped(status)


def main(argv: list[str] | None = None, out=None, env=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    env = os.environ if env is None else env
    try:
        return _main(argv, out, env)
    except HarnessError as exc:
        print(f"harness: error: {mask_text(str(exc))}", file=sys.stderr)
        if _debug(argv, env):
            traceback.print_exc()
        return exc.status
    except Stopped as stop:
        return stop.status
    except Exception as exc:  # noqa: BLE001 - the last guard before a traceback
        print(f"harness: internal error: {type(exc).__name__}: {mask_text(str(exc))} "
              "(run with --log-level=debug for a traceback)", file=sys.stderr)
        if _debug(argv, env):
            traceback.print_exc()
        return ExitStatus.RUN_FAILED


def _debug(argv: list[str], env) -> bool:
    """Whether a traceback was asked for: by the resolved log level or, when the
    configuration itself failed, by the raw option or environment variable."""
    if log.isEnabledFor(logging.DEBUG):
        return True
    pairs = zip(argv, argv[1:] + [""])
    return env.get("HARNESS_LOG_LEVEL", "").lower() == "debug" or any(
        a == "--log-level=debug" or (a == "--log-level" and b == "debug") for a, b in pairs
    )


def _main(argv: list[str], out, env) -> int:
    # Help works after a command too (`harness run --help`); docopt's [options] shortcut
    # leaves out options that the usage patterns already name, so check for it here.
    if "-h" in argv or "--help" in argv:
        print(USAGE, file=out)
        return ExitStatus.OK
    arguments = parse_argv(argv)
    if arguments["--version"]:
        print(f"harness {__version__}", file=out)
        return ExitStatus.OK
    if arguments["compare"]:
        from harness.compare import compare_files

        return compare_files(arguments["BASELINE"], arguments["CURRENT"], arguments["--max-regression"], out)
    config_file = arguments["--config"]
    config = resolve(config_file, env, options_given(arguments))
    setup_logging(config)
    warn_about_exposure(config, options_given(arguments))
    if arguments["--dry-run"]:
        print(dry_run_text(config, config_file), file=out)
        return ExitStatus.OK
    signal.signal(signal.SIGINT, _raise_stopped)
    signal.signal(signal.SIGTERM, _raise_stopped)
    if arguments["test-connection"]:
        return _test_connection(config, out)
    from harness.coordinator import run

    return run(config, out)


def _test_connection(config: RunConfig, out) -> int:
    from harness.connection_check import test_connection

    try:
        return test_connection(config, out)
    except HarnessError as exc:
        if isinstance(exc, ConfigError):
            raise
        print(f"harness: test-connection failed: {exc}", file=sys.stderr)
        return ExitStatus.FAILED_CHECK
