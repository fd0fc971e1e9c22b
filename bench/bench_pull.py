#!/usr/bin/python3
"""Benchmark a cold image pull: hostcri's PullImage against `skopeo copy` followed by
`umoci unpack`, from the same loopback registry on the same machine in the same run.

The script starts its own testbed (test/testbed/start-registry.sh and make-images.sh) on the
ports from --port-base, with its state in --testbed-dir. It builds a large image of random data
in a temporary directory and pushes it there. Then it times each tool on each image several
times, and at the end it stops the testbed with stop-registry.sh --purge. The images:

- test/layers:1.0, the testbed's multi-layer image (four small layers with whiteouts and links);
- bench/big:1.0, generated here: --big-layers layers of random bytes, --big-mb MB in all, so
  the gzip blobs are as large as the data.

Each image is pulled from the plain-HTTP registry instance and from the HTTPS one (--transports),
both tools from the same instance. Each repetition starts from empty directories: a fresh
hostcri daemon with a new root, and a new OCI layout and bundle for skopeo and umoci. The two
tools take turns going first. The directories are removed only after the last repetition of an image
and transport, followed by a wait (--settle, see settle()), so a big image needs about 1 GB of
free space in $TMPDIR per repetition. Dirty pages are written back (sync) before each timed
run, so that one run's writeback does not slow down the next.

hostcri's time runs from the PullImage call until it returns. Its CPU time is the daemon's user
plus system time over that call, from /proc/<pid>/stat, and its CPU wait is the time its
threads were runnable but waited for a CPU, from /proc/<pid>/task/*/schedstat (on a busy
machine, most of the spread between repetitions). The CPU time of skopeo and umoci is their
rusage. `umoci raw unpack` (the root file system only: no runtime config, no mtree manifest of
the unpacked files) is timed too, after the same copy, as a second point of comparison.

Usage: bench/bench_pull.py [--build-dir build] [--repetitions 7] [--transports http,tls]
Prints a Markdown table and writes the figures as JSON to bench/results/pull.json.
"""

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "integration"))
from bench_common import (  # noqa: E402
    Testbed, cpu_seconds, load_average, machine_description)

from cri_client import CriClient, load_api, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402

LAYERS_IMAGE = "test/layers:1.0"
BIG_IMAGE = "bench/big:1.0"
EPOCH = 1700000000


def run(*args):
    """Run a command quietly, and show its output only when it fails."""
    result = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.stderr.write(result.stdout.decode(errors="replace"))
        raise subprocess.CalledProcessError(result.returncode, args)


def source_revision():
    """Return the checkout's commit, with "+changes" when hostcri's sources differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", SOURCE_DIR, *args], capture_output=True,
                              text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "api", "common", "cri", "daemon", "images",
                  "network", "runtime")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def random_layer_tar(path, index, size, files):
    """Write an uncompressed tar of `files` files of random bytes, `size` bytes in all."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo(f"data{index}")
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        directory.mtime = EPOCH
        tar.addfile(directory)
        for i in range(files):
            length = size // files + (1 if i < size % files else 0)
            entry = tarfile.TarInfo(f"data{index}/blob{i:03d}.bin")
            entry.size = length
            entry.mode = 0o644
            entry.mtime = EPOCH
            tar.addfile(entry, io.BytesIO(os.urandom(length)))


def build_big_image(env, work, layers, total_bytes, registry, tls_args):
    """Build BIG_IMAGE with umoci from random layers and push it with skopeo."""
    layout = os.path.join(work, "big-oci")
    tag = BIG_IMAGE.split(":")[1]
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH))
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    run("umoci", "config", "--image", f"{layout}:{tag}", "--os", "linux", "--architecture",
        {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
        "--created", created, "--no-history")
    for index in range(layers):
        size = total_bytes // layers + (1 if index < total_bytes % layers else 0)
        tar_path = os.path.join(work, f"big-layer{index}.tar")
        random_layer_tar(tar_path, index, size, files=16)
        run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", "--history.created",
            created, "--history.created_by", f"bench_pull.py random layer {index}", tar_path)
        os.unlink(tar_path)
    run("skopeo", "copy", "--quiet", *tls_args("dest"), f"oci:{layout}:{tag}",
        f"docker://{registry}/{BIG_IMAGE}")
    shutil.rmtree(layout)


