"""A client of the CRI streaming server (Exec, Attach, PortForward URLs), standard library only.

It speaks the two transports that kubelet, crictl and critest use:

- SPDY/3.1 after an HTTP upgrade, with zlib-compressed header blocks (SPDY/3 dictionary) and
  the protocols v4.channel.k8s.io, v3, v2 and channel.k8s.io (exec and attach) or
  portforward.k8s.io (one error stream and one data stream per TCP connection);
- WebSocket (RFC 6455) with the channel protocols v5.channel.k8s.io, v4.channel.k8s.io,
  v4.base64.channel.k8s.io, base64.channel.k8s.io and channel.k8s.io, port forwarding over
  channels, and SPDY tunnelled in binary messages (SPDY/3.1+portforward.k8s.io).

Each connection has a reader thread; callers wait on the streams with timeouts in seconds.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time
import urllib.parse
import zlib

# ---- SPDY/3 header dictionary ("SPDY Protocol - Draft 3", section 2.6.10.1)

_DICTIONARY_NAMES = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
SPDY_DICTIONARY = b"".join(struct.pack(">I", len(name)) + name.encode()
                           for name in _DICTIONARY_NAMES) + _DICTIONARY_TAIL.encode()
assert len(SPDY_DICTIONARY) == 1423
assert zlib.adler32(SPDY_DICTIONARY) == 0xE3C6A7C2

# ---- protocol names and constants

SPDY_REMOTE_COMMAND_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                                 "channel.k8s.io")
SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io"
WS_V5 = "v5.channel.k8s.io"
WS_V4 = "v4.channel.k8s.io"
WS_V4_BASE64 = "v4.base64.channel.k8s.io"
WS_BASE64 = "base64.channel.k8s.io"
WS_V1 = "channel.k8s.io"
WS_SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_CANCEL = 1, 5

CHANNEL_STDIN, CHANNEL_STDOUT, CHANNEL_STDERR, CHANNEL_ERROR, CHANNEL_RESIZE = range(5)
WS_OPCODE_TEXT, WS_OPCODE_BINARY, WS_OPCODE_CLOSE, WS_OPCODE_PING, WS_OPCODE_PONG = (
    0x1, 0x2, 0x8, 0x9, 0xA)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class UpgradeError(Exception):
    """The server responded to the upgrade request with a status other than 101."""

    def __init__(self, status, headers, body):
        super().__init__(f"upgrade failed with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


def protocol_version(protocol):
    """Remote command protocol version of a SPDY or WebSocket protocol name: 1 to 5."""
    if protocol in ("", WS_V1, WS_BASE64):
        return 1
    return int(protocol[1])


# ---- HTTP upgrade


def _connect(url, timeout):
    parts = urllib.parse.urlparse(url)
    if parts.scheme != "http":
        raise ValueError(f"unsupported URL scheme in {url}: only http is implemented")
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return sock, parts.netloc, target


def _read_response_head(reader):
    """Reads a status line and headers; returns the status and a list of (lowercase name,
    value) pairs."""
    status_line = reader.readline()
    if not status_line:
        raise EOFError("connection closed before the HTTP response")
    status = int(status_line.split()[1])
    headers = []
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return status, headers


def _header(headers, name):
    for key, value in headers:
        if key == name:
            return value
    return None


def _read_error_body(reader, headers):
    length = _header(headers, "content-length")
    try:
        return reader.read(int(length)) if length is not None else reader.read()
    except OSError:
        return b""


def http_request(url, method="GET", headers=(), timeout=30):
    """Sends one plain HTTP request; returns (status, headers, body)."""
    sock, host, target = _connect(url, timeout)
    with sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close",
                 "Content-Length: 0"] + [f"{name}: {value}" for name, value in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reader = sock.makefile("rb")
        status, response_headers = _read_response_head(reader)
        return status, response_headers, _read_error_body(reader, response_headers)


# ---- SPDY/3.1


class SpdyStream:
    """One client stream. Received DATA is kept in `data` (or only counted when the stream was
    opened with collect=False). All waits take a timeout in seconds and raise TimeoutError."""

    def __init__(self, connection, stream_id, headers, collect):
        self.connection = connection
        self.id = stream_id
        self.headers = headers
        self.collect = collect
        self.data = bytearray()
        self.received = 0
        self.replied = False
        self.remote_fin = False
        self.reset_status = None  # RST_STREAM status from the server
        self.local_fin = False

    @property
    def ended(self):
        """True once the server sent FIN or RST_STREAM, or the connection is gone."""
        return self.remote_fin or self.reset_status is not None or self.connection.closed

    def write(self, data, fin=False):
        self.connection.send_data(self.id, data, fin)
        if fin:
            self.local_fin = True

    def close(self):
        """Half-closes the stream (empty DATA with FIN)."""
        self.write(b"", fin=True)

    def reset(self, status=RST_CANCEL):
        self.connection.send_rst_stream(self.id, status)

    def wait_ended(self, timeout=30):
        self.connection.wait(lambda: self.ended, timeout, f"the end of stream {self.id}")

    def read_all(self, timeout=30):
        """Waits for the end of the stream and returns everything it received."""
        self.wait_ended(timeout)
        return bytes(self.data)

    def wait_for(self, text, timeout=30):
        """Waits until the received data contains text; returns the data."""
        self.connection.wait(lambda: text in self.data or self.ended, timeout,
                             f"{text!r} on stream {self.id}")
        if text not in self.data:
            raise EOFError(f"stream {self.id} ended without {text!r}: {bytes(self.data)[-500:]!r}")
        return bytes(self.data)


class SpdyConnection:
    """A SPDY/3.1 client session. Use SpdyConnection.open for an HTTP upgrade and
    SpdyConnection.tunnel for SPDY inside WebSocket binary messages."""

    def __init__(self, reader, write, shutdown, protocol, response_headers=()):
        self.protocol = protocol
        self.response_headers = list(response_headers)
        self._reader = reader  # read(n) returning up to n bytes, b"" at the end
        self._write = write
        self._shutdown = shutdown
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         SPDY_DICTIONARY)
        self._inflate = zlib.decompressobj(15, zdict=SPDY_DICTIONARY)
        self._write_lock = threading.Lock()
        self.split_writes = False  # send every byte with its own write, to test reassembly
        self.reading = threading.Event()  # cleared by pause_reading
        self.reading.set()
        self.cond = threading.Condition()
        self.streams = {}
        self.next_stream_id = 1
        self.next_ping_id = 1
        self.ping_replies = set()
        self.control_frames = []  # (type, stream id or ping id, flags) of each control frame
        self.goaway = None        # (last good stream id, status)
        self.closed = False
        self.read_error = None
        self._thread = threading.Thread(target=self._read_loop, daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, url, protocols, method="POST", timeout=30, extra_headers=()):
        """Upgrades an HTTP connection to SPDY/3.1, offering protocols in order. Raises
        UpgradeError when the server answers anything but 101."""
        sock, host, target = _connect(url, timeout)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}",
                 "User-Agent: hostcri-streaming-test", "Content-Length: 0",
                 "Connection: Upgrade", "Upgrade: SPDY/3.1"]
        lines += [f"X-Stream-Protocol-Version: {protocol}" for protocol in protocols]
        lines += [f"{name}: {value}" for name, value in extra_headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reader = sock.makefile("rb", buffering=256 * 1024)
        status, headers = _read_response_head(reader)
        if status != 101:
            body = _read_error_body(reader, headers)
            sock.close()
            raise UpgradeError(status, headers, body)
        sock.settimeout(None)  # the reader thread blocks; waits have their own timeouts

        def shutdown():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

        return cls(reader.read1, sock.sendall, shutdown,
                   _header(headers, "x-stream-protocol-version") or "", headers)

    @classmethod
    def tunnel(cls, url, timeout=30):
        """Opens a port-forward session as SPDY carried in WebSocket binary messages."""
        ws = WebSocketConnection(url, [WS_SPDY_TUNNEL], timeout=timeout, channels=False)
        if ws.protocol != WS_SPDY_TUNNEL:
            ws.abort()
            raise UpgradeError(101, ws.response_headers, b"unexpected protocol " +
                               ws.protocol.encode())
        connection = cls(ws.read_raw, ws.send_binary, ws.abort, SPDY_PORT_FORWARD_PROTOCOL,
                         ws.response_headers)
        connection.websocket = ws
        return connection

    # ---- sending

    def _send(self, frame):
        with self._write_lock:
            self._write_frame(frame)

    def _write_frame(self, frame):
        if not self.split_writes:
            self._write(frame)
            return
        for i in range(len(frame)):
            self._write(frame[i:i + 1])

    def _control(self, frame_type, flags, payload):
        return struct.pack(">HHI", 0x8003, frame_type, (flags << 24) | len(payload)) + payload

    def _header_block(self, headers):
        block = struct.pack(">I", len(headers))
        for name, value in headers.items():
            name, value = name.lower().encode(), str(value).encode()
            block += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def open_stream(self, headers, fin=False, wait_reply=True, collect=True, timeout=30):
        """Sends SYN_STREAM with headers and, unless wait_reply is false, waits for SYN_REPLY
        as client-go does before it opens the next stream."""
        with self._write_lock:
            stream_id = self.next_stream_id
            self.next_stream_id += 2
            stream = SpdyStream(self, stream_id, headers, collect)
            with self.cond:
                self.streams[stream_id] = stream
            payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + self._header_block(headers)
            self._write_frame(self._control(SYN_STREAM, FLAG_FIN if fin else 0, payload))
        stream.local_fin = fin
        if wait_reply:
            self.wait(lambda: stream.replied or stream.reset_status is not None, timeout,
                      f"SYN_REPLY for stream {stream_id} ({headers})")
        return stream

    def send_data(self, stream_id, data, fin=False):
        view = memoryview(data)
        chunk = 1 << 20
        while True:
            part, view = view[:chunk], view[chunk:]
            last = len(view) == 0
            flags = FLAG_FIN if fin and last else 0
            self._send(struct.pack(">II", stream_id, (flags << 24) | len(part)) + bytes(part))
            if last:
                return

    def send_rst_stream(self, stream_id, status=RST_CANCEL):
        self._send(self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status)))

    def send_goaway(self, last_good=0, status=0):
        self._send(self._control(GOAWAY, 0, struct.pack(">II", last_good, status)))

    def send_raw(self, data):
        """Sends bytes as they are, for tests of malformed input."""
        self._send(data)

    def ping(self, timeout=30):
        """Sends a PING with a new odd id and waits for the echo; returns the round trip in
        seconds."""
        with self.cond:
            ping_id = self.next_ping_id
            self.next_ping_id += 2
        started = time.monotonic()
        self._send(self._control(PING, 0, struct.pack(">I", ping_id)))
        self.wait(lambda: ping_id in self.ping_replies, timeout, f"the reply to PING {ping_id}")
        return time.monotonic() - started

    def pause_reading(self, pause=True):
        """Stops (or resumes) reading from the server, as a client that falls behind."""
        if pause:
            self.reading.clear()
        else:
            self.reading.set()

    def close(self):
        """Closes the TCP connection (or the WebSocket tunnel) without a GOAWAY."""
        self.reading.set()
        self._shutdown()
        self._thread.join(timeout=10)

    # ---- receiving

    def wait(self, predicate, timeout, what):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def wait_closed(self, timeout=30):
        """Waits until the server closes the connection."""
        self.wait(lambda: self.closed, timeout, "the server to close the connection")

    def _read_exact(self, count):
        parts, missing = [], count
        while missing > 0:
            chunk = self._reader(missing)
            if not chunk:
                raise EOFError(f"connection closed inside a frame ({count - missing}/{count})")
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    def _decode_headers(self, block):
        raw = self._inflate.decompress(block)
        count, = struct.unpack_from(">I", raw, 0)
        offset, headers = 4, {}
        for _ in range(count):
            length, = struct.unpack_from(">I", raw, offset)
            name = raw[offset + 4:offset + 4 + length].decode()
            offset += 4 + length
            length, = struct.unpack_from(">I", raw, offset)
            headers[name] = raw[offset + 4:offset + 4 + length].decode()
            offset += 4 + length
        return headers

    def _on_control(self, frame_type, flags, payload):
        """Applies a control frame; returns a frame to send back, or None."""
        first = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF if len(payload) >= 4 else 0
        self.control_frames.append((frame_type, first, flags))
        stream = self.streams.get(first)
        if frame_type == SYN_REPLY:
            self._decode_headers(payload[4:])
            if stream is not None:
                stream.replied = True
                stream.remote_fin = stream.remote_fin or bool(flags & FLAG_FIN)
        elif frame_type == RST_STREAM:
            if stream is not None:
                stream.reset_status = struct.unpack_from(">I", payload, 4)[0]
        elif frame_type == PING:
            if first % 2 == 1:
                self.ping_replies.add(first)
            else:
                return self._control(PING, 0, payload)  # the echo, sent outside the lock
        elif frame_type == GOAWAY:
            self.goaway = struct.unpack(">II", payload)
        elif frame_type in (SYN_STREAM, HEADERS):
            self._decode_headers(payload[10:] if frame_type == SYN_STREAM else payload[4:])
        return None

    def _on_data(self, stream_id, flags, payload):
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.received += len(payload)
        if stream.collect:
            stream.data += payload
        if flags & FLAG_FIN:
            stream.remote_fin = True

    def _read_loop(self):
        try:
            while True:
                self.reading.wait()
                try:
                    head = self._read_exact(8)
                except EOFError:
                    return
                word, length = struct.unpack(">II", head)
                flags, length = length >> 24, length & 0xFFFFFF
                payload = self._read_exact(length) if length else b""
                reply = None
                with self.cond:
                    if word & 0x80000000:
                        reply = self._on_control(word & 0xFFFF, flags, payload)
                    else:
                        self._on_data(word, flags, payload)
                    self.cond.notify_all()
                if reply is not None:
                    self._send(reply)
        except (OSError, EOFError, ValueError, zlib.error, struct.error) as e:
            self.read_error = e
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()


# ---- WebSocket


class WebSocketConnection:
    """A WebSocket client. With channels=True (the default) a reader thread decodes channel
    messages (binary, or base64 text for the base64 protocols) into `channels`; with
    channels=False the caller reads raw binary messages through read_raw."""

    def __init__(self, url, protocols, timeout=30, channels=True, method="GET"):
        self.sock, host, target = _connect(url, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}",
                 "User-Agent: hostcri-streaming-test", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", "Upgrade: websocket"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.reader = self.sock.makefile("rb", buffering=256 * 1024)
        status, headers = _read_response_head(self.reader)
        if status != 101:
            body = _read_error_body(self.reader, headers)
            self.sock.close()
            raise UpgradeError(status, headers, body)
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if _header(headers, "sec-websocket-accept") != expected:
            self.sock.close()
            raise UpgradeError(status, headers, b"wrong Sec-WebSocket-Accept")
        self.sock.settimeout(None)
        self.response_headers = headers
        self.protocol = _header(headers, "sec-websocket-protocol") or ""
        self.base64 = "base64" in self.protocol
        self._write_lock = threading.Lock()
        self._raw_buffer = b""
        self.cond = threading.Condition()
        self.channels = {}
        self.received = {}      # bytes per channel, also when collect is false
        self.messages = []      # (channel, payload length) in arrival order
        self.message_types = set()
        self.pongs = []
        self.close_code = None  # from the server's close frame
        self.closed = False     # TCP end reached
        self.read_error = None
        self.collect = True     # keep the data of the output channels, else only count it
        self.reading = threading.Event()  # cleared by pause_reading
        self.reading.set()
        self._thread = None
        if channels:
            self._thread = threading.Thread(target=self._read_loop, daemon=True)
            self._thread.start()

    # ---- sending

    def send_frame(self, opcode, payload, fin=True, masked=True):
        header = bytes([(0x80 if fin else 0) | opcode])
        mask_bit = 0x80 if masked else 0
        if len(payload) < 126:
            header += bytes([mask_bit | len(payload)])
        elif len(payload) < 65536:
            header += bytes([mask_bit | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([mask_bit | 127]) + struct.pack(">Q", len(payload))
        if masked:
            mask = os.urandom(4)
            header += mask
            payload = _mask(payload, mask)
        with self._write_lock:
            self.sock.sendall(header + payload)

    def send_binary(self, data):
        self.send_frame(WS_OPCODE_BINARY, bytes(data))

    def send_channel(self, channel, data):
        """Sends data on a channel in the negotiated framing."""
        if self.base64:
            self.send_frame(WS_OPCODE_TEXT, str(channel).encode() + base64.b64encode(data))
        else:
            self.send_frame(WS_OPCODE_BINARY, bytes([channel]) + bytes(data))

    def send_close_signal(self, channel):
        """v5: half-closes a channel (stdin EOF for channel 0)."""
        self.send_frame(WS_OPCODE_BINARY, bytes([255, channel]))

    def ping(self, payload=b"ping", timeout=30):
        self.send_frame(WS_OPCODE_PING, payload)
        self.wait(lambda: payload in self.pongs, timeout, "a pong")

    def pause_reading(self, pause=True):
        """Stops (or resumes) reading from the server, as a client that falls behind."""
        if pause:
            self.reading.clear()
        else:
            self.reading.set()

    def close(self, code=1000):
        """Sends a close frame; the server closes the connection after its reply."""
        self.send_frame(WS_OPCODE_CLOSE, struct.pack(">H", code))

    def abort(self):
        """Closes the TCP connection without a close frame, as client-go does at the end."""
        self.reading.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- receiving

    def wait(self, predicate, timeout, what):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def wait_closed(self, timeout=30):
        """Waits for the end of the connection; returns the server's close code or None."""
        self.wait(lambda: self.closed, timeout, "the server to close the WebSocket")
        return self.close_code

    def data(self, channel):
        with self.cond:
            return bytes(self.channels.get(channel, b""))

    def wait_for(self, channel, text, timeout=30):
        """Waits until channel contains text; returns the channel's data."""
        self.wait(lambda: text in self.channels.get(channel, b"") or self.closed, timeout,
                  f"{text!r} on channel {channel}")
        data = self.data(channel)
        if text not in data:
            raise EOFError(f"connection ended without {text!r} on channel {channel}: "
                           f"{data[-500:]!r}")
        return data

    def _read_exact(self, count):
        data = self.reader.read(count)
        if len(data) < count:
            raise EOFError("connection closed inside a frame")
        return data

    def read_message(self):
        """Reads one data message, answering pings on the way. Returns (opcode, payload), or
        (WS_OPCODE_CLOSE, payload) for a close frame, or (None, b"") at the end of TCP."""
        message, message_opcode = [], None
        while True:
            head = self.reader.read(2)
            if len(head) < 2:
                return None, b""
            first, second = head
            opcode, length = first & 0x0F, second & 0x7F
            if second & 0x80:
                raise ValueError("the server sent a masked frame")
            if length == 126:
                length, = struct.unpack(">H", self._read_exact(2))
            elif length == 127:
                length, = struct.unpack(">Q", self._read_exact(8))
            payload = self._read_exact(length) if length else b""
            if opcode == WS_OPCODE_PING:
                self.send_frame(WS_OPCODE_PONG, payload)
                continue
            if opcode == WS_OPCODE_PONG:
                with self.cond:
                    self.pongs.append(payload)
                    self.cond.notify_all()
                continue
            if opcode == WS_OPCODE_CLOSE:
                return opcode, payload
            if opcode != 0:
                message_opcode = opcode
            message.append(payload)
            if first & 0x80:
                return message_opcode, b"".join(message)

    def read_raw(self, count):
        """Reads up to count bytes of the binary message stream (for a SPDY tunnel)."""
        while not self._raw_buffer:
            opcode, payload = self.read_message()
            if opcode in (None, WS_OPCODE_CLOSE):
                if opcode == WS_OPCODE_CLOSE and len(payload) >= 2:
                    self.close_code, = struct.unpack_from(">H", payload)
                return b""
            if opcode != WS_OPCODE_BINARY:
                raise ValueError(f"unexpected WebSocket message type {opcode} in a tunnel")
            self._raw_buffer = payload
        data, self._raw_buffer = self._raw_buffer[:count], self._raw_buffer[count:]
        return data

    def _deliver(self, opcode, payload):
        self.message_types.add(opcode)
        if opcode == WS_OPCODE_TEXT and self.base64:
            channel = payload[0] - ord("0")
            data = base64.b64decode(payload[1:])
        else:
            channel, data = payload[0], payload[1:]
        self.messages.append((channel, len(data)))
        buffer = self.channels.setdefault(channel, bytearray())
        if self.collect or channel == CHANNEL_ERROR:
            buffer += data
        self.received[channel] = self.received.get(channel, 0) + len(data)

    def _read_loop(self):
        try:
            while True:
                self.reading.wait()
                opcode, payload = self.read_message()
                if opcode is None:
                    return
                with self.cond:
                    if opcode == WS_OPCODE_CLOSE:
                        self.close_code = (struct.unpack_from(">H", payload)[0]
                                           if len(payload) >= 2 else 1005)
                    elif payload:
                        self._deliver(opcode, payload)
                    else:
                        self.messages.append((None, 0))
                    self.cond.notify_all()
        except (OSError, ValueError, EOFError) as e:
            self.read_error = e
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()


