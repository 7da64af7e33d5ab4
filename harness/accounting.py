"""The one accounting path: how a batch's outcomes are added to CommandStats. (What
the driver learns reply by reply - null replies, redirections, replies per node - it
adds where it parses them, so a reply costs no call.)

Runs in a worker thread, on the stats object it owns for the interval. Every command
of a batch ends up in exactly one of: ok (answered without error), errors (answered
with an error reply, or never written), indeterminate (written, and the connection
died or timed out before the reply). Latency runs from the batch's intended start;
service time from its write. `names` maps a batch's command ids to names.
"""

from __future__ import annotations

from harness.stats import CommandStats


def count_sent(stats: CommandStats, names: tuple, batch) -> None:
    """The batch was written (counted when it ends: answered or lost)."""
    sent = stats.bytes_sent
    for name_id, _, size in batch.per_id:
        sent[names[name_id]] += size


def count_answered(stats: CommandStats, names: tuple, batch, failed: dict | None, latency_index: int,
                   service_index: int) -> None:
    """The batch's last reply is in. Request bytes, successes, latency and service time
    are added per command id at once; the positions in `failed` (error replies, already
    counted as errors) move to error latency."""
    ok, latency, service, sent = stats.ok, stats.latency, stats.service, stats.bytes_sent
    for name_id, count, size in batch.per_id:
        name = names[name_id]
        ok[name] += count
        sent[name] += size
        counts = latency.get(name)
        if counts is None:
            counts = latency[name] = {}
        counts[latency_index] = counts.get(latency_index, 0) + count
        counts = service.get(name)
        if counts is None:
            counts = service[name] = {}
        counts[service_index] = counts.get(service_index, 0) + count
    if failed:
        for position, kind in failed.items():
            name = names[batch.ids[position]]
            ok[name] -= 1
            latency[name][latency_index] -= 1
            service[name][service_index] -= 1
            counts = stats.error_latency.setdefault((name, kind), {})
            counts[latency_index] = counts.get(latency_index, 0) + 1
    stats.batches += 1


def count_error(stats: CommandStats, names: tuple, batch, position: int, kind: str) -> None:
    stats.errors[names[batch.ids[position]], kind] += 1


def count_lost(stats: CommandStats, names: tuple, batch, failed: dict | None, unanswered: set, unsent: set,
               cause: str) -> None:
    """The batch ended without all its replies: written and unanswered positions are
    indeterminate, unsent ones errors of `cause`, the rest were answered (successes
    unless they were error replies, already counted)."""
    count_sent(stats, names, batch)
    failed = failed or {}
    for position, name_id in enumerate(batch.ids):
        if position in unanswered:
            stats.indeterminate[names[name_id], cause] += 1
        elif position in unsent:
            stats.errors[names[name_id], cause] += 1
        elif position not in failed:
            stats.ok[names[name_id]] += 1
