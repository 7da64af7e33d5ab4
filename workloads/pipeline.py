"""pipeline: batches of `pipeline` mixed commands per round trip (SET, GET, INCR).

The engine sends each batch in one write and reads the replies together; with
transaction = true every batch is wrapped in MULTI/EXEC. Results count the batches
(round trips) and every command, MULTI and EXEC included.
"""

from workloads.base import Workload


class Pipeline(Workload):
    commands = ("SET", "GET", "INCR")

    def __init__(self, spec):
        super().__init__(spec)
        self.transaction = self.config.transaction
        if self.transaction:
            self.commands = ("SET", "GET", "INCR", "MULTI", "EXEC")

    def next_command(self) -> tuple:
        draw = self.rng.random()
        if draw < self.config.read_ratio:
            return ("GET", self.key())
        if draw < self.config.read_ratio + (1 - self.config.read_ratio) * 0.8:
            return ("SET", self.key(), self.values.next_value())
        return ("INCR", self.key(b"n:"))
