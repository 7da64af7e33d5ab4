"""One shard of a Dask run, as a task on a Dask worker (see dask_engine.py).

A Dask worker is a threaded process and the harness forks, so the shard runs as
`python -m harness run` in a subprocess, configured through HARNESS_* variables (not
the command line: a password there would show in ps). The task relays between the
subprocess and the coordinator, through Dask's own primitives only:

- the subprocess runs with `start_at = stdin`: once every connection is up it prints
  `harness-ready`; the task puts ("ready", shard) on the run's Queue, waits for the
  start instant in the run's Variable (set by the coordinator once every shard is
  ready), and writes it to the subprocess's standard input;
- each JSON progress line (progress = json) goes on the Queue as ("progress", shard, record);
- shard 0 of a run with cleanup prints `harness-cleanup` when its load is over; the
  task waits for the run's cleanup Variable (set by the coordinator once every other
  shard has ended: `cleanup`, or `keep` when one was lost) and writes it back;
- the run's Event means stop: the task sends the subprocess SIGTERM, and it ends as an
  operator's SIGTERM would, writing what it measured.

If the worker itself dies, the kernel sends the subprocess SIGTERM (PR_SET_PDEATHSIG),
so no shard outlives its worker. The task returns the shard's exit status, its result
document (None when it wrote none) and the last lines of its standard error.
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading

from harness.barrier import CLEANUP_LINE, CLEANUP_WAIT, READY_LINE

# How often the stop watcher looks at the Event, in seconds.
STOP_POLL = 0.25
# Lines of the shard's standard error returned with its outcome.
STDERR_LINES = 20
PR_SET_PDEATHSIG = 1


def names(token: str) -> dict[str, str]:
    """The names of one run's Dask Queue, Variable and Event (unique per run)."""
    return {"queue": f"harness-{token}-events", "start": f"harness-{token}-start", "stop": f"harness-{token}-stop",
            "cleanup": f"harness-{token}-cleanup"}


def run_shard(index: int, env: dict[str, str], ini_text: str | None, token: str, ready_timeout: float) -> dict:
    """Run shard `index` (its HARNESS_SHARD is in `env`) and return its outcome."""
    from distributed import Event, Queue, Variable

    dask_names = names(token)
    queue, stop = Queue(dask_names["queue"]), Event(dask_names["stop"])
    with tempfile.TemporaryDirectory(prefix="harness-shard-") as directory:
        output = os.path.join(directory, "result.json")
        child_env = {key: value for key, value in os.environ.items() if not key.startswith("HARNESS_")}
        child_env.update(env, HARNESS_OUTPUT=output, HARNESS_START_AT="stdin", HARNESS_PROGRESS="json")
        command = [sys.executable, "-m", "harness", "run"]
        if ini_text is not None:  # the coordinator's -c file, private to this user
            path = os.path.join(directory, "run.ini")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
                handle.write(ini_text)
            command += ["-c", path]
        process = subprocess.Popen(
            command, env=child_env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            preexec_fn=_die_with_parent(), cwd=directory,
        )
        stderr = collections.deque(maxlen=STDERR_LINES)
        reader = threading.Thread(target=lambda: stderr.extend(line.rstrip("\n") for line in process.stderr),
                                  daemon=True)
        reader.start()
        watcher = threading.Thread(target=_watch_stop, args=(stop, process), daemon=True)
        watcher.start()
        for line in process.stdout:
            line = line.strip()
            if line == READY_LINE:
                queue.put(("ready", index))
                threading.Thread(target=_release, daemon=True,
                                 args=(Variable(dask_names["start"]), process, ready_timeout)).start()
            elif line == CLEANUP_LINE:
                threading.Thread(target=_release, daemon=True,
                                 args=(Variable(dask_names["cleanup"]), process, CLEANUP_WAIT)).start()
            elif line.startswith("{"):
                try:
                    queue.put(("progress", index, json.loads(line)))
                except ValueError:
                    pass  # a summary line that happens to start with "{"
        status = process.wait()
        reader.join(timeout=5)
        document = None
        if os.path.exists(output):
            with open(output, encoding="utf-8") as handle:
                document = json.load(handle)
    return {"shard": index, "host": socket.gethostname(), "status": status, "document": document,
            "stderr": list(stderr)}


def _release(variable, process: subprocess.Popen, timeout: float) -> None:
    """Write the Variable's value (the start instant; whether to clean up) to the
    shard's standard input once the coordinator has set it; without one in time, close
    it: the shard then does not start, or leaves the keys."""
    try:
        value = variable.get(timeout=timeout)
    except Exception:  # noqa: BLE001 - not set in time, or the client is gone
        process.stdin.close()
        return
    try:
        process.stdin.write(f"{value!r}\n" if isinstance(value, float) else f"{value}\n")
        process.stdin.flush()
    except (BrokenPipeError, ValueError):
        pass  # the shard has already ended; its status says why


def _watch_stop(stop, process: subprocess.Popen) -> None:
    while process.poll() is None:
        try:
            if stop.wait(timeout=STOP_POLL):
                process.send_signal(signal.SIGTERM)
                return
        except Exception:  # noqa: BLE001 - the scheduler went away: stop rather than run unwatched
            process.send_signal(signal.SIGTERM)
            return


def _die_with_parent():
    """preexec_fn: SIGTERM to the shard when the thread that started it dies (the
    worker killed). libc is loaded here, before the fork, not in the child."""
    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
