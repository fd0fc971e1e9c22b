#!/usr/bin/python3
"""Benchmark hostcri's container runtime: start and stop latency, the RSS of each container's
monitor, ListContainers with 1,000 containers, ExecSync and ListContainerStats.

Usage: bench/bench_runtime.py [--build-dir build] [--containers 200] [--listed 1000]
                              [--calls 200] [--probe-starts 20] [--state-on-disk]
                              [--cpu-sample-interval 1] [--testbed-env registry.env]
Prints a Markdown table and writes the figures as JSON to bench/results/runtime.json.

Everything runs against one daemon with its own root, state and cgroup parent, and one
grpcio client on one connection, calls one after the other. Timed calls send pre-serialized
requests and keep the responses as bytes, so protobuf work in Python is not counted. The
figures, in order:

1. Start: for each of --containers pods, RunPodSandbox, CreateContainer and StartContainer of
   `/hpc/bin/sh -c 'echo NAME >FIFO; exec /hpc/bin/sleep 3600'`, busybox from
   test/busybox:1.0. The container counts as running when the benchmark reads its marker line
   from the FIFO, the first thing the container's shell does. StartContainer itself returns
   once the monitor reports the init process started.
2. Monitor RSS: VmRSS (and PSS) of every hostcri-monitor process of these containers.
   Then --probe-starts more pods start while a second thread calls Version every 2 ms. This
   shows how long other calls wait while a container starts. Those pods are removed again.
3. ExecSync of `true`, of `echo hello` and of a script that writes 20 MiB to each output stream
   (trimmed by the daemon to fit its 16 MiB response limit) in one running container, and
   ListContainerStats and ListContainers with the --containers running containers. Then the
   daemon stays idle for 10 s while its CPU sampler reads the CPU time of every container and
   pod every --cpu-sample-interval seconds. The CPU time of its main thread, where the loop and
   the sampler run, divided by the passes expected in that time estimates the cost of a pass.
4. ListContainers with --listed containers: the running ones plus created (never started)
   containers spread over the same pods.
5. Stop: StopContainer, RemoveContainer, StopPodSandbox and RemovePodSandbox, pod by pod.

The programs are named by their paths under /hpc, where a container sees its image: as in
every host-process container, a bare `sh` would be found on the host's PATH instead.

The daemon's state directory (monitor pid, spec and exit files) is a tmpfs mounted for the run,
as /run is on a Debian node, unless --state-on-disk. Its root directory (SQLite store, container
directories) is on the file system of /tmp. A testbed registry of its own
(TESTBED_PORT_BASE=29300) is started for the image and stopped at the end, unless --testbed-env
names a running one. Every pod, container, cgroup and directory of the run is removed at the
end, also after a failure.
"""

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "integration"))
from bench_common import (  # noqa: E402
    Testbed, cpu_seconds, machine_description, percentile, read_env, status_kib, summary_ms)

from cri_client import CriClient, load_api, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402

TESTBED_DIR = "/tmp/hostcri-bench-runtime-testbed"
TESTBED_PORT_BASE = "29300"
CGROUP_ROOT = "/sys/fs/cgroup"
STOP_TIMEOUT_S = 10
# Where a container sees its image (the daemon's default --rootfs-mount-point).
ROOTFS = "/hpc"
# Bytes the large ExecSync writes to each stream: more than the 16 MiB kept of each.
LARGE_OUTPUT = 20 * 1024 * 1024


# ---- measurements

