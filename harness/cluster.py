"""Redis Cluster: which master serves each hash slot, and connections to those masters.

redis-py's RedisCluster discovers the cluster (CLUSTER SLOTS from any known node, every
node it learns of kept as a seed for later refreshes); the harness reads its slot map
into a flat list (slot -> "host:port" of the master), which is what the event loop
looks up per command. The loop itself writes and parses on its own sockets, as for a
standalone target (harness.cluster_loop). Built in the process that uses it, never
before a fork.
"""

from __future__ import annotations

from dataclasses import replace

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from harness.errors import TargetError
from harness.target import Endpoint, client_kwargs, connection_pool

SLOTS = 16384


def cluster_client(endpoint: Endpoint) -> RedisCluster:
    """A RedisCluster seeded with the endpoint; redis-py's own retries off."""
    kwargs = client_kwargs(endpoint)
    kwargs.pop("db")  # a cluster has database 0 only; RedisCluster refuses the argument
    kwargs.pop("retry_on_error")
    return RedisCluster(cluster_error_retry_attempts=0, **kwargs)


def node_address(name: str) -> tuple[str, int]:
    host, _, port = name.rpartition(":")
    return host, int(port)


class Topology:
    """One worker thread's view of the cluster: slot -> master, refreshed on demand."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.client = cluster_client(endpoint)
        self.owners: list[str] = []
        self.read_map()

    def refresh(self) -> None:
        """Ask the cluster again (after MOVED piles up, or a node is unreachable)."""
        self.client.nodes_manager.initialize()
        self.read_map()

    def read_map(self) -> None:
        cache = self.client.nodes_manager.slots_cache
        self.owners = [cache[slot][0].name if slot in cache else "" for slot in range(SLOTS)]

    def masters(self) -> list[str]:
        return sorted({owner for owner in self.owners if owner})

    def connection(self, node: str, name: str) -> redis.Connection:
        """A new, unconnected connection to one node, set up like every other."""
        host, port = node_address(node)
        conn = connection_pool(replace(self.endpoint, host=host, port=port, unix_path=""), 1).make_connection()
        conn.client_name = name
        return conn

    def close(self) -> None:
        self.client.close()



def cluster_masters(endpoint: Endpoint) -> list[str]:
    """The masters' addresses, sorted; TargetError when the cluster cannot be used
    (slots not covered, a node unreachable). Holds no connection afterwards."""
    try:
        client = cluster_client(endpoint)
    except (redis.RedisError, RedisClusterException) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise TargetError(f"{endpoint.describe()} is a Redis Cluster node, but the cluster is not usable: "
                          f"{reason}") from exc
    try:
        return sorted(node.name for node in client.get_primaries())
    finally:
        client.close()
