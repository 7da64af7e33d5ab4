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
import textwrap
import traceback

from docopt import DocoptExit, docopt

from harness import __version__
from harness import argv_check
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
  1    a threshold failed (run, merge); the target could not be reached (test-connection)
  2    bad configuration or usage (a bare `harness` too), or a pre-flight check refused the run
       before any load; report: the result file cannot be read; merge: a file missing, not a
       result file, or of another run without --force
  3    the target was unreachable or the run failed (a client or the reporter died or hung,
       or a shard was not ready by start_at); the HTML report could not be written
  130  stopped by SIGINT (Ctrl-C); 143 stopped by SIGTERM"""


USAGE_LINES = {
    "run": "harness run [-c FILE] [--threshold=EXPR]... [options]",
    "test-connection": "harness test-connection [-c FILE] [options]",
    "compare": "harness compare BASELINE CURRENT [--max-regression=PCT] [--format=FORMAT] [--html=FILE]",
    # [options] stands for -o FILE (report) and -o FILE and --log-level (merge):
    # argv_check allows them no others; an option named in a pattern would drop out of
    # run's [options].
    "report": "harness report RESULT [options]",
    "merge": "harness merge RESULT... [--force] [-c FILE] [--threshold=EXPR]... [options]",
}
SHORT_USAGE = "\n".join([
    "redis-harness: push a Redis server hard and report what it saw.",
    "",
    "Usage:",
    *(f"  {line}" for line in USAGE_LINES.values()),
    "  harness (-h | --help)",
    "  harness --version",
])
HELP_HINT = "harness --help lists every option; harness run -c config/high_throughput.ini is a first run."


def _choices(spec) -> list[str]:
    """The help line's continuation naming a choice key's allowed values (the parser
    knows them: p.choice describes itself as 'one of a, b, c')."""
    describe = getattr(spec.parser, "describe", "")
    if not describe.startswith("one of "):
        return []
    return textwrap.wrap("one of: " + describe[len("one of "):], width=79,
                         initial_indent=" " * 32, subsequent_indent=" " * 32)


def usage_text() -> str:
    lines = [
        SHORT_USAGE,
        "",
        "General options:",
        "  -c FILE, --config=FILE   INI file with [target], [run], [workload], [metrics], [thresholds].",
        "  --dry-run                Print the resolved configuration with each value's source;",
        "                           do not connect.",
        "  --max-regression=PCT     compare: the largest slowdown allowed, in percent (default: 10);",
        "                           a larger one within the runs' per-second spread is noise.",
        "  --format=FORMAT          compare: table or json (default: table).",
        "  --html=FILE              compare: also write the comparison as an HTML page.",
        "                           report writes the HTML page to -o FILE (default: RESULT with .html).",
        "  --force                  merge: merge result files of different runs (refused otherwise).",
        "                           merge writes the merged result file to -o FILE.",
        "  -h, --help               Show this help.",
        "  --version                Show the version.",
    ]
    for section in SECTIONS:
        lines += ["", f"{SECTION_TITLES[section]} (INI [{section}]; env HARNESS_<KEY>):"]
        for spec in KEYS:
            if spec.section == section:
                flag = f"{spec.option}={spec.metavar}" if spec.metavar else spec.option  # no metavar: a flag
                if spec.name == "output":
                    flag = f"-o {spec.metavar}, {flag}"
                default = spec.default if spec.default else "none"
                lines.append(f"  {flag:<29} {spec.help} (default: {default}).")
                lines += _choices(spec)
    lines += ["", "Precedence: defaults < INI file < environment < command line.", "", EXIT_TEXT]
    return "\n".join(lines)


USAGE = usage_text()


def parse_argv(argv: list[str]) -> dict:
    """docopt's result; a command line that does not parse is a UsageError naming the
    first problem (argv_check), never docopt's bare "cannot match"."""
    key_options = [spec.option for spec in KEYS]
    flags = frozenset(spec.option for spec in KEYS if not spec.metavar)  # --quiet takes no value
    argv_check.check(argv, key_options, flags)
    try:
        return docopt(USAGE, argv=argv, default_help=False, version=None)
    except DocoptExit:
        raise argv_check.docopt_failure(argv, key_options, flags) from None


def usage_for(error: argv_check.UsageError) -> str:
    """The usage line(s) printed under a command-line error: the command's own line, or
    all of them when no command was recognised."""
    if error.command in USAGE_LINES:
        return f"usage: {USAGE_LINES[error.command]}   (harness --help lists every option)"
    return "usage:\n" + "\n".join(f"  {line}" for line in USAGE_LINES.values())


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
        if isinstance(exc, argv_check.UsageError):
            print(usage_for(exc), file=sys.stderr)
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
    if not argv:  # a bare `harness`: what it can do, in a few lines
        print(f"{SHORT_USAGE}\n\n{HELP_HINT}", file=sys.stderr)
        return ExitStatus.USAGE
    arguments = parse_argv(argv)
    if arguments["--version"]:
        print(f"harness {__version__}", file=out)
        return ExitStatus.OK
    if arguments["compare"]:
        from harness.compare_output import compare_files

        return compare_files(arguments["BASELINE"], arguments["CURRENT"], arguments["--max-regression"], out,
                             arguments["--format"], html_path=arguments["--html"])
    if arguments["report"]:
        from harness.report_command import report_command

        return report_command(arguments["RESULT"][0], arguments["--output"], out)
    if arguments["merge"]:
        from harness.merge_output import merge_files

        return merge_files(arguments["RESULT"], arguments["--output"], arguments["--force"], arguments["--config"],
                           arguments["--threshold"], out, env)
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
    if config.dask:
        from harness import dask_engine

        return dask_engine.run(config, config_file, options_given(arguments), env, out)
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