def main_thread_cpu_ns(pid):
    """The CPU time of the process's main thread in nanoseconds (the first field of schedstat),
    finer than the clock ticks of /proc/<pid>/stat."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def filesystem_type(path):
    """Returns the type of the file system that contains path."""
    best, kind = "", "unknown"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            fs_type = fields[fields.index("-") + 1]
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fs_type
    return kind


class Timed:
    """Unary calls with pre-serialized requests and raw responses, timed one by one, with the
    daemon's CPU time over a series of calls."""

    def __init__(self, api, cri, daemon_pid):
        self.api = api
        self.cri = cri
        self.daemon_pid = daemon_pid
        self.stubs = {}

    def stub(self, service, name):
        key = (service, name)
        if key not in self.stubs:
            self.stubs[key] = self.cri.channel.unary_unary(
                f"/runtime.v1.{service}/{name}", request_serializer=lambda data: data,
                response_deserializer=lambda data: data)
        return self.stubs[key]

    def call(self, name, request, service="RuntimeService", timeout=60):
        """Makes one call and returns its duration in seconds and the response bytes."""
        stub = self.stub(service, name)
        payload = request.SerializeToString()
        start = time.perf_counter()
        response = stub(payload, timeout=timeout)
        return time.perf_counter() - start, response

    def series(self, name, request, calls, warmup=20, service="RuntimeService"):
        """Repeats one call and returns the latency summary, the server and client CPU per call
        and the size of the last response."""
        stub = self.stub(service, name)
        payload = request.SerializeToString()
        for _ in range(warmup):
            stub(payload, timeout=60)
        latencies = []
        cpu_before = cpu_seconds(self.daemon_pid)
        client_before = time.process_time()
        for _ in range(calls):
            start = time.perf_counter()
            response = stub(payload, timeout=60)
            latencies.append(time.perf_counter() - start)
        client = time.process_time() - client_before
        cpu = cpu_seconds(self.daemon_pid) - cpu_before
        result = summary_ms(latencies)
        result["server_cpu_us_per_call"] = cpu * 1e6 / calls
        result["client_cpu_us_per_call"] = client * 1e6 / calls
        result["response_bytes"] = len(response)
        return result


# ---- setup and cleanup

