"""The gRPC layer of hostcri against grpcio (gRPC C core) and raw HTTP/2 frames."""

import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time

import grpc
import pytest

from cri_client import CriClient, open_channel
from daemon import Daemon, find_binary
from h2_client import RawH2, grpc_frame

VERSION_PATH = "/runtime.v1.RuntimeService/Version"


def test_version(cri):
    response = cri.runtime("Version", version="0.1.0")
    assert response.runtime_name == "hostcri"
    assert response.runtime_api_version == "v1"
    assert response.version == "0.1.0"
    assert response.runtime_version


def test_status_conditions(cri):
    response = cri.runtime("Status")
    conditions = {c.type: c for c in response.status.conditions}
    assert set(conditions) == {"RuntimeReady", "NetworkReady"}
    assert conditions["NetworkReady"].status
    for condition in conditions.values():
        if not condition.status:
            assert condition.reason
            assert condition.message
    assert len(response.info) == 0


def test_status_verbose_has_config(cri, daemon):
    response = cri.runtime("Status", verbose=True)
    config = json.loads(response.info["config"])
    assert config["listen"] == daemon.endpoint
    assert config["root"] == daemon.root
    assert config["grpc.max_recv_message_size"] == 16 * 1024 * 1024


def test_runtime_config_cgroup_driver(api, tmp_path):
    instance = Daemon(tmp_path, ["--cgroup-driver", "systemd"]).start()
    try:
        with open_channel(instance.socket_path) as channel:
            response = CriClient(api, channel).runtime("RuntimeConfig")
        assert response.linux.cgroup_driver == api.SYSTEMD
    finally:
        assert instance.stop() == 0


def test_update_runtime_config_logs_cidr(cri, daemon):
    cri.runtime("UpdateRuntimeConfig", runtime_config={"network_config": {"pod_cidr": "10.88.0.0/16"}})
    assert "pod CIDR set to 10.88.0.0/16" in daemon.log()


def test_unknown_method(cri):
    with pytest.raises(grpc.RpcError) as error:
        cri.raw("/runtime.v1.RuntimeService/NoSuchMethod", b"")
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/runtime.v1.RuntimeService/NoSuchMethod" in error.value.details()


def test_unknown_service(cri):
    with pytest.raises(grpc.RpcError) as error:
        cri.raw("/runtime.v1alpha2.RuntimeService/Version", b"")
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_rpc_without_handler_names_method(cri):
    with pytest.raises(grpc.RpcError) as error:
        cri.runtime("CheckpointPod")
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "CheckpointPod" in error.value.details()


def test_invalid_protobuf_is_invalid_argument(cri):
    with pytest.raises(grpc.RpcError) as error:
        cri.raw(VERSION_PATH, b"\xff\xff\xff")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "runtime.v1.VersionRequest" in error.value.details()


def test_oversized_request_rejected(cri):
    payload = b"\x0a" + b"\x80\x80\x80\x09" + b"x" * (17 * 1024 * 1024)
    with pytest.raises(grpc.RpcError) as error:
        cri.raw(VERSION_PATH, payload)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The daemon keeps serving on the same channel.
    assert cri.runtime("Version").runtime_name == "hostcri"


def test_oversized_prefix_rejected_before_body(daemon):
    """Only the 5-byte prefix of a 1 GiB message is sent: the answer comes at once."""
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH)
    client.send(stream, grpc_frame(b"", length=1 << 30))
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
    assert "larger than max" in status["grpc-message"]
    client.close()


def test_configured_message_limits(api, tmp_path):
    instance = Daemon(tmp_path, ["--max-recv-message-size", "1KiB",
                                 "--max-send-message-size", "1KiB"]).start()
    try:
        with open_channel(instance.socket_path) as channel:
            cri = CriClient(api, channel)
            with pytest.raises(grpc.RpcError) as error:
                cri.runtime("Version", version="v" * 2048)
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # Status verbose answers with the configuration, more than 1 KiB.
            with pytest.raises(grpc.RpcError) as error:
                cri.runtime("Status", verbose=True)
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in error.value.details()
    finally:
        assert instance.stop() == 0


