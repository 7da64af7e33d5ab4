"""What the run costs and what the server is doing, sampled by the reporter each interval.

ProcessMonitor: CPU% and RSS of the harness's client processes (found as the
coordinator's children named harness:client<N>) and of the reporter itself, with the
CPU seconds they used in total.
ServerSampler: the server's INFO (CPU used, connected_clients,
instantaneous_ops_per_sec, used_memory) on its own connection, opened in the reporter.
"""

from __future__ import annotations

import time

import psutil

# Above this a client process is probably the bottleneck, not the server.
BUSY_CPU_PERCENT = 90.0
# A sample spanning less than this share of stats_interval is partial (a process found
# late, the run's last moments): its CPU% is shown but raises no bottleneck warning.
FULL_SHARE = 0.9


class ProcessMonitor:
    """CPU% from psutil cpu_times() deltas across each interval, measured from a
    baseline taken when the load starts (`start()`). psutil's cpu_percent() is not used:
    its first call only starts a counter, so the first interval read 0% or, over a few
    milliseconds, nonsense such as 7596%."""

    def __init__(self, coordinator_pid: int, interval: float, clock=time.monotonic):
        self.coordinator_pid = coordinator_pid
        self.interval = interval
        self.clock = clock
        self.processes: dict[str, psutil.Process] = {}
        self.baseline: dict[str, tuple[float, float]] = {}  # name -> (CPU seconds, clock) at the last sample
        self.cpu_seconds: dict[str, float] = {}
        self.max_rss: dict[str, int] = {}

    def _discover(self) -> None:
        try:
            children = psutil.Process(self.coordinator_pid).children()
        except psutil.Error:
            return
        for child in children:
            try:
                name = child.name()
            except psutil.Error:
                continue
            if name.startswith("harness:") and name not in self.processes:
                self.processes[name] = child

    def start(self) -> None:
        """Take every process's baseline now, when the load starts."""
        self.sample()

    def sample(self) -> dict[str, dict]:
        """{process name: {"cpu_percent", "rss_mb", "full"}} since the previous sample;
        cpu_percent is None for a process seen for the first time (no baseline yet)."""
        self._discover()
        result = {}
        for name, process in sorted(self.processes.items()):
            try:
                with process.oneshot():
                    if process.status() == psutil.STATUS_ZOMBIE:  # it has ended: nothing left to measure
                        raise psutil.NoSuchProcess(process.pid)
                    rss = process.memory_info().rss
                    times = process.cpu_times()
                now = self.clock()
            except psutil.Error:
                continue
            used = times.user + times.system
            cpu, full = None, False
            if name in self.baseline:
                before, then = self.baseline[name]
                if now > then:
                    cpu = round(100 * (used - before) / (now - then), 1)
                    full = now - then >= FULL_SHARE * self.interval
            self.baseline[name] = (used, now)
            self.cpu_seconds[name] = used
            self.max_rss[name] = max(self.max_rss.get(name, 0), rss)
            result[name] = {"cpu_percent": cpu, "rss_mb": round(rss / 2**20, 1), "full": full}
        return result

    def busy(self, sample: dict[str, dict]) -> list[str]:
        """Client processes above BUSY_CPU_PERCENT over a full interval."""
        return [name for name, figures in sample.items()
                if name.startswith("harness:client") and figures["full"]
                and figures["cpu_percent"] is not None and figures["cpu_percent"] > BUSY_CPU_PERCENT]

    def summary(self) -> dict:
        return {
            "cpu_seconds": {name: round(value, 3) for name, value in sorted(self.cpu_seconds.items())},
            "max_rss_mb": {name: round(value / 2**20, 1) for name, value in sorted(self.max_rss.items())},
        }


class ServerSampler:
    def __init__(self, client):
        self.client = client
        self.previous_cpu: tuple[float, float] | None = None  # (used cpu seconds, monotonic)

    def sample(self) -> dict | None:
        try:
            info = self.client.info()
        except Exception:  # noqa: BLE001 - a sample is optional; the run goes on without it
            return None
        now = time.monotonic()
        used = float(info.get("used_cpu_sys", 0)) + float(info.get("used_cpu_user", 0))
        cpu_percent = None
        if self.previous_cpu is not None and now > self.previous_cpu[1]:
            cpu_percent = round(100 * (used - self.previous_cpu[0]) / (now - self.previous_cpu[1]), 1)
        self.previous_cpu = (used, now)
        return {
            "cpu_percent": cpu_percent,
            "connected_clients": info.get("connected_clients"),
            "instantaneous_ops_per_sec": info.get("instantaneous_ops_per_sec"),
            "used_memory": info.get("used_memory"),
        }

    def close(self) -> None:
        self.client.close()
