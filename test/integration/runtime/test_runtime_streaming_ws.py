"""Exec, Attach and PortForward through the real daemon over WebSocket, as crictl
--transport websocket and critest --websocket-* connect."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from streaming_client import (  # noqa: E402
    CHANNEL_ERROR, CHANNEL_STDOUT, WS_BASE64, WS_OPCODE_BINARY, WS_OPCODE_TEXT, WS_SPDY_TUNNEL,
    WS_V1, WS_V4, WS_V4_BASE64, WS_V5, SpdyPortForward, UpgradeError, WebSocketCommand,
    WebSocketConnection, WebSocketPortForward, http_request)
from streaming_helpers import (  # noqa: E402,F401
    TICKER_COMMAND, check_output_paused, echo_server, expected_pattern, pid_alive, refused_port,
    streaming, wait_pid_gone)

TEN_MIB = 10 * 1024 * 1024


def test_exec_exit_code_and_stderr(streaming):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert command.connection.protocol == WS_V5
    result = command.wait()
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.exit_code == 3
    assert result.status["reason"] == "NonZeroExitCode"
    # The first message is the empty ready signal on stdout; the last one a close with 1000.
    assert command.connection.messages[0] == (CHANNEL_STDOUT, 0)
    assert command.connection.close_code == 1000
    assert command.connection.message_types == {WS_OPCODE_BINARY}
    command.close()


@pytest.mark.parametrize("protocol,version,opcode", [
    (WS_V4, 4, WS_OPCODE_BINARY),
    (WS_V4_BASE64, 4, WS_OPCODE_TEXT),
    (WS_BASE64, 1, WS_OPCODE_TEXT),
    (WS_V1, 1, WS_OPCODE_BINARY),
])
def test_exec_other_protocols(streaming, protocol, version, opcode):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "echo out; echo err >&2; exit 3"]),
                               protocols=[protocol])
    assert command.connection.protocol == protocol
    result = command.wait()
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert command.connection.message_types == {opcode}
    if version >= 4:
        assert result.exit_code == 3
    else:
        assert b"exit code 3" in result.error
        assert not result.error.startswith(b"{")


def test_exec_first_supported_protocol_wins(streaming):
    connection = WebSocketConnection(streaming.exec_url(["true"]), ["v9.channel.k8s.io", WS_V4,
                                                                    WS_V5])
    assert connection.protocol == WS_V4
    assert connection.wait_closed() == 1000
    connection.abort()


def test_exec_unknown_protocol_rejected(streaming):
    with pytest.raises(UpgradeError) as error:
        WebSocketConnection(streaming.exec_url(["true"]), ["v9.channel.k8s.io"])
    assert error.value.status == 403


def test_handshake_rejections(streaming):
    websocket_headers = [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                         ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                         ("Sec-WebSocket-Protocol", WS_V5)]
    status, _, _ = http_request(streaming.exec_url(["true"]), method="POST",
                                headers=websocket_headers + [("Sec-WebSocket-Version", "13")])
    assert status == 405
    status, headers, _ = http_request(streaming.exec_url(["true"]),
                                      headers=websocket_headers + [("Sec-WebSocket-Version", "8")])
    assert status == 400
    assert ("sec-websocket-version", "13") in headers
    status, _, _ = http_request(streaming.exec_url(["true"]),
                                headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                         ("Sec-WebSocket-Version", "13")])
    assert status == 400
    # Any path other than /exec, /attach or /portforward with a token is not found.
    base = streaming.exec_url(["true"]).rsplit("/", 2)[0]
    status, _, _ = http_request(base + "/metrics")
    assert status == 404


def test_exec_stdin_close_signal(streaming):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "cat; echo done"], stdin=True))
    command.write(b"first\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"first\n")
    command.write(b"second\n")
    command.close_stdin()
    result = command.wait()
    assert result.stdout == b"first\nsecond\ndone\n"
    assert result.exit_code == 0


def test_exec_ten_mib_input(streaming):
    command = WebSocketCommand(streaming.exec_url(["wc", "-c"], stdin=True, stderr=False))
    data = expected_pattern(TEN_MIB)
    for offset in range(0, TEN_MIB, 64 * 1024):
        command.write(data[offset:offset + 64 * 1024])
    command.close_stdin()
    result = command.wait(timeout=60)
    assert result.stdout.strip() == str(TEN_MIB).encode()
    assert result.exit_code == 0


def test_exec_fragmented_stdin_message(streaming):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "cat; echo done"], stdin=True))
    connection = command.connection
    connection.send_frame(WS_OPCODE_BINARY, b"\x00frag", fin=False)
    connection.send_frame(0x0, b"mented\n", fin=True)
    connection.wait_for(CHANNEL_STDOUT, b"fragmented\n")
    command.close_stdin()
    assert command.wait().stdout == b"fragmented\ndone\n"


def test_exec_stdin_v4_without_eof(streaming):
    # v4 has no stdin EOF, so the command reads only what it needs.
    command = WebSocketCommand(streaming.exec_url(["head", "-n", "1"], stdin=True,
                                                  stderr=False), protocols=[WS_V4])
    command.write(b"only line\nignored\n")
    result = command.wait()
    assert result.stdout == b"only line\n"
    assert result.exit_code == 0


def test_exec_tty_resize(streaming):
    script = "read a; stty size; read b; stty size; exit 4"
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", script], stdin=True, tty=True,
                                                  stderr=False))
    command.resize(80, 24)
    command.write(b"x\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"24 80")
    command.resize(120, 40)
    command.write(b"y\n")
    result = command.wait()
    assert b"24 80\r\n" in result.stdout
    assert b"40 120\r\n" in result.stdout
    assert result.exit_code == 4


def test_exec_tty_initial_size(streaming):
    for _ in range(5):
        command = WebSocketCommand(streaming.exec_url(["stty", "size"], stdin=True, tty=True,
                                                      stderr=False))
        command.resize(100, 30)
        assert command.wait().stdout == b"30 100\r\n"


def test_exec_ten_mib_output(streaming):
    url = streaming.exec_url(["sh", "-c", f"yes 0123456789abcdef | head -c {TEN_MIB}"],
                             stderr=False)
    command = WebSocketCommand(url)
    command.connection.ping()
    result = command.wait(timeout=60)
    assert len(result.stdout) == TEN_MIB
    assert result.stdout == expected_pattern(TEN_MIB)
    assert result.exit_code == 0


@pytest.mark.parametrize("requested", ["stdout", "stderr"])
def test_exec_unrequested_output_discarded(streaming, requested):
    result = WebSocketCommand(streaming.discarding_exec_url(requested)).wait()
    assert result.exit_code == 0
    assert (result.stdout if requested == "stdout" else result.stderr) == b"done\n"
    assert (result.stderr if requested == "stdout" else result.stdout) == b""


def test_exec_without_stdin_reads_eof(streaming):
    result = WebSocketCommand(streaming.exec_url(["sh", "-c", "cat; echo eof"])).wait()
    assert result.stdout == b"eof\n"
    assert result.exit_code == 0


def test_exec_slow_client_pauses_process(streaming, tmp_path):
    size = 64 * 1024 * 1024
    progress = tmp_path / "progress"
    command = WebSocketCommand(streaming.slow_exec_url(size, progress), collect=False)
    check_output_paused(streaming, command.connection, progress)
    result = command.wait(timeout=120)
    assert command.connection.received[CHANNEL_STDOUT] == size
    assert result.exit_code == 0


def test_exec_client_disconnects_mid_stream(streaming):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "echo $$; exec yes"]))
    first_line = command.connection.wait_for(CHANNEL_STDOUT, b"\ny\n").split(b"\n", 1)[0]
    pid = int(first_line)
    assert pid_alive(pid), f"exec process {pid} ended before the client left"
    command.close()
    wait_pid_gone(pid)
    assert WebSocketCommand(streaming.exec_url(["echo", "after"])).wait().stdout == b"after\n"


def test_exec_client_close_frame(streaming):
    command = WebSocketCommand(streaming.exec_url(["sh", "-c", "echo $$; exec sleep 1000"]))
    pid = int(command.connection.wait_for(CHANNEL_STDOUT, b"\n"))
    command.connection.close()
    # The server replies to the close frame and ends the connection and the process.
    assert command.connection.wait_closed() == 1000
    command.close()
    wait_pid_gone(pid)


def test_exec_unmasked_frame_rejected(streaming):
    connection = WebSocketConnection(streaming.exec_url(["sleep", "1000"], stdin=True), [WS_V5])
    connection.send_frame(WS_OPCODE_BINARY, b"\x00data", masked=False)
    assert connection.wait_closed() == 1002
    connection.abort()


# ---- attach


def test_attach_two_clients_see_same_output(streaming):
    container_id = streaming.run_ticker()
    first = WebSocketCommand(streaming.attach_url(container_id))
    second = WebSocketCommand(streaming.attach_url(container_id))
    first.connection.wait_for(CHANNEL_STDOUT, b"\n")
    second.connection.wait_for(CHANNEL_STDOUT, b"\n")
    seen = first.connection.data(CHANNEL_STDOUT).count(b"\n")
    # A line that the first client received after both attached reaches the second too.
    first.connection.wait(
        lambda: first.connection.channels[CHANNEL_STDOUT].count(b"\n") > seen + 1, 30,
        "new lines")
    line = first.connection.data(CHANNEL_STDOUT).split(b"\n")[seen]
    second.connection.wait_for(CHANNEL_STDOUT, line + b"\n")
    first.close()
    second.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING
    again = WebSocketCommand(streaming.attach_url(container_id))
    again.connection.wait_for(CHANNEL_STDOUT, b"tick")
    again.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_tty_resize(streaming):
    container_id = streaming.run("tty", ["sh", "-c", "while read a; do stty size; done"],
                                 stdin=True, tty=True)
    command = WebSocketCommand(streaming.attach_url(container_id, stdin=True, tty=True,
                                                    stderr=False))
    command.resize(100, 30)
    command.write(b"a\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"30 100\r\n")
    command.resize(132, 43)
    command.write(b"b\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"43 132\r\n")
    command.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_stdin_and_exit(streaming):
    container_id = streaming.run("once", ["sh", "-c", "cat; echo bye; exit 5"], stdin=True)
    command = WebSocketCommand(streaming.attach_url(container_id, stdin=True))
    command.write(b"line\n")
    command.connection.wait_for(CHANNEL_STDOUT, b"line\n")
    command.close_stdin()
    result = command.wait()
    assert result.stdout == b"line\nbye\n"
    assert result.status == {"metadata": {}, "status": "Success"}
    assert command.connection.close_code == 1000
    assert streaming.runtime.wait_exited(container_id).exit_code == 5


# ---- port-forward


def test_port_forward_channels_two_connections(streaming, echo_server):
    port = echo_server.port
    forward = WebSocketPortForward(streaming.port_forward_url([port, port]), [port, port])
    assert forward.connection.protocol == WS_V4
    assert forward.wait_prefixes() == [(port, port), (port, port)]
    greetings = {forward.wait_for(0, b"\n").split(b"\n")[0],
                 forward.wait_for(1, b"\n").split(b"\n")[0]}
    assert greetings == {b"hello 1", b"hello 2"}

    payload = os.urandom(128 * 1024)
    forward.send(0, payload)
    forward.send(1, b"second\n")
    assert forward.wait_for(0, payload[-64:]).split(b"\n", 1)[1] == payload
    forward.wait_for(1, b"second\n")
    assert forward.error_text(0) == ""
    assert forward.error_text(1) == ""
    assert echo_server.accepted == 2
    forward.close()


def test_port_forward_channels_base64(streaming, echo_server):
    port = echo_server.port
    forward = WebSocketPortForward(streaming.port_forward_url([port]), [port],
                                   protocols=[WS_V4_BASE64])
    assert forward.connection.protocol == WS_V4_BASE64
    assert forward.wait_prefixes() == [(port, port)]
    forward.send(0, b"\x00\xffbinary\n")
    assert forward.wait_for(0, b"binary\n") == b"hello 1\n\x00\xffbinary\n"
    assert forward.connection.message_types == {WS_OPCODE_TEXT}
    forward.close()


def test_port_forward_channels_refused_port(streaming, echo_server):
    closed = refused_port()
    forward = WebSocketPortForward(streaming.port_forward_url([closed, echo_server.port]),
                                   [closed, echo_server.port])
    forward.wait_prefixes()
    forward.connection.wait(lambda: "refused" in forward.error_text(0), 30,
                            "an error on channel 1")
    assert str(closed) in forward.error_text(0)
    # The other port of the same session still works.
    forward.send(1, b"ping\n")
    forward.wait_for(1, b"ping\n")
    assert forward.error_text(1) == ""
    forward.close()


def test_port_forward_needs_ports_without_tunnel(streaming):
    with pytest.raises(UpgradeError) as error:
        WebSocketConnection(streaming.port_forward_url(), [WS_V4])
    assert error.value.status == 400


def test_port_forward_spdy_tunnel(streaming, echo_server):
    forward = SpdyPortForward(streaming.port_forward_url(), tunnel=True)
    assert forward.connection.websocket.protocol == WS_SPDY_TUNNEL
    first = forward.connect(echo_server.port)
    second = forward.connect(echo_server.port)
    first.send(b"one\n")
    second.send(b"two\n")
    first.wait_for(b"one\n")
    second.wait_for(b"two\n")
    refused = forward.connect(refused_port())
    assert "connection refused" in refused.error_text()
    first.shutdown()
    first.read_all()
    assert first.error_text() == ""
    second.send(b"three\n")
    second.wait_for(b"three\n")
    second.shutdown()
    assert second.error_text() == ""
    forward.close()


def test_error_channel_of_attach_is_empty_until_the_end(streaming):
    container_id = streaming.run("quiet", ["sleep", "1000"])
    command = WebSocketCommand(streaming.attach_url(container_id, stderr=False))
    command.connection.ping()
    assert command.connection.data(CHANNEL_ERROR) == b""
    command.close()
    assert streaming.runtime.state(container_id) == streaming.api.CONTAINER_RUNNING


def test_attach_after_daemon_restart(api, runtime, images, hostcri, tmp_path, registry):
    from test_runtime_restart import kill_daemon, restart, shut_down

    sandbox_id = runtime.run_pod(name="wsattachrestart")
    container_id = runtime.run(sandbox_id, "ticker", images["busybox:1.0"],
                               command=TICKER_COMMAND)
    url = runtime.cri.runtime("Attach", container_id=container_id, stdout=True).url
    before = WebSocketCommand(url)
    before.connection.wait_for(CHANNEL_STDOUT, b"tick")
    kill_daemon(hostcri)
    # The connection ends without a close frame: the daemon is gone.
    assert before.connection.wait_closed() is None
    before.close()

    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        url = runtime.cri.runtime("Attach", container_id=container_id, stdout=True).url
        after = WebSocketCommand(url)
        after.connection.wait_for(CHANNEL_STDOUT, b"tick")
        after.close()
        assert runtime.state(container_id) == api.CONTAINER_RUNNING
    finally:
        shut_down(runtime, instance, channel)
