"""The ACL keeper process (harness:acl): puts the run's ACL user back on a node that
lost it (a restart), every KEEP_INTERVAL seconds, until the coordinator stops it.

Started by harness.run_user as a fresh interpreter, so this module imports only what the
keeper needs (redis and harness.target, not numpy and the workloads): its start is paid
before the load starts (RunUser.wait_kept), so it adds to every run's start-up.
"""

from __future__ import annotations

import logging
import pickle
import signal
import sys
import time

import redis

from harness.lifecycle import die_with_parent, set_process_name
from harness.target import make_client

# What the keeper writes on its stdout once it is set up (RunUser.wait_kept reads it).
KEEPER_READY = b"ready\n"

log = logging.getLogger("harness")


def keeper_main() -> None:
    """The keeper process: every interval, put the user back on a node that lost it (a
    restart). Dies with the coordinator; ignores the terminal's Ctrl-C (the coordinator
    stops it once the run's last command is sent)."""
    name, created_on, interval, coordinator = pickle.load(sys.stdin.buffer)
    die_with_parent(coordinator, signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("harness:acl")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s harness %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    log.handlers[:] = [handler]
    log.propagate = False
    clients = [(make_client(node), node, rules) for node, rules in created_on]
    sys.stdout.buffer.write(KEEPER_READY)
    sys.stdout.flush()
    sys.stdout.close()  # (nothing else is ever written there)
    while True:
        for client, node, rules in clients:
            try:
                if client.execute_command("ACL", "GETUSER", name) is None:
                    client.execute_command("ACL SETUSER", name, *rules)
                    log.warning("ACL user %s was gone from %s (a restart?); created it again", name, node.describe())
            except (redis.RedisError, OSError):
                pass  # the node is down or restarting: try again next round
        time.sleep(interval)