def layer_blob_sizes(env, image):
    """Return the layer blob sizes of an image, read from its manifest on the HTTP registry."""
    name, tag = image.rsplit(":", 1)
    request = urllib.request.Request(
        f"{env['TESTBED_HTTP_URL']}/v2/{name}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [layer["size"] for layer in json.load(response)["layers"]]


def run_queue_seconds(pid):
    """Return the seconds that the threads of a process were runnable but waited for a CPU."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except FileNotFoundError:
            pass
    return total / 1e9


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(self, api, env, transport, work, log_level):
        self.api = api
        self.env = env
        self.transport = transport
        self.work = work
        self.log_level = log_level
        self.registry = env["TESTBED_HTTP"] if transport == "http" else env["TESTBED_TLS"]
        self.used = []  # directories of finished runs, removed by remove_used()

    def remove_used(self):
        for path in self.used:
            shutil.rmtree(path)
        self.used = []

    def tls_args(self, side):
        """Return skopeo's flags for the registry on `side` ("src" or "dest")."""
        if self.transport == "http":
            return [f"--{side}-tls-verify=false"]
        return [f"--{side}-cert-dir", self.env["TESTBED_CERT_DIR"]]

    def certs_dir(self, workdir):
        """Create the daemon's certs.d: a copy of the testbed's, and a hosts.toml that makes the
        HTTP instance a plain-HTTP host."""
        path = os.path.join(workdir, "certs.d")
        shutil.copytree(self.env["TESTBED_CERTS_D"], path)
        if self.transport == "http":
            host_dir = os.path.join(path, self.registry)
            os.makedirs(host_dir, exist_ok=True)
            with open(os.path.join(host_dir, "hosts.toml"), "w") as f:
                f.write(f'server = "http://{self.registry}"\n')
        return path

    def hostcri(self, image):
        """Time one cold PullImage in a fresh daemon, and measure the daemon's CPU time and the
        time its threads waited for a CPU (all in seconds)."""
        workdir = tempfile.mkdtemp(dir=self.work, prefix="hostcri-")
        daemon = Daemon(workdir, extra_args=["--certs-dir", self.certs_dir(workdir),
                                             "--log-level", self.log_level]).start()
        channel = open_channel(daemon.socket_path)
        try:
            client = CriClient(self.api, channel)
            pid = daemon.process.pid
            os.sync()
            cpu_before = cpu_seconds(pid)
            wait_before = run_queue_seconds(pid)
            start = time.monotonic()
            client.image("PullImage", image=self.api.ImageSpec(image=f"{self.registry}/{image}"),
                         timeout=900)
            elapsed = time.monotonic() - start
            cpu = cpu_seconds(pid) - cpu_before
            wait = run_queue_seconds(pid) - wait_before
        finally:
            channel.close()
            code = daemon.stop()
            daemon.kill()
            self.used.append(workdir)
        if code != 0:
            raise RuntimeError(f"hostcri exited with {code}:\n{daemon.log()}")
        return {"hostcri_s": elapsed, "hostcri_cpu_s": cpu, "hostcri_run_queue_s": wait}

    def skopeo_umoci(self, image):
        """Time skopeo copy into a fresh OCI layout, then umoci unpack into a fresh bundle. After
        that, time umoci raw unpack of the same layout into a fresh rootfs."""
        workdir = tempfile.mkdtemp(dir=self.work, prefix="skopeo-")
        layout = os.path.join(workdir, "oci")
        try:
            os.sync()
            cpu_before = children_cpu_seconds()
            start = time.monotonic()
            run("skopeo", "copy", "--quiet", *self.tls_args("src"),
                f"docker://{self.registry}/{image}", f"oci:{layout}:bench")
            copied = time.monotonic()
            run("umoci", "unpack", "--image", f"{layout}:bench", os.path.join(workdir, "bundle"))
            unpacked = time.monotonic()
            cpu = children_cpu_seconds() - cpu_before
            os.sync()
            raw_start = time.monotonic()
            run("umoci", "raw", "unpack", "--image", f"{layout}:bench",
                os.path.join(workdir, "rootfs"))
            raw_unpacked = time.monotonic()
        finally:
            self.used.append(workdir)
        return {"skopeo_copy_s": copied - start, "umoci_unpack_s": unpacked - copied,
                "skopeo_umoci_s": unpacked - start, "skopeo_umoci_cpu_s": cpu,
                "umoci_raw_unpack_s": raw_unpacked - raw_start,
                "skopeo_umoci_raw_s": copied - start + raw_unpacked - raw_start}


def settle(seconds):
    """Write back dirty pages, then wait until the inodes freed before are no longer recent.

    The root file system of the machine these figures were taken on is ext4 without a journal.
    There, allocating an inode skips every inode freed in the last 60 seconds, or 300 more
    while its inode table block is dirty (recently_deleted() in Linux's fs/ext4/ialloc.c).
    So removing the previous runs' trees right before a run makes that run's unpack slower.
    Each image and transport therefore keeps the trees of its repetitions until its last
    repetition, and the next one starts after this wait.
    """
    os.sync()
    time.sleep(seconds)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(bench, image, repetitions):
    """Time both tools on one image. The two take turns going first."""
    rows = []
    for repetition in range(repetitions):
        row = {}
        order = ("hostcri", "skopeo") if repetition % 2 == 0 else ("skopeo", "hostcri")
        for tool in order:
            if tool == "hostcri":
                row.update(bench.hostcri(image))
            else:
                row.update(bench.skopeo_umoci(image))
        row["load_average_1m"] = load_average()[0]
        rows.append(row)
        print(f"{bench.transport} {image} repetition {repetition + 1}: "
              f"hostcri {row['hostcri_s']:.2f} s, skopeo+umoci {row['skopeo_umoci_s']:.2f} s",
              file=sys.stderr)
    figures = {key: summary([row[key] for row in rows]) for key in rows[0]}
    for name, other in (("", "skopeo_umoci_s"), ("raw_", "skopeo_umoci_raw_s")):
        figures[f"{name}ratio_of_medians"] = (figures[other]["median"] /
                                              figures["hostcri_s"]["median"])
        figures[f"{name}ratio_of_mins"] = figures[other]["min"] / figures["hostcri_s"]["min"]
    return {"transport": bench.transport, "image": image, "repetitions": rows,
            "summary": figures}


def print_table(result):
    print(f"machine: {result['machine']}")
    print(f"command: {result['command']}")
    print(f"{result['repetitions']} repetitions; load average (1 min) "
          f"{result['load_average_before'][0]:.1f} before, {result['load_average_after'][0]:.1f} "
          "after\n")
    print("| registry | image | layers | blobs MB | hostcri median s | hostcri min s "
          "| hostcri CPU s | hostcri CPU wait s | skopeo+umoci median s | skopeo+umoci min s "
          "| skopeo+umoci CPU s | ratio (medians) | ratio (mins) | skopeo+umoci raw median s "
          "| ratio raw (medians) |")
    print("| --- " * 15 + "|")
    for entry in result["runs"]:
        s = entry["summary"]
        image = result["images"][entry["image"]]
        print(f"| {entry['transport']} | `{entry['image']}` | {image['layers']} "
              f"| {image['blob_bytes'] / 1e6:.1f} "
              f"| {s['hostcri_s']['median']:.3f} | {s['hostcri_s']['min']:.3f} "
              f"| {s['hostcri_cpu_s']['median']:.2f} | {s['hostcri_run_queue_s']['median']:.2f} "
              f"| {s['skopeo_umoci_s']['median']:.3f} | {s['skopeo_umoci_s']['min']:.3f} "
              f"| {s['skopeo_umoci_cpu_s']['median']:.2f} "
              f"| {s['ratio_of_medians']:.2f} | {s['ratio_of_mins']:.2f} "
              f"| {s['skopeo_umoci_raw_s']['median']:.3f} | {s['raw_ratio_of_medians']:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build"))
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--transports", default="http,tls",
                        help="registry instances to pull from, comma-separated: http, tls")
    parser.add_argument("--big-layers", type=int, default=10)
    parser.add_argument("--big-mb", type=int, default=200, help="random MB in the big image")
    parser.add_argument("--testbed-dir", default="/tmp/hostcri-bench-testbed")
    parser.add_argument("--port-base", type=int, default=29100)
    parser.add_argument("--log-level", default="info", help="the daemon's log level")
    parser.add_argument("--settle", type=float, default=65,
                        help="seconds to wait before each image and transport (see settle())")
    parser.add_argument("--output", default=os.path.join(BENCH_DIR, "results", "pull.json"))
    args = parser.parse_args()
    os.environ["HOSTCRI_BINARY_DIR"] = os.path.abspath(args.build_dir)

    binary = os.path.join(args.build_dir, "hostcri")
    built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(binary).st_mtime))
    source = f"{source_revision()} at the start of the run; {binary} built {built}"
    work = tempfile.mkdtemp(prefix="hostcri-bench-pull-")
    testbed = Testbed(args.testbed_dir, args.port_base, os.path.join(work, "testbed.log"))
    try:
        os.makedirs(os.path.join(work, "api"))
        api = load_api(os.path.join(work, "api"))
        env = testbed.start()
        benches = [Bench(api, env, transport, work, args.log_level)
                   for transport in args.transports.split(",")]
        build_big_image(env, work, args.big_layers, args.big_mb * 1000 * 1000,
                        benches[0].registry, benches[0].tls_args)
        sizes = {image: layer_blob_sizes(env, image) for image in (LAYERS_IMAGE, BIG_IMAGE)}
        load_before = load_average()
        runs = []
        for image in (LAYERS_IMAGE, BIG_IMAGE):
            for bench in benches:
                settle(args.settle)
                runs.append(measure(bench, image, args.repetitions))
                bench.remove_used()
        load_after = load_average()
    finally:
        testbed.stop()
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "machine": machine_description(),
        "command": " ".join(["bench/bench_pull.py"] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": source,
        "repetitions": args.repetitions,
        "settle_s": args.settle,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "skopeo": subprocess.run(["skopeo", "--version"], capture_output=True,
                                 text=True).stdout.strip(),
        "umoci": subprocess.run(["umoci", "--version"], capture_output=True,
                                text=True).stdout.strip(),
        "images": {image: {"layers": len(layers), "blob_bytes": sum(layers)}
                   for image, layers in sizes.items()},
        "runs": runs,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print_table(result)


if __name__ == "__main__":
    main()
