"""Process CPU% measured over each interval from cpu_times() deltas, and the
bottleneck warning only over a full interval."""

import contextlib
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil

from harness.resources import ProcessMonitor

BUSY_CHILD = ("from harness.lifecycle import set_process_name\n"
              "set_process_name('harness:client0')\n"
              "while True:\n    pass\n")


def test_first_interval_cpu_percent_matches_psutils_own_reading():
    child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    try:
        process = psutil.Process(child.pid)
        while process.name() != "harness:client0":  # until it has named itself
            time.sleep(0.01)
        monitor = ProcessMonitor(os.getpid(), interval=0.5)
        monitor.start()  # the baseline, as the reporter takes it when the load starts
        process.cpu_percent(None)  # psutil's own counter starts at the same moment
        time.sleep(1.0)
        ours = monitor.sample()["harness:client0"]["cpu_percent"]
        theirs = process.cpu_percent(None)
    finally:
        child.kill()
        child.wait()
    # The same process over the same interval: equal within the kernel's tick (10 ms in 1 s)
    # and the microseconds between the two readings; not 0 and not thousands of percent.
    assert ours is not None and abs(ours - theirs) <= 5, (ours, theirs)
    assert 10 < ours < 110


class FakeProcess:
    def __init__(self):
        self.cpu = 0.0

    def oneshot(self):
        return contextlib.nullcontext()

    def status(self):
        return psutil.STATUS_RUNNING

    def memory_info(self):
        return SimpleNamespace(rss=50 * 2**20)

    def cpu_times(self):
        return SimpleNamespace(user=self.cpu, system=0.0)


def monitor_with_busy_client(interval: float):
    now = [100.0]
    monitor = ProcessMonitor(os.getpid(), interval, clock=lambda: now[0])
    client = FakeProcess()
    monitor.processes["harness:client0"] = client
    monitor.start()

    def run_for(seconds: float, cpu_share: float) -> dict:
        now[0] += seconds
        client.cpu += seconds * cpu_share
        return monitor.sample()

    return monitor, run_for


def test_bottleneck_warning_over_a_full_interval():
    monitor, run_for = monitor_with_busy_client(interval=5)
    sample = run_for(5.0, 0.98)
    assert sample["harness:client0"]["cpu_percent"] == 98.0 and sample["harness:client0"]["full"]
    assert monitor.busy(sample) == ["harness:client0"]


def test_no_bottleneck_warning_from_a_partial_first_interval():
    monitor, run_for = monitor_with_busy_client(interval=5)
    sample = run_for(1.0, 1.0)  # a run that ended a second in, say
    assert sample["harness:client0"]["cpu_percent"] == 100.0
    assert not sample["harness:client0"]["full"] and monitor.busy(sample) == []
    # the next interval is full again
    assert monitor.busy(run_for(5.0, 0.95)) == ["harness:client0"]


def test_a_process_seen_for_the_first_time_has_no_cpu_percent_yet():
    now = [0.0]
    monitor = ProcessMonitor(os.getpid(), 5, clock=lambda: now[0])
    monitor.start()
    monitor.processes["harness:client1"] = FakeProcess()  # found after the start
    now[0] += 5
    sample = monitor.sample()
    assert sample["harness:client1"]["cpu_percent"] is None and monitor.busy(sample) == []


def test_not_busy_below_the_bound_over_a_full_interval():
    monitor, run_for = monitor_with_busy_client(interval=5)
    assert monitor.busy(run_for(5.0, 0.5)) == []
