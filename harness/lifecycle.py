"""Process lifetimes: a child that must not outlive the process that started it, and
what a process killed with -9 left behind (directories named with its pid).

Used in forked client and reporter processes and, between fork and exec, in the
embedded redis-server; the stale-directory sweep in the coordinator.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import stat

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def set_parent_death_signal(sig: int) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """For a forked child: die with `parent_pid`, also if it is already gone."""
    set_parent_death_signal(sig)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(3)


def set_process_name(name: str) -> None:
    """The name ps -o comm, top and psutil show (15 bytes at most), e.g. harness:client0."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_directories(parent: str, prefix: str, alive=pid_alive) -> list[str]:
    """Remove this user's directories named <prefix><pid>-... whose pid is gone: a
    process killed with -9 never ran its cleanup. A directory whose pid is alive, that
    another user owns, or that is a symlink is left alone. Returns what was removed."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed: list[str] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or alive(int(match.group(1))):
            continue
        path = os.path.join(parent, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
