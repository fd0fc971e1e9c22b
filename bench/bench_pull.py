#!/usr/bin/python3
"""Benchmark a cold image pull: hostcri's PullImage against `skopeo copy` followed by
`umoci unpack`, from the same testbed registry (HTTPS, loopback) on the same machine.

The image is built here and pushed to the testbed: LAYERS layers, each holding one file of
random bytes (incompressible) and many small text files (compressible, and costly to unpack),
so both network transfer and unpacking count. Each round starts from empty directories: a new
hostcri root, a new OCI layout and bundle for skopeo and umoci. Dirty pages are synced before
each timed run, so that the writeback of one run does not slow down the next.

Usage: bench/bench_pull.py --testbed-env /tmp/testbed-registry/registry.env
                           [--build-dir build] [--rounds 5] [--layers 4] [--random-mib 32]
Prints a Markdown table and writes the figures as JSON to bench/results/pull.json.

What differs between the two: hostcri unpacks each layer into its own directory (overlayfs
lower directories, unpacked in parallel on the libuv thread pool) and keeps the compressed
blobs; umoci applies the layers in order into one root file system.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "integration"))

from cri_client import CriClient, load_api, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                values[name] = value.strip("'\"")
    return values


def run(*args, **kwargs):
    return subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, **kwargs)


def build_image(env, work, layers, random_mib, tag):
    """Builds the benchmark image with umoci and pushes it; returns its reference."""
    layout = os.path.join(work, "build-oci")
    bundle = os.path.join(work, "build-bundle")
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    for index in range(layers):
        run("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
        rootfs = os.path.join(bundle, "rootfs", f"layer{index}")
        os.makedirs(rootfs)
        with open(os.path.join(rootfs, "random.bin"), "wb") as f:
            f.write(os.urandom(random_mib * 1024 * 1024))
        for i in range(2000):
            with open(os.path.join(rootfs, f"file{i}.txt"), "w") as f:
                f.write(f"layer {index} file {i}\n" * 50)
        run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
        shutil.rmtree(bundle)
    reference = f"{env['TESTBED_TLS']}/bench/pull:{tag}"
    run("skopeo", "copy", "--quiet", "--dest-cert-dir", env["TESTBED_CERT_DIR"],
        f"oci:{layout}:{tag}", f"docker://{reference}")
    shutil.rmtree(layout)
    return reference


def time_hostcri(api, build_dir, env, reference, work):
    os.environ["HOSTCRI_BINARY_DIR"] = build_dir
    workdir = tempfile.mkdtemp(dir=work)
    daemon = Daemon(workdir, extra_args=["--certs-dir", env["TESTBED_CERTS_D"],
                                         "--log-level", "info"]).start()
    channel = open_channel(daemon.socket_path)
    try:
        client = CriClient(api, channel)
        os.sync()
        start = time.monotonic()
        client.image("PullImage", image=api.ImageSpec(image=reference), timeout=600)
        return time.monotonic() - start
    finally:
        channel.close()
        daemon.stop()
        daemon.kill()
        shutil.rmtree(workdir)


def time_skopeo_umoci(env, reference, work):
    layout = os.path.join(work, "oci")
    bundle = os.path.join(work, "bundle")
    os.sync()
    start = time.monotonic()
    run("skopeo", "copy", "--quiet", "--src-cert-dir", env["TESTBED_CERT_DIR"],
        f"docker://{reference}", f"oci:{layout}:bench")
    run("umoci", "unpack", "--image", f"{layout}:bench", bundle)
    elapsed = time.monotonic() - start
    shutil.rmtree(layout)
    shutil.rmtree(bundle)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testbed-env", required=True, help="registry.env of a running testbed")
    parser.add_argument("--build-dir", default=os.path.join(SOURCE_DIR, "build"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--random-mib", type=int, default=32, help="random MiB per layer")
    args = parser.parse_args()

    env = read_env(args.testbed_env)
    work = tempfile.mkdtemp(prefix="hostcri-bench-pull-")
    try:
        os.makedirs(os.path.join(work, "api"))
        api = load_api(os.path.join(work, "api"))
        tag = f"l{args.layers}-r{args.random_mib}"
        reference = build_image(env, work, args.layers, args.random_mib, tag)
        hostcri, skopeo_umoci = [], []
        for _ in range(args.rounds):
            hostcri.append(time_hostcri(api, args.build_dir, env, reference, work))
            skopeo_umoci.append(time_skopeo_umoci(env, reference, work))
    finally:
        shutil.rmtree(work)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.release()}",
        "image": {"layers": args.layers, "random_mib_per_layer": args.random_mib,
                  "small_files_per_layer": 2000},
        "rounds": args.rounds,
        "hostcri_seconds": hostcri,
        "skopeo_umoci_seconds": skopeo_umoci,
    }
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    with open(os.path.join(BENCH_DIR, "results", "pull.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"Cold pull of {args.layers} layers x ({args.random_mib} MiB random + 2000 small "
          f"files), {args.rounds} rounds, {result['machine']}\n")
    print("| | median s | min s | max s |\n| --- | --- | --- | --- |")
    for name, times in (("hostcri PullImage", hostcri), ("skopeo copy + umoci unpack",
                                                           skopeo_umoci)):
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | "
              f"{max(times):.2f} |")


if __name__ == "__main__":
    main()
