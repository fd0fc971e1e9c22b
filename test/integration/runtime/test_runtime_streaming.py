"""Exec, Attach and PortForward: the URLs of the streaming server, and an exec over WebSocket."""

import base64
import json
import os
import socket
import struct
import urllib.parse

import grpc
import pytest

from runtime_helpers import rpc_error


def exec_url(api, rt, container_id, cmd, **streams):
    request = api.ExecRequest(container_id=container_id, cmd=cmd, **streams)
    try:
        return rt.runtime("Exec", request).url
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE:
            pytest.skip(f"no streaming server in this daemon: {e.details()}")
        raise


def read_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def websocket_frames(url):
    """Opens url with the v4.channel.k8s.io WebSocket protocol, sends nothing, and returns the
    payload bytes received per channel until the server closes."""
    parts = urllib.parse.urlparse(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    channels = {}
    while True:
        first, second = read_exact(sock, 2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", read_exact(sock, 2))[0]
        elif length == 127:
            length = struct.unpack(">Q", read_exact(sock, 8))[0]
        payload = read_exact(sock, length)
        opcode = first & 0x0F
        if opcode == 0x8:
            break
        if opcode in (0x1, 0x2) and payload:
            channels[payload[0]] = channels.get(payload[0], b"") + payload[1:]
    sock.close()
    return channels


def test_exec_over_websocket(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="wsexec")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"],
                               env={"GREETING": "hello"})
    url = exec_url(api, rt, container_id, ["sh", "-c", "echo $GREETING; echo err >&2; exit 2"],
                   stdout=True, stderr=True)
    channels = websocket_frames(url)
    assert channels.get(1) == b"hello\n"
    assert channels.get(2) == b"err\n"
    status = json.loads(channels[3])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"][0]["message"] == "2"


def test_exec_needs_running_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="execurl")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=container_id, cmd=["true"], stdout=True)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(lambda: rt.runtime("Exec", api.ExecRequest(
        container_id=container_id, cmd=[], stdout=True)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


class WebSocket:
    """A minimal v4.channel.k8s.io WebSocket client: the first payload byte is the channel."""

    def __init__(self, url):
        parts = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += read_exact(self.sock, 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, channel, data):
        payload = bytes([channel]) + data
        mask = os.urandom(4)
        header = bytes([0x82, 0x80 | len(payload)]) if len(payload) < 126 else \
            bytes([0x82, 0x80 | 126]) + struct.pack(">H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive_until(self, channel, text):
        """Reads frames until the data of channel contains text; returns that data."""
        data = b""
        while text not in data:
            first, second = read_exact(self.sock, 2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", read_exact(self.sock, 2))[0]
            elif length == 127:
                length = struct.unpack(">Q", read_exact(self.sock, 8))[0]
            payload = read_exact(self.sock, length)
            if first & 0x0F == 0x8:
                raise EOFError(f"closed before {text!r}; channel {channel} had {data!r}")
            if payload and payload[0] == channel:
                data += payload[1:]
        return data

    def close(self):
        self.sock.close()


def attach_url(api, rt, container_id, **streams):
    request = api.AttachRequest(container_id=container_id, **streams)
    try:
        return rt.runtime("Attach", request).url
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE:
            pytest.skip(f"no streaming server in this daemon: {e.details()}")
        raise


def test_attach_output(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="attach")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"],
                               command=["sh", "-c", "while true; do echo tick; sleep 0.1; done"])
    ws = WebSocket(attach_url(api, rt, container_id, stdout=True))
    assert b"tick\n" in ws.receive_until(1, b"tick\n")
    ws.close()
    # Detaching leaves the container running.
    assert runtime.state(container_id) == api.CONTAINER_RUNNING


def test_attach_input(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="attachin")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], stdin=True,
                               command=["sh", "-c", "while read line; do echo got $line; done"])
    ws = WebSocket(attach_url(api, rt, container_id, stdin=True, stdout=True))
    ws.send(0, b"hello\n")
    assert b"got hello" in ws.receive_until(1, b"got hello")
    ws.close()


def test_attach_needs_running_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="attachcreated")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    error = rpc_error(lambda: rt.runtime("Attach", api.AttachRequest(
        container_id=container_id, stdout=True)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_port_forward_url(api, rt, runtime):
    sandbox_id = runtime.run_pod(name="portforward")
    try:
        url = rt.runtime("PortForward", pod_sandbox_id=sandbox_id, port=[8080]).url
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE:
            pytest.skip(f"no streaming server in this daemon: {e.details()}")
        raise
    assert "/portforward/" in url
    error = rpc_error(lambda: rt.runtime("PortForward", pod_sandbox_id="0" * 64))
    assert error.code() == grpc.StatusCode.NOT_FOUND
