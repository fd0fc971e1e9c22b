"""Metrics of pulls and container starts, scraped while the daemon runs."""

import os
import re
import socket
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cri_client import CriClient, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402
from runtime_helpers import Runtime, rpc_error, wait_for  # noqa: E402


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return response.read().decode()


def value(text, series):
    match = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


@pytest.fixture
def metrics_runtime(api, registry, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    daemon = Daemon(tmp_path, ["--certs-dir", registry["TESTBED_CERTS_D"],
                               "--metrics-address", address]).start()
    channel = open_channel(daemon.socket_path)
    helper = Runtime(api, CriClient(api, channel), tmp_path)
    yield helper, address
    helper.remove_all()
    channel.close()
    assert daemon.stop() == 0


def test_pull_and_start_metrics(api, registry, metrics_runtime):
    runtime, address = metrics_runtime
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    runtime.cri.image("PullImage", image=api.ImageSpec(image=image))

    sandbox_id = runtime.run_pod(name="metrics")
    running = runtime.run(sandbox_id, "sleeper", image, command=["sleep", "1000"])
    broken = runtime.create(sandbox_id, "broken", image, command=["/no/such/program"])
    rpc_error(lambda: runtime.start(broken))

    text = scrape(address)
    assert value(text, 'hostcri_image_pulls_total{result="success"}') == 1
    assert value(text, "hostcri_image_pulled_bytes_total") > 0
    assert value(text, 'hostcri_container_start_failures_total{reason="NOT_FOUND"}') == 1
    assert value(text, "hostcri_containers_running") == 1
    assert value(text, "hostcri_monitors") == 1
    assert value(text, "hostcri_sandboxes_ready") == 1
    assert value(text, 'hostcri_grpc_requests_total{method="/runtime.v1.ImageService/PullImage",'
                       'code="OK"}') == 1
    assert running


def test_image_fs_info_counts_writable_layers(api, registry, metrics_runtime):
    runtime, _ = metrics_runtime
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    runtime.cri.image("PullImage", image=api.ImageSpec(image=image))
    sandbox_id = runtime.run_pod(name="layers")
    runtime.run(sandbox_id, "writer", image,
                command=["/hpc/bin/sh", "-c", "/hpc/bin/head -c 300000 /dev/zero > /hpc/blob; "
                                              "/hpc/bin/sleep 1000"])

    def layers_measured():
        layers = runtime.cri.image("ImageFsInfo").container_filesystems[0]
        return layers.HasField("used_bytes") and layers.used_bytes.value >= 300000

    wait_for(layers_measured, timeout=30, what="the writable layer measured")