def _mask(payload, mask):
    """XORs payload with the 4-byte mask, fast for large payloads."""
    length = len(payload)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")


# ---- exec and attach


class CommandResult:
    """The outcome of an exec or attach: output, the error stream, and the exit code."""

    def __init__(self, stdout, stderr, error, version):
        self.stdout = stdout
        self.stderr = stderr
        self.error = error
        self.version = version

    @property
    def status(self):
        """The v4/v5 JSON Status of the error stream, or None for older versions."""
        if self.version < 4 or not self.error:
            return None
        return json.loads(self.error)

    @property
    def exit_code(self):
        """0 on success, the code of a NonZeroExitCode status, else None (unknown)."""
        if self.version < 4:
            return 0 if not self.error else None
        status = self.status
        if status is None:
            return None
        if status.get("status") == "Success":
            return 0
        if status.get("reason") == "NonZeroExitCode":
            for cause in status.get("details", {}).get("causes", []):
                if cause.get("reason") == "ExitCode":
                    return int(cause["message"])
        return None


class SpdyCommand:
    """An exec or attach over SPDY, with the streams client-go opens in its order: error,
    stdin, stdout, stderr (not with a tty), resize (tty, v3 and later)."""

    def __init__(self, url, stdin=False, stdout=True, stderr=True, tty=False,
                 protocols=SPDY_REMOTE_COMMAND_PROTOCOLS, collect=True, timeout=30):
        self.connection = SpdyConnection.open(url, protocols, timeout=timeout)
        self.version = protocol_version(self.connection.protocol or WS_V1)
        self.tty = tty
        open_stream = self.connection.open_stream
        self.error = open_stream({"streamtype": "error"}, timeout=timeout)
        self.stdin = open_stream({"streamtype": "stdin"}, timeout=timeout) if stdin else None
        self.stdout = (open_stream({"streamtype": "stdout"}, collect=collect, timeout=timeout)
                       if stdout else None)
        self.stderr = (open_stream({"streamtype": "stderr"}, collect=collect, timeout=timeout)
                       if stderr and not tty else None)
        self.resize_stream = (open_stream({"streamtype": "resize"}, timeout=timeout)
                              if tty and self.version >= 3 else None)

    def write(self, data):
        self.stdin.write(data)

    def close_stdin(self):
        self.stdin.close()

    def resize(self, width, height):
        self.resize_stream.write(json.dumps({"Width": width, "Height": height}).encode() + b"\n")

    def wait(self, timeout=30):
        """Waits for the outputs and the error stream to end; returns a CommandResult."""
        for stream in (self.stdout, self.stderr, self.error):
            if stream is not None:
                stream.wait_ended(timeout)
        return CommandResult(bytes(self.stdout.data) if self.stdout else b"",
                             bytes(self.stderr.data) if self.stderr else b"",
                             bytes(self.error.data), self.version)

    def close(self):
        self.connection.close()


