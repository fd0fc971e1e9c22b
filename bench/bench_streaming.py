#!/usr/bin/python3
"""Benchmark hostcri's streaming server: the exec round trip and exec output throughput.

Usage: bench/bench_streaming.py [--build-dir build] [--round-trips 200] [--mib 100]
                                [--throughput-runs 3] [--testbed-env registry.env]
Prints a Markdown table and writes the figures as JSON to bench/results/streaming.json.

One daemon with its own root, state and cgroup parent runs one pod with one container
(`/hpc/bin/sleep 3600`, busybox from test/busybox:1.0). The client is
test/integration/streaming_client.py (Python, one reader thread per connection) and grpcio
for the RPCs. The figures:

1. Exec round trip, --round-trips times per transport, one after the other. It spans the Exec
   RPC (stdout and stderr requested), the connection to the returned URL and its upgrade
   (SPDY/3.1 with v4.channel.k8s.io as the kubelet connects, or WebSocket v5.channel.k8s.io as
   crictl --transport websocket does), the streams (SPDY: error, stdout, stderr, each waiting
   for its SYN_REPLY as client-go does), `/hpc/bin/true` running in the container, and the exit
   status read from the error stream until the server ends the session.
2. Exec output throughput: --mib MiB of zeros on stdout, timed from the Exec RPC to the exit
   status, --throughput-runs times per transport and producer. The producers are busybox
   `dd if=/dev/zero bs=1048576` (1 MiB writes) and busybox `head -c N /dev/zero`, whose small
   writes make the process itself the limit on a loaded machine. The client counts the bytes
   without keeping them. The daemon's CPU time over each run (user plus system from
   /proc/<pid>/stat) is given per MiB, and so is the client's, because a Python client can be
   the bottleneck.
3. Client floor: the same buffered read loop reading --mib MiB from a loopback TCP socket that
   a thread of the benchmark fills with 64 KiB sendall calls, with no daemon involved: about
   the most this client can read on the machine at that moment.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "integration"))
sys.path.insert(0, BENCH_DIR)

from bench_common import cpu_seconds, machine_description, read_env, summary_ms  # noqa: E402
from bench_runtime import remove_cgroups, unmount_under  # noqa: E402
from cri_client import CriClient, load_api, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402
from streaming_client import SpdyCommand, WebSocketCommand  # noqa: E402

MIB = 1024 * 1024
TRANSPORTS = ("SPDY/3.1 v4.channel.k8s.io", "WebSocket v5.channel.k8s.io")


def producers(mib):
    """Return the commands that write mib MiB of zeros to stdout, by label."""
    return {
        "dd bs=1M": ["/hpc/bin/sh", "-c",
                     f"/hpc/bin/dd if=/dev/zero bs=1048576 count={mib} 2>/dev/null"],
        "head -c": ["/hpc/bin/head", "-c", str(mib * MIB), "/dev/zero"],
    }


def open_command(transport, url, collect):
    if transport == TRANSPORTS[0]:
        return SpdyCommand(url, collect=collect)
    return WebSocketCommand(url, collect=collect)


def output_bytes(transport, command):
    if transport == TRANSPORTS[0]:
        return command.stdout.received
    return command.connection.received.get(1, 0)


class StreamingBench:
    def __init__(self, api, cri, daemon, container_id):
        self.api = api
        self.cri = cri
        self.daemon = daemon
        self.container_id = container_id

    def exec_url(self, cmd):
        request = self.api.ExecRequest(container_id=self.container_id, cmd=cmd, stdout=True,
                                       stderr=True)
        return self.cri.runtime("Exec", request).url

    def round_trip(self, transport):
        """Returns the durations in seconds of the RPC, of the upgrade with the streams, and
        of the whole exec."""
        start = time.perf_counter()
        url = self.exec_url(["/hpc/bin/true"])
        rpc_done = time.perf_counter()
        command = open_command(transport, url, collect=True)
        upgraded = time.perf_counter()
        result = command.wait()
        done = time.perf_counter()
        command.close()
        if result.exit_code != 0:
            raise RuntimeError(f"exec of true failed: {result.error!r}")
        return rpc_done - start, upgraded - rpc_done, done - start

    def round_trips(self, transport, count, warmup=10):
        for _ in range(warmup):
            self.round_trip(transport)
        rpc, upgrade, total = [], [], []
        cpu_before = cpu_seconds(self.daemon.process.pid)
        for _ in range(count):
            parts = self.round_trip(transport)
            rpc.append(parts[0])
            upgrade.append(parts[1])
            total.append(parts[2])
        cpu = cpu_seconds(self.daemon.process.pid) - cpu_before
        result = summary_ms(total)
        result["rpc_p50_ms"] = summary_ms(rpc)["p50_ms"]
        result["upgrade_p50_ms"] = summary_ms(upgrade)["p50_ms"]
        result["server_cpu_us_per_exec"] = cpu * 1e6 / count
        return result

    def throughput(self, transport, producer, mib):
        """Streams mib MiB of stdout written by the command producer; returns MB/s and the CPU
        per MiB of daemon and client."""
        cpu_before = cpu_seconds(self.daemon.process.pid)
        client_before = time.process_time()
        start = time.perf_counter()
        url = self.exec_url(producer)
        command = open_command(transport, url, collect=False)
        result = command.wait(timeout=600)
        elapsed = time.perf_counter() - start
        client = time.process_time() - client_before
        cpu = cpu_seconds(self.daemon.process.pid) - cpu_before
        received = output_bytes(transport, command)
        command.close()
        if result.exit_code != 0 or received != mib * MIB:
            raise RuntimeError(f"received {received} bytes, status {result.error!r}")
        return {"seconds": elapsed, "mb_per_s": received / elapsed / 1e6,
                "mib_per_s": received / elapsed / MIB,
                "server_cpu_ms_per_mib": cpu * 1e3 / mib,
                "client_cpu_ms_per_mib": client * 1e3 / mib}


def client_floor(mib):
    """Returns the MB/s of the client's read loop on a loopback socket fed by a local thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    block = bytes(64 * 1024)

    def send():
        accepted, _ = listener.accept()
        with accepted:
            for _ in range(mib * MIB // len(block)):
                accepted.sendall(block)

    sender = threading.Thread(target=send)
    sender.start()
    with socket.create_connection(listener.getsockname()) as client:
        reader = client.makefile("rb", buffering=256 * 1024)
        received = 0
        start = time.perf_counter()
        while True:
            chunk = reader.read1(256 * 1024)
            if not chunk:
                break
            received += len(chunk)
        elapsed = time.perf_counter() - start
    sender.join()
    listener.close()
    return received / elapsed / 1e6


def run_benchmark(args, api, registry, workdir, cgroup_parent):
    daemon = Daemon(workdir, ["--certs-dir", registry["TESTBED_CERTS_D"], "--log-level",
                              args.log_level, "--default-cgroup-parent", cgroup_parent])
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    channel = None
    sandbox_id = None
    results = {"machine": machine_description(),
               "date": time.strftime("%Y-%m-%d", time.gmtime()),
               "load_average_before": os.getloadavg()[0]}
    try:
        daemon.start()
        channel = open_channel(daemon.socket_path)
        cri = CriClient(api, channel)
        cri.image("PullImage", image=api.ImageSpec(image=image))
        config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name="bench-streaming", namespace="bench",
                                            uid="bench-streaming-uid", attempt=0),
            log_directory=os.path.join(workdir, "logs"),
            linux=api.LinuxPodSandboxConfig(
                security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=api.NODE, pid=api.NODE,
                                                          ipc=api.NODE))))
        sandbox_id = cri.runtime("RunPodSandbox", config=config).pod_sandbox_id
        container = api.ContainerConfig(metadata=api.ContainerMetadata(name="target"),
                                        image=api.ImageSpec(image=image),
                                        command=["/hpc/bin/sleep", "3600"], log_path="target.log")
        container_id = cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id,
                                   config=container, sandbox_config=config).container_id
        cri.runtime("StartContainer", container_id=container_id)
        bench = StreamingBench(api, cri, daemon, container_id)

        results["round_trip"] = {}
        results["throughput"] = {}
        for transport in TRANSPORTS:
            print(f"round trips over {transport}", file=sys.stderr)
            results["round_trip"][transport] = bench.round_trips(transport, args.round_trips)
        for label, producer in producers(args.mib).items():
            for transport in TRANSPORTS:
                print(f"{args.mib} MiB from {label} over {transport}", file=sys.stderr)
                results["throughput"][f"{label}, {transport}"] = [
                    bench.throughput(transport, producer, args.mib)
                    for _ in range(args.throughput_runs)]
        results["mib"] = args.mib
        results["client_floor_mb_per_s"] = [client_floor(args.mib)
                                            for _ in range(args.throughput_runs)]
        results["load_average_after"] = os.getloadavg()[0]
    finally:
        if sandbox_id is not None:
            cri.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
            cri.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)
        if channel is not None:
            channel.close()
        code = daemon.stop() if daemon.process is not None else 0
        daemon.kill()
        if code != 0:
            print(f"hostcri exited with {code}; log tail:\n{daemon.log()[-5000:]}",
                  file=sys.stderr)
    return results


