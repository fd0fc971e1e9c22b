"""Two daemons never share a root or state directory: the second one fails at start-up."""

import os
import subprocess

from daemon import Daemon, find_binary


def start_second(tmp_path, root, state):
    """Runs a second daemon on its own socket; returns the finished process."""
    return subprocess.run(
        [find_binary(), "--listen", f"unix://{tmp_path / 'second.sock'}", "--root", str(root),
         "--state", str(state)],
        capture_output=True, text=True, timeout=30)


def test_second_daemon_same_root_fails(daemon, tmp_path):
    result = start_second(tmp_path, daemon.root, tmp_path / "other-state")
    assert result.returncode != 0
    assert f"directory {daemon.root} is in use" in result.stderr
    assert f"pid {daemon.process.pid}" in result.stderr
    assert daemon.process.poll() is None
    assert not (tmp_path / "second.sock").exists()


def test_second_daemon_same_state_fails(daemon, tmp_path):
    result = start_second(tmp_path, tmp_path / "other-root", daemon.state)
    assert result.returncode != 0
    assert f"directory {daemon.state} is in use" in result.stderr
    assert f"pid {daemon.process.pid}" in result.stderr
    assert daemon.process.poll() is None


def test_lock_released_after_stop(tmp_path):
    first = Daemon(tmp_path).start()
    assert first.stop() == 0
    second = Daemon(tmp_path, name="second").start()
    assert second.stop() == 0


def test_lock_released_after_kill(tmp_path):
    first = Daemon(tmp_path).start()
    first.kill()
    os.unlink(first.socket_path)
    second = Daemon(tmp_path, name="second").start()
    assert second.stop() == 0
