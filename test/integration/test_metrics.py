"""The Prometheus endpoint: its counters match the calls made."""

import re
import socket
import urllib.error
import urllib.request

import grpc
import pytest

from cri_client import CriClient, open_channel
from daemon import Daemon


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return response.read().decode()


def sample(text, name, labels):
    pattern = re.escape(name) + r"\{" + re.escape(labels) + r"\} (\S+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


@pytest.fixture
def metrics_daemon(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    instance = Daemon(tmp_path, ["--metrics-address", address]).start()
    yield instance, address
    assert instance.stop() == 0


def test_counters_match_calls(api, metrics_daemon):
    daemon, address = metrics_daemon
    with open_channel(daemon.socket_path) as channel:
        cri = CriClient(api, channel)
        for _ in range(3):
            cri.runtime("Version")
        for _ in range(2):
            cri.runtime("Status")
        with pytest.raises(grpc.RpcError):
            cri.raw("/runtime.v1.RuntimeService/NoSuchMethod", b"")
        with pytest.raises(grpc.RpcError):
            cri.runtime("CheckpointPod")

    text = scrape(address)
    version = 'method="/runtime.v1.RuntimeService/Version",code="OK"'
    assert sample(text, "hostcri_grpc_requests_total", version) == 3
    assert sample(text, "hostcri_grpc_requests_total",
                  'method="/runtime.v1.RuntimeService/Status",code="OK"') == 2
    assert sample(text, "hostcri_grpc_requests_total",
                  'method="unknown",code="UNIMPLEMENTED"') == 1
    assert sample(text, "hostcri_grpc_requests_total",
                  'method="/runtime.v1.RuntimeService/CheckpointPod",code="UNIMPLEMENTED"') == 1
    assert sample(text, "hostcri_grpc_request_duration_seconds_count", version) == 3
    assert sample(text, "hostcri_grpc_request_duration_seconds_bucket",
                  version + ',le="+Inf"') == 3
    assert re.search(r"^hostcri_containers_running 0$", text, re.M)
    assert re.search(r"^hostcri_sandboxes_ready 0$", text, re.M)


def test_other_paths_404(metrics_daemon):
    _, address = metrics_daemon
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"http://{address}/", timeout=10)
    assert error.value.code == 404


def test_metrics_off_by_default(daemon):
    assert "Prometheus" not in daemon.log()
