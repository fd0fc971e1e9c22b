"""Start and stop a real hostcri daemon for the integration tests."""

import os
import signal
import socket
import subprocess
import time

from cri_client import SOURCE_DIR


def find_binary(name="hostcri"):
    """The daemon under test: $HOSTCRI_BINARY_DIR/<name>, else build/<name>."""
    build_dir = os.path.abspath(os.environ.get("HOSTCRI_BINARY_DIR",
                                               os.path.join(SOURCE_DIR, "build")))
    path = os.path.join(build_dir, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} not found: build hostcri first or set HOSTCRI_BINARY_DIR")
    return path


def socket_accepts(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


class Daemon:
    """One hostcri process with its own socket, root and state directories."""

    def __init__(self, workdir, extra_args=(), name="hostcri"):
        self.workdir = str(workdir)
        self.socket_path = os.path.join(self.workdir, "hostcri.sock")
        self.root = os.path.join(self.workdir, "root")
        self.state = os.path.join(self.workdir, "state")
        self.log_path = os.path.join(self.workdir, f"{name}.log")
        self.extra_args = list(extra_args)
        self.process = None
        self.log_file = None

    @property
    def endpoint(self):
        return f"unix://{self.socket_path}"

    def args(self):
        args = [
            find_binary(),
            "--listen", self.endpoint,
            "--root", self.root,
            "--state", self.state,
            "--log-level", "debug",
        ]
        monitor = os.path.join(os.path.dirname(find_binary()), "runtime", "linux",
                               "hostcri-monitor")
        if os.access(monitor, os.X_OK):
            args += ["--monitor-path", monitor]
        return args + self.extra_args

    def start(self, wait=True):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args(), stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hostcri exited with {self.process.returncode}:\n{self.log()}")
            if os.path.exists(self.socket_path) and socket_accepts(self.socket_path):
                return
            time.sleep(0.02)
        raise RuntimeError(f"hostcri did not listen on {self.socket_path}:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def signal(self, signum):
        self.process.send_signal(signum)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.log_file:
                self.log_file.close()

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.log_file:
            self.log_file.close()
