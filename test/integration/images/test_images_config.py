"""Per-host registry settings from the daemon's YAML configuration: mirrors, credentials and
insecure hosts."""

import grpc
import pytest

from registry_proxy import RegistryProxy


@pytest.fixture
def plain_proxy(testbed):
    """A proxy in front of the plain HTTP registry, without a hosts.toml of its own."""
    instance = RegistryProxy(testbed["TESTBED_HTTP_URL"])
    yield instance
    instance.close()


def write_config(tmp_path, text):
    path = tmp_path / "hostcri.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_mirror_tried_first(make_daemon, plain_proxy, testbed, tmp_path):
    tls = testbed["TESTBED_TLS"]
    config = write_config(tmp_path, f'registries:\n  "{tls}":\n'
                                    f'    mirrors: ["http://{plain_proxy.host}"]\n')
    images = make_daemon("--config", config)
    images.pull(f"{tls}/test/busybox:1.0")
    assert plain_proxy.seen("registry", "/v2/test/busybox/manifests/1.0")
    assert len(plain_proxy.seen("registry", "/blobs/")) == 2


def test_yaml_credentials(make_daemon, testbed, tmp_path):
    auth = testbed["TESTBED_AUTH"]
    password = testbed["TESTBED_PASS"]
    config = write_config(tmp_path, f'registries:\n  "{auth}":\n'
                                    f'    username: "{testbed["TESTBED_USER"]}"\n'
                                    f'    password: "{password}"\n')
    images = make_daemon("--config", config)
    images.pull(f"{auth}/test/busybox:1.0")
    images.pull(f"{testbed['TESTBED_TOKEN']}/test/busybox:1.0")
    assert password not in images.log()


def test_yaml_insecure_host(make_daemon, plain_proxy, tmp_path):
    reference = f"{plain_proxy.host}/test/busybox:1.0"

    # Without a hosts.toml or an insecure entry, plain HTTP is never tried.
    images = make_daemon()
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert plain_proxy.seen("registry") == []

    config = write_config(tmp_path, f'registries:\n  "{plain_proxy.host}":\n'
                                    f'    insecure: true\n')
    images = make_daemon("--config", config)
    assert images.pull(reference).startswith("sha256:")
