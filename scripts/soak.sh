#!/usr/bin/env bash
# A soak run for cron: scripts/soak.sh CONFIG [RESULTS_DIR]
#
#   0 2 * * *  cd /opt/redis-harness && scripts/soak.sh config/soak.ini /var/lib/redis-harness
#
# The harness it runs: $HARNESS if set (e.g. HARNESS=".venv/bin/harness"); else the one
# beside this script (scripts/../.venv/bin/harness, as the README's install makes it, or
# a harness in the same directory); else `harness` on PATH. With none of them it says
# where it looked and exits 2 before taking the lock.
#
# - An flock on RESULTS_DIR/.soak.lock keeps runs from overlapping: a second one says
#   so in one line and exits 75 (EX_TEMPFAIL) without starting.
# - Each run writes RESULTS_DIR/soak-<UTC timestamp>.json and logs to RESULTS_DIR/soak.log
#   (rotated by size by the harness); only the newest SOAK_KEEP results (default 30) stay.
# - The harness's exit status is passed through (0 passed, 1 a threshold failed, 2 bad
#   configuration, 3 the run failed, 130/143 stopped by a signal), so cron mails on failure.
# - With SOAK_BASELINE=FILE, a run that passed is also compared with that baseline
#   (harness compare, --max-regression=SOAK_MAX_REGRESSION, default 10): a slowdown
#   beyond both that bound and the two runs' own second-to-second spread exits 1, so
#   two like runs pass (compare's noise-aware verdict).
set -u

config=${1:?usage: soak.sh CONFIG [RESULTS_DIR]}
results=${2:-./soak-results}
keep=${SOAK_KEEP:-30}
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${HARNESS:-}" ]; then
  harness=$HARNESS
elif [ -x "$here/../.venv/bin/harness" ]; then
  harness="$here/../.venv/bin/harness"
elif [ -x "$here/harness" ]; then
  harness="$here/harness"
elif command -v harness >/dev/null; then
  harness=harness
else
  echo "soak.sh: harness not found: not at $here/../.venv/bin/harness or $here/harness, nor on PATH;" \
    "install it (python3 -m venv .venv && .venv/bin/pip install .) or set HARNESS=/path/to/harness" >&2
  exit 2
fi

mkdir -p "$results" || exit 2
exec 9>"$results/.soak.lock"
if ! flock -n 9; then
  echo "soak.sh: another soak run holds $results/.soak.lock; not starting this one" >&2
  exit 75
fi

out="$results/soak-$(date -u +%Y%m%dT%H%M%SZ).json"
$harness run -c "$config" --output "$out" --log-file "$results/soak.log"
status=$?

if [ "$status" -eq 0 ] && [ -n "${SOAK_BASELINE:-}" ]; then
  $harness compare "$SOAK_BASELINE" "$out" --max-regression="${SOAK_MAX_REGRESSION:-10}"
  status=$?
fi

# Keep the newest $keep results.
ls -1t "$results"/soak-*.json 2>/dev/null | tail -n +"$((keep + 1))" | xargs -r rm -f --
exit "$status"
