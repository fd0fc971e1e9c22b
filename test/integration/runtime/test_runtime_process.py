"""What a container runs: command and args, environment, working directory, user, mounts."""

import os

import grpc
import pytest

from runtime_helpers import rpc_error

MOUNT_POINT = "/hpc"

# The test/config:1.0 image has Entrypoint ["/entrypoint.sh"] and Cmd ["hello", "world"];
# test/busybox:1.0 has no Entrypoint and Cmd ["sh"].
ARGV_CASES = [
    ("config:1.0", None, None, ["/entrypoint.sh", "hello", "world"]),
    ("config:1.0", None, ["a", "b"], ["/entrypoint.sh", "a", "b"]),
    ("config:1.0", ["/bin/echo"], None, ["/bin/echo"]),
    ("config:1.0", ["/bin/echo"], ["x"], ["/bin/echo", "x"]),
    ("busybox:1.0", None, None, ["sh"]),
    ("busybox:1.0", None, ["-c", "true"], ["-c", "true"]),
    ("busybox:1.0", ["$CONTAINER_SANDBOX_MOUNT_POINT/bin/sh"], ["${CONTAINER_SANDBOX_MOUNT_POINT}"],
     [MOUNT_POINT + "/bin/sh", MOUNT_POINT]),
]


@pytest.mark.parametrize("image,command,args,expected", ARGV_CASES)
def test_command_args_merge(api, runtime, images, image, command, args, expected):
    sandbox_id = runtime.run_pod(name="argv")
    container_id = runtime.create(sandbox_id, "c", images[image], command=command, args=args)
    assert runtime.info(container_id)["process"]["argv"] == expected


def test_image_entrypoint_runs_from_rootfs(api, runtime, images):
    """The image's files are at the mount point: run its entrypoint script from there, with the
    image's user, environment and working directory."""
    sandbox_id = runtime.run_pod(name="entry")
    container_id = runtime.run(sandbox_id, "entry", images["config:1.0"],
                               command=["$CONTAINER_SANDBOX_MOUNT_POINT/entrypoint.sh"],
                               args=["x", "y"])
    status = runtime.wait_exited(container_id)
    log = "\n".join(runtime.log(container_id))
    assert status.exit_code == 0, log
    assert "uid=1000 gid=1000" in log
    assert f"cwd={MOUNT_POINT}/app" in log
    assert "args=x y" in log
    assert "FOO=bar GREETING=hello world" in log


