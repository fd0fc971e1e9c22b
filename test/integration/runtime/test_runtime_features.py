"""CRI runtime features that the kubelet checks before it sends some pods: the handlers and
features of Status, recursive read-only mounts and the supplemental groups policy."""

import ctypes
import errno
import os
import platform
import struct
import subprocess

import grpc
import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime, rpc_error, wait_for

# Users and groups mounted over the container's /etc/passwd and /etc/group: "app" (uid 1000,
# primary group 1000) is a member of group 50000 only through the member list.
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nimage-group:x:50000:app\nother:x:50001:root\n"
REQUESTED_GROUP = 60000


def kernel_has_mount_setattr():
    """mount_setattr, which recursive read-only mounts need, came with Linux 5.12."""
    major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    return (major, minor) >= (5, 12)


@pytest.fixture
def configured(api, tmp_path, registry):
    """A daemon with two runtime handlers besides the default one."""
    instance = RuntimeDaemon(tmp_path, registry, ["--runtime-handlers", "hpc,other"]).start()
    channel = open_channel(instance.socket_path)
    yield CriClient(api, channel)
    channel.close()
    try:
        code = instance.stop()
    finally:
        instance.kill()
    assert code == 0, instance.log()[-20000:]


def test_status_lists_configured_handlers(api, configured):
    response = configured.runtime("Status")
    assert [handler.name for handler in response.runtime_handlers] == ["", "hpc", "other"]
    for handler in response.runtime_handlers:
        assert handler.features.recursive_read_only_mounts == kernel_has_mount_setattr()
        assert not handler.features.user_namespaces
    assert response.features.supplemental_groups_policy


# mount_setattr has number 442 on every architecture that numbers new system calls alike.
NR_MOUNT_SETATTR = 442


def deny_mount_setattr():
    """Installs a seccomp filter in the calling process (a preexec_fn) under which
    mount_setattr fails with ENOSYS, as on a kernel before 5.12. Children inherit it."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    ret_errno, ret_allow = 0x00050000, 0x7FFF0000
    program = b"".join([
        struct.pack("HBBI", 0x20, 0, 0, 0),  # load the system call number
        struct.pack("HBBI", 0x15, 0, 1, NR_MOUNT_SETATTR),  # equal: next, else skip one
        struct.pack("HBBI", 0x06, 0, 0, ret_errno | errno.ENOSYS),
        struct.pack("HBBI", 0x06, 0, 0, ret_allow),
    ])
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buffer))
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.c_char_p(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


class DaemonWithoutMountSetattr(RuntimeDaemon):
    """A daemon, and so its monitors, without mount_setattr."""

    def start(self, wait=True):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args(), stdout=self.log_file,
                                        stderr=subprocess.STDOUT, preexec_fn=deny_mount_setattr)
        if wait:
            self.wait_ready()
        return self


@pytest.fixture
def without_mount_setattr(api, tmp_path, registry):
    instance = DaemonWithoutMountSetattr(tmp_path, registry).start()
    channel = open_channel(instance.socket_path)
    helper = Runtime(api, CriClient(api, channel), tmp_path)
    yield helper
    helper.remove_all()
    channel.close()
    try:
        code = instance.stop()
    finally:
        instance.kill()
    assert code == 0, instance.log()[-20000:]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                    reason="the seccomp filter uses the x86_64 and aarch64 number")
def test_rro_without_mount_setattr(api, without_mount_setattr, registry, tmp_path):
    """Without mount_setattr, Status reports no recursive read-only mounts, and a container with
    a recursive read-only volume fails to start with a message that names the cause."""
    runtime = without_mount_setattr
    response = runtime.cri.runtime("Status")
    assert not response.runtime_handlers[0].features.recursive_read_only_mounts

    # The images fixture would start a second daemon, so this test pulls on its own.
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    runtime.cri.image("PullImage", image=api.ImageSpec(image=image))
    mount = api.Mount(container_path="/mnt/hostcri-rro", host_path=str(tmp_path),
                      readonly=True, recursive_read_only=True)
    sandbox_id = runtime.run_pod(name="rro-old-kernel")
    container_id = runtime.create(sandbox_id, "c", image, command=["true"], mounts=[mount])
    error = rpc_error(lambda: runtime.start(container_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "/mnt/hostcri-rro" in error.details()
    assert "mount_setattr" in error.details()
    assert "recursive_read_only" in error.details()
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.reason == "StartError"


def test_status_default_handler_only(api, rt):
    response = rt.runtime("Status")
    assert [handler.name for handler in response.runtime_handlers] == [""]
    assert response.features.supplemental_groups_policy
    assert not response.features.user_namespaces_host_network


@pytest.fixture
def volume_with_submount(tmp_path):
    """A directory with a tmpfs mounted on its "sub" directory. The test unmounts that tmpfs, and
    only that one, when it ends."""
    volume = tmp_path / "volume"
    sub = volume / "sub"
    sub.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "hostcri-rro-test", str(sub)],
                   check=True)
    try:
        yield volume
    finally:
        subprocess.run(["umount", str(sub)], check=True)


WRITE_BOTH = ("touch /mnt/hostcri-rro/top 2>/dev/null && echo top-rw || echo top-ro; "
              "touch /mnt/hostcri-rro/sub/file 2>/dev/null && echo sub-rw || echo sub-ro")


@pytest.mark.skipif(not kernel_has_mount_setattr(), reason="needs Linux 5.12 (mount_setattr)")
def test_recursive_read_only_covers_submount(api, runtime, images, volume_with_submount):
    mount = api.Mount(container_path="/mnt/hostcri-rro", host_path=str(volume_with_submount),
                      readonly=True, recursive_read_only=True)
    sandbox_id = runtime.run_pod(name="rro")
    container_id = runtime.run(sandbox_id, "rro", images["busybox:1.0"],
                               command=["sh", "-c", WRITE_BOTH], mounts=[mount])
    status = runtime.wait_exited(container_id)
    assert status.exit_code == 0
    assert sorted(runtime.log(container_id)) == ["sub-ro", "top-ro"]
    assert not (volume_with_submount / "sub" / "file").exists()
    assert status.mounts[0].recursive_read_only


def test_plain_read_only_leaves_submount_writable(api, runtime, images, volume_with_submount):
    """The contrast to the test above: readonly alone covers only the volume's own mount."""
    mount = api.Mount(container_path="/mnt/hostcri-rro", host_path=str(volume_with_submount),
                      readonly=True)
    sandbox_id = runtime.run_pod(name="ro")
    container_id = runtime.run(sandbox_id, "ro", images["busybox:1.0"],
                               command=["sh", "-c", WRITE_BOTH], mounts=[mount])
    runtime.wait_exited(container_id)
    assert sorted(runtime.log(container_id)) == ["sub-rw", "top-ro"]


