"""basic_rw: GET against a write mix of SET, INCR and DEL.

read_ratio sets the share of GET; the writes split SET 70%, INCR 20%, DEL 10%.
INCR uses its own keys (prefix + "n:") so it never hits a SET value that is not a number.
"""

from workloads.base import Workload



class BasicReadWrite(Workload):
    commands = ("SET", "GET", "INCR", "DEL")

    def next_command(self) -> tuple:
        draw = self.rng.random()
        read_ratio = self.spec.read_ratio
        if draw < read_ratio:
            return ("GET", self.key())
        share = (draw - read_ratio) / (1.0 - read_ratio)
        if share < 0.7:
            return ("SET", self.key(), self.values.next_value())
        if share < 0.9:
            return ("INCR", self.spec.key_prefix + b"n:%d" % self.keys.next_index())
        return ("DEL", self.key())
