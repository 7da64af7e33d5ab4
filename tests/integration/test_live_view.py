"""The live view on a real terminal (a pty of a given size, read back through pyte, a
terminal emulator) and in a pipe."""

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

import pyte
import pytest

from tests.conftest import REPO_ROOT, clean_env, harness_command

ROWS = 200  # taller than anything drawn: a frame that was not replaced would still be on screen
# Control sequences: CSI (cursor moves, erase, colours, cursor on/off) and OSC.
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
FRAME_TOTALS = re.compile(r"^([\d,]+) ops in ([\d.]+) s ")
SUMMARY_TOTALS = re.compile(r"^\[total +([\d.]+)s\] ([\d,]+) ops")


def run_on_terminal(columns: int, *args: str, cwd: str = REPO_ROOT) -> tuple[bytes, int]:
    """Run the harness with its stdout on a pty `columns` wide; (every byte it wrote, status)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, columns, 0, 0))
    env = clean_env(TERM="xterm-256color")
    for name in ("COLUMNS", "LINES"):  # they would override the terminal's own size
        env.pop(name, None)
    process = subprocess.Popen(harness_command(*args), env=env, stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=subprocess.DEVNULL, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the pty
            break
        if not data:
            break
        chunks.append(data)
    status = process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks), status


def screen_of(raw: bytes, columns: int) -> list[str]:
    screen = pyte.Screen(columns, ROWS)
    pyte.ByteStream(screen).feed(raw)
    return [line.rstrip() for line in screen.display]


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_frames_fit_replace_each_other_and_end_on_the_totals(redis_server, tmp_path, columns):
    raw, status = run_on_terminal(
        columns, "run", "--port", str(redis_server.port), "--duration", "3", "--stats-interval", "1",
        "--workload", "basic_rw", "--client-instances", "2", "--output", "r.json", cwd=tmp_path)
    assert status == 0
    text = raw.decode()
    # No line is longer than the terminal: nothing wraps, so rich's cursor moves redraw exactly.
    lines = re.split(r"[\r\n]", ESCAPE.sub("", text))
    assert max(len(line) for line in lines) <= columns, max(lines, key=len)
    # A frame was up before the load started, and several were drawn in place ...
    assert "starting: client processes are connecting" in text
    assert len(re.findall(r"ops in [\d.]+ s ", text)) >= 3
    assert "\x1b[1A\x1b[2K" in text  # rich moved up and erased the previous frame
    # ... yet the screen holds one frame: each replaced the last.
    screen = screen_of(raw, columns)
    frames = [line for line in screen if FRAME_TOTALS.match(line)]
    assert len(frames) == 1, "\n".join(screen)
    assert not any("starting:" in line for line in screen)
    assert all(len(line) <= columns for line in screen)
    # The last frame's totals are the summary's: the same operations over the same seconds.
    ops, seconds = FRAME_TOTALS.match(frames[0]).groups()
    summary = next(SUMMARY_TOTALS.match(line) for line in screen if SUMMARY_TOTALS.match(line))
    assert (summary[2], float(summary[1])) == (ops, float(seconds))
    assert "100%" in "\n".join(screen)  # the bar ended full
    total_row = next(line for line in screen if line.startswith("TOTAL"))
    assert total_row.split()[1] == ops


def test_narrow_terminal_gets_fewer_columns_not_wrapped_lines(redis_server, tmp_path):
    raw, status = run_on_terminal(
        50, "run", "--port", str(redis_server.port), "--duration", "2", "--stats-interval", "1",
        "--output", "r.json", cwd=tmp_path)
    assert status == 0
    lines = re.split(r"[\r\n]", ESCAPE.sub("", raw.decode()))
    assert max(len(line) for line in lines) <= 50, max(lines, key=len)
    screen = screen_of(raw, 50)
    header = next(line for line in screen if line.startswith("command") and "ops/s" in line)
    assert "p99" in header and "p99.9" not in header  # the deepest tail made room


def test_pipe_gets_plain_lines_and_no_control_sequences(redis_server, tmp_path):
    done = subprocess.run(
        harness_command("run", "--port", str(redis_server.port), "--duration", "2", "--stats-interval", "0.5",
                        "--output", str(tmp_path / "r.json")),
        env=clean_env(), capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.startswith("[ ")]) >= 2
