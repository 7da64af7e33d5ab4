"""A memtier_benchmark result file of random latencies for the report tests, built by
tests/memtier_files.py (which follows memtier's run_stats.cpp: no memtier_benchmark
binary can be had on this machine). One SET to ten GETs, a tenth of the GETs missing,
as memtier's default --ratio 1:10 gives."""

from __future__ import annotations

import random

from tests.memtier_files import memtier_document as built

START_MS = 1_700_000_000_000


def memtier_document(seconds: int = 10, per_second: int = 2000, seed: int = 7) -> dict:
    rng = random.Random(seed)
    per_second_values = [
        {"SET": [int(rng.lognormvariate(5.5, 0.5)) + 20 for _ in range(per_second // 10)],
         "GET": [int(rng.lognormvariate(5.3, 0.6)) + 20 for _ in range(per_second)]}
        for _ in range(seconds)]
    gets = sum(len(values["GET"]) for values in per_second_values)
    return built(START_MS, per_second_values, test_time=seconds, misses={"GET": gets // 10})
