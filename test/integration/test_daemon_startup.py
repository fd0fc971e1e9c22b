"""Start-up checks and messages: the monitor path, config file errors and the start line."""

import os
import shutil
import socket
import subprocess
import tempfile

from daemon import Daemon, find_binary


def run_hostcri(*args):
    return subprocess.run([find_binary(), *args], capture_output=True, text=True, timeout=30)


def daemon_args(tmp_path):
    return ["--listen", f"unix://{tmp_path / 'hostcri.sock'}", "--root", str(tmp_path / "root"),
            "--state", str(tmp_path / "state")]


def test_missing_monitor_path_fails(tmp_path):
    result = run_hostcri(*daemon_args(tmp_path), "--monitor-path", "/nonexistent/monitor")
    assert result.returncode != 0
    assert "monitor program /nonexistent/monitor" in result.stderr
    assert "--monitor-path" in result.stderr
    assert not (tmp_path / "hostcri.sock").exists()


def test_missing_monitor_in_config_fails(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text('runtime:\n  monitor_path: "/nonexistent/monitor"\n')
    result = run_hostcri(*daemon_args(tmp_path), "--config", str(config))
    assert result.returncode != 0
    assert "monitor program /nonexistent/monitor" in result.stderr


def test_insecure_value_shown(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text('registries:\n  "r:5000":\n    insecure: maybe\n')
    result = run_hostcri("config", "check", str(config))
    assert result.returncode == 2
    assert 'registries.r:5000.insecure' in result.stderr
    assert '"maybe"' in result.stderr
    assert "line 3" in result.stderr


def test_invalid_value_has_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("log_format: text\nlog_level: loud\n")
    result = run_hostcri("config", "check", str(config))
    assert result.returncode == 2
    assert "line 2" in result.stderr
    assert '"loud"' in result.stderr


def test_config_check_and_start_agree(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("log_level: loud\n")
    check = run_hostcri("config", "check", str(config))
    start = run_hostcri(*daemon_args(tmp_path), "--config", str(config))
    assert check.returncode == 2
    assert start.returncode == 2
    assert "log_level" in start.stderr


def free_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_start_line_names_settings(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("cgroup_driver: systemd\n")
    metrics = f"127.0.0.1:{free_port()}"
    instance = Daemon(tmp_path, ["--config", str(config), "--metrics-address", metrics])
    instance.start()
    assert instance.stop() == 0
    start_lines = [line for line in instance.log().splitlines() if " started (" in line]
    assert len(start_lines) == 1
    assert f"config {config}" in start_lines[0]
    assert "cgroup driver systemd" in start_lines[0]
    assert f"metrics {metrics}" in start_lines[0]


def test_metrics_address_in_use_names_option(tmp_path):
    busy_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy_listener.bind(("127.0.0.1", 0))
    busy_listener.listen(1)
    try:
        address = f"127.0.0.1:{busy_listener.getsockname()[1]}"
        result = run_hostcri(*daemon_args(tmp_path), "--metrics-address", address)
    finally:
        busy_listener.close()
    assert result.returncode != 0
    assert f"listen for metrics on {address}" in result.stderr
    assert "metrics.address" in result.stderr
    assert "--metrics-address" in result.stderr


def test_non_root_daemon_fails_at_start():
    """A daemon that cannot create or join cgroups fails at start, not at the first pod."""
    nobody = 65534
    home = tempfile.mkdtemp(prefix="hostcri-nonroot-", dir="/tmp")
    try:
        os.chmod(home, 0o755)
        os.chown(home, nobody, nobody)
        args = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups",
                find_binary(), "--listen", f"unix://{home}/hostcri.sock", "--root",
                f"{home}/root", "--state", f"{home}/state"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "run hostcri as root" in result.stderr
        assert "runtime.cgroup_root" in result.stderr
        assert not os.path.exists(f"{home}/hostcri.sock")
    finally:
        shutil.rmtree(home)