def print_table(results):
    print(f"machine: {results['machine']}; load average {results['load_average_before']:.1f} "
          f"before, {results['load_average_after']:.1f} after")
    print("| exec round trip | n | p50 ms | p99 ms | max ms | RPC p50 ms | upgrade and streams "
          "p50 ms | server CPU µs/exec |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for transport, figures in results["round_trip"].items():
        print(f"| {transport} | {figures['n']} | {figures['p50_ms']:.2f} | "
              f"{figures['p99_ms']:.2f} | {figures['max_ms']:.2f} | {figures['rpc_p50_ms']:.2f} | "
              f"{figures['upgrade_p50_ms']:.2f} | {figures['server_cpu_us_per_exec']:.0f} |")
    print()
    print(f"| {results['mib']} MiB of exec output: producer, transport | run | s | MB/s | "
          "server CPU ms/MiB | client CPU ms/MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, runs in results["throughput"].items():
        for index, run in enumerate(runs, 1):
            print(f"| {label} | {index} | {run['seconds']:.2f} | {run['mb_per_s']:.0f} | "
                  f"{run['server_cpu_ms_per_mib']:.2f} | {run['client_cpu_ms_per_mib']:.2f} |")
    floors = ", ".join(f"{value:.0f}" for value in results["client_floor_mb_per_s"])
    print(f"\nclient floor (read loop on a local loopback socket): {floors} MB/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build"))
    parser.add_argument("--round-trips", type=int, default=200,
                        help="timed exec round trips per transport")
    parser.add_argument("--mib", type=int, default=100, help="MiB of output per throughput run")
    parser.add_argument("--throughput-runs", type=int, default=3,
                        help="throughput runs per transport")
    parser.add_argument("--testbed-env", required=True,
                        help="registry.env of a running testbed (test/testbed/start-registry.sh "
                             "and make-images.sh start one)")
    parser.add_argument("--log-level", default="warn", help="the daemon's log level")
    parser.add_argument("--output", default=os.path.join(BENCH_DIR, "results",
                                                         "streaming.json"))
    args = parser.parse_args()
    os.environ["HOSTCRI_BINARY_DIR"] = os.path.abspath(args.build_dir)

    # SIGTERM ends the run through the cleanup below, as an exception does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    workdir = tempfile.mkdtemp(prefix="hostcri-bench-streaming-")
    cgroup_parent = f"/hostcri-bench-streaming-{os.getpid()}"
    try:
        registry = read_env(args.testbed_env)
        api_dir = os.path.join(workdir, "api")
        os.mkdir(api_dir)
        api = load_api(api_dir)
        results = run_benchmark(args, api, registry, workdir, cgroup_parent)
    finally:
        left = remove_cgroups(cgroup_parent)
        if left:
            print(f"cleanup: cgroups left: {left}", file=sys.stderr)
        unmount_under(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    print_table(results)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
