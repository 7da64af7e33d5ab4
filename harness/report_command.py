"""`harness report RESULT.json [-o REPORT.html]`, and the `report` key that writes the
same page at the end of a run (coordinator process, after the result file is out).

Exit statuses: 0 written; 2 the result file cannot be read or is not JSON, or the
report path is unusable; 3 the page could not be written (disk full, say).
"""

from __future__ import annotations

import logging
import os

from harness import report_data
from harness.compare import read_document
from harness.errors import ConfigError, ExitStatus, HarnessError
from harness.preflight import REPORT_ROOM, check_writable_file
from harness.report_page import write_page

log = logging.getLogger("harness")


def default_path(result_path: str) -> str:
    return os.path.splitext(result_path)[0] + ".html"


def write_report(result_path: str, report_path: str, source: str = "command line") -> None:
    """Read a result file (the harness's or memtier_benchmark's) and write its page;
    `source` is where report_path came from, for the messages."""
    if os.path.abspath(result_path) == os.path.abspath(report_path):
        raise ConfigError(f"the report {report_path} would replace its own result file: name another with -o")
    document = read_document(result_path)
    check_writable_file(report_path, "report", source, REPORT_ROOM)
    try:
        write_page(report_path, report_data.build(document, os.path.abspath(result_path)))
    except OSError as exc:
        raise HarnessError(f"cannot write report {report_path}: {exc.strerror}") from None


def report_command(result_path: str, report_path: str | None, out) -> int:
    report_path = report_path or default_path(result_path)
    write_report(result_path, report_path)
    print(f"report file: {report_path}", file=out)
    return ExitStatus.OK


def report_after_run(config, status: int, since: float, out) -> int:
    """The `report` key: the page of the result file this run wrote (also after a
    failure, when one was written: its mtime is not older than `since`, the run's
    start, less a second for filesystems with coarse times). A page that cannot be
    written is logged; it turns a successful run's status into 3, as a result file
    that cannot be written does."""
    if not config.report:
        return status
    try:
        written = os.stat(config.output).st_mtime >= since - 1
    except OSError:
        written = False
    if not written:
        log.warning("report %s not written: the run left no result file", config.report)
        return status
    try:
        write_report(config.output, config.report, config.source("report"))
    except HarnessError as exc:
        log.error("%s", exc)
        return ExitStatus.RUN_FAILED if status == ExitStatus.OK else status
    if not config.quiet:
        print(f"report file: {config.report}", file=out, flush=True)
    return status
