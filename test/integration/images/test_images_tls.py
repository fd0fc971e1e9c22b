"""A registry that requires a client certificate, configured through certs.d."""

import shutil
import ssl
import subprocess

import grpc
import pytest

from registry_proxy import RegistryProxy


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr", cwd=directory)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=directory)


@pytest.fixture
def mtls_registry(tmp_path, testbed, certs_dir):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    context.load_verify_locations(pki / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    proxy = RegistryProxy(testbed["TESTBED_HTTP_URL"], tls_context=context)
    host_dir = certs_dir / proxy.host
    host_dir.mkdir()
    shutil.copy(pki / "ca.crt", host_dir / "ca.crt")
    shutil.copy(pki / "client.crt", host_dir / "client.cert")
    shutil.copy(pki / "client.key", host_dir / "client.key")
    yield proxy, host_dir
    proxy.close()


def test_client_certificate_from_certs_d(images, mtls_registry):
    proxy, _ = mtls_registry
    image_id = images.pull(f"{proxy.host}/test/busybox:1.0")
    assert image_id.startswith("sha256:")
    assert len(proxy.seen("registry", "/blobs/")) == 2


def test_missing_client_certificate_fails(images, mtls_registry):
    proxy, host_dir = mtls_registry
    (host_dir / "client.cert").unlink()
    reference = f"{proxy.host}/test/busybox:1.0"
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f'pull "{reference}": registry {proxy.host}' in raised.value.details()


def test_unknown_ca_names_the_file_to_create(images, mtls_registry):
    proxy, host_dir = mtls_registry
    (host_dir / "ca.crt").unlink()
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(f"{proxy.host}/test/busybox:1.0")
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f"put the registry's CA certificate in {host_dir}/ca.crt" in raised.value.details()
    assert f'set insecure: true for "{proxy.host}"' in raised.value.details()


def test_wrong_ca_names_the_file_in_use(images, mtls_registry, tmp_path):
    proxy, host_dir = mtls_registry
    other = tmp_path / "other-pki"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=another-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=other)
    shutil.copy(other / "ca.crt", host_dir / "ca.crt")
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(f"{proxy.host}/test/busybox:1.0")
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f"does not verify against {host_dir}/ca.crt" in raised.value.details()