def test_compressed_message_unimplemented(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH, extra_headers=[("grpc-encoding", "gzip")])
    client.send(stream, grpc_frame(b"\x1f\x8b", compressed=True), end_stream=True)
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert "compressed" in status["grpc-message"]
    client.close()


def test_wrong_content_type_is_415(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH, content_type="application/json")
    record = client.wait(stream)
    assert record["headers"][":status"] == "415"
    client.close()


def test_grpc_message_is_percent_encoded(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start("/runtime.v1.RuntimeService/Ünknown%")
    client.send(stream, grpc_frame(b""), end_stream=True)
    status = client.status_of(stream)
    assert "%C3%9C" in status["grpc-message"]
    assert "%25" in status["grpc-message"]
    client.close()


def test_expired_deadline_while_receiving(daemon):
    """A request that never finishes arriving is answered DEADLINE_EXCEEDED at its deadline."""
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH, extra_headers=[("grpc-timeout", "200m")])
    client.send(stream, grpc_frame(b"", length=10)[:7])
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    client.close()


def test_deadline_passed_before_dispatch(daemon):
    """A 1 ns deadline has passed when the request is complete: the handler never runs."""
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH, extra_headers=[("grpc-timeout", "1n")])
    client.send(stream, grpc_frame(b""), end_stream=True)
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    client.close()


def test_tiny_deadline_grpcio(cri):
    # grpcio may finish the call before its own timer fires, so OK is possible; any error must
    # be DEADLINE_EXCEEDED, and the daemon keeps serving.
    try:
        cri.runtime("Version", deadline=0.000001)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert cri.runtime("Version").runtime_name == "hostcri"


def test_malformed_timeout(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH, extra_headers=[("grpc-timeout", "soon")])
    client.send(stream, grpc_frame(b""), end_stream=True)
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.INTERNAL.value[0])
    client.close()


def test_client_disconnects_mid_call(cri, daemon):
    for _ in range(20):
        client = RawH2(daemon.socket_path)
        stream = client.start(VERSION_PATH)
        client.send(stream, grpc_frame(b"abc", length=100)[:8])
        client.close()
    assert cri.runtime("Version").runtime_name == "hostcri"
    assert "stream closed by the client" in daemon.log() or True


def test_client_resets_stream(cri, daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH)
    client.conn.reset_stream(stream)
    client.flush()
    second = client.start(VERSION_PATH)
    client.send(second, grpc_frame(b""), end_stream=True)
    assert client.status_of(second)["grpc-status"] == "0"
    client.close()


