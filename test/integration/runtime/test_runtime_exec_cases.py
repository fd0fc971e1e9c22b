"""ExecSync cases: exit codes, separate streams, timeouts that spare the container, background
children that keep the output open, large output, the container's user and the errors."""

import time

import grpc
import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime, pid_alive, rpc_error, wait_for

SH = "/hpc/bin/sh"
SLEEP = ["/hpc/bin/sleep", "1000"]
MIB = 1024 * 1024
# The output kept per stream (EXEC_OUTPUT_MAX_STREAM in runtime/exec_output.h).
OUTPUT_CAP = 16 * MIB
# The daemon's default grpc.max_send_message_size, which the response must fit.
MAX_RESPONSE = 16 * MIB
# Output written by the large-output tests, on one or both streams.
LARGE = 20 * MIB


def exec_sync(rt, api, container_id, cmd, timeout=0, deadline=60):
    request = api.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout)
    return rt.runtime("ExecSync", request, timeout=deadline)


@pytest.fixture
def running(runtime, images):
    """A running busybox container that sleeps."""
    sandbox_id = runtime.run_pod(name="execcases")
    return runtime.run(sandbox_id, "c", images["busybox:1.0"], command=SLEEP)


@pytest.mark.parametrize("code", [1, 2, 42, 255])
def test_exit_codes_are_returned(api, rt, running, code):
    response = exec_sync(rt, api, running, [SH, "-c", f"exit {code}"])
    assert response.exit_code == code
    assert response.stdout == b""
    assert response.stderr == b""


def test_stdout_and_stderr_are_separate(api, rt, running):
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2"
    response = exec_sync(rt, api, running, [SH, "-c", script])
    assert response.exit_code == 0
    assert response.stdout == b"out1\nout2\n"
    assert response.stderr == b"err1\nerr2\n"


def test_timeout_kills_the_command_but_not_the_container(api, rt, runtime, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    init_pid = runtime.info(running)["pid"]
    assert init_pid > 0
    script = f"echo $$ > {pid_file}; exec /hpc/bin/sleep 1000"
    error = rpc_error(lambda: exec_sync(rt, api, running, [SH, "-c", script], timeout=1))
    # A timed-out command ends the call with the gRPC code for an expired deadline.
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "timed out" in error.details()
    exec_pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
                            what="the exec's pid"))
    wait_for(lambda: not pid_alive(exec_pid), timeout=10, what="the timed-out exec to end")

    assert runtime.state(running) == api.CONTAINER_RUNNING
    assert pid_alive(init_pid)
    assert exec_sync(rt, api, running, [SH, "-c", "echo alive"]).stdout == b"alive\n"


def test_background_child_does_not_hold_the_call(api, rt, running):
    # The command exits at once; its child keeps stdout open for 8 s, past the 4 s timeout.
    script = "/hpc/bin/sleep 8 & echo started"
    response = exec_sync(rt, api, running, [SH, "-c", script], timeout=4)
    assert response.exit_code == 0
    assert response.stdout.startswith(b"started\n")


def test_background_child_is_bounded_by_the_timeout(api, rt, running):
    """Whatever the drain does, the call ends by its timeout, never when the child ends."""
    script = "/hpc/bin/sleep 1000 & echo started"
    start = time.monotonic()
    try:
        exec_sync(rt, api, running, [SH, "-c", script], timeout=2, deadline=30)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Only a bound far above the timeout: the call ended, the 1000 s child did not hold it.
    assert time.monotonic() - start < 30


def large_output_script(stdout_bytes, stderr_bytes, exit_code=7):
    """A script that writes stdout_bytes of NUL to stdout and stderr_bytes of "e" to stderr."""
    return (f"/hpc/bin/head -c {stdout_bytes} /dev/zero; "
            f"/hpc/bin/head -c {stderr_bytes} /dev/zero | /hpc/bin/tr '\\0' e >&2; "
            f"exit {exit_code}")


def assert_trim_logged(hostcri, container_id, stdout_dropped, stderr_dropped):
    lines = [line for line in hostcri.log().splitlines()
             if "exec output trimmed" in line and container_id in line]
    assert lines, "no log line about the trimmed output"
    assert f"dropped {stdout_dropped} bytes of stdout and {stderr_dropped} bytes of stderr" \
        in lines[-1]


