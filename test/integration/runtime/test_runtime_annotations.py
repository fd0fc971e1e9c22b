"""The HostProcess pod annotations on Linux: rootfs-location moves the container's mount point,
inherit-user keeps the daemon's own user."""

import os

import grpc
import pytest

from runtime_helpers import rpc_error

ROOTFS_LOCATION = "microsoft.com/hostprocess-rootfs-location"
INHERIT_USER = "microsoft.com/hostprocess-inherit-user"


def annotated_pod(runtime, name, key, value):
    config = runtime.pod_config(name=name)
    config.annotations[key] = value
    return runtime.run_pod(config)


def test_rootfs_location_moves_mount_point(api, runtime, images, tmp_path):
    """The image's files, CONTAINER_SANDBOX_MOUNT_POINT, the working directory and PATH follow
    the annotation; the files stay in the container's own mount namespace."""
    location = str(tmp_path / "pods")
    sandbox_id = annotated_pod(runtime, "location", ROOTFS_LOCATION, location)
    # The runtime substitutes $CONTAINER_SANDBOX_MOUNT_POINT in the command itself (without its
    # trailing /), so printenv reads the variable.
    script = ('echo "mount=$(printenv CONTAINER_SANDBOX_MOUNT_POINT)"; echo "cwd=$(pwd)"; '
              'echo "path=$PATH"; test -x "$CONTAINER_SANDBOX_MOUNT_POINT/bin/busybox" && '
              'echo image files found')
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sh", "-c", script])
    status = runtime.wait_exited(container_id)
    log = runtime.log(container_id)
    assert status.exit_code == 0, log
    assert f"mount={location}/" in log
    assert f"cwd={location}" in log
    path_line = next(line for line in log if line.startswith("path="))
    assert f":{location}:{location}/bin" in path_line
    assert "image files found" in log
    # The mount point is made on the host, but the image's files are mounted only inside the
    # container's mount namespace.
    assert os.path.isdir(location)
    assert not os.path.exists(os.path.join(location, "bin"))


@pytest.mark.parametrize("value", ["relative/pods", "/", "/proc/pods", "/pods/../etc"])
def test_rootfs_location_rejected(api, runtime, value):
    config = runtime.pod_config(name="bad-location")
    config.annotations[ROOTFS_LOCATION] = value
    error = rpc_error(lambda: runtime.cri.runtime("RunPodSandbox", config=config))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ROOTFS_LOCATION in error.details()
    assert value in error.details()


def test_inherit_user_ignores_user(api, runtime, images):
    """An unknown user name and a uid are ignored: the container runs as the daemon's user."""
    sandbox_id = annotated_pod(runtime, "inherit", INHERIT_USER, "true")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"],
                               command=["sh", "-c", "echo uid=$(id -u)"],
                               username="no-such-user-hostcri", user=1000, group=1000)
    status = runtime.wait_exited(container_id)
    log = runtime.log(container_id)
    assert status.exit_code == 0, log
    assert f"uid={os.getuid()}" in log


def test_inherit_user_other_value_keeps_user(api, runtime, images):
    sandbox_id = annotated_pod(runtime, "no-inherit", INHERIT_USER, "false")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                  command=["sh", "-c", "true"], username="no-such-user-hostcri")
    error = rpc_error(lambda: runtime.start(container_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-user-hostcri" in error.details()
