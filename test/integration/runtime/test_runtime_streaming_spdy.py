"""Exec, Attach and PortForward through the real daemon over SPDY/3.1, as kubelet and crictl
connect by default."""

import json
import os
import socket
import struct
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grpc  # noqa: E402

from runtime_helpers import read_log, rpc_error, wait_for  # noqa: E402
from streaming_client import (  # noqa: E402
    GOAWAY, RST_STREAM, SPDY_PORT_FORWARD_PROTOCOL, SPDY_REMOTE_COMMAND_PROTOCOLS, SpdyCommand,
    SpdyConnection, SpdyPortForward, UpgradeError, http_request)
from streaming_helpers import (  # noqa: E402,F401
    TICKER_COMMAND, check_output_paused, echo_server, expected_pattern, loopback_listener,
    open_gate, pid_alive, refused_port, rss_kib, streaming, wait_pid_gone)

TEN_MIB = 10 * 1024 * 1024


def test_exec_exit_code_and_stderr(streaming):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert command.connection.protocol == "v4.channel.k8s.io"
    result = command.wait()
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.exit_code == 3
    assert result.status["reason"] == "NonZeroExitCode"
    assert result.status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    # The server ends the session itself: GOAWAY, then the close.
    command.connection.wait_closed()
    assert any(frame[0] == GOAWAY for frame in command.connection.control_frames)
    command.close()


def test_exec_success_status(streaming):
    result = SpdyCommand(streaming.exec_url(["true"], stderr=False)).wait()
    assert result.stdout == b""
    assert result.status == {"metadata": {}, "status": "Success"}
    assert result.exit_code == 0


@pytest.mark.parametrize("protocol", SPDY_REMOTE_COMMAND_PROTOCOLS[1:])
def test_exec_older_protocols(streaming, protocol):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "echo out; exit 3"]),
                          protocols=[protocol])
    assert command.connection.protocol == protocol
    result = command.wait()
    assert result.stdout == b"out\n"
    # Before v4 the error stream carries only a text for a failure, without an exit code.
    assert b"exit code 3" in result.error
    assert not result.error.startswith(b"{")

    success = SpdyCommand(streaming.exec_url(["true"]), protocols=[protocol]).wait()
    assert success.error == b""
    assert success.exit_code == 0


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v2.channel.k8s.io"])
def test_exec_stdin_until_eof(streaming, protocol):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "cat; echo done"], stdin=True),
                          stdin=True, protocols=[protocol])
    command.write(b"first\n")
    command.stdout.wait_for(b"first\n")
    command.write(b"second\n")
    command.close_stdin()
    result = command.wait()
    assert result.stdout == b"first\nsecond\ndone\n"
    assert result.exit_code == 0


def test_exec_ten_mib_input(streaming):
    command = SpdyCommand(streaming.exec_url(["wc", "-c"], stdin=True), stdin=True)
    # More than the server buffers toward the process, so reading the client pauses.
    command.write(expected_pattern(TEN_MIB))
    command.close_stdin()
    result = command.wait(timeout=60)
    assert result.stdout.strip() == str(TEN_MIB).encode()
    assert result.exit_code == 0


def test_exec_sessions_in_parallel(streaming):
    commands = [SpdyCommand(streaming.exec_url(["sh", "-c", f"sleep 0.2; echo {i}; exit {i}"]))
                for i in range(8)]
    for i, command in enumerate(commands):
        result = command.wait()
        assert result.stdout == f"{i}\n".encode()
        assert result.exit_code == i


def test_exec_v1_closes_stdin_at_start(streaming):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "cat; echo done"], stdin=True),
                          stdin=True, protocols=["channel.k8s.io"])
    result = command.wait()
    assert result.stdout == b"done\n"
    assert result.error == b""


def test_exec_tty_resize(streaming):
    script = "read a; stty size; read b; stty size; exit 4"
    command = SpdyCommand(streaming.exec_url(["sh", "-c", script], stdin=True, tty=True,
                                             stderr=False), stdin=True, tty=True)
    assert command.stderr is None
    command.resize(80, 24)
    command.write(b"x\n")
    command.stdout.wait_for(b"24 80")
    command.resize(120, 40)
    command.write(b"y\n")
    result = command.wait()
    # A terminal ends lines with \r\n and echoes the input.
    assert b"24 80\r\n" in result.stdout, result.stdout
    assert b"40 120\r\n" in result.stdout, result.stdout
    assert b"x\r\n" in result.stdout, result.stdout
    assert result.exit_code == 4, result.error