def test_large_output_is_capped_and_the_daemon_keeps_serving(api, rt, running, hostcri):
    # 20 MiB on stdout alone: the 16 MiB kept of it would not fit a 16 MiB response with its
    # field tags, so the daemon trims it to the largest output that fits.
    response = exec_sync(rt, api, running, [SH, "-c", large_output_script(LARGE, 0)],
                         timeout=50)
    assert response.exit_code == 7
    assert response.ByteSize() <= MAX_RESPONSE
    assert response.ByteSize() >= MAX_RESPONSE - 16
    assert len(response.stdout) < OUTPUT_CAP
    assert response.stdout == b"\0" * len(response.stdout)
    assert response.stderr == b""
    assert_trim_logged(hostcri, running, LARGE - len(response.stdout), 0)

    # 20 MiB on both streams: they share the response evenly, each keeping its first bytes.
    response = exec_sync(rt, api, running, [SH, "-c", large_output_script(LARGE, LARGE)],
                         timeout=50)
    assert response.exit_code == 7
    assert response.ByteSize() <= MAX_RESPONSE
    assert response.ByteSize() >= MAX_RESPONSE - 16
    assert abs(len(response.stdout) - len(response.stderr)) <= 1
    assert len(response.stdout) >= MAX_RESPONSE // 2 - 16
    assert response.stdout == b"\0" * len(response.stdout)
    assert response.stderr == b"e" * len(response.stderr)
    assert_trim_logged(hostcri, running, LARGE - len(response.stdout),
                       LARGE - len(response.stderr))

    # Output that fits is returned whole, and the daemon keeps serving.
    response = exec_sync(rt, api, running, [SH, "-c", large_output_script(3 * MIB, MIB, 0)])
    assert response.stdout == b"\0" * (3 * MIB)
    assert response.stderr == b"e" * MIB
    assert rt.runtime("Version").runtime_name
    assert exec_sync(rt, api, running, [SH, "-c", "echo again"]).stdout == b"again\n"


@pytest.fixture
def large_responses(api, tmp_path, registry):
    """A daemon that sends responses of up to 40 MiB, with a running container."""
    instance = RuntimeDaemon(tmp_path, registry, ["--max-send-message-size", "40MiB"]).start()
    channel = open_channel(instance.socket_path)
    cri = CriClient(api, channel)
    helper = Runtime(api, cri, tmp_path)
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    cri.image("PullImage", image=api.ImageSpec(image=image))
    container_id = helper.run(helper.run_pod(name="execlarge"), "c", image, command=SLEEP)
    yield instance, cri, container_id
    helper.remove_all()
    channel.close()
    try:
        code = instance.stop()
    finally:
        instance.kill()
    assert code == 0, instance.log()[-20000:]


def test_output_is_capped_per_stream(api, large_responses):
    """With room in the response, each stream keeps exactly 16 MiB, as containerd does."""
    instance, cri, container_id = large_responses
    response = exec_sync(cri, api, container_id, [SH, "-c", large_output_script(LARGE, LARGE)],
                         timeout=50)
    assert response.exit_code == 7
    assert len(response.stdout) == OUTPUT_CAP
    assert response.stdout == b"\0" * OUTPUT_CAP
    assert len(response.stderr) == OUTPUT_CAP
    assert response.stderr == b"e" * OUTPUT_CAP
    assert_trim_logged(instance, container_id, LARGE - OUTPUT_CAP, LARGE - OUTPUT_CAP)


def test_exec_runs_as_the_container_user(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="execuser")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=SLEEP,
                               user=4321, group=4322)
    response = exec_sync(rt, api, container_id, ["/hpc/bin/id", "-u"])
    assert response.stdout == b"4321\n"
    response = exec_sync(rt, api, container_id, ["/hpc/bin/id", "-g"])
    assert response.stdout == b"4322\n"


def test_exec_in_a_container_that_is_not_running(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="execnotrunning")
    created = runtime.create(sandbox_id, "created", images["busybox:1.0"], command=SLEEP)
    error = rpc_error(lambda: exec_sync(rt, api, created, ["/hpc/bin/true"]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert created in error.details()

    exited = runtime.run(sandbox_id, "exited", images["busybox:1.0"], command=["/hpc/bin/true"])
    runtime.wait_exited(exited)
    error = rpc_error(lambda: exec_sync(rt, api, exited, ["/hpc/bin/true"]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_exec_in_an_unknown_container(api, rt, runtime, images):
    error = rpc_error(lambda: exec_sync(rt, api, "0" * 64, ["/hpc/bin/true"]))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: exec_sync(rt, api, "nosuchcontainer", ["/hpc/bin/true"]))
    assert error.code() == grpc.StatusCode.NOT_FOUND

