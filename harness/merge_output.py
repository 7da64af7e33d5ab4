"""`harness merge A.json B.json ... [-o merged.json] [--force] [-c FILE] [--threshold=EXPR]...`

Merges result files (harness.merge), prints the summary a single run prints
(summary.py), checks the thresholds on the merged figures (thresholds.py) and writes
the merged result file. The thresholds are those given with -c, --threshold or
HARNESS_THRESHOLDS, else those in the first file's "configuration". Exit 1 when a
threshold fails, 0 otherwise; 2 for bad input (one line, from ConfigError). Runs in
the CLI's own process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from harness import thresholds
from harness.errors import ConfigError, ExitStatus
from harness.merge import load_result, merge
from harness.preflight import check_writable_file
from harness.results import write_result
from harness.settings import KEYS_BY_NAME, resolve
from harness.stats import CommandStats
from harness.summary import print_summary, say


@dataclass
class MergedView:
    """What print_summary reads from a run's state, for a merged result."""

    totals: CommandStats
    max_lag: float


def merge_files(paths: list[str], output: str | None, force: bool, config_file: str | None,
                threshold_texts: list[str], out, env) -> int:
    if output and output != "-":
        check_writable_file(output, "--output", "command line", 2**20)
    merged = merge([load_result(path) for path in paths], force=force, names=paths)
    checks = thresholds_for(merged.document, config_file, threshold_texts, env)
    return conclude(merged, checks, output, out)


def conclude(merged, checks: tuple, output: str | None, out, status: ExitStatus = ExitStatus.OK,
             failures: tuple = ()) -> ExitStatus:
    """The end of a merged result, as of a single run: thresholds checked on the merged
    figures, the summary and a line per input, the result file. The exit status is
    `status` when the run itself failed or was stopped (a Dask run: `failures` say
    why), else 1 when a threshold failed, else 0."""
    verdicts = thresholds.evaluate(checks, thresholds.Facts(merged.stats, merged.seconds, None, merged.max_lag))
    failed = [verdict for verdict in verdicts if not verdict["passed"]]
    block = merged.document["harness"]
    block["thresholds"] = verdicts
    if status:
        block["exit"] = {"status": int(status), "reason": "; ".join(failures) or status.name.lower()}
    elif failed and not block["exit"]["status"]:
        block["exit"] = {"status": int(ExitStatus.FAILED_CHECK), "reason": "threshold failed: " + "; ".join(
            f"{v['threshold']} (measured {v['measured']:g})" for v in failed)}
    text = sys.stderr if output == "-" else out
    print_summary(text, MergedView(merged.stats, merged.max_lag), merged.seconds)
    for shard in block["shards"]:
        say(text, shard_line(shard))
    for note in block["merge"]["notes"]:
        say(text, f"note: {note}")
    for verdict in verdicts:
        say(text, f"threshold {verdict['threshold']}: measured {verdict['measured']:g} "
                  f"{'PASS' if verdict['passed'] else 'FAIL'}")
    if output:
        try:
            write_result(output, merged.document)
        except OSError as exc:
            raise ConfigError(f"cannot write result file {output}: {exc.strerror}") from None
        if output != "-":
            print(f"result file: {output}", file=text, flush=True)
    if status:
        return status
    return ExitStatus.FAILED_CHECK if failed else ExitStatus.OK


def shard_line(shard: dict) -> str:
    """One input of the merge: `a.json (shard 0/2): 100,000 ops in 10.0 s, exit 0`."""
    label = f" (shard {shard['shard']})" if "shard" in shard else ""
    totals, ended = shard["totals"], shard["exit"]
    why = f" ({ended['reason']})" if ended["status"] else ""
    return f"{shard['file']}{label}: {totals['count']:,} ops in {totals['seconds']:.1f} s, exit {ended['status']}{why}"


def thresholds_for(document: dict, config_file: str | None, threshold_texts: list[str], env) -> tuple:
    """The checks: from -c, --threshold or HARNESS_THRESHOLDS when given (resolved as
    `harness run` resolves them), else the first file's own configuration."""
    if config_file or threshold_texts or env.get("HARNESS_THRESHOLDS"):
        options = {"thresholds": "; ".join(threshold_texts)} if threshold_texts else {}
        return resolve(config_file, env, options).thresholds
    text = (document.get("configuration") or {}).get("thresholds") or ""
    if not isinstance(text, str) or text == "(unset)":
        return ()
    try:
        return KEYS_BY_NAME["thresholds"].parser(text)
    except ValueError as exc:
        raise ConfigError(f"the result file's thresholds cannot be read: {exc}") from None