def test_exec_frames_split_into_single_bytes(streaming):
    url = streaming.exec_url(["sh", "-c", "cat; exit 2"], stdin=True)
    connection = SpdyConnection.open(url, SPDY_REMOTE_COMMAND_PROTOCOLS)
    # Go's spdystream writes each field of a frame separately; the server must reassemble.
    connection.split_writes = True
    error = connection.open_stream({"streamtype": "error"})
    stdin = connection.open_stream({"streamtype": "stdin"})
    stdout = connection.open_stream({"streamtype": "stdout"})
    stderr = connection.open_stream({"streamtype": "stderr"})
    stdin.write(b"split\n")
    assert connection.ping() >= 0
    stdin.close()
    assert stdout.read_all() == b"split\n"
    assert stderr.read_all() == b""
    assert json.loads(error.read_all())["details"]["causes"][0]["message"] == "2"
    connection.close()


def test_exec_stdin_before_replies(streaming):
    url = streaming.exec_url(["sh", "-c", "cat; exit 1"], stdin=True, stderr=False)
    connection = SpdyConnection.open(url, SPDY_REMOTE_COMMAND_PROTOCOLS)
    error = connection.open_stream({"streamtype": "error"}, wait_reply=False)
    stdin = connection.open_stream({"streamtype": "stdin"}, wait_reply=False)
    # Stdin and its end arrive before the last stream exists, so before the process starts.
    stdin.write(b"early\n", fin=True)
    stdout = connection.open_stream({"streamtype": "stdout"}, wait_reply=False)
    assert stdout.read_all() == b"early\n"
    assert json.loads(error.read_all())["details"]["causes"][0]["message"] == "1"
    assert error.replied
    assert stdin.replied
    connection.close()


def test_exec_tty_initial_size(streaming):
    # The process must start with the size the client sends right after the streams, as
    # kubectl and crictl do, so that a program that reads it at once sees it.
    for _ in range(5):
        command = SpdyCommand(streaming.exec_url(["stty", "size"], stdin=True, tty=True,
                                                 stderr=False), stdin=True, tty=True)
        command.resize(100, 30)
        assert command.wait().stdout == b"30 100\r\n"


def test_exec_tty_without_size(streaming):
    # A client that sends no size gets the process after a bounded wait.
    command = SpdyCommand(streaming.exec_url(["echo", "started"], stdin=True, tty=True,
                                             stderr=False), stdin=True, tty=True)
    result = command.wait()
    assert result.stdout == b"started\r\n"
    assert result.exit_code == 0


def test_exec_ten_mib_output(streaming):
    url = streaming.exec_url(["sh", "-c", f"yes 0123456789abcdef | head -c {TEN_MIB}"])
    command = SpdyCommand(url)
    # The client pings while the output flows, as client-go does every 5 seconds.
    command.connection.ping()
    result = command.wait(timeout=60)
    assert len(result.stdout) == TEN_MIB
    assert result.stdout == expected_pattern(TEN_MIB)
    assert result.exit_code == 0


