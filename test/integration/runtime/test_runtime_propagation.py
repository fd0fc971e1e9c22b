"""Mount propagation of volumes, checked with real tmpfs mounts on both sides.

The host's mounts may be private (they are on the test machines), so each test bind-mounts a
directory of its own onto itself and makes it shared, as every mount is on a systemd host. Every mount the test makes
(or a container makes on the host through a bidirectional volume) lies under that directory
and is unmounted afterwards, deepest first."""

import os
import subprocess

import pytest

from runtime_helpers import wait_for

CONTAINER_ROOT = "/mnt/hostcri-test/propagation"


def mount_points_under(directory):
    """Returns the mount points at or under directory, deepest first."""
    prefix = directory.rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == directory or target.startswith(prefix):
                found.append(target)
    return sorted(set(found), key=lambda path: path.count("/"), reverse=True)


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def mount_tmpfs(target):
    os.makedirs(target, exist_ok=True)
    run("mount", "-t", "tmpfs", "-o", "size=1m", "hostcri-test", target)


def is_mount_point(path):
    return path in mount_points_under(path)


@pytest.fixture
def shared_dir(tmp_path, runtime):
    """A shared mount of a fresh directory; its "source" subdirectory is the volume source."""
    base = str(tmp_path / "shared")
    os.makedirs(os.path.join(base, "source"))
    run("mount", "--bind", base, base)
    try:
        run("mount", "--make-shared", base)
        yield base
    finally:
        # The containers go first, so that no mount namespace keeps copies of these mounts.
        runtime.remove_all()
        # Propagation can stack several mounts on one mount point, so repeat a few rounds.
        for _ in range(5):
            for target in mount_points_under(base):
                subprocess.run(["umount", "-l", target], capture_output=True)
        assert mount_points_under(base) == []


def start_with_volume(api, runtime, images, shared_dir, name, propagation):
    sandbox_id = runtime.run_pod(name=f"prop{name}")
    container_path = f"{CONTAINER_ROOT}/{name}"
    mount = api.Mount(container_path=container_path,
                      host_path=os.path.join(shared_dir, "source"), propagation=propagation)
    container_id = runtime.run(sandbox_id, name, images["busybox:1.0"],
                               command=["sleep", "1000"], mounts=[mount])
    return container_id, container_path


def exec_in(api, runtime, container_id, script):
    """Runs a shell script in the container's mount namespace; returns (exit code, output)."""
    request = api.ExecSyncRequest(container_id=container_id, cmd=["sh", "-c", script],
                                  timeout=20)
    response = runtime.cri.runtime("ExecSync", request, timeout=60)
    return response.exit_code, (response.stdout + response.stderr).decode(errors="replace")


def mount_on_host(shared_dir, name):
    """Mounts a tmpfs at source/<name> with a marker file in it."""
    target = os.path.join(shared_dir, "source", name)
    mount_tmpfs(target)
    with open(os.path.join(target, "marker"), "w") as f:
        f.write("from the host\n")
    return target


def mount_in_container(api, runtime, container_id, container_path, name):
    """Mounts a tmpfs at <container_path>/<name> inside the container, with a marker file."""
    target = f"{container_path}/{name}"
    code, output = exec_in(api, runtime, container_id,
                           f"mkdir -p {target} && mount -t tmpfs -o size=1m hostcri-test "
                           f"{target} && echo from the container > {target}/marker")
    assert code == 0, output


def visible_inside(api, runtime, container_id, path):
    code, _ = exec_in(api, runtime, container_id, f"test -e {path}")
    return code == 0


def test_propagation_private(api, runtime, images, shared_dir):
    mount_on_host(shared_dir, "before")
    container_id, container_path = start_with_volume(api, runtime, images, shared_dir,
                                                     "private", api.PROPAGATION_PRIVATE)
    # The volume is a recursive bind: mounts that exist at start are in it.
    assert visible_inside(api, runtime, container_id, f"{container_path}/before/marker")

    mount_on_host(shared_dir, "after")
    assert not visible_inside(api, runtime, container_id, f"{container_path}/after/marker")
    assert visible_inside(api, runtime, container_id, f"{container_path}/after")

    mount_in_container(api, runtime, container_id, container_path, "inner")
    assert visible_inside(api, runtime, container_id, f"{container_path}/inner/marker")
    assert not os.path.exists(os.path.join(shared_dir, "source", "inner", "marker"))
    assert not is_mount_point(os.path.join(shared_dir, "source", "inner"))


