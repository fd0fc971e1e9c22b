"""Root filesystem isolation: each container of an image writes to a layer of its own, so its
changes stay invisible to every other container of the same image and to the image itself."""

MOUNT_POINT = "/hpc"

# Changes a file of the image, adds a file and a directory, and deletes a file of the image.
WRITES = (f"echo changed > {MOUNT_POINT}/etc/hostname && "
          f"echo only-here > {MOUNT_POINT}/tmp/written && "
          f"mkdir {MOUNT_POINT}/var/made-here && "
          f"rm {MOUNT_POINT}/etc/group")
# Prints what a container sees of those paths.
LOOK = (f"cat {MOUNT_POINT}/etc/hostname; "
        f"cat {MOUNT_POINT}/tmp/written 2>/dev/null || echo no-file; "
        f"test -d {MOUNT_POINT}/var/made-here && echo dir || echo no-dir; "
        f"test -e {MOUNT_POINT}/etc/group && echo group || echo no-group")
ORIGINAL = "testbed\nno-file\nno-dir\ngroup\n"
CHANGED = "changed\nonly-here\ndir\nno-group\n"


def exec_in(api, runtime, container_id, script):
    request = api.ExecSyncRequest(container_id=container_id, cmd=["sh", "-c", script],
                                  timeout=20)
    response = runtime.cri.runtime("ExecSync", request, timeout=60)
    assert response.exit_code == 0, response.stderr
    return response.stdout.decode()


def start_sleeper(runtime, images, sandbox_id, name):
    return runtime.run(sandbox_id, name, images["busybox:1.0"], command=["sleep", "1000"])


def test_rootfs_writes_stay_in_container(api, rt, runtime, images):
    pod = runtime.run_pod(name="isolation")
    other_pod = runtime.run_pod(name="isolationother")
    writer = start_sleeper(runtime, images, pod, "writer")
    same_pod = start_sleeper(runtime, images, pod, "neighbour")
    other = start_sleeper(runtime, images, other_pod, "other")

    exec_in(api, runtime, writer, WRITES)
    assert exec_in(api, runtime, writer, LOOK) == CHANGED
    assert exec_in(api, runtime, same_pod, LOOK) == ORIGINAL
    assert exec_in(api, runtime, other, LOOK) == ORIGINAL

    # A container started after the writes sees the image as it was pulled.
    later = start_sleeper(runtime, images, other_pod, "later")
    assert exec_in(api, runtime, later, LOOK) == ORIGINAL

    # The same writes in a second container change nothing in the first.
    exec_in(api, runtime, same_pod, f"echo second > {MOUNT_POINT}/etc/hostname")
    assert exec_in(api, runtime, writer, f"cat {MOUNT_POINT}/etc/hostname") == "changed\n"
    assert exec_in(api, runtime, same_pod, f"cat {MOUNT_POINT}/etc/hostname") == "second\n"


def test_rootfs_writes_gone_after_remove(api, rt, runtime, images):
    """A new container with the same name, after the first is removed, starts from the image."""
    pod = runtime.run_pod(name="isolationremove")
    first = start_sleeper(runtime, images, pod, "c")
    exec_in(api, runtime, first, WRITES)
    runtime.stop(first, 0)
    rt.runtime("RemoveContainer", container_id=first)

    second = start_sleeper(runtime, images, pod, "c")
    assert second != first
    assert exec_in(api, runtime, second, LOOK) == ORIGINAL


def test_rootfs_not_mounted_on_host(api, runtime, images):
    """The rootfs mount lives in the container's mount namespace only."""
    pod = runtime.run_pod(name="isolationhost")
    container_id = start_sleeper(runtime, images, pod, "c")
    exec_in(api, runtime, container_id, f"echo inside > {MOUNT_POINT}/tmp/inside")
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    assert MOUNT_POINT not in targets
