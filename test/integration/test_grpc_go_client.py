"""hostcri against grpc-go, the gRPC implementation of the kubelet and crictl.

goclient (goclient/main.go, built here from Debian's golang-google-grpc-dev) replays
requests that crictl recorded (test/data/cri-wire) and sends the socket path as :authority,
as crictl does.
"""

import csv
import os
import subprocess

import pytest

from cri_client import SOURCE_DIR

WIRE_DIR = os.path.join(SOURCE_DIR, "test", "data", "cri-wire")


@pytest.fixture(scope="session")
def goclient(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("goclient")
    binary = out_dir / "goclient"
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
               GOCACHE=str(out_dir / "cache"), GOFLAGS="")
    subprocess.run(["go", "build", "-o", str(binary), "."], check=True, env=env,
                   cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), "goclient"))
    return str(binary)


def recorded_requests(methods):
    with open(os.path.join(WIRE_DIR, "index.tsv")) as index:
        for row in csv.DictReader(index, delimiter="\t"):
            if row["method"] in methods:
                yield row


def invoke(goclient, socket_path, method, request_path, response_path):
    return subprocess.run(
        [goclient, "-socket", socket_path, "-method", method, "-request", request_path,
         "-response", response_path],
        capture_output=True, text=True, timeout=60)


def test_recorded_crictl_requests(api, daemon, goclient, tmp_path):
    rows = list(recorded_requests({"Version", "Status", "RuntimeConfig", "UpdateRuntimeConfig"}))
    assert len(rows) >= 4
    for row in rows:
        request_file = os.path.join(WIRE_DIR, f"{int(row['seq']):03d}-{row['method']}.request.bin")
        response_file = tmp_path / f"{row['seq']}.bin"
        result = invoke(goclient, daemon.socket_path,
                        f"/{row['service']}/{row['method']}", request_file, str(response_file))
        assert result.returncode == 0, f"{row['method']}: {result.stderr}"
        response_type = getattr(api, row["response_type"].split(".")[-1])
        response = response_type.FromString(response_file.read_bytes())
        if row["method"] == "Version":
            assert response.runtime_name == "hostcri"
        if row["method"] == "Status":
            assert {c.type for c in response.status.conditions} == {"RuntimeReady",
                                                                     "NetworkReady"}


def test_unimplemented_status_reaches_grpc_go(daemon, goclient, tmp_path):
    request = tmp_path / "empty.bin"
    request.write_bytes(b"")
    result = invoke(goclient, daemon.socket_path, "/runtime.v1.RuntimeService/NoSuchMethod",
                    str(request), str(tmp_path / "out.bin"))
    assert result.returncode == 3
    assert "status Unimplemented" in result.stderr
    assert "NoSuchMethod" in result.stderr