def test_exec_both_outputs_at_once(streaming):
    size = 4 * 1024 * 1024
    script = (f"yes out | head -c {size} & yes err | head -c {size} >&2; wait; "
              "echo end; echo end >&2")
    result = SpdyCommand(streaming.exec_url(["sh", "-c", script])).wait(timeout=60)
    assert result.stdout == b"out\n" * (size // 4) + b"end\n"
    assert result.stderr == b"err\n" * (size // 4) + b"end\n"
    assert result.exit_code == 0


@pytest.mark.parametrize("requested", ["stdout", "stderr"])
def test_exec_unrequested_output_discarded(streaming, requested):
    command = SpdyCommand(streaming.discarding_exec_url(requested),
                          stdout=requested == "stdout", stderr=requested == "stderr")
    result = command.wait()
    assert result.exit_code == 0
    assert (result.stdout if requested == "stdout" else result.stderr) == b"done\n"


def test_exec_without_stdin_reads_eof(streaming):
    result = SpdyCommand(streaming.exec_url(["sh", "-c", "cat; echo eof"])).wait()
    assert result.stdout == b"eof\n"
    assert result.exit_code == 0


def test_exec_slow_client_pauses_process(streaming, tmp_path):
    size = 64 * 1024 * 1024
    progress = tmp_path / "progress"
    command = SpdyCommand(streaming.slow_exec_url(size, progress), stderr=False, collect=False)
    check_output_paused(streaming, command.connection, progress)
    result = command.wait(timeout=120)
    assert command.stdout.received == size
    assert result.exit_code == 0
    assert (progress / "done").exists()


def test_exec_client_disconnects_mid_stream(streaming):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "echo $$; exec yes"]))
    first_line = command.stdout.wait_for(b"\ny\n").split(b"\n", 1)[0]
    pid = int(first_line)
    assert pid_alive(pid), f"exec process {pid} ended before the client left"
    command.close()
    # The daemon kills an exec whose client went away, and keeps serving.
    wait_pid_gone(pid)
    assert SpdyCommand(streaming.exec_url(["echo", "after"])).wait().stdout == b"after\n"


def test_exec_client_reset_then_goaway(streaming):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "echo $$; exec sleep 1000"],
                                             stdin=True), stdin=True)
    pid = int(command.stdout.wait_for(b"\n"))
    for stream in (command.stdin, command.stdout, command.stderr, command.error):
        stream.reset()
    command.connection.send_goaway()
    command.close()
    wait_pid_gone(pid)


def test_exec_unknown_command_reports_failure(streaming):
    result = SpdyCommand(streaming.exec_url(["/no/such/command"])).wait()
    assert result.exit_code != 0
    assert result.status["status"] == "Failure"


def test_exec_ends_when_container_stops(streaming):
    container_id = streaming.run("stopped", ["sleep", "100000"])
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "echo $$; exec sleep 1000"],
                                             container=container_id))
    pid = int(command.stdout.wait_for(b"\n"))
    streaming.runtime.stop(container_id, 0)
    # Stopping the container kills the exec process too; the client gets its status.
    result = command.wait()
    assert result.exit_code == 137
    assert not pid_alive(pid)
    command.close()


def test_exec_after_container_removed(streaming):
    container_id = streaming.run("removed", ["sleep", "100000"])
    url = streaming.exec_url(["true"], container=container_id)
    streaming.runtime.stop(container_id, 0)
    streaming.rt.runtime("RemoveContainer", container_id=container_id)
    result = SpdyCommand(url).wait()
    assert result.status["status"] == "Failure"
    assert result.status["reason"] == "InternalError"
    assert container_id in result.status["message"]


def test_corrupt_header_block_ends_connection(streaming):
    url = streaming.exec_url(["sh", "-c", "echo $$; exec sleep 1000"])
    connection = SpdyConnection.open(url, SPDY_REMOTE_COMMAND_PROTOCOLS)
    error = connection.open_stream({"streamtype": "error"})
    stdout = connection.open_stream({"streamtype": "stdout"})
    # A SYN_STREAM whose header block is not zlib data: the server ends the whole connection
    # with GOAWAY PROTOCOL_ERROR, as spdystream does.
    block = b"\x00\x01\x02\x03not zlib"
    payload = struct.pack(">IIBB", 5, 0, 0, 0) + block
    connection.send_raw(struct.pack(">HHI", 0x8003, 1, len(payload)) + payload)
    connection.wait_closed()
    assert connection.goaway is not None
    assert connection.goaway[1] == 1
    assert error.ended
    assert stdout.ended
    connection.close()
    # The daemon still serves other sessions.
    assert SpdyCommand(streaming.exec_url(["echo", "ok"])).wait().stdout == b"ok\n"