class WebSocketCommand:
    """An exec or attach over WebSocket channels (v5 by default, as crictl offers)."""

    def __init__(self, url, protocols=(WS_V5,), timeout=30, collect=True):
        self.connection = WebSocketConnection(url, list(protocols), timeout=timeout)
        self.connection.collect = collect
        self.version = protocol_version(self.connection.protocol)

    def write(self, data):
        self.connection.send_channel(CHANNEL_STDIN, data)

    def close_stdin(self):
        self.connection.send_close_signal(CHANNEL_STDIN)

    def resize(self, width, height):
        self.connection.send_channel(
            CHANNEL_RESIZE, json.dumps({"Width": width, "Height": height}).encode())

    def wait(self, timeout=30):
        """Waits for the server to close; returns a CommandResult."""
        self.connection.wait_closed(timeout)
        data = self.connection.data
        return CommandResult(data(CHANNEL_STDOUT), data(CHANNEL_STDERR), data(CHANNEL_ERROR),
                             self.version)

    def close(self):
        self.connection.abort()


# ---- port-forward


class ForwardedConnection:
    """One TCP connection through a SPDY port-forward: an error stream and a data stream."""

    def __init__(self, connection, port, request_id, timeout, wait_reply=True):
        headers = {"streamtype": "error", "port": str(port), "requestid": str(request_id)}
        self.error = connection.open_stream(headers, wait_reply=wait_reply, timeout=timeout)
        # client-go half-closes the error stream at once: only the server writes on it.
        self.error.close()
        headers = dict(headers, streamtype="data")
        self.data = connection.open_stream(headers, wait_reply=wait_reply, timeout=timeout)

    def send(self, data):
        self.data.write(data)

    def shutdown(self):
        """Ends the client's side of the TCP connection (DATA FIN)."""
        self.data.close()

    def wait_for(self, text, timeout=30):
        return self.data.wait_for(text, timeout)

    def read_all(self, timeout=30):
        return self.data.read_all(timeout)

    def error_text(self, timeout=30):
        """Waits for the error stream to end; returns its text (empty on success)."""
        return self.error.read_all(timeout).decode(errors="replace")


