"""epoll over sockets, handing back the object registered with each ready one.

Runs in a worker thread, which owns it. (The selectors module builds a key tuple per
event; at pipeline 1 that showed in profiles.)
"""

from __future__ import annotations

import select


class Poller:
    def __init__(self):
        self.epoll = select.epoll()
        self.owners: dict[int, object] = {}
        self.fds: dict[object, int] = {}

    def register(self, sock, owner) -> None:
        fd = sock.fileno()
        self.epoll.register(fd, select.EPOLLIN)
        self.owners[fd] = owner
        self.fds[sock] = fd

    def unregister(self, sock) -> None:
        fd = self.fds.pop(sock, None)
        if fd is None:
            return
        del self.owners[fd]
        try:
            self.epoll.unregister(fd)
        except OSError:
            pass  # already closed

    def poll(self, timeout: float) -> list:
        """The owners of the sockets ready within `timeout` seconds (epoll rounds it up
        to whole milliseconds; a paced loop is woken sooner by the replies it awaits)."""
        owners = self.owners
        return [owners[fd] for fd, _ in self.epoll.poll(timeout) if fd in owners]

    def close(self) -> None:
        self.epoll.close()