def test_propagation_host_to_container(api, runtime, images, shared_dir):
    container_id, container_path = start_with_volume(api, runtime, images, shared_dir,
                                                     "slave", api.PROPAGATION_HOST_TO_CONTAINER)
    mount_on_host(shared_dir, "after")
    wait_for(lambda: visible_inside(api, runtime, container_id,
                                    f"{container_path}/after/marker"),
             timeout=10, what="the host's new mount inside the container")
    code, output = exec_in(api, runtime, container_id, f"cat {container_path}/after/marker")
    assert (code, output) == (0, "from the host\n")

    # Nothing goes back to the host.
    mount_in_container(api, runtime, container_id, container_path, "inner")
    assert not os.path.exists(os.path.join(shared_dir, "source", "inner", "marker"))
    assert not is_mount_point(os.path.join(shared_dir, "source", "inner"))

    # An unmount on the host reaches the container too.
    run("umount", os.path.join(shared_dir, "source", "after"))
    wait_for(lambda: not visible_inside(api, runtime, container_id,
                                        f"{container_path}/after/marker"),
             timeout=10, what="the host's unmount inside the container")


def test_propagation_bidirectional(api, runtime, images, shared_dir):
    container_id, container_path = start_with_volume(api, runtime, images, shared_dir,
                                                     "shared", api.PROPAGATION_BIDIRECTIONAL)
    mount_on_host(shared_dir, "after")
    wait_for(lambda: visible_inside(api, runtime, container_id,
                                    f"{container_path}/after/marker"),
             timeout=10, what="the host's new mount inside the container")

    mount_in_container(api, runtime, container_id, container_path, "inner")
    host_marker = os.path.join(shared_dir, "source", "inner", "marker")
    wait_for(lambda: os.path.exists(host_marker), timeout=10,
             what="the container's mount on the host")
    with open(host_marker) as f:
        assert f.read() == "from the container\n"
    assert is_mount_point(os.path.join(shared_dir, "source", "inner"))


def test_propagation_bidirectional_keeps_host_root(api, runtime, images, shared_dir):
    """Binding a bidirectional volume sends no mount back to the host: the mount point on the
    host stays a plain directory."""
    container_id, container_path = start_with_volume(api, runtime, images, shared_dir,
                                                     "nomirror", api.PROPAGATION_BIDIRECTIONAL)
    assert visible_inside(api, runtime, container_id, container_path)
    assert not is_mount_point(container_path)
    assert not is_mount_point("/hpc")


def test_propagation_bidirectional_readonly(api, runtime, images, shared_dir):
    os.makedirs(os.path.join(shared_dir, "source", "late"))
    sandbox_id = runtime.run_pod(name="propreadonly")
    container_path = f"{CONTAINER_ROOT}/readonly"
    mount = api.Mount(container_path=container_path,
                      host_path=os.path.join(shared_dir, "source"), readonly=True,
                      propagation=api.PROPAGATION_BIDIRECTIONAL)
    container_id = runtime.run(sandbox_id, "readonly", images["busybox:1.0"],
                               command=["sleep", "1000"], mounts=[mount])
    code, _ = exec_in(api, runtime, container_id, f"touch {container_path}/new")
    assert code != 0
    assert not os.path.exists(os.path.join(shared_dir, "source", "new"))

    mount_on_host(shared_dir, "late")
    wait_for(lambda: visible_inside(api, runtime, container_id, f"{container_path}/late/marker"),
             timeout=10, what="the host's new mount inside the read-only volume")


def test_propagation_private_source_starts(api, runtime, images, tmp_path):
    """A bidirectional volume whose source may be on a private mount (as on the test machines,
    where nothing propagates) still starts, and the container uses the volume."""
    source = tmp_path / "private-source"
    source.mkdir()
    (source / "data").write_text("from the host\n")
    sandbox_id = runtime.run_pod(name="propprivatesource")
    container_path = f"{CONTAINER_ROOT}/privatesource"
    mount = api.Mount(container_path=container_path, host_path=str(source),
                      propagation=api.PROPAGATION_BIDIRECTIONAL)
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"],
                               command=["sleep", "1000"], mounts=[mount])
    code, output = exec_in(api, runtime, container_id,
                           f"cat {container_path}/data && echo back > {container_path}/written")
    assert (code, output) == (0, "from the host\n")
    assert (source / "written").read_text() == "back\n"
