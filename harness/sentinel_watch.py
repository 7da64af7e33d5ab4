"""Inside a client process behind Sentinel: notice at once when the master changes.

redis-py asks the Sentinels for the master only when a connection is (re)opened. After
a SENTINEL FAILOVER the old master keeps accepting commands until the Sentinels demote
it, which can take ten seconds or more, so connections that never break would stay on
the old master. This thread asks the Sentinels for the master's address every POLL
seconds; when it changes it tells the worker threads (Control.master_moves), which
finish each connection's batch in flight and reopen the connection on the new master.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from harness.coordination import Control
from harness.target import Endpoint, sentinel_manager

log = logging.getLogger("harness")

POLL = 0.1


class SentinelWatch:
    def __init__(self, endpoint: Endpoint, control: Control, announce: bool):
        self.endpoint = endpoint
        self.control = control
        self.announce = announce  # one process logs the switch, not every one
        self.finished = threading.Event()

    def run(self) -> None:
        sentinels = sentinel_manager(self.endpoint)
        master = self._master(sentinels)
        while not self.finished.wait(POLL):
            now = self._master(sentinels)
            if now is None or now == master:
                continue
            if self.announce:
                log.warning("Sentinel: the master of %r moved from %s to %s; moving connections",
                            self.endpoint.service_name, _text(master), _text(now))
            master = now
            self.control.master_moved_at = time.monotonic()
            self.control.master_moves += 1  # last: the threads look at this first
        for sentinel in sentinels.sentinels:
            sentinel.close()

    def _master(self, sentinels) -> tuple | None:
        try:
            return tuple(sentinels.discover_master(self.endpoint.service_name))
        except redis.RedisError:
            return None  # no Sentinel answers, or none names a master: keep the last one


def _text(address) -> str:
    return "?" if address is None else f"{address[0]}:{address[1]}"
