"""A channel: one socket to one Redis node, after redis-py has set it up.

Runs in a worker thread, which owns it. redis-py connects (AUTH, HELLO, SELECT, CLIENT
SETNAME, TLS); from then on the channel writes encoded commands to the socket itself
and hands back what arrives for a hiredis.Reader to parse, because redis-py's
per-command path cost several times the rest of the loop. The socket is made blocking
without a timeout: the loop reads only what epoll reports, and a socket with a timeout
costs a poll() before every send and recv.

`expect` holds what is still to come on this socket, in the order it was written: a
position (one command's reply; ASKING_REPLY for the +OK of an ASKING), or the positions
of a whole write read as one array. A write of several commands on a socket with nothing
outstanding is read as an array: the reader is fed an array header ("*16\r\n") before
the replies, so they come back as one list from one gets() instead of one call and one
round of checks each (at pipeline 16 that halved the reading of a batch's replies:
1.5 against 3.4 us). Any other write (one command, or while replies are outstanding, so
the header cannot be put at a reply boundary) is read a reply at a time. When the
socket dies, `outstanding()` says which positions were answered before it did (an
array's replies received so far are parsed again from the bytes kept for it) and which
were sent and never answered: their outcome is unknown.

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
# Array headers for writes of up to this many commands, made once.
_HEADERS = [b"*%d\r\n" % n for n in range(1025)]
# Linux's SO_TIMESTAMPNS (the socket module does not name it) and room for its
# struct timespec in the ancillary data of a read.
SO_TIMESTAMPNS = 35
STAMP_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")


class Channel:
    __slots__ = ("node", "conn", "sock", "reader", "pending", "expect", "owner", "stamped", "age", "kept")

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
        self.kept: list[bytes] | None = None  # what arrived since an array was written, until it is read

    def write(self, data: bytes, positions) -> None:
        """Send commands (`positions`: a range or tuple, in order); they are expected
        first, so a write that fails half way leaves them as sent-but-unanswered, which
        is what they may be."""
        if len(positions) > 1 and not self.expect:  # at a reply boundary: read back as one array
            self.expect.append(positions)
            count = len(positions)
            self.reader.feed(_HEADERS[count] if count < len(_HEADERS) else b"*%d\r\n" % count)
            self.kept = []
        else:
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
        else:
            data = self.sock.recv(READ_SIZE)
            pending = self.pending
            if pending is not None:
                while data and pending():
                    data += self.sock.recv(pending())  # TLS: decrypted bytes epoll cannot see
        if self.kept is not None:
            self.kept.append(data)
        return data

    def outstanding(self) -> tuple[list[tuple[int, object]], list[int]]:
        """When the socket has failed: the (position, reply) pairs of an array that had
        partly arrived (its replies so far, parsed again from the bytes kept), and the
        positions written and never answered."""
        answered: list[tuple[int, object]] = []
        unanswered: list[int] = []
        for item in self.expect:
            if type(item) is int:
                if item != ASKING_REPLY:
                    unanswered.append(item)
                continue
            replies = []
            if self.kept:  # only the head of `expect` can have had replies arrive
                reader = hiredis.Reader()
                reader.feed(b"".join(self.kept))
                while len(replies) < len(item) and (reply := reader.gets()) is not False:
                    replies.append(reply)
                self.kept = None
            answered.extend(zip(item, replies))
            unanswered.extend(item[len(replies):])
        return answered, unanswered

    def close(self) -> None:
        self.expect.clear()
        self.kept = None
        try:
            self.conn.disconnect()
        except Exception:  # noqa: BLE001 - closing a broken socket may fail; it is gone either way
            pass
