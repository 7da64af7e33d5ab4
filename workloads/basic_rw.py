"""basic_rw: GET against a write mix of SET, INCR and DEL.

read_ratio sets the share of GET; write_mix (default SET:70,INCR:20,DEL:10) splits the
writes. INCR uses its own keys (prefix + "n:") so it never meets a SET value that is
not a number.
"""

import bisect
import itertools

from workloads.base import Workload


class BasicReadWrite(Workload):
    commands = ("SET", "GET", "INCR", "DEL")

    def __init__(self, spec):
        super().__init__(spec)
        total = sum(weight for _, weight in self.config.write_mix)
        self._write_bounds = list(itertools.accumulate(weight / total for _, weight in self.config.write_mix))
        self._write_names = [name for name, _ in self.config.write_mix]
        self.commands = ("GET", *[name for name, weight in self.config.write_mix if weight > 0])

    def next_command(self) -> tuple:
        draw = self.rng.random()
        read_ratio = self.config.read_ratio
        if draw < read_ratio:
            return ("GET", self.key())
        share = (draw - read_ratio) / (1.0 - read_ratio)
        position = bisect.bisect_right(self._write_bounds, share)
        name = self._write_names[min(position, len(self._write_names) - 1)]
        if name == "SET":
            return ("SET", self.key(), self.values.next_value())
        if name == "INCR":
            return ("INCR", self.key(b"n:"))
        return ("DEL", self.key())

    def preload_commands(self, index: int) -> list[tuple]:
        return [("SET", self.key_at(index), self.values.next_value())]
