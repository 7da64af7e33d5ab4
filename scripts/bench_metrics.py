#!/usr/bin/env python3
"""What Prometheus and OTLP cost: harness throughput with both on against both off.

Starts its own redis-server on a free port and a throwaway OTLP/HTTP receiver, then
runs the harness in alternating rounds (off, on, off, on, ...) with identical settings
and prints the median ops/s of each and their ratio. A benchmark, not a test: the
machine is noisy, so read the medians of several rounds.

    python scripts/bench_metrics.py [--rounds 5] [--duration 10]
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.embedded import EmbeddedServer, free_port  # noqa: E402


def receiver():
    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(port, duration, extra):
    with tempfile.TemporaryDirectory() as directory:
        output = os.path.join(directory, "result.json")
        command = [sys.executable, "-m", "harness", "run", "--port", str(port), "--duration", str(duration),
                   "--client-instances", "2", "--connections-per-client", "8", "--threads-per-client", "1",
                   "--output", output, *extra]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(output) as handle:
            return json.load(handle)["harness"]["totals"]["ops_per_sec"]


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    duration = sys.argv[sys.argv.index("--duration") + 1] if "--duration" in sys.argv else "10"
    sink = receiver()
    on = ["--prometheus-port", str(free_port()), "--otlp-endpoint", f"http://127.0.0.1:{sink.server_address[1]}",
          "--stats-interval", "1"]
    off = ["--stats-interval", "1"]
    results = {"off": [], "on": []}
    with EmbeddedServer() as server:
        for number in range(rounds):
            for name, extra in (("off", off), ("on", on)):
                results[name].append(run(server.port, duration, extra))
                print(f"round {number + 1} {name:>3}: {results[name][-1]:>10,.0f} ops/s", flush=True)
    off_median, on_median = statistics.median(results["off"]), statistics.median(results["on"])
    print(f"median off {off_median:,.0f} ops/s, on {on_median:,.0f} ops/s, "
          f"on/off {on_median / off_median:.3f} (cost {100 * (1 - on_median / off_median):.1f}%)")
    print(json.dumps({"rounds": results, "median_off": off_median, "median_on": on_median}))


if __name__ == "__main__":
    main()
