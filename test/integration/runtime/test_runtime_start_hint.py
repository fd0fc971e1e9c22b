"""A StartError for an absolute program that exists only in the image points to the mount
point, because host-process containers run against the host's file system."""

import os

import pytest

from runtime_helpers import rpc_error

# Applets that make-images.sh links into the busybox image's /bin.
IMAGE_ONLY_CANDIDATES = ("acpid", "ascii", "adjtimex", "ash")


def image_only_program():
    for name in IMAGE_ONLY_CANDIDATES:
        if not os.path.lexists(f"/bin/{name}"):
            return f"/bin/{name}"
    pytest.skip("every candidate program also exists on this host")


def test_image_program_hint(api, runtime, images):
    program = image_only_program()
    sandbox_id = runtime.run_pod(name="hint")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=[program])
    error = rpc_error(lambda: runtime.start(container_id))
    hint = f"the image's files are under /hpc: use $CONTAINER_SANDBOX_MOUNT_POINT{program}"
    assert f'executable "{program}" not found' in error.details()
    assert hint in error.details()
    status = runtime.status(container_id).status
    assert status.reason == "StartError"
    assert hint in status.message


def test_host_missing_program_no_hint(api, runtime, images):
    sandbox_id = runtime.run_pod(name="nohint")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                  command=["/no/such/binary"])
    error = rpc_error(lambda: runtime.start(container_id))
    assert 'executable "/no/such/binary" not found' in error.details()
    assert "CONTAINER_SANDBOX_MOUNT_POINT" not in error.details()
