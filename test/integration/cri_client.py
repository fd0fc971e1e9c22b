"""A small CRI v1 client for the integration tests, built on grpcio.

The message classes come from hostcri's own api/api.proto, compiled by protoc at test
time, so the tests exercise the definition that the daemon was built from.
"""

import importlib
import os
import subprocess
import sys

import grpc

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_api(out_dir):
    """Compile api/api.proto to Python in out_dir and import it as a module."""
    api_dir = os.path.join(SOURCE_DIR, "api")
    subprocess.run(
        ["protoc", f"--proto_path={api_dir}", f"--python_out={out_dir}", "api.proto"],
        check=True,
    )
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return importlib.import_module("api_pb2")


class CriClient:
    """Calls RuntimeService and ImageService methods by name over one channel."""

    def __init__(self, api, channel):
        self.api = api
        self.channel = channel

    def _method(self, service, name):
        descriptor = self.api.DESCRIPTOR.services_by_name[service].methods_by_name[name]
        request_class = getattr(self.api, descriptor.input_type.name)
        response_class = getattr(self.api, descriptor.output_type.name)
        return descriptor, request_class, response_class

    def call(self, service, name, request=None, timeout=None, deadline=None, **fields):
        """Call a unary RPC; request defaults to a message built from fields.

        The call's deadline is `deadline`, else `timeout`, in seconds (default 30). When the
        request is built from fields and its message has a `timeout` field (StopContainer,
        ExecSync), `timeout` sets that field instead, so it is never taken for the deadline.
        """
        _, request_class, response_class = self._method(service, name)
        if request is None:
            if timeout is not None and "timeout" in request_class.DESCRIPTOR.fields_by_name:
                fields["timeout"] = timeout
                timeout = None
            request = request_class(**fields)
        if deadline is None:
            deadline = timeout if timeout is not None else 30
        stub = self.channel.unary_unary(
            f"/runtime.v1.{service}/{name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return stub(request, timeout=deadline)

    def stream(self, service, name, request=None, timeout=None, **fields):
        """Call a server-streaming RPC; returns the response iterator (a grpc.Call)."""
        _, request_class, response_class = self._method(service, name)
        if request is None:
            request = request_class(**fields)
        stub = self.channel.unary_stream(
            f"/runtime.v1.{service}/{name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return stub(request, timeout=timeout)

    def runtime(self, name, request=None, timeout=None, **fields):
        return self.call("RuntimeService", name, request, timeout, **fields)

    def image(self, name, request=None, timeout=None, **fields):
        if timeout is None and "deadline" not in fields:
            fields["deadline"] = 120
        return self.call("ImageService", name, request, timeout, **fields)

    def raw(self, path, payload, timeout=30):
        """Send raw request bytes to any path and return the raw response bytes."""
        stub = self.channel.unary_unary(
            path,
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        return stub(payload, timeout=timeout)


def open_channel(socket_path, max_message=64 * 1024 * 1024):
    options = [
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
    ]
    return grpc.insecure_channel(f"unix://{socket_path}", options=options)
