"""Shared setup of the streaming tests: one daemon per test module with a pod, a running
container for execs, URL helpers, and a loopback TCP echo server for port-forward."""

import socket
import threading
import time
import uuid

import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime, pid_alive, wait_for

# A container command that prints "tick N" every 50 ms until it is stopped.
TICKER_COMMAND = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"]

# The start of a script that waits until the test calls open_gate on the folder mounted at
# /mnt/gate (StreamingSetup.run_gated).
WAIT_FOR_GATE = "while [ ! -e /mnt/gate/go ]; do sleep 0.02; done; "


class StreamingSetup:
    """The daemon, client and pod that the tests of one module share."""

    def __init__(self, daemon, api, rt, runtime, busybox, sandbox_id, exec_container):
        self.daemon = daemon
        self.api = api
        self.rt = rt
        self.runtime = runtime
        self.busybox = busybox
        self.sandbox_id = sandbox_id
        self.exec_container = exec_container

    def exec_url(self, cmd, stdin=False, stdout=True, stderr=True, tty=False, container=None):
        request = self.api.ExecRequest(container_id=container or self.exec_container, cmd=cmd,
                                       stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        return self.rt.runtime("Exec", request).url

    def attach_url(self, container_id, stdin=False, stdout=True, stderr=True, tty=False):
        request = self.api.AttachRequest(container_id=container_id, stdin=stdin, stdout=stdout,
                                         stderr=stderr, tty=tty)
        return self.rt.runtime("Attach", request).url

    def port_forward_url(self, ports=()):
        return self.rt.runtime("PortForward", pod_sandbox_id=self.sandbox_id,
                               port=list(ports)).url

    def run(self, name, command, **kwargs):
        """Starts a container in the shared pod; names get a suffix so tests never clash."""
        return self.runtime.run(self.sandbox_id, f"{name}-{uuid.uuid4().hex[:6]}", self.busybox,
                                command=command, **kwargs)

    def run_with_host_dir(self, name, command, host_dir, **kwargs):
        """Creates host_dir and starts a container with it mounted at /mnt/<its name>, so that
        the test and the container can signal each other with files."""
        host_dir.mkdir()
        mount = self.api.Mount(container_path=f"/mnt/{host_dir.name}", host_path=str(host_dir))
        return self.run(name, command, mounts=[mount], **kwargs)

    def run_gated(self, name, script, tmp_path):
        """Starts a container that runs the shell script only after open_gate(gate). Returns
        the container id and gate, a folder below tmp_path."""
        gate = tmp_path / "gate"
        container_id = self.run_with_host_dir(name, ["sh", "-c", WAIT_FOR_GATE + script], gate)
        return container_id, gate

    def run_ticker(self, **kwargs):
        """Starts a container that runs TICKER_COMMAND."""
        return self.run("ticker", TICKER_COMMAND, **kwargs)

    def discarding_exec_url(self, requested):
        """Returns an exec URL that requests only the output named requested ("stdout" or
        "stderr"). Its script writes 1 MiB to the other output and "done" to the requested one,
        and exits with the status of the 1 MiB write."""
        # 1 MiB is more than a pipe holds: a closed pipe there would end the writer with SIGPIPE
        # and the script with 141.
        requested_fd, other_fd = (1, 2) if requested == "stdout" else (2, 1)
        script = (f"head -c 1048576 /dev/zero >&{other_fd}; status=$?; "
                  f"echo done >&{requested_fd}; exit $status")
        return self.exec_url(["sh", "-c", script], stdout=requested == "stdout",
                             stderr=requested == "stderr")

    def slow_exec_url(self, size, progress):
        """Returns an exec URL for a command that writes size bytes of expected_pattern to
        stdout and then creates the file done in the host folder progress."""
        container_id = self.run_with_host_dir("slow", ["sleep", "100000"], progress)
        script = f"yes 0123456789abcdef | head -c {size}; touch /mnt/{progress.name}/done"
        return self.exec_url(["sh", "-c", script], stderr=False, container=container_id)


@pytest.fixture(scope="module")
def streaming(api, registry, tmp_path_factory):
    """A daemon with the busybox image, a pod and a running container, shared by a module."""
    workdir = tmp_path_factory.mktemp("streaming")
    daemon = RuntimeDaemon(workdir, registry).start()
    channel = open_channel(daemon.socket_path)
    rt = CriClient(api, channel)
    runtime = Runtime(api, rt, workdir)
    try:
        busybox = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
        rt.image("PullImage", image=api.ImageSpec(image=busybox))
        sandbox_id = runtime.run_pod(name="streaming")
        exec_container = runtime.run(sandbox_id, "exec", busybox, command=["sleep", "100000"])
        yield StreamingSetup(daemon, api, rt, runtime, busybox, sandbox_id, exec_container)
        runtime.remove_all()
    finally:
        channel.close()
        code = daemon.stop()
        daemon.kill()
    assert code in (0, None), f"hostcri exited with {code}:\n{daemon.log()[-20000:]}"


def open_gate(gate):
    """Lets the script of a StreamingSetup.run_gated container go on."""
    (gate / "go").write_text("")


def check_output_paused(streaming, connection, progress):
    """Stops reading connection for a second, during which the exec of slow_exec_url must not
    finish and the daemon's resident set must grow by less than 32 MiB, then reads again."""
    daemon_pid = streaming.daemon.process.pid
    rss_before = rss_kib(daemon_pid)
    connection.pause_reading()
    # Without backpressure the producer would finish within this time and the daemon would
    # hold most of its output. With it, the server stops reading the pipe once its socket
    # toward the client is full, and the producer blocks.
    time.sleep(1)
    assert not (progress / "done").exists(), "the exec finished while its client read nothing"
    growth = rss_kib(daemon_pid) - rss_before
    assert growth < 32 * 1024, f"daemon RSS grew by {growth} KiB while its client read nothing"
    connection.pause_reading(False)


def loopback_listener():
    """Returns a TCP socket that listens on an ephemeral loopback port, with a backlog of one."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    return listener


def wait_pid_gone(pid, timeout=15):
    wait_for(lambda: not pid_alive(pid), timeout, what=f"process {pid} to end")


def rss_kib(pid):
    """The resident set size of process pid in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def refused_port():
    """A loopback port with no listener: bound once, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EchoServer:
    """A TCP echo server on an ephemeral loopback port. Each accepted connection first sends
    a greeting naming its connection number, then echoes what it receives until EOF."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.peers = []
        self._threads = []
        self._stopping = False
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    def _accept_loop(self):
        while not self._stopping:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.peers.append(peer)
            thread = threading.Thread(target=self._serve, args=(conn, self.accepted),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn, number):
        with conn:
            conn.sendall(f"hello {number}\n".encode())
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def close(self):
        self._stopping = True
        # shutdown wakes the thread blocked in accept; close alone does not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self._accept_thread.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def echo_server():
    server = EchoServer()
    yield server
    server.close()


def expected_pattern(length):
    """The bytes of `yes 0123456789abcdef | head -c length`."""
    line = b"0123456789abcdef\n"
    return (line * (length // len(line) + 1))[:length]
