"""A raw HTTP/2 client (python3-h2) for tests that need frames a gRPC library never sends:
half-sent requests, wrong content types, compressed flags, oversized length prefixes."""

import socket
import struct

import h2.config
import h2.connection
import h2.events


def grpc_frame(payload, compressed=False, length=None):
    """A gRPC length-prefixed message; length overrides the announced length."""
    announced = len(payload) if length is None else length
    return struct.pack(">BI", 1 if compressed else 0, announced) + payload


class RawH2:
    def __init__(self, socket_path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.flush()
        self.responses = {}
        self.goaway = None
        self._keep_open_after_goaway()

    def _keep_open_after_goaway(self):
        """RFC 9113 section 6.8 lets streams up to a GOAWAY's last_stream_id finish, but h2 4.1
        closes its whole connection state on GOAWAY; keep it open so the tests can read them."""
        machine = self.conn.state_machine
        process_input = machine.process_input

        def lenient(input_):
            if machine.state == h2.connection.ConnectionState.CLOSED:
                machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            return process_input(input_)

        machine.process_input = lenient

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, path, content_type="application/grpc", extra_headers=(), end_stream=False):
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", content_type),
            ("te", "trailers"),
        ] + list(extra_headers)
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.flush()
        self.responses[stream_id] = {"headers": {}, "trailers": {}, "data": b"",
                                     "ended": False, "reset": None}
        return stream_id

    def send(self, stream_id, data, end_stream=False):
        self.conn.send_data(stream_id, data, end_stream=end_stream)
        self.flush()

    def wait(self, stream_id):
        """Read until the stream ends or is reset; returns its record."""
        record = self.responses[stream_id]
        while not record["ended"] and record["reset"] is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            for event in self.conn.receive_data(data):
                self._handle(event)
            self.flush()
        return record

    def _handle(self, event):
        record = self.responses.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.ResponseReceived):
            record["headers"] = dict(event.headers)
        elif isinstance(event, h2.events.TrailersReceived):
            record["trailers"] = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            record["data"] += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            record["ended"] = True
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.StreamReset):
            if record is not None:
                record["reset"] = event.error_code

    def status_of(self, stream_id):
        """grpc-status of a finished stream (trailers, or the headers of a trailers-only reply)."""
        record = self.wait(stream_id)
        merged = dict(record["headers"])
        merged.update(record["trailers"])
        return merged

    def close(self):
        self.sock.close()
