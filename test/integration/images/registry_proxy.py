"""A plain-HTTP registry proxy in front of the testbed's HTTP registry, with faults to inject.

It records every request (path and Authorization header) and can: require Basic auth, answer
chosen paths with an error status a number of times, redirect blob GETs to a second server
(standing in for pre-signed storage URLs), corrupt blob bytes, and stall blob bodies after
their first bytes until released.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_AFTER = 4096


class RegistryProxy:
    def __init__(self, backend_url, tls_context=None):
        self.backend_url = backend_url.rstrip("/")
        self.tls_context = tls_context  # ssl.SSLContext of the registry server, or None
        self.lock = threading.Lock()
        self.requests = []       # (server, path, authorization or None, method)
        self.faults = []         # [path substring, status, remaining count]
        self.basic_auth = None   # "Basic <base64>" that the proxy requires, or None
        # "Bearer <token>" that the proxy requires, or None. Its challenge names the storage
        # server's /token as the realm, which issues "token-for-<refresh token>" to an OAuth2
        # refresh_token POST and "anonymous-token" to a GET.
        self.bearer_auth = None
        self.token_requests = []  # (method, query or form)
        self.redirect_blobs = False
        self.corrupt_blobs = False
        self.corrupt_large_blobs = False  # only blobs over STALL_AFTER bytes: the layers
        self.corrupt_blobs_except = None  # a set of digests: corrupt every other blob
        self.stall_blobs = False
        self.truncate_blobs = 0  # blob bodies cut off after their first bytes, then served whole
        self.delay_blobs = 0.0  # seconds each blob response waits before it starts
        self.blobs_in_flight = 0
        self.max_blobs_in_flight = 0
        self.stalled = threading.Event()   # set when a blob body is held back
        self.release = threading.Event()   # set to let held bodies continue
        self.server = self._serve("registry")
        self.storage = self._serve("storage")

    @property
    def host(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def storage_url(self):
        return f"http://127.0.0.1:{self.storage.server_address[1]}"

    def fail(self, path_part, status, count):
        with self.lock:
            self.faults.append([path_part, status, count])

    def seen(self, server=None, path_part="", method=None):
        with self.lock:
            return [r for r in self.requests
                    if (server is None or r[0] == server) and path_part in r[1]
                    and (method is None or r[3] == method)]

    def close(self):
        self.release.set()
        for server in (self.server, self.storage):
            server.shutdown()
            server.server_close()

    def _serve(self, name):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(name, self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = self.rfile.read(length).decode()
                proxy._token(self, form)

            def do_HEAD(self):
                proxy._handle(name, self)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if name == "registry" and self.tls_context is not None:
            server.socket = self.tls_context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _take_fault(self, path):
        with self.lock:
            for fault in self.faults:
                if fault[0] in path and fault[2] > 0:
                    fault[2] -= 1
                    return fault[1]
        return None

    def _take_truncation(self):
        with self.lock:
            if self.truncate_blobs > 0:
                self.truncate_blobs -= 1
                return True
        return False

    def _token(self, handler, form):
        fields = dict(pair.split("=", 1) for pair in form.split("&") if "=" in pair)
        with self.lock:
            self.token_requests.append(("POST", form))
        if fields.get("grant_type") != "refresh_token":
            self._reply(handler, 400, b'{"error":"unsupported_grant_type"}')
            return
        token = f"token-for-{fields.get('refresh_token', '')}"
        self._reply(handler, 200, json.dumps({"access_token": token, "expires_in": 300}).encode())

    def _handle(self, name, handler):
        path = handler.path
        if path.startswith("http://"):
            # A request sent to this server as an HTTP forward proxy has an absolute URI.
            path = "/" + path.split("/", 3)[3]
            name = "forward-proxy"
        if name == "storage" and path.startswith("/token"):
            with self.lock:
                self.token_requests.append(("GET", path))
            body = json.dumps({"token": "anonymous-token"}).encode()
            self._reply(handler, 200, body)
            return
        with self.lock:
            self.requests.append((name, path, handler.headers.get("Authorization"),
                                  handler.command))
        if name == "registry":
            if self.bearer_auth and handler.headers.get("Authorization") != self.bearer_auth:
                challenge = (f'Bearer realm="{self.storage_url}/token",service="proxy",'
                             f'scope="repository:test/busybox:pull"')
                # Two header lines, Basic first: the client must still choose Bearer.
                self._reply(handler, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}',
                            [("WWW-Authenticate", 'Basic realm="proxy"'),
                             ("WWW-Authenticate", challenge)])
                return
            if self.basic_auth and handler.headers.get("Authorization") != self.basic_auth:
                self._reply(handler, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}',
                            {"WWW-Authenticate": 'Basic realm="proxy"'})
                return
            status = self._take_fault(path)
            if status is not None:
                self._reply(handler, status, b'{"errors":[{"code":"X","message":"injected"}]}')
                return
            if "/blobs/" in path and self.delay_blobs > 0:
                self._forward_delayed(handler, path.split("?", 1)[0])
                return
            if self.redirect_blobs and "/blobs/" in path:
                self._reply(handler, 307, b"",
                            {"Location": f"{self.storage_url}{path}?X-Signature=test"})
                return
        self._forward(handler, path.split("?", 1)[0])

    def _forward_delayed(self, handler, path):
        with self.lock:
            self.blobs_in_flight += 1
            self.max_blobs_in_flight = max(self.max_blobs_in_flight, self.blobs_in_flight)
        try:
            time.sleep(self.delay_blobs)
            self._forward(handler, path)
        finally:
            with self.lock:
                self.blobs_in_flight -= 1

    def _reply(self, handler, status, body, headers=None):
        handler.send_response(status)
        if isinstance(headers, dict):
            headers = list(headers.items())
        for key, value in headers or []:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _forward(self, handler, path):
        request = urllib.request.Request(self.backend_url + path, method=handler.command)
        if handler.headers.get("Accept"):
            request.add_header("Accept", handler.headers["Accept"])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        is_blob = "/blobs/" in path and status == 200
        large = len(body) > STALL_AFTER
        spared = self.corrupt_blobs_except is not None and path.rsplit("/", 1)[-1] in \
            self.corrupt_blobs_except
        chosen = self.corrupt_blobs_except is not None and not spared
        if is_blob and body and (self.corrupt_blobs or (self.corrupt_large_blobs and large) or
                                 chosen):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        handler.send_response(status)
        for key in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
            if headers.get(key):
                handler.send_header(key, headers[key])
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if is_blob and len(body) > STALL_AFTER and self._take_truncation():
            handler.wfile.write(body[:STALL_AFTER])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if is_blob and self.stall_blobs and len(body) > STALL_AFTER:
            handler.wfile.write(body[:STALL_AFTER])
            handler.wfile.flush()
            self.stalled.set()
            self.release.wait(60)
            body = body[STALL_AFTER:]
        try:
            handler.wfile.write(body)
        except OSError:
            pass