def monitor_pids(state_dir):
    """Returns the hostcri-monitor processes whose container directory is under state_dir."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (len(argv) > 1 and argv[0].endswith(b"hostcri-monitor")
                and argv[1].startswith(state_dir.encode() + b"/")):
            pids.append(int(entry))
    return pids


def cgroup_dirs(parent, cgroup_root=CGROUP_ROOT):
    """Lists the directories of the cgroup parent in each hierarchy, deepest first.

    cgroup_root is a single v2 hierarchy when it has cgroup.controllers, else a folder of
    hierarchies (v1 or hybrid)."""
    if os.path.exists(os.path.join(cgroup_root, "cgroup.controllers")):
        tops = [os.path.join(cgroup_root, parent.strip("/"))]
    else:
        tops = [os.path.join(cgroup_root, hierarchy, parent.strip("/"))
                for hierarchy in sorted(os.listdir(cgroup_root))
                if not os.path.islink(os.path.join(cgroup_root, hierarchy))]
    found = []
    for top in tops:
        if os.path.isdir(top):
            for root, _, _ in os.walk(top, topdown=False):
                found.append(root)
    return found


def remove_cgroups(parent, cgroup_root=CGROUP_ROOT):
    """Removes the cgroups under this run's own parent and returns those that remain.

    Processes still in them (this run's containers, after a failure) are killed first."""
    left = []
    for directory in cgroup_dirs(parent, cgroup_root):
        try:
            with open(os.path.join(directory, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
    for directory in cgroup_dirs(parent, cgroup_root):
        for _ in range(50):
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            left.append(directory)
    return left


def unmount_under(directory):
    """Unmounts everything still mounted under directory, deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted(points, key=len, reverse=True):
        if point.startswith(directory + "/"):
            subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)


# ---- the benchmark

class Bench:
    """Pods and containers of one run, with the timed steps that create, measure and remove
    them."""

    def __init__(self, api, cri, daemon, image, workdir):
        self.api = api
        self.cri = cri
        self.daemon = daemon
        self.image = image
        self.workdir = workdir
        self.timed = Timed(api, cri, daemon.process.pid)
        self.pods = []  # (sandbox id, config, running container id)
        self.created = []
        self.fifo_path = os.path.join(workdir, "marker.fifo")
        os.mkfifo(self.fifo_path)
        self.fifo = os.open(self.fifo_path, os.O_RDWR | os.O_NONBLOCK)
        self.pending = b""

    def pod_config(self, index):
        api = self.api
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=f"bench-{index}", namespace="bench",
                                            uid=f"bench-uid-{index}", attempt=0),
            log_directory=os.path.join(self.workdir, "logs", f"pod-{index}"),
            linux=api.LinuxPodSandboxConfig(
                security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=api.NODE, pid=api.NODE,
                                                          ipc=api.NODE))))

    def container_config(self, name, command):
        api = self.api
        return api.ContainerConfig(metadata=api.ContainerMetadata(name=name),
                                   image=api.ImageSpec(image=self.image), command=command,
                                   log_path=f"{name}.log")

    def read_marker(self, name, timeout=30):
        """Waits for the line name on the FIFO; returns True when it was there already."""
        expected = name.encode() + b"\n"
        waited = False
        deadline = time.monotonic() + timeout
        while expected not in self.pending:
            try:
                self.pending += os.read(self.fifo, 4096)
                continue
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"timed out: container {name} wrote no marker within {timeout} s")
            waited = True
            select.select([self.fifo], [], [], remaining)
        self.pending = self.pending.replace(expected, b"", 1)
        return not waited

    def start_one(self, index):
        api = self.api
        name = f"run-{index}"
        config = self.pod_config(index)
        script = f"echo {name} >{self.fifo_path}; exec {ROOTFS}/bin/sleep 3600"
        start = time.perf_counter()
        t_pod, response = self.timed.call(
            "RunPodSandbox", api.RunPodSandboxRequest(config=config))
        sandbox_id = api.RunPodSandboxResponse.FromString(response).pod_sandbox_id
        self.pods.append([sandbox_id, config, None])
        t_create, response = self.timed.call("CreateContainer", api.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, sandbox_config=config,
            config=self.container_config(name, [f"{ROOTFS}/bin/sh", "-c", script])))
        container_id = api.CreateContainerResponse.FromString(response).container_id
        self.pods[-1][2] = container_id
        t_start, _ = self.timed.call("StartContainer",
                                     api.StartContainerRequest(container_id=container_id))
        rpcs_done = time.perf_counter() - start
        before_return = self.read_marker(name)
        running = time.perf_counter() - start
        return {"run_pod": t_pod, "create": t_create, "start": t_start, "rpcs": rpcs_done,
                "running": running, "marker_before_return": before_return}

    def start_all(self, count):
        cpu_before = cpu_seconds(self.daemon.process.pid)
        samples = [self.start_one(i) for i in range(count)]
        cpu = cpu_seconds(self.daemon.process.pid) - cpu_before
        result = {key: summary_ms([s[key] for s in samples])
                  for key in ("run_pod", "create", "start", "rpcs", "running")}
        result["marker_before_start_returned"] = sum(s["marker_before_return"] for s in samples)
        result["server_cpu_us_per_container"] = cpu * 1e6 / count
        result["running_ms_each"] = [round(s["running"] * 1e3, 3) for s in samples]
        return result

    def monitor_memory(self):
        pids = monitor_pids(self.daemon.state)
        rss = sorted(status_kib(pid, "VmRSS") for pid in pids)
        pss = sorted(pss_kib(pid) for pid in pids)
        return {"monitors": len(pids), "rss_median_kib": percentile(rss, 50),
                "rss_max_kib": rss[-1], "pss_median_kib": percentile(pss, 50),
                "pss_max_kib": pss[-1]}

    def exec_and_stats(self, calls):
        api = self.api
        container_id = self.pods[0][2]
        result = {}
        check = api.ExecSyncResponse.FromString(self.timed.call("ExecSync", api.ExecSyncRequest(
            container_id=container_id, cmd=[f"{ROOTFS}/bin/echo", "hello"]))[1])
        if check.exit_code != 0 or check.stdout != b"hello\n":
            raise RuntimeError(f"ExecSync of echo returned exit code {check.exit_code}, stdout "
                               f"{check.stdout!r} and stderr {check.stderr!r}")
        for label, cmd in (("exec_true", [f"{ROOTFS}/bin/true"]),
                           ("exec_echo", [f"{ROOTFS}/bin/echo", "hello"])):
            result[label] = self.timed.series(
                "ExecSync", api.ExecSyncRequest(container_id=container_id, cmd=cmd), calls,
                warmup=5)
        large = (f"{ROOTFS}/bin/head -c {LARGE_OUTPUT} /dev/zero; "
                 f"{ROOTFS}/bin/head -c {LARGE_OUTPUT} /dev/zero >&2")
        result["exec_large"] = self.timed.series(
            "ExecSync", api.ExecSyncRequest(container_id=container_id,
                                            cmd=[f"{ROOTFS}/bin/sh", "-c", large]),
            max(5, calls // 10), warmup=1)
        result["list_container_stats"] = self.timed.series(
            "ListContainerStats", api.ListContainerStatsRequest(), calls, warmup=5)
        result["list_containers_running"] = self.timed.series(
            "ListContainers", api.ListContainersRequest(), calls * 5)
        return result

    def create_idle(self, total):
        """Creates never-started containers, spread over the pods, until total containers exist."""
        api = self.api
        index = 0
        while len(self.pods) + len(self.created) < total:
            sandbox_id, config, _ = self.pods[index % len(self.pods)]
            name = f"idle-{index}"
            _, response = self.timed.call("CreateContainer", api.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, sandbox_config=config,
                config=self.container_config(name, [f"{ROOTFS}/bin/sleep", "3600"])))
            self.created.append(api.CreateContainerResponse.FromString(response).container_id)
            index += 1

    def list_many(self, calls):
        api = self.api
        listed = api.ListContainersResponse.FromString(
            self.timed.call("ListContainers", api.ListContainersRequest())[1])
        result = {"containers": len(listed.containers),
                  "all": self.timed.series("ListContainers", api.ListContainersRequest(), calls)}
        running = api.ListContainersRequest(filter=api.ContainerFilter(
            state=api.ContainerStateValue(state=api.CONTAINER_RUNNING)))
        result["running_filter"] = self.timed.series("ListContainers", running, calls)
        return result

    def remove_idle(self):
        for container_id in self.created:
            self.timed.call("RemoveContainer", self.api.RemoveContainerRequest(
                container_id=container_id))
        self.created = []

    def stop_newest(self):
        """Stops and removes the newest pod and its container; returns the durations."""
        api = self.api
        sandbox_id, _, container_id = self.pods[-1]
        t_stop, _ = self.timed.call("StopContainer", api.StopContainerRequest(
            container_id=container_id, timeout=STOP_TIMEOUT_S), timeout=STOP_TIMEOUT_S + 60)
        t_remove, _ = self.timed.call("RemoveContainer", api.RemoveContainerRequest(
            container_id=container_id))
        t_stop_pod, _ = self.timed.call("StopPodSandbox", api.StopPodSandboxRequest(
            pod_sandbox_id=sandbox_id))
        t_remove_pod, _ = self.timed.call("RemovePodSandbox", api.RemovePodSandboxRequest(
            pod_sandbox_id=sandbox_id))
        self.pods.pop()
        return {"stop": t_stop, "remove": t_remove, "stop_pod": t_stop_pod,
                "remove_pod": t_remove_pod, "total": t_stop + t_remove + t_stop_pod + t_remove_pod}

    def stop_all(self):
        cpu_before = cpu_seconds(self.daemon.process.pid)
        samples = []
        while self.pods:
            samples.append(self.stop_newest())
        cpu = cpu_seconds(self.daemon.process.pid) - cpu_before
        result = {key: summary_ms([s[key] for s in samples])
                  for key in ("stop", "remove", "stop_pod", "remove_pod", "total")}
        result["server_cpu_us_per_container"] = cpu * 1e6 / len(samples)
        result["total_ms_each"] = [round(s["total"] * 1e3, 3) for s in samples]
        return result

    def probe_during_starts(self, count):
        """Calls Version from a second thread, every 2 ms, while count more pods start; then
        stops those pods. Returns the Version latencies."""
        stub = self.timed.stub("RuntimeService", "Version")
        payload = self.api.VersionRequest(version="0.1.0").SerializeToString()
        done = threading.Event()
        latencies = []

        def probe():
            while not done.is_set():
                start = time.perf_counter()
                stub(payload, timeout=60)
                latencies.append(time.perf_counter() - start)
                time.sleep(0.002)

        first = len(self.pods)
        thread = threading.Thread(target=probe)
        thread.start()
        try:
            for index in range(first, first + count):
                self.start_one(index)
        finally:
            done.set()
            thread.join()
        while len(self.pods) > first:
            self.stop_newest()
        return summary_ms(latencies)

    def remove_left(self):
        """Removes what a failed run left: every pod still known, with its containers."""
        for sandbox_id, _, _ in self.pods:
            try:
                self.cri.runtime("RemovePodSandbox", timeout=120, pod_sandbox_id=sandbox_id)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print(f"cleanup: RemovePodSandbox {sandbox_id}: {e}", file=sys.stderr)
        self.pods = []
        self.created = []

    def close(self):
        os.close(self.fifo)


def sampler_while_idle(daemon_pid, interval_s, seconds=10):
    """Estimates the CPU cost of one pass of the daemon's CPU sampler from its main thread's
    CPU time while no call arrives."""
    before = main_thread_cpu_ns(daemon_pid)
    time.sleep(seconds)
    cpu_ns = main_thread_cpu_ns(daemon_pid) - before
    passes = seconds / interval_s
    return {"seconds": seconds, "interval_s": interval_s, "main_thread_cpu_ms": cpu_ns / 1e6,
            "cpu_us_per_pass": cpu_ns / passes / 1e3}


def python_client_floor(timed, api, calls):
    """Measures Version round trips through the same client, the floor of every figure."""
    return timed.series("Version", api.VersionRequest(version="0.1.0"), calls)


def run_benchmark(args, api, registry, workdir, cgroup_parent):
    if not args.state_on_disk:
        # As /run on a Debian node: the monitors' pid, spec and exit files live on tmpfs.
        os.mkdir(os.path.join(workdir, "state"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "hostcri-bench",
                        os.path.join(workdir, "state")], check=True)
    daemon = Daemon(workdir, ["--certs-dir", registry["TESTBED_CERTS_D"], "--log-level",
                              args.log_level, "--default-cgroup-parent", cgroup_parent,
                              "--cgroup-root", args.cgroup_root,
                              "--cpu-sample-interval",
                              f"{round(args.cpu_sample_interval * 1000)}ms"])
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    channel = None
    bench = None
    results = {"machine": machine_description(), "containers": args.containers,
               "date": time.strftime("%Y-%m-%d", time.gmtime()),
               "state_dir": "ext4 (disk)" if args.state_on_disk else "tmpfs",
               "root_dir": filesystem_type(workdir),
               "cgroup_root": args.cgroup_root,
               "load_average_before": os.getloadavg()[0]}
    try:
        daemon.start()
        channel = open_channel(daemon.socket_path)
        cri = CriClient(api, channel)
        cri.image("PullImage", image=api.ImageSpec(image=image))
        bench = Bench(api, cri, daemon, image, workdir)
        results["python_client_version"] = python_client_floor(bench.timed, api, 2000)
        print(f"starting {args.containers} containers", file=sys.stderr)
        results["start"] = bench.start_all(args.containers)
        time.sleep(1)
        results["monitor_memory"] = bench.monitor_memory()
        print("Version calls during starts", file=sys.stderr)
        results["version_during_starts"] = bench.probe_during_starts(args.probe_starts)
        print("exec and stats", file=sys.stderr)
        results.update(bench.exec_and_stats(args.calls))
        print("CPU sampler while idle", file=sys.stderr)
        results["sampler"] = sampler_while_idle(daemon.process.pid, args.cpu_sample_interval)
        print(f"creating containers up to {args.listed}", file=sys.stderr)
        bench.create_idle(args.listed)
        results["list_containers"] = bench.list_many(args.calls * 5)
        results["daemon_rss_kib"] = status_kib(daemon.process.pid, "VmRSS")
        bench.remove_idle()
        print("stopping", file=sys.stderr)
        results["stop"] = bench.stop_all()
        results["load_average_after"] = os.getloadavg()[0]
    finally:
        if bench is not None:
            bench.remove_left()
            bench.close()
        if channel is not None:
            channel.close()
        code = daemon.stop() if daemon.process is not None else 0
        daemon.kill()
        if code != 0:
            print(f"hostcri exited with {code}; log tail:\n{daemon.log()[-5000:]}",
                  file=sys.stderr)
        left = monitor_pids(daemon.state)
        for pid in left:
            print(f"cleanup: monitor {pid} still runs; killing it", file=sys.stderr)
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    return results


def print_table(results):
    start, stop = results["start"], results["stop"]
    memory = results["monitor_memory"]
    lists = results["list_containers"]
    print(f"machine: {results['machine']}; load average {results['load_average_before']:.1f} "
          f"before, {results['load_average_after']:.1f} after")
    print(f"daemon state directory on {results['state_dir']}, root directory on "
          f"{results['root_dir']}, cgroup root {results['cgroup_root']}")
    print("| measure | n | p50 ms | p99 ms | max ms | server CPU µs/call | client CPU µs/call "
          "| target | met |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def row(label, figures, target="", met=""):
        cpu = [figures.get(key) for key in ("server_cpu_us_per_call", "client_cpu_us_per_call")]
        cpu = [f"{value:.0f}" if value is not None else "" for value in cpu]
        print(f"| {label} | {figures['n']} | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} | "
              f"{figures['max_ms']:.2f} | {cpu[0]} | {cpu[1]} | {target} | {met} |")

    met = "yes" if start["running"]["p50_ms"] <= 10 else "no"
    row("RunPodSandbox", start["run_pod"])
    row("CreateContainer", start["create"])
    row("StartContainer", start["start"])
    running = dict(start["running"], server_cpu_us_per_call=start["server_cpu_us_per_container"])
    row("pod + container start, until running (marker read)", running, "p50 ≤ 10 ms", met)
    row("StopContainer", stop["stop"])
    row("RemoveContainer", stop["remove"])
    row("StopPodSandbox", stop["stop_pod"])
    row("RemovePodSandbox", stop["remove_pod"])
    row("stop and remove container and pod",
        dict(stop["total"], server_cpu_us_per_call=stop["server_cpu_us_per_container"]))
    row("ExecSync `true`", results["exec_true"])
    row("ExecSync `echo hello`", results["exec_echo"])
    row("ExecSync, 20 MiB on each stream", results["exec_large"])
    row(f"ListContainerStats, {results['containers']} running", results["list_container_stats"])
    row(f"ListContainers, {results['containers']} running", results["list_containers_running"])
    met = "yes" if lists["all"]["p50_ms"] <= 2 else "no"
    row(f"ListContainers, {lists['containers']} containers", lists["all"], "≤ 2 ms", met)
    row(f"ListContainers, {lists['containers']} containers, state=RUNNING filter",
        lists["running_filter"])
    row("Version (Python client floor)", results["python_client_version"])
    row("Version from a second thread while pods start", results["version_during_starts"])
    print()
    met = "yes" if memory["rss_max_kib"] <= 1024 else "no"
    print("| monitor memory | median KiB | max KiB | target | met |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| VmRSS ({memory['monitors']} monitors) | {memory['rss_median_kib']} | "
          f"{memory['rss_max_kib']} | ≤ 1 MB | {met} |")
    print(f"| PSS | {memory['pss_median_kib']} | {memory['pss_max_kib']} | | |")
    print(f"\ndaemon RSS with {lists['containers']} containers: "
          f"{results['daemon_rss_kib'] / 1024:.1f} MiB")
    sampler = results["sampler"]
    print(f"CPU sampler, {results['containers']} containers and pods: "
          f"{sampler['cpu_us_per_pass']:.0f} µs per pass (main thread CPU "
          f"{sampler['main_thread_cpu_ms']:.1f} ms over {sampler['seconds']} s idle, one pass "
          f"every {sampler['interval_s']} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build"))
    parser.add_argument("--containers", type=int, default=200,
                        help="pods, each with one running container")
    parser.add_argument("--listed", type=int, default=1000,
                        help="containers present for the ListContainers figure")
    parser.add_argument("--calls", type=int, default=200,
                        help="ExecSync and ListContainerStats calls; ListContainers makes 5 times "
                             "as many")
    parser.add_argument("--probe-starts", type=int, default=20,
                        help="pods started while a second thread calls Version")
    parser.add_argument("--cpu-sample-interval", type=float, default=1.0,
                        help="the daemon's CPU sampler interval in seconds (default 1, so that the idle "
                             "phase sees 10 passes; the daemon's own default is 10)")
    parser.add_argument("--cgroup-root", default=CGROUP_ROOT,
                        help="the daemon's cgroup root; /sys/fs/cgroup/unified on a hybrid host "
                             "runs the pure cgroup v2 code (clone3 into the container's cgroup, "
                             "no v1 controllers)")
    parser.add_argument("--testbed-env", help="registry.env of a running testbed to use")
    parser.add_argument("--log-level", default="warn", help="the daemon's log level")
    parser.add_argument("--state-on-disk", action="store_true",
                        help="keep the daemon's state directory in the work directory instead of "
                             "on a tmpfs mounted there")
    parser.add_argument("--output", default=os.path.join(BENCH_DIR, "results", "runtime.json"))
    args = parser.parse_args()
    os.environ["HOSTCRI_BINARY_DIR"] = os.path.abspath(args.build_dir)

    # SIGTERM ends the run through the cleanup below, as an exception does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    testbed = None if args.testbed_env else Testbed(TESTBED_DIR, TESTBED_PORT_BASE)
    workdir = tempfile.mkdtemp(prefix="hostcri-bench-runtime-")
    cgroup_parent = f"/hostcri-bench-runtime-{os.getpid()}"
    try:
        registry = read_env(args.testbed_env) if args.testbed_env else testbed.start()
        api_dir = os.path.join(workdir, "api")
        os.mkdir(api_dir)
        api = load_api(api_dir)
        results = run_benchmark(args, api, registry, workdir, cgroup_parent)
    finally:
        left = remove_cgroups(cgroup_parent, args.cgroup_root)
        if left:
            print(f"cleanup: cgroups left: {left}", file=sys.stderr)
        unmount_under(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        if testbed is not None:
            testbed.stop()

    print_table(results)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
