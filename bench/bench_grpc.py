#!/usr/bin/python3
"""Benchmark hostcri's gRPC layer: unary Version latency and server CPU per call with 1 and 8
concurrent grpc-go clients, and the daemon's RSS idle and after 100,000 calls.

Usage: bench/bench_grpc.py [--build-dir build] [--calls 100000]
Prints a Markdown table and writes the figures as JSON to bench/results/grpc.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "integration"))

from bench_common import cpu_seconds, machine_description, status_kib  # noqa: E402
from daemon import Daemon  # noqa: E402


def build_grpcbench(out_dir):
    binary = os.path.join(out_dir, "grpcbench")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
               GOCACHE=os.path.join(out_dir, "gocache"))
    subprocess.run(["go", "build", "-o", binary, "."], check=True, env=env,
                   cwd=os.path.join(BENCH_DIR, "grpcbench"))
    return binary


def run_clients(grpcbench, socket_path, clients, calls):
    result = subprocess.run([grpcbench, "-socket", socket_path, "-clients", str(clients),
                             "-calls", str(calls)], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build"))
    parser.add_argument("--calls", type=int, default=100000)
    args = parser.parse_args()
    os.environ["HOSTCRI_BINARY_DIR"] = os.path.abspath(args.build_dir)

    workdir = tempfile.mkdtemp(prefix="hostcri-bench-")
    try:
        grpcbench = build_grpcbench(workdir)
        daemon = Daemon(workdir, ["--log-level", "warn"]).start()
        pid = daemon.process.pid
        time.sleep(1)
        results = {"machine": machine_description(), "idle_rss_kib": status_kib(pid, "VmRSS"), "runs": []}
        for clients in (1, 8):
            before = cpu_seconds(pid)
            run = run_clients(grpcbench, daemon.socket_path, clients, args.calls // 2)
            run["server_cpu_us_per_call"] = (cpu_seconds(pid) - before) * 1e6 / run["calls"]
            results["runs"].append(run)
        results["rss_after_calls_kib"] = status_kib(pid, "VmRSS")
        results["total_calls"] = sum(run["calls"] for run in results["runs"])
        assert daemon.stop() == 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"machine: {results['machine']}")
    print(f"daemon RSS idle: {results['idle_rss_kib'] / 1024:.1f} MiB; after "
          f"{results['total_calls']} calls: {results['rss_after_calls_kib'] / 1024:.1f} MiB")
    print("| clients | calls | calls/s | p50 µs | p99 µs | server CPU µs/call |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in results["runs"]:
        print(f"| {run['clients']} | {run['calls']} | {run['calls'] / run['seconds']:.0f} | "
              f"{run['p50_us']:.0f} | {run['p99_us']:.0f} | "
              f"{run['server_cpu_us_per_call']:.1f} |")
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    with open(os.path.join(BENCH_DIR, "results", "grpc.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
