"""The one accounting path: how a batch's outcomes are added to CommandStats. (What
the driver learns reply by reply - null replies, redirections, replies per node - it
adds where it parses them, so a reply costs no call.)

Runs in a worker thread, on the stats object (and Tally, for answered batches) it owns
for the interval. Every command
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


class Tally:
    """What answered batches added in an interval, per command id: successes, request
    bytes, latency and service time ({histogram index: count}). Plain lists indexed by
    id, because this is added to once per batch (CommandStats' named Counters cost
    about twice as much); `settle` moves it into a CommandStats before it is published."""

    __slots__ = ("entries", "batches")

    def __init__(self, kinds: int):
        self.entries = [[0, 0, {}, {}] for _ in range(kinds)]
        self.batches = 0

    def settle(self, stats: CommandStats, names: tuple) -> None:
        for name, entry in zip(names, self.entries):
            ok, sent, latency, service = entry
            if not (ok or sent or latency):
                continue
            stats.ok[name] += ok
            stats.bytes_sent[name] += sent
            for field, counts in ((stats.latency, latency), (stats.service, service)):
                into = field.setdefault(name, {})
                for index, n in counts.items():
                    if n:
                        into[index] = into.get(index, 0) + n
            entry[:] = [0, 0, {}, {}]
        stats.batches += self.batches
        self.batches = 0


def count_answered(tally: Tally, stats: CommandStats, names: tuple, batch, failed: dict | None,
                   latency_index: int, service_index: int) -> None:
    """The batch's last reply is in. Request bytes, successes, latency and service time
    are added per command id at once (to the tally); the positions in `failed` (error
    replies, already counted as errors) move to error latency."""
    entries = tally.entries
    for name_id, count, size in batch.per_id:
        entry = entries[name_id]
        entry[0] += count
        entry[1] += size
        counts = entry[2]
        counts[latency_index] = counts.get(latency_index, 0) + count
        counts = entry[3]
        counts[service_index] = counts.get(service_index, 0) + count
    if failed:
        for position, kind in failed.items():
            name_id = batch.ids[position]
            entry = entries[name_id]
            entry[0] -= 1
            entry[2][latency_index] -= 1
            entry[3][service_index] -= 1
            counts = stats.error_latency.setdefault((names[name_id], kind), {})
            counts[latency_index] = counts.get(latency_index, 0) + 1
    tally.batches += 1


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
