"""ContainerStatus names the image by the reference a container was created with, also when the
same image was pulled through two registries."""

import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime


@pytest.fixture
def two_registries(api, tmp_path, registry):
    """A daemon that pulls from the plain-HTTP testbed registry too; yields (runtime, refs)."""
    plain = registry["TESTBED_HTTP"]
    config = tmp_path / "config.yaml"
    config.write_text(f'registries:\n  "{plain}":\n    insecure: true\n')
    instance = RuntimeDaemon(tmp_path, registry, ["--config", str(config)]).start()
    channel = open_channel(instance.socket_path)
    cri = CriClient(api, channel)
    runtime = Runtime(api, cri, tmp_path)
    refs = {"tls": f"{registry['TESTBED_TLS']}/test/busybox:1.0",
            "plain": f"{plain}/test/busybox:1.0"}
    try:
        for ref in refs.values():
            cri.image("PullImage", image=api.ImageSpec(image=ref))
        yield runtime, refs
    finally:
        runtime.remove_all()
        channel.close()
        code = instance.stop()
        instance.kill()
        assert code == 0, instance.log()[-5000:]


def test_status_names_requested_registry(api, two_registries):
    runtime, refs = two_registries
    sandbox_id = runtime.run_pod(name="names")
    image_ids = set()
    for kind, ref in refs.items():
        container_id = runtime.create(sandbox_id, kind, ref, command=["true"])
        status = runtime.status(container_id).status
        repository = ref.rsplit(":", 1)[0]
        assert status.image.image == ref
        assert status.image_ref.startswith(f"{repository}@sha256:")
        image_ids.add(status.image_id)
    assert len(image_ids) == 1


def test_status_by_image_id_uses_a_repo_digest(api, two_registries):
    runtime, refs = two_registries
    sandbox_id = runtime.run_pod(name="by-id")
    image_id = runtime.cri.image("ImageStatus", image=api.ImageSpec(image=refs["tls"])).image.id
    container_id = runtime.create(sandbox_id, "by-id", image_id, command=["true"])
    status = runtime.status(container_id).status
    assert status.image.image in (refs["tls"], refs["plain"])
    assert "@sha256:" in status.image_ref
    assert status.image_id == image_id