@pytest.mark.parametrize("readonly, propagation, expected", [
    (False, "PROPAGATION_PRIVATE", "set readonly to true"),
    (True, "PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_HOST_TO_CONTAINER"),
    (True, "PROPAGATION_BIDIRECTIONAL", "PROPAGATION_BIDIRECTIONAL"),
])
def test_recursive_read_only_rules(api, runtime, images, tmp_path, readonly, propagation,
                                   expected):
    mount = api.Mount(container_path="/mnt/hostcri-rro-bad", host_path=str(tmp_path),
                      readonly=readonly, recursive_read_only=True,
                      propagation=getattr(api, propagation))
    sandbox_id = runtime.run_pod(name="rro-bad")
    error = rpc_error(lambda: runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                             command=["true"], mounts=[mount]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "/mnt/hostcri-rro-bad" in error.details()
    assert "recursive_read_only" in error.details()
    assert expected in error.details()


def test_unknown_groups_policy_rejected(api, runtime, images):
    sandbox_id = runtime.run_pod(name="policy-bad")
    config = runtime.container_config("c", images["busybox:1.0"], command=["true"], user=1000)
    config.linux.security_context.supplemental_groups_policy = 7
    error = rpc_error(lambda: runtime.cri.runtime(
        "CreateContainer", pod_sandbox_id=sandbox_id, config=config,
        sandbox_config=runtime.config_of(sandbox_id)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "supplemental_groups_policy 7" in error.details()


def sorted_groups(text):
    return sorted(int(group) for group in text.split())


def run_with_policy(api, runtime, images, tmp_path, policy, **user):
    """Runs `id -G` as the given user, with PASSWD and GROUP mounted over /etc, and returns the
    groups it printed and the ContainerStatus.user of the running container. Checks that an
    exec in the container gets the same groups."""
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "group").write_text(GROUP)
    mounts = [api.Mount(container_path="/etc/passwd", host_path=str(tmp_path / "passwd"),
                        readonly=True),
              api.Mount(container_path="/etc/group", host_path=str(tmp_path / "group"),
                        readonly=True)]
    sandbox_id = runtime.run_pod(name="groups")
    config = runtime.container_config("g", images["busybox:1.0"],
                                      command=["sh", "-c", "id -G; exec sleep 60"],
                                      mounts=mounts, groups=[REQUESTED_GROUP], **user)
    config.linux.security_context.supplemental_groups_policy = policy
    container_id = runtime.cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id,
                                       config=config,
                                       sandbox_config=runtime.config_of(sandbox_id)).container_id
    runtime.start(container_id)
    line = wait_for(lambda: runtime.log(container_id), what="the output of id -G")[0]
    reported = runtime.status(container_id).status.user.linux
    request = api.ExecSyncRequest(container_id=container_id, cmd=["id", "-G"], timeout=30)
    executed = runtime.cri.runtime("ExecSync", request, timeout=60)
    assert executed.exit_code == 0
    assert sorted_groups(executed.stdout.decode()) == sorted_groups(line)
    runtime.stop(container_id, 0)
    return sorted_groups(line), reported


@pytest.mark.parametrize("user", [{"user": 1000}, {"username": "app"}])
def test_merge_adds_image_groups(api, runtime, images, tmp_path, user):
    groups, reported = run_with_policy(api, runtime, images, tmp_path, api.Merge, **user)
    assert groups == [1000, 50000, REQUESTED_GROUP]
    assert reported.uid == 1000
    assert reported.gid == 1000
    assert sorted(reported.supplemental_groups) == [1000, 50000, REQUESTED_GROUP]


@pytest.mark.parametrize("user", [{"user": 1000}, {"username": "app"}])
def test_strict_keeps_requested_groups(api, runtime, images, tmp_path, user):
    groups, reported = run_with_policy(api, runtime, images, tmp_path, api.Strict, **user)
    assert groups == [1000, REQUESTED_GROUP]
    assert reported.uid == 1000
    assert reported.gid == 1000
    assert sorted(reported.supplemental_groups) == [1000, REQUESTED_GROUP]


def test_merge_with_run_as_group(api, runtime, images, tmp_path):
    """run_as_group replaces the primary group, and the user's member groups still apply."""
    groups, reported = run_with_policy(api, runtime, images, tmp_path, api.Merge, user=1000,
                                       group=3000)
    assert groups == [3000, 50000, REQUESTED_GROUP]
    assert reported.gid == 3000
    assert sorted(reported.supplemental_groups) == [3000, 50000, REQUESTED_GROUP]
