"""Counts with their noun in messages: "1 client process", "2 client processes"."""

from __future__ import annotations

# Nouns whose plural is not the noun + "s".
IRREGULAR = {"client process": "client processes", "process": "processes", "batch": "batches"}


def plural(count: int, noun: str) -> str:
    word = noun if count == 1 else IRREGULAR.get(noun, noun + "s")
    return f"{count:,} {word}"