def test_upgrade_rejections(streaming):
    url = streaming.exec_url(["true"])
    with pytest.raises(UpgradeError) as error:
        SpdyConnection.open(url, ["v9.channel.k8s.io"])
    assert error.value.status == 403
    accepted = [value for name, value in error.value.headers
                if name == "x-accepted-stream-protocol-versions"]
    assert accepted == list(SPDY_REMOTE_COMMAND_PROTOCOLS)

    # v5 exists only on WebSocket, so a SPDY client that offers it first gets v4.
    connection = SpdyConnection.open(streaming.exec_url(["true"]),
                                     ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert connection.protocol == "v4.channel.k8s.io"
    connection.close()

    # The failed upgrade spent the token.
    with pytest.raises(UpgradeError) as error:
        SpdyConnection.open(url, SPDY_REMOTE_COMMAND_PROTOCOLS)
    assert error.value.status == 404

    with pytest.raises(UpgradeError) as error:
        SpdyConnection.open(streaming.exec_url(["true"]), [])
    assert error.value.status == 400

    # A token of another kind is not found.
    exec_token = streaming.exec_url(["true"]).rsplit("/", 1)[1]
    attach_url = streaming.attach_url(streaming.exec_container).rsplit("/", 2)[0]
    status, _, _ = http_request(f"{attach_url}/attach/{exec_token}", method="POST")
    assert status == 404


def test_pending_urls_are_limited(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="tokens")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    request = api.ExecRequest(container_id=container_id, cmd=["true"], stdout=True)
    urls = [rt.runtime("Exec", request).url for _ in range(1000)]
    assert len(set(urls)) == 1000
    error = rpc_error(lambda: rt.runtime("Exec", request))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Using a URL frees its place.
    assert SpdyCommand(urls[0], stderr=False).wait().exit_code == 0
    assert rt.runtime("Exec", request).url not in urls


# ---- attach


def test_attach_two_clients_see_same_output(streaming):
    container_id = streaming.run_ticker()
    first = SpdyCommand(streaming.attach_url(container_id))
    second = SpdyCommand(streaming.attach_url(container_id))
    first.stdout.wait_for(b"\n")
    second.stdout.wait_for(b"\n")
    # A line that the first client received after both attached reaches the second too.
    lines = bytes(first.stdout.wait_for(b"\n")).split(b"\n")
    seen = len(lines)
    line = wait_for(lambda: bytes(first.stdout.data).split(b"\n")[seen:seen + 2][:-1],
                    what="a new line")[0]
    second.stdout.wait_for(line + b"\n")
    first.close()
    # Output keeps flowing to the client that stays.
    received = second.stdout.received
    wait_for(lambda: second.stdout.received > received + 20, what="more output")
    second.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING
    third = SpdyCommand(streaming.attach_url(container_id))
    third.stdout.wait_for(b"tick")
    third.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_stdin_reaches_container(streaming):
    container_id = streaming.run(
        "reader", ["sh", "-c", "while read line; do echo got $line; echo err $line >&2; done"],
        stdin=True)
    writer = SpdyCommand(streaming.attach_url(container_id, stdin=True), stdin=True)
    watcher = SpdyCommand(streaming.attach_url(container_id))
    writer.write(b"hello\n")
    writer.stdout.wait_for(b"got hello\n")
    writer.stderr.wait_for(b"err hello\n")
    watcher.stdout.wait_for(b"got hello\n")
    watcher.stderr.wait_for(b"err hello\n")
    writer.close()
    watcher.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_stdin_once_ends_container(streaming):
    container_id = streaming.run("once", ["sh", "-c", "cat; echo bye; exit 5"], stdin=True)
    request = streaming.runtime.status(container_id)
    assert request.status.state == streaming.api.CONTAINER_RUNNING
    command = SpdyCommand(streaming.attach_url(container_id, stdin=True), stdin=True)
    command.write(b"line\n")
    command.stdout.wait_for(b"line\n")
    command.close_stdin()
    result = command.wait()
    assert result.stdout == b"line\nbye\n"
    # Attach reports Success, never the container's exit code.
    assert result.status == {"metadata": {}, "status": "Success"}
    assert streaming.runtime.wait_exited(container_id).exit_code == 5


def test_attach_large_output(streaming, tmp_path):
    size = 4 * 1024 * 1024
    container_id, gate = streaming.run_gated(
        "large", f"yes 0123456789abcdef | head -c {size}; exec sleep 100000", tmp_path)
    command = SpdyCommand(streaming.attach_url(container_id))
    # The attach is in place once the session answers a ping; only then does output start.
    command.connection.ping()
    open_gate(gate)
    command.connection.wait(lambda: command.stdout.received >= size or command.stdout.ended, 60,
                            "the attached output")
    assert command.stdout.received == size
    assert bytes(command.stdout.data) == expected_pattern(size)
    command.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_large_output_then_exit(streaming, tmp_path):
    # The container exits right after its burst, while the monitor still holds output queued
    # for the client: the client gets all of it before the session ends.
    size = 4 * 1024 * 1024
    container_id, gate = streaming.run_gated(
        "burst", f"yes 0123456789abcdef | head -c {size}", tmp_path)
    command = SpdyCommand(streaming.attach_url(container_id))
    command.connection.ping()
    open_gate(gate)
    command.connection.wait(lambda: command.stdout.ended, 60, "the end of the attached output")
    assert command.stdout.received == size
    assert bytes(command.stdout.data) == expected_pattern(size)
    command.close()
    assert streaming.runtime.wait_exited(container_id).exit_code == 0


def test_attach_lagging_client_disconnected(streaming, tmp_path):
    # A client of the monitor's attach socket that reads nothing falls behind by more than its
    # output queue: the monitor disconnects it, while the container and its log carry on.
    line_size = 1024
    size = 16 * 1024 * 1024
    container_id, gate = streaming.run_gated(
        "lagging", f"yes $(head -c {line_size - 1} /dev/zero | tr '\\0' x) | head -c {size}; "
        "exec sleep 100000", tmp_path)
    state_dir = os.path.join(streaming.daemon.state, "containers", container_id)
    # The path is longer than a socket address holds, so it goes through a directory fd.
    dir_fd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with open(os.path.join(state_dir, "monitor.pid")) as f:
        monitor_pid = int(f.read().split()[0])
    try:
        client.connect(f"/proc/self/fd/{dir_fd}/attach.sock")
        rss_before = rss_kib(monitor_pid)
        open_gate(gate)
        log_path = streaming.runtime.status(container_id).status.log_path
        wait_for(lambda: len(read_log(log_path)) == size // line_size, 60,
                 what="the whole output in the log")
        assert read_log(log_path) == ["x" * (line_size - 1)] * (size // line_size)
        client.settimeout(30)
        received = 0
        while chunk := client.recv(1 << 20):
            received += len(chunk)
        # Frame headers count too, so the client got less than the output.
        assert 0 < received < size
        # The full queue was returned to the kernel with the client.
        assert rss_kib(monitor_pid) < rss_before + 1024
    finally:
        client.close()
        os.close(dir_fd)
    with open(os.path.join(state_dir, "monitor.log")) as f:
        assert "disconnected an attached client" in f.read()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_slow_client_bounded(streaming, tmp_path):
    # A client that stops reading while the container writes 32 MiB: the daemon stops reading
    # the monitor once its relay holds about 1 MiB, the monitor disconnects it once its queue is
    # full, and the output goes on to the log. The session ends once the client reads again.
    line_size = 1024
    size = 32 * 1024 * 1024
    container_id, gate = streaming.run_gated(
        "slowattach", f"yes $(head -c {line_size - 1} /dev/zero | tr '\\0' x) | head -c {size}; "
        "exec sleep 100000", tmp_path)
    command = SpdyCommand(streaming.attach_url(container_id), collect=False)
    command.connection.ping()
    daemon_pid = streaming.daemon.process.pid
    rss_before = rss_kib(daemon_pid)
    command.connection.pause_reading()
    open_gate(gate)
    log_path = streaming.runtime.status(container_id).status.log_path
    wait_for(lambda: len(read_log(log_path)) == size // line_size, 60,
             what="the whole output in the log")
    assert rss_kib(daemon_pid) < rss_before + 16 * 1024
    state_dir = os.path.join(streaming.daemon.state, "containers", container_id)
    with open(os.path.join(state_dir, "monitor.log")) as f:
        assert "disconnected an attached client" in f.read()
    command.connection.pause_reading(False)
    command.connection.wait(lambda: command.stdout.ended, 60, "the end of the attach session")
    assert 0 < command.stdout.received < size
    command.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_tty_resize(streaming):
    container_id = streaming.run("tty", ["sh", "-c", "while read a; do stty size; done"],
                                 stdin=True, tty=True)
    command = SpdyCommand(streaming.attach_url(container_id, stdin=True, tty=True, stderr=False),
                          stdin=True, tty=True)
    command.resize(100, 30)
    command.write(b"a\n")
    command.stdout.wait_for(b"30 100\r\n")
    command.resize(132, 43)
    command.write(b"b\n")
    command.stdout.wait_for(b"43 132\r\n")
    command.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_ends_when_container_exits(streaming, tmp_path):
    gate = tmp_path / "gate"
    container_id = streaming.run_with_host_dir(
        "exits", ["sh", "-c", "echo waiting; while [ ! -e /mnt/gate/go ]; do sleep 0.05; done; "
                  "echo leaving; exit 6"], gate)
    command = SpdyCommand(streaming.attach_url(container_id))
    streaming.runtime.wait_log(container_id, "waiting")
    open_gate(gate)
    result = command.wait()
    assert b"leaving\n" in result.stdout
    assert result.exit_code == 0
    assert streaming.runtime.wait_exited(container_id).exit_code == 6


# ---- port-forward


def test_port_forward_two_connections(streaming, echo_server):
    forward = SpdyPortForward(streaming.port_forward_url())
    assert forward.connection.protocol == SPDY_PORT_FORWARD_PROTOCOL
    first = forward.connect(echo_server.port)
    second = forward.connect(echo_server.port)
    first.wait_for(b"hello ")
    second.wait_for(b"hello ")
    greetings = {bytes(first.data.data).split(b"\n")[0], bytes(second.data.data).split(b"\n")[0]}
    assert greetings == {b"hello 1", b"hello 2"}

    # Both connections carry data at the same time, in both directions.
    # 4 MiB is more than the server queues toward a TCP connection before it pauses.
    payload_first = os.urandom(4 * 1024 * 1024)
    payload_second = b"second connection\n" * 1000
    first.send(payload_first)
    second.send(payload_second)
    first.wait_for(payload_first[-64:], timeout=60)
    second.wait_for(payload_second)
    assert bytes(first.data.data).split(b"\n", 1)[1] == payload_first

    # The client ends one connection; the other keeps working.
    first.shutdown()
    assert first.read_all().endswith(payload_first)
    assert first.error_text() == ""
    second.send(b"still here\n")
    second.wait_for(b"still here\n")
    second.shutdown()
    second.read_all()
    assert second.error_text() == ""
    assert echo_server.accepted == 2
    # Every TCP connection of the server comes from the loopback interface.
    assert {host for host, _ in echo_server.peers} == {"127.0.0.1"}
    forward.close()


def test_port_forward_many_connections(streaming, echo_server):
    forward = SpdyPortForward(streaming.port_forward_url())
    connections = [forward.connect(echo_server.port) for _ in range(40)]
    for index, connection in enumerate(connections):
        connection.send(f"message {index}\n".encode())
    for index, connection in enumerate(connections):
        connection.wait_for(f"message {index}\n".encode())
        connection.shutdown()
    for connection in connections:
        connection.read_all()
        assert connection.error_text() == ""
    assert echo_server.accepted == 40
    forward.close()


def test_port_forward_refused_port(streaming, echo_server):
    forward = SpdyPortForward(streaming.port_forward_url())
    refused = forward.connect(refused_port())
    text = refused.error_text()
    assert "connection refused" in text
    refused.data.wait_ended()
    # An error ends only its own pair; the session still forwards.
    working = forward.connect(echo_server.port)
    working.send(b"ping\n")
    working.wait_for(b"ping\n")
    working.shutdown()
    assert working.error_text() == ""
    forward.close()


def test_port_forward_data_before_connect(streaming, echo_server):
    forward = SpdyPortForward(streaming.port_forward_url())
    connection = forward.connect(echo_server.port)
    # The data and its end may arrive before the TCP connection to the port is up.
    connection.send(b"early data\n")
    connection.shutdown()
    assert connection.read_all() == b"hello 1\nearly data\n"
    assert connection.error_text() == ""
    forward.close()


def test_port_forward_client_reset_closes_tcp(streaming):
    listener = loopback_listener()
    forward = SpdyPortForward(streaming.port_forward_url())
    connection = forward.connect(listener.getsockname()[1])
    accepted, _ = listener.accept()
    listener.close()
    connection.send(b"before reset\n")
    assert accepted.recv(100) == b"before reset\n"
    connection.data.reset()
    accepted.settimeout(30)
    try:
        assert accepted.recv(100) == b""
    except ConnectionResetError:
        pass
    accepted.close()
    forward.close()


def test_port_forward_slow_client_pauses_port(streaming):
    size = 64 * 1024 * 1024
    listener = loopback_listener()
    sent = threading.Event()

    def send_all():
        accepted, _ = listener.accept()
        with accepted:
            accepted.sendall(b"x" * size)
        sent.set()

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    forward = SpdyPortForward(streaming.port_forward_url())
    daemon_pid = streaming.daemon.process.pid
    rss_before = rss_kib(daemon_pid)
    forward.connection.pause_reading()
    connection = forward.connect(listener.getsockname()[1], wait_reply=False)
    # Without backpressure the daemon would read all 64 MiB within this time. With it, it
    # stops reading the port once its socket toward the client is full.
    time.sleep(1)
    assert not sent.is_set()
    assert rss_kib(daemon_pid) < rss_before + 32 * 1024
    forward.connection.pause_reading(False)
    connection.data.collect = False
    connection.data.wait_ended(timeout=120)
    assert connection.data.received == size
    assert connection.error_text() == ""
    sender.join(timeout=30)
    listener.close()
    forward.close()


def test_port_forward_invalid_port_stream_is_reset(streaming):
    forward = SpdyPortForward(streaming.port_forward_url())
    stream = forward.connection.open_stream({"streamtype": "data", "port": "0",
                                             "requestid": "0"})
    assert stream.reset_status is not None
    assert any(frame[0] == RST_STREAM for frame in forward.connection.control_frames)
    forward.close()


def test_port_forward_server_closes_first(streaming):
    listener = loopback_listener()
    forward = SpdyPortForward(streaming.port_forward_url())
    connection = forward.connect(listener.getsockname()[1])
    accepted, _ = listener.accept()
    accepted.sendall(b"goodbye\n")
    accepted.close()
    listener.close()
    # The pod side ended: FIN on the data stream, then an empty error stream.
    assert connection.read_all() == b"goodbye\n"
    assert connection.error_text() == ""
    forward.close()


# ---- restart


def test_attach_after_daemon_restart(api, runtime, images, hostcri, tmp_path, registry):
    from test_runtime_restart import kill_daemon, restart, shut_down

    sandbox_id = runtime.run_pod(name="attachrestart")
    container_id = runtime.run(sandbox_id, "ticker", images["busybox:1.0"],
                               command=TICKER_COMMAND)
    url = runtime.cri.runtime("Attach", container_id=container_id, stdout=True,
                              stderr=True).url
    before = SpdyCommand(url)
    before.stdout.wait_for(b"tick")

    kill_daemon(hostcri)
    # The daemon's end of the session is gone with the process.
    before.connection.wait_closed()
    before.close()

    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        assert runtime.state(container_id) == api.CONTAINER_RUNNING
        url = runtime.cri.runtime("Attach", container_id=container_id, stdout=True,
                                  stderr=True).url
        after = SpdyCommand(url)
        line = after.stdout.wait_for(b"tick")
        after.stdout.wait_for(b"\n")
        assert b"tick" in line
        after.close()
        assert runtime.state(container_id) == api.CONTAINER_RUNNING

        exec_url = runtime.cri.runtime("Exec", container_id=container_id, cmd=["echo", "hi"],
                                       stdout=True).url
        assert SpdyCommand(exec_url, stderr=False).wait().stdout == b"hi\n"
    finally:
        shut_down(runtime, instance, channel)


def test_ping_is_echoed(streaming):
    command = SpdyCommand(streaming.exec_url(["sh", "-c", "sleep 0.3; echo late"]))
    for _ in range(3):
        assert command.connection.ping() >= 0
    assert command.wait().stdout == b"late\n"
    status = json.loads(command.error.data)
    assert status["status"] == "Success"
