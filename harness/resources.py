"""What the run costs and what the server is doing, sampled by the reporter each interval.

ProcessMonitor: CPU% and RSS of the harness's client processes (found as the
coordinator's children named harness:client<N>) and of the reporter itself, with the
CPU seconds they used in total, for "operations per harness CPU-second".
ServerSampler: the server's INFO (CPU used, connected_clients,
instantaneous_ops_per_sec, used_memory) on its own connection, opened in the reporter.
"""

from __future__ import annotations

import time

import psutil

# Above this a client process is probably the bottleneck, not the server.
BUSY_CPU_PERCENT = 90.0


class ProcessMonitor:
    def __init__(self, coordinator_pid: int):
        self.coordinator_pid = coordinator_pid
        self.processes: dict[str, psutil.Process] = {}
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
                child.cpu_percent(None)  # the first call only starts the measurement
                self.processes[name] = child

    def sample(self) -> dict[str, dict]:
        """{process name: {"cpu_percent", "rss_mb"}} since the previous sample."""
        self._discover()
        result = {}
        for name, process in sorted(self.processes.items()):
            try:
                with process.oneshot():
                    cpu = process.cpu_percent(None)
                    rss = process.memory_info().rss
                    times = process.cpu_times()
            except psutil.Error:
                continue
            self.cpu_seconds[name] = times.user + times.system
            self.max_rss[name] = max(self.max_rss.get(name, 0), rss)
            result[name] = {"cpu_percent": round(cpu, 1), "rss_mb": round(rss / 2**20, 1)}
        return result

    def busy(self, sample: dict[str, dict]) -> list[str]:
        return [name for name, figures in sample.items()
                if name.startswith("harness:client") and figures["cpu_percent"] > BUSY_CPU_PERCENT]

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
