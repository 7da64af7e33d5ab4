"""A channel: one socket to one Redis node, after redis-py has set it up.

Runs in a worker thread, which owns it. redis-py connects (AUTH, HELLO, SELECT, CLIENT
SETNAME, TLS); from then on the channel writes encoded commands to the socket itself
and hands back what arrives for a hiredis.Reader to parse, because redis-py's
per-command path cost several times the rest of the loop. The socket is made blocking
without a timeout: the loop reads only what epoll reports, and a socket with a timeout
costs a poll() before every send and recv.

`expect` holds the batch positions whose replies are still to come on this socket, in
the order they were written (ASKING_REPLY for the +OK of an ASKING); whatever sits there when
the socket dies was sent and never answered: its outcome is unknown.

A stamped channel (plain TCP, not TLS) asks the kernel for the time each read's data
arrived (SO_TIMESTAMPNS), so a paced loop can leave replies in the socket until its next
send is due and still time them as they came (`age`).
"""

from __future__ import annotations

import collections
import socket
import struct
import time

import hiredis

# Bytes asked of the socket per read; replies of a batch usually arrive in one.
READ_SIZE = 65536
# In `expect`: the reply of an ASKING sent before a redirected command.
ASKING_REPLY = -2
# Linux's SO_TIMESTAMPNS (the socket module does not name it) and room for its
# struct timespec in the ancillary data of a read.
SO_TIMESTAMPNS = 35
STAMP_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")


class Channel:
    __slots__ = ("node", "conn", "sock", "reader", "pending", "expect", "owner", "stamped", "age")

    def __init__(self, node: str, conn, owner, sock=None, stamped: bool = False):
        self.node = node  # "host:port", for per-node counts and routing
        self.conn = conn  # the redis-py connection that set the socket up
        self.sock = sock if sock is not None else conn._sock
        self.sock.settimeout(None)
        self.pending = getattr(self.sock, "pending", None)  # TLS: bytes decrypted but not read
        self.reader = hiredis.Reader()
        self.expect: collections.deque = collections.deque()
        self.owner = owner  # the harness connection this channel belongs to
        self.stamped = stamped and self.pending is None
        if self.stamped:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.age = 0.0  # how long before the last receive() its data arrived (stamped)

    def write(self, data: bytes, positions) -> None:
        """Send commands; their positions are expected first, so a write that fails half
        way leaves them as sent-but-unanswered, which is what they may be."""
        self.expect.extend(positions)
        self.sock.sendall(data)

    def receive(self) -> bytes:
        """What arrived (b"" when the peer closed); OSError when the socket failed."""
        if self.stamped:
            data, ancillary, _, _ = self.sock.recvmsg(READ_SIZE, STAMP_SPACE)
            self.age = 0.0  # unstamped data (the kernel turns stamping on a moment late): now
            if ancillary:  # the kernel's wall-clock time of the last data read
                seconds, nanoseconds = _TIMESPEC.unpack(ancillary[0][2])
                self.age = max(0.0, time.time() - seconds - nanoseconds * 1e-9)
            return data
        data = self.sock.recv(READ_SIZE)
        pending = self.pending
        if pending is not None:
            while data and pending():
                data += self.sock.recv(pending())  # TLS: decrypted bytes epoll cannot see
        return data

    def unanswered(self) -> list[int]:
        return [position for position in self.expect if position != ASKING_REPLY]

    def close(self) -> None:
        self.expect.clear()
        try:
            self.conn.disconnect()
        except Exception:  # noqa: BLE001 - closing a broken socket may fail; it is gone either way
            pass
