"""Exec, Attach and PortForward: the RPC checks and URLs of the streaming server. The sessions
themselves are tested in test_runtime_streaming_spdy.py and test_runtime_streaming_ws.py."""

import os
import sys
import time
import uuid

import grpc
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conftest import RuntimeDaemon  # noqa: E402
from cri_client import CriClient, open_channel  # noqa: E402
from runtime_helpers import Runtime, rpc_error  # noqa: E402
from streaming_client import CHANNEL_STDOUT, WS_V4, UpgradeError, WebSocketCommand  # noqa: E402
from streaming_helpers import streaming  # noqa: E402,F401


def created_container(streaming):
    """A container that was created and never started."""
    return streaming.runtime.create(streaming.sandbox_id, f"created-{uuid.uuid4().hex[:6]}",
                                    streaming.busybox, command=["true"])


def test_exec_url_and_environment(streaming):
    container_id = streaming.run("env", ["sleep", "100000"], env={"GREETING": "hello"})
    url = streaming.exec_url(["sh", "-c", "echo $GREETING; echo err >&2; exit 2"],
                             container=container_id)
    assert url.startswith("http://127.0.0.1:")
    assert "/exec/" in url
    result = WebSocketCommand(url, protocols=[WS_V4]).wait()
    assert result.stdout == b"hello\n"
    assert result.stderr == b"err\n"
    assert result.status["status"] == "Failure"
    assert result.status["reason"] == "NonZeroExitCode"
    assert result.exit_code == 2


def test_exec_request_checks(streaming):
    api, rt = streaming.api, streaming.rt
    container_id = created_container(streaming)
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=container_id, cmd=["true"], stdout=True)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=container_id, cmd=[], stdout=True)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=streaming.exec_container, cmd=["true"], tty=True, stdout=True,
        stderr=True)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=streaming.exec_container, cmd=["true"])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_attach_output_and_detach(streaming):
    container_id = streaming.run("attach", ["sh", "-c", "while true; do echo tick; sleep 0.1; "
                                            "done"])
    url = streaming.attach_url(container_id, stderr=False)
    assert "/attach/" in url
    command = WebSocketCommand(url, protocols=[WS_V4])
    command.connection.wait_for(CHANNEL_STDOUT, b"tick\n")
    command.close()
    # Detaching leaves the container running.
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_input(streaming):
    container_id = streaming.run("attachin", ["sh", "-c", "while read line; do echo got $line; "
                                              "done"], stdin=True)
    command = WebSocketCommand(streaming.attach_url(container_id, stdin=True, stderr=False),
                               protocols=[WS_V4])
    command.write(b"hello\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"got hello")
    command.close()


def test_attach_request_checks(streaming):
    api, rt = streaming.api, streaming.rt
    error = rpc_error(lambda: rt.runtime("Attach", api.AttachRequest(
        container_id=created_container(streaming), stdout=True)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(lambda: rt.runtime("Attach", api.AttachRequest(
        container_id=streaming.exec_container)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(lambda: rt.runtime("Attach", api.AttachRequest(
        container_id="0" * 64, stdout=True)))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_ipv6_address_and_token_lifetime(api, registry, tmp_path):
    daemon = RuntimeDaemon(tmp_path, registry, ["--streaming-address", "::1",
                                                "--streaming-token-ttl", "300ms"]).start()
    channel = open_channel(daemon.socket_path)
    runtime = Runtime(api, CriClient(api, channel), tmp_path)
    try:
        busybox = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
        runtime.cri.image("PullImage", image=api.ImageSpec(image=busybox))
        sandbox_id = runtime.run_pod(name="ipv6")
        container_id = runtime.run(sandbox_id, "c", busybox, command=["sleep", "100000"])
        request = api.ExecRequest(container_id=container_id, cmd=["echo", "v6"], stdout=True)
        url = runtime.cri.runtime("Exec", request).url
        assert url.startswith("http://[::1]:")
        assert WebSocketCommand(url).wait().stdout == b"v6\n"

        expired = runtime.cri.runtime("Exec", request).url
        time.sleep(0.6)
        with pytest.raises(UpgradeError) as error:
            WebSocketCommand(expired)
        assert error.value.status == 404
        runtime.remove_all()
    finally:
        channel.close()
        code = daemon.stop()
        daemon.kill()
    assert code == 0, daemon.log()[-5000:]


def test_port_forward_url(streaming):
    rt = streaming.rt
    url = rt.runtime("PortForward", pod_sandbox_id=streaming.sandbox_id, port=[8080]).url
    assert "/portforward/" in url
    error = rpc_error(lambda: rt.runtime("PortForward", pod_sandbox_id="0" * 64))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: rt.runtime("PortForward", pod_sandbox_id=""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(lambda: rt.runtime("PortForward", pod_sandbox_id=streaming.sandbox_id,
                                         port=[70000]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
