"""A run split over N shards (`shard = I/N`): what each shard takes, and what they share.

Pure; runs in the coordinator before any fork (and in settings, for the checks). The
configuration describes the whole test; shard I takes:
- its share of `requests` and of `rate` (and of every rate stage): `share(total, I, N)`,
  shares differ by at most 1 and add up to the total exactly (rates: rate / N each);
- a contiguous slice of the keyspace, `key_slice(keyspace, I, N)`: the slices are
  disjoint and cover the keyspace exactly. Sequential keys walk the shard's slice (its
  threads stripe it), and workloads whose threads own their keys own them inside it;
  the other distributions draw from the whole keyspace;
- its own random streams: `stream_seed(run_id, I, thread, stream)`;
- connection names `harness-<run id>-s<I>-<process>-<connection>` (`name_stem`).

All shards share one run id, and so one key prefix: `run_id` as given or, when
`start_at` is an instant, `derive_run_id` (a hash of start_at and the [run] and
[workload] keys). Only shard 0 preloads (before the start barrier, so the others find
the keyspace filled at start_at) and cleans up (after every shard has ended, which
only a duration makes knowable: see `every_shard_ended_by`).
"""

from __future__ import annotations

import hashlib

from harness.errors import ConfigError
from harness.parsers import START_FROM_STDIN, ShardSpec

# The variable a Kubernetes Indexed Job sets in each pod: the completion index.
JOB_INDEX_ENV = "JOB_COMPLETION_INDEX"
# Keys that may differ between the shards of one run, left out of the derived run id
# (each shard has its own index and may write its own files).
NOT_IN_RUN_ID = frozenset({"shard", "run_id", "start_at"})
# Host clocks agree to about this much (NTP): shard 0 allows it before cleaning up.
CLOCK_MARGIN = 1.0


def shard_index_from_job(values: dict, sources: dict, env) -> None:
    """`shard = /N`: the index comes from JOB_COMPLETION_INDEX (an Indexed Job's pod)."""
    spec = values.get("shard")
    if spec is None or spec.index is not None:
        return
    where = sources["shard"]
    text = env.get(JOB_INDEX_ENV)
    if text is None:
        raise ConfigError(f"shard = /{spec.count} ({where}) takes the shard's index from {JOB_INDEX_ENV}, "
                          f"which is not set: give shard = I/{spec.count}")
    try:
        index = int(text)
    except ValueError:
        index = -1
    if not 0 <= index < spec.count:
        raise ConfigError(f"{JOB_INDEX_ENV} = {text!r} is not a shard of {spec.count} (shard = /{spec.count}, "
                          f"{where}): expected a whole number from 0 to {spec.count - 1}")
    values["shard"] = ShardSpec(index, spec.count)
    sources["shard"] = f"{where}, index from env {JOB_INDEX_ENV}"


def index_and_count(config) -> tuple[int, int]:
    """(I, N) of the run's shard; (0, 1) for a run that is not sharded."""
    spec = config.shard
    return (0, 1) if spec is None else (spec.index, spec.count)


def check_shard_keys(config) -> None:
    """Rules of a sharded run that involve other keys; each a one-line ConfigError."""
    index, count = index_and_count(config)
    where = config.source("shard")
    if config.shards > 1 and not config.dask:
        raise ConfigError(f"shards = {config.shards} ({config.source('shards')}) needs dask: the Dask scheduler "
                          "that runs them (without Dask, start each shard yourself with --shard I/N)")
    if config.dask and config.shard is not None:
        raise ConfigError(f"shard = {index}/{count} ({where}) conflicts with dask ({config.source('dask')}): "
                          "a Dask run gives each of its shards their number itself")
    if config.start_at == START_FROM_STDIN and config.output == "-":
        raise ConfigError(f"start_at = stdin ({config.source('start_at')}) prints harness-ready on standard "
                          f"output, which output = - ({config.source('output')}) takes: write the result to a file")
    if count == 1:
        return
    if config.start_at is None:
        raise ConfigError(f"shard = {index}/{count} ({where}) needs start_at: every shard starts at one instant "
                          "(epoch seconds, ISO-8601 with a timezone, or stdin)")
    if config.start_at == START_FROM_STDIN and not config.run_id:
        raise ConfigError(f"shard = {index}/{count} ({where}) with start_at = stdin needs run_id: without a "
                          "start instant in the configuration the shards cannot derive a shared one")
    if config.cleanup and not config.duration and config.start_at != START_FROM_STDIN:
        raise ConfigError(f"cleanup = true ({config.source('cleanup')}) in a sharded run needs a duration: only "
                          "start_at + duration (or, with start_at = stdin, whoever releases the start: harness run "
                          "--dask does) tells shard 0 when every shard has ended; set duration, or cleanup = false "
                          "and delete the run's keys after the merge")
    if config.workload == "pub_sub":
        raise ConfigError(f"workload = pub_sub ({config.source('workload')}) cannot be sharded: each shard's "
                          "subscribers would hear every shard's publishers")


def share(total: int, index: int, count: int) -> int:
    """Shard `index`'s part of `total`: the first total % count shards get one more."""
    base, extra = divmod(total, count)
    return base + (1 if index < extra else 0)


def key_slice(keyspace: int, index: int, count: int) -> tuple[int, int]:
    """Shard `index`'s contiguous keys [low, high): disjoint, covering [0, keyspace)."""
    base, extra = divmod(keyspace, count)
    low = index * base + min(index, extra)
    return low, low + share(keyspace, index, count)


def derive_run_id(start_at: float, keys: list[tuple[str, str]]) -> str:
    """8 hex digits of SHA-256 over start_at and the (name, value) pairs of the [run]
    and [workload] keys (values as --dry-run prints them; shard, run_id and start_at
    left out): shards given the same test and the same instant agree on it, whatever
    their target address, output files or host."""
    digest = hashlib.sha256(repr(float(start_at)).encode())
    for name, value in keys:
        if name not in NOT_IN_RUN_ID:
            digest.update(f"\0{name}={value}".encode())
    return digest.hexdigest()[:8]


def stream_seed(run_id: str, shard: int, thread: int, stream: str) -> int:
    """The seed of one random stream: distinct per run, shard, thread (within the
    shard) and stream ("keys", "driver"), and the same every time for these four."""
    digest = hashlib.blake2b(f"{run_id}/{shard}/{thread}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def name_stem(run_id: str, config) -> str:
    """The start of every CLIENT SETNAME of the run: harness-<run id>, and -s<I> when
    sharded, so CLIENT LIST tells the shards apart."""
    if config.shard is None:
        return f"harness-{run_id}"
    return f"harness-{run_id}-s{config.shard.index}"


def every_shard_ended_by(start_epoch: float, duration: float, stop_bound: float) -> float:
    """The epoch instant by which every shard of a run with a duration has stopped
    sending: each stops its clients by itself at start + duration + `stop_bound` (the
    coordinator's deadline slack, reply timeout and stop grace) at the latest; host
    clocks are taken to agree within CLOCK_MARGIN."""
    return start_epoch + duration + stop_bound + CLOCK_MARGIN