class SpdyPortForward:
    """A port-forward session over SPDY (or SPDY in WebSocket with tunnel=True)."""

    def __init__(self, url, tunnel=False, timeout=30):
        self.timeout = timeout
        if tunnel:
            self.connection = SpdyConnection.tunnel(url, timeout)
        else:
            self.connection = SpdyConnection.open(url, [SPDY_PORT_FORWARD_PROTOCOL],
                                                  timeout=timeout)
        self.next_request_id = 0

    def connect(self, port, wait_reply=True):
        """Opens a new forwarded TCP connection to port. With wait_reply false the streams
        are opened without waiting for their SYN_REPLY (for a client that reads nothing)."""
        request_id = self.next_request_id
        self.next_request_id += 1
        return ForwardedConnection(self.connection, port, request_id, self.timeout, wait_reply)

    def close(self):
        self.connection.send_goaway()
        self.connection.close()


class WebSocketPortForward:
    """A port-forward session over WebSocket channels: channel 2i carries the data of the
    i-th port and 2i+1 its errors, each starting with the port as 2 bytes little-endian."""

    def __init__(self, url, ports, protocols=(WS_V4,), timeout=30):
        self.ports = list(ports)
        self.connection = WebSocketConnection(url, list(protocols), timeout=timeout)

    def wait_prefixes(self, timeout=30):
        """Waits for the port prefix of every channel; returns them as a list of pairs."""
        connection = self.connection
        channels = range(2 * len(self.ports))
        connection.wait(lambda: all(len(connection.channels.get(c, b"")) >= 2 for c in channels)
                        or connection.closed, timeout, "the port prefixes")
        return [(struct.unpack("<H", connection.data(2 * i)[:2])[0],
                 struct.unpack("<H", connection.data(2 * i + 1)[:2])[0])
                for i in range(len(self.ports))]

    def send(self, index, data):
        self.connection.send_channel(2 * index, data)

    def wait_for(self, index, text, timeout=30):
        return self.connection.wait_for(2 * index, text, timeout)[2:]

    def error_text(self, index):
        return self.connection.data(2 * index + 1)[2:].decode(errors="replace")

    def close(self):
        self.connection.abort()