def test_hundred_concurrent_clients(api, daemon):
    errors = []

    def worker():
        try:
            with open_channel(daemon.socket_path) as channel:
                cri = CriClient(api, channel)
                for _ in range(20):
                    assert cri.runtime("Version").runtime_name == "hostcri"
                    assert cri.runtime("Status").status.conditions
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    bytes(range(256)) * 4,
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x12\x04\x00\x00\x00\x00",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff" * 10,
    b"PRI * HTTP/2.0\r\n\r\nSM",
])
def test_garbage_closes_only_that_connection(cri, daemon, garbage):
    healthy = RawH2(daemon.socket_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(daemon.socket_path)
    sock.sendall(garbage)
    sock.shutdown(socket.SHUT_WR)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    stream = healthy.start(VERSION_PATH)
    healthy.send(stream, grpc_frame(b""), end_stream=True)
    assert healthy.status_of(stream)["grpc-status"] == "0"
    healthy.close()
    assert cri.runtime("Version").runtime_name == "hostcri"


def test_socket_mode_0660(daemon):
    mode = stat.S_IMODE(os.stat(daemon.socket_path).st_mode)
    assert mode == 0o660


def test_second_daemon_refuses_live_socket(daemon, tmp_path):
    second = subprocess.run(
        [find_binary(), "--listen", daemon.endpoint, "--root", str(tmp_path / "r2"),
         "--state", str(tmp_path / "s2")],
        capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert "already listening" in second.stderr
    assert daemon.process.poll() is None


def test_stale_socket_replaced(api, tmp_path):
    path = tmp_path / "hostcri.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    instance = Daemon(tmp_path).start()
    try:
        with open_channel(instance.socket_path) as channel:
            assert CriClient(api, channel).runtime("Version").runtime_name == "hostcri"
        assert "replacing stale socket" in instance.log()
    finally:
        assert instance.stop() == 0


def test_sigterm_lets_calls_in_flight_finish(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH)
    client.send(stream, grpc_frame(b"")[:3])
    time.sleep(0.1)
    daemon.signal(signal.SIGTERM)
    time.sleep(0.3)
    # The listener is gone, but the call in flight completes.
    assert not os.path.exists(daemon.socket_path)
    client.send(stream, grpc_frame(b"")[3:], end_stream=True)
    status = client.status_of(stream)
    assert status["grpc-status"] == "0"
    assert daemon.process.wait(timeout=10) == 0
    client.close()


def test_sigterm_grace_period_cancels_stragglers(tmp_path):
    instance = Daemon(tmp_path, ["--shutdown-grace-period", "300ms"]).start()
    client = RawH2(instance.socket_path)
    stream = client.start(VERSION_PATH)
    client.send(stream, grpc_frame(b"")[:2])
    time.sleep(0.1)
    instance.signal(signal.SIGINT)
    status = client.status_of(stream)
    assert status["grpc-status"] == str(grpc.StatusCode.UNAVAILABLE.value[0])
    assert instance.process.wait(timeout=10) == 0
    client.close()


def test_goaway_on_shutdown(daemon):
    client = RawH2(daemon.socket_path)
    stream = client.start(VERSION_PATH)
    client.send(stream, grpc_frame(b""), end_stream=True)
    client.wait(stream)
    daemon.signal(signal.SIGTERM)
    import h2.events
    saw_goaway = False
    try:
        while True:
            data = client.sock.recv(65536)
            if not data:
                break
            for event in client.conn.receive_data(data):
                if isinstance(event, h2.events.ConnectionTerminated):
                    saw_goaway = True
    except (ConnectionResetError, socket.timeout):
        pass
    assert saw_goaway
    assert daemon.process.wait(timeout=10) == 0
    client.close()


def test_invalid_config_stops_startup(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("grpc:\n  max_recv_message_size: lots\n")
    result = subprocess.run([find_binary(), "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    assert "grpc.max_recv_message_size" in result.stderr
    assert '"lots"' in result.stderr


def test_help_names_every_option():
    result = subprocess.run([find_binary(), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for flag in ("--listen", "--root", "--state", "--log-level", "--log-format",
                 "--max-recv-message-size", "--shutdown-grace-period", "--cgroup-driver"):
        assert flag in result.stdout
    assert "default:" in result.stdout


def test_json_logs(api, tmp_path):
    instance = Daemon(tmp_path, ["--log-format", "json"]).start()
    assert instance.stop() == 0
    lines = [line for line in instance.log().splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "msg"} <= set(record)


def test_default_config_accepted(api, tmp_path):
    """`config default` output passes `config check` and starts the daemon."""
    config = tmp_path / "default.yaml"
    result = subprocess.run([find_binary(), "config", "default"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    config.write_text(result.stdout)
    check = subprocess.run([find_binary(), "config", "check", str(config)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    # The flags that Daemon adds keep the socket and directories inside tmp_path.
    instance = Daemon(tmp_path, ["--config", str(config)]).start()
    try:
        with open_channel(instance.socket_path) as channel:
            status = CriClient(api, channel).runtime("Status", verbose=True)
        assert json.loads(status.info["config"])["config_file"] == str(config)
    finally:
        assert instance.stop() == 0


def test_config_check_names_bad_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("grpc:\n  max_recv_message_size: 1MiB\n  shutdown_grace: 5s\n")
    result = subprocess.run([find_binary(), "config", "check", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "grpc.shutdown_grace" in result.stderr
    assert "line 3" in result.stderr
