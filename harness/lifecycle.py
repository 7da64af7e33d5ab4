"""Process lifetimes: a child that must not outlive the process that started it.

Used in forked client and reporter processes and, between fork and exec, in the
embedded redis-server.
"""

from __future__ import annotations

import ctypes
import os
import signal

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