def test_empty_command_rejected(api, runtime, images):
    sandbox_id = runtime.run_pod(name="nocmd")
    error = rpc_error(lambda: runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                             command=[""]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no command" in error.details()


def test_environment(api, runtime, images):
    sandbox_id = runtime.run_pod(name="env")
    # The variable's value keeps its trailing slash; "$CONTAINER_SANDBOX_MOUNT_POINT" in the
    # script itself would be substituted (without the slash) before the shell runs.
    script = 'echo "A=$A FOO=$FOO X=$X PATH=$PATH"; env | grep ^CONTAINER_SANDBOX'
    container_id = runtime.run(sandbox_id, "env", images["config:1.0"],
                               command=["sh", "-c", script],
                               env={"A": "1", "FOO": "request",
                                    "X": "$CONTAINER_SANDBOX_MOUNT_POINT/data"})
    runtime.wait_exited(container_id)
    log = runtime.log(container_id)
    assert log == [f"A=1 FOO=request X={MOUNT_POINT}/data "
                   f"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"
                   f"{MOUNT_POINT}:{MOUNT_POINT}/bin",
                   f"CONTAINER_SANDBOX_MOUNT_POINT={MOUNT_POINT}/"]


@pytest.mark.parametrize("working_dir,expected", [
    ("", MOUNT_POINT),
    ("/tmp", "/tmp"),
    ("$CONTAINER_SANDBOX_MOUNT_POINT/bin", MOUNT_POINT + "/bin"),
])
def test_working_dir(api, runtime, images, working_dir, expected):
    sandbox_id = runtime.run_pod(name="cwd")
    container_id = runtime.run(sandbox_id, "cwd", images["busybox:1.0"], command=["pwd"],
                               working_dir=working_dir)
    status = runtime.wait_exited(container_id)
    assert status.exit_code == 0
    assert runtime.log(container_id) == [expected]


def test_run_as_user_and_groups(api, runtime, images):
    sandbox_id = runtime.run_pod(name="user")
    container_id = runtime.run(sandbox_id, "user", images["busybox:1.0"],
                               command=["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"],
                               user=1234, group=2345, groups=[3456])
    status = runtime.wait_exited(container_id)
    assert status.exit_code == 0
    uid, gid, *groups = runtime.log(container_id)[0].split()
    assert (uid, gid) == ("1234", "2345")
    assert "3456" in groups
    reported = runtime.status(container_id).status.user.linux
    assert reported.uid == 1234
    assert reported.gid == 2345
    assert list(reported.supplemental_groups) == [3456]


def test_run_as_username(api, runtime, images):
    sandbox_id = runtime.run_pod(name="username")
    container_id = runtime.run(sandbox_id, "user", images["busybox:1.0"],
                               command=["id", "-u"], username="nobody")
    runtime.wait_exited(container_id)
    assert runtime.log(container_id) == ["65534"]


def test_unknown_username_fails_start(api, runtime, images):
    sandbox_id = runtime.run_pod(name="baduser")
    container_id = runtime.create(sandbox_id, "user", images["busybox:1.0"], command=["true"],
                                  username="no-such-user-hostcri")
    error = rpc_error(lambda: runtime.start(container_id))
    assert "no-such-user-hostcri" in error.details()
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.reason == "StartError"


def test_mounts(api, runtime, images, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from the host\n")
    mounts = [api.Mount(container_path="/mnt/hostcri-test/ro", host_path=str(data),
                        readonly=True)]
    sandbox_id = runtime.run_pod(name="mounts")
    script = "cat /mnt/hostcri-test/ro/hello.txt; touch /mnt/hostcri-test/ro/new || echo read-only"
    container_id = runtime.run(sandbox_id, "m", images["busybox:1.0"],
                               command=["sh", "-c", script], mounts=mounts)
    runtime.wait_exited(container_id)
    log = runtime.log(container_id)
    # stdout and stderr are separate pipes, so only the order within each one is certain.
    assert log[0] == "from the host"
    assert "read-only" in log
    assert not (data / "new").exists()
    mounted = runtime.status(container_id).status.mounts
    assert [m.container_path for m in mounted] == ["/mnt/hostcri-test/ro"]


def test_missing_mount_source_rejected(api, runtime, images, tmp_path):
    missing = str(tmp_path / "does-not-exist")
    sandbox_id = runtime.run_pod(name="badmount")
    error = rpc_error(lambda: runtime.create(
        sandbox_id, "m", images["busybox:1.0"],
        mounts=[api.Mount(container_path="/mnt/x", host_path=missing)]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert missing in error.details()


def test_missing_executable_is_start_error(api, runtime, images):
    sandbox_id = runtime.run_pod(name="noexe")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                  command=["/no/such/binary"])
    error = rpc_error(lambda: runtime.start(container_id))
    assert "/no/such/binary" in error.details()
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.reason == "StartError"
    assert status.exit_code == 128
    assert "/no/such/binary" in status.message


def test_oom_score_adj_passed(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="oom")
    config = runtime.container_config("o", images["busybox:1.0"],
                                      command=["sh", "-c", "cat /proc/self/oom_score_adj"])
    config.linux.resources.oom_score_adj = 500
    container_id = rt.runtime("CreateContainer", pod_sandbox_id=sandbox_id, config=config,
                              sandbox_config=runtime.config_of(sandbox_id)).container_id
    runtime.start(container_id)
    runtime.wait_exited(container_id)
    assert runtime.log(container_id) == ["500"]


def test_log_directory_created(api, runtime, images):
    sandbox_id = runtime.run_pod(name="logs")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["echo", "x"])
    runtime.wait_exited(container_id)
    path = runtime.status(container_id).status.log_path
    assert path == os.path.join(runtime.config_of(sandbox_id).log_directory, "c/0.log")
    assert runtime.log(container_id) == ["x"]
