"""ExecSync: commands run in a running container's job, environment and user."""

import threading

import grpc

from runtime_helpers import rpc_error, wait_for
from test_runtime_restart import restart, shut_down


def exec_sync(rt, api, container_id, cmd, timeout=0):
    request = api.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout)
    return rt.runtime("ExecSync", request, timeout=60)


def test_exec_sync_output_and_exit_code(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="exec")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"],
                               env={"GREETING": "hi"}, user=1234)
    response = exec_sync(rt, api, container_id,
                         ["sh", "-c", "echo $GREETING $(id -u); echo oops >&2; exit 3"])
    assert response.stdout == b"hi 1234\n"
    assert response.stderr == b"oops\n"
    assert response.exit_code == 3


def test_exec_sync_timeout(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="exectimeout")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    error = rpc_error(lambda: exec_sync(rt, api, container_id, ["sleep", "1000"], timeout=1))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_exec_sync_needs_running_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="execstopped")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    error = rpc_error(lambda: exec_sync(rt, api, container_id, ["true"]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = rpc_error(lambda: exec_sync(rt, api, container_id, []))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_exec_sync_missing_program(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="execmissing")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    error = rpc_error(lambda: exec_sync(rt, api, container_id, ["/no/such/binary"]))
    assert "/no/such/binary" in error.details()


def test_daemon_stops_during_exec_sync(api, rt, runtime, images, hostcri, tmp_path, registry):
    """A daemon stopped while an ExecSync runs ends the call and exits cleanly."""
    sandbox_id = runtime.run_pod(name="execstop")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    errors = []

    def run():
        errors.append(rpc_error(lambda: exec_sync(rt, api, container_id, ["sleep", "1000"])))

    caller = threading.Thread(target=run)
    caller.start()
    wait_for(lambda: "exec started: sleep" in hostcri.log(), what="the exec to start")
    assert hostcri.stop() == 0, hostcri.log()[-20000:]
    caller.join(timeout=60)
    assert errors and errors[0].code() != grpc.StatusCode.OK

    # The container outlives the daemon: remove it through a new one.
    instance, channel = restart(api, runtime, tmp_path, registry)
    shut_down(runtime, instance, channel)
