"""Pulls through a faulty registry proxy: auth and redirects, retries, corrupt blobs, mirrors,
and a daemon killed in the middle of a pull."""

import base64
import json
import os
import re
import threading
import urllib.request

import grpc
import pytest

from registry_proxy import RegistryProxy


@pytest.fixture
def proxy(testbed, certs_dir):
    """The proxy in front of the testbed's HTTP registry, configured as a plain-HTTP host."""
    instance = RegistryProxy(testbed["TESTBED_HTTP_URL"])
    host_dir = certs_dir / instance.host
    host_dir.mkdir()
    (host_dir / "hosts.toml").write_text(f'server = "http://{instance.host}"\n')
    yield instance
    instance.close()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_redirect_gets_no_authorization(images, api, proxy, testbed):
    user, password = testbed["TESTBED_USER"], testbed["TESTBED_PASS"]
    proxy.basic_auth = basic(user, password)
    proxy.redirect_blobs = True
    images.pull(f"{proxy.host}/test/busybox:1.0",
                auth=api.AuthConfig(username=user, password=password))

    manifests = proxy.seen("registry", "/manifests/")
    assert manifests[0][2] is None  # anonymous first, then the answer to the challenge
    assert manifests[-1][2] == proxy.basic_auth
    storage = proxy.seen("storage", "/blobs/")
    assert len(storage) == 2  # config and layer
    assert all(request[2] is None for request in storage)


def test_retries_after_5xx(images, proxy):
    proxy.fail("/manifests/", 503, 2)
    proxy.fail("/blobs/", 502, 1)
    images.pull(f"{proxy.host}/test/busybox:1.0")
    # The tag is resolved with HEAD first: two 503s, then the answer.
    assert len(proxy.seen("registry", "/manifests/", "HEAD")) == 3
    assert len(proxy.seen("registry", "/manifests/", "GET")) == 1
    assert "retry" in images.log()


def test_retry_after_cut_body(images, proxy):
    proxy.truncate_blobs = 1
    image_id = images.pull(f"{proxy.host}/test/busybox:1.0")
    assert image_id.startswith("sha256:")
    layer_requests = [r for r in proxy.seen("registry", "/blobs/")]
    assert len(layer_requests) == 3  # the config, the cut layer and its retry
    assert "retry" in images.log()


def test_no_retry_after_4xx(images, proxy):
    reference = f"{proxy.host}/test/busybox:1.0"
    proxy.fail("/manifests/", 403, 5)
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f'pull "{reference}": registry {proxy.host} returned 403 Forbidden for the manifest' \
        in raised.value.details()
    assert len(proxy.seen("registry", "/manifests/")) == 1  # the HEAD, without a retry


def test_missing_blob_is_not_found(images, proxy):
    proxy.fail("/blobs/", 404, 100)
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(f"{proxy.host}/test/busybox:1.0")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "returned 404 Not Found for blob sha256:" in raised.value.details()


@pytest.mark.parametrize("which", ["config", "layer"])
def test_corrupt_blob_names_both_digests(images, proxy, which):
    if which == "config":
        proxy.corrupt_blobs = True
    else:
        proxy.corrupt_large_blobs = True
    reference = f"{proxy.host}/test/busybox:1.0"
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    details = raised.value.details()
    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    assert details.startswith(f'pull "{reference}": ')
    assert f"registry {proxy.host}" in details
    assert "mismatch" in details
    assert len(set(re.findall(r"sha256:[0-9a-f]{64}", details))) == 2
    assert len(images.list()) == 0


def test_mirror_is_tried_first(make_daemon, proxy, testbed, certs_dir):
    tls = testbed["TESTBED_TLS"]
    (certs_dir / tls / "hosts.toml").write_text(
        f'server = "https://{tls}"\n'
        f'[host."http://{proxy.host}"]\n'
        f'  capabilities = ["pull", "resolve"]\n')
    images = make_daemon()
    images.pull(f"{tls}/test/busybox:1.0")
    assert len(proxy.seen("registry", "/v2/test/busybox/manifests/1.0", "GET")) == 1
    assert len(proxy.seen("registry", "/blobs/")) == 2


def test_failing_mirror_falls_back(make_daemon, proxy, testbed, certs_dir):
    tls = testbed["TESTBED_TLS"]
    (certs_dir / tls / "hosts.toml").write_text(
        f'server = "https://{tls}"\n'
        f'[host."http://{proxy.host}"]\n'
        f'  capabilities = ["pull", "resolve"]\n')
    proxy.fail("/v2/", 404, 100)
    images = make_daemon()
    image_id = images.pull(f"{tls}/test/busybox:1.0")
    assert image_id.startswith("sha256:")
    # The mirror answered the HEAD and the GET of the manifest with 404 once each.
    assert len(proxy.seen("registry", "/manifests/", "HEAD")) == 1
    assert len(proxy.seen("registry", "/manifests/", "GET")) == 1


def test_killed_mid_pull_then_pulls_again(images, proxy):
    reference = f"{proxy.host}/test/busybox:1.0"
    proxy.stall_blobs = True
    errors = []

    def pull():
        try:
            images.pull(reference, timeout=60)
        except grpc.RpcError as error:
            errors.append(error.code())

    thread = threading.Thread(target=pull)
    thread.start()
    assert proxy.stalled.wait(30)
    images.kill()
    thread.join(30)
    assert errors  # the call failed with the daemon
    proxy.stall_blobs = False
    proxy.release.set()

    images.start()
    image_id = images.pull(reference)
    assert images.status(reference).image.id == image_id
    ingest = os.path.join(images.root, "content", "ingest")
    assert not os.path.exists(ingest) or os.listdir(ingest) == []
    leftovers = [name for name in os.listdir(os.path.join(images.root, "layers"))
                 if name.startswith(".tmp")]
    assert leftovers == []


def test_shutdown_during_pull(make_daemon, proxy):
    images = make_daemon("--shutdown-grace-period", "500ms")
    reference = f"{proxy.host}/test/busybox:1.0"
    proxy.stall_blobs = True
    errors = []

    def pull():
        try:
            images.pull(reference, timeout=60)
        except grpc.RpcError as error:
            errors.append(error.code())

    thread = threading.Thread(target=pull)
    thread.start()
    assert proxy.stalled.wait(30)
    assert images.stop() == 0
    thread.join(30)
    assert errors
    proxy.release.set()


@pytest.mark.parametrize("limit", [1, 2])
def test_parallel_download_limit(make_daemon, proxy, limit):
    images = make_daemon("--max-parallel-downloads", str(limit))
    proxy.delay_blobs = 0.3
    images.pull(f"{proxy.host}/test/layers:1.0")
    # Four layers; the config comes alone before them.
    assert proxy.max_blobs_in_flight == limit


def test_identity_token_posts_refresh_grant(images, api, proxy):
    proxy.bearer_auth = "Bearer token-for-my-identity"
    images.pull(f"{proxy.host}/test/busybox:1.0",
                auth=api.AuthConfig(identity_token="my-identity"))
    posts = [form for method, form in proxy.token_requests if method == "POST"]
    assert len(posts) == 1
    assert "grant_type=refresh_token" in posts[0]
    assert "refresh_token=my-identity" in posts[0]
    assert "scope=repository%3Atest%2Fbusybox%3Apull" in posts[0]
    assert "my-identity" not in images.log()


def test_registry_token_sent_as_is(images, api, proxy):
    proxy.bearer_auth = "Bearer given-registry-token"
    images.pull(f"{proxy.host}/test/busybox:1.0",
                auth=api.AuthConfig(registry_token="given-registry-token"))
    assert proxy.token_requests == []
    assert "given-registry-token" not in images.log()


def test_anonymous_bearer_token_rejected(images, proxy):
    proxy.bearer_auth = "Bearer token-for-someone"
    reference = f"{proxy.host}/test/busybox:1.0"
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert f"registry {proxy.host} returned 401 Unauthorized for the manifest" in \
        raised.value.details()
    assert [method for method, _ in proxy.token_requests] == ["GET"]


def test_http_proxy_environment(make_daemon, proxy, testbed, monkeypatch):
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://{proxy.host}")
    images = make_daemon()
    images.pull(f"{testbed['TESTBED_HTTP']}/test/busybox:1.0")
    assert proxy.seen("forward-proxy", "/v2/test/busybox/manifests/1.0")
    assert len(proxy.seen("forward-proxy", "/blobs/")) == 2


def test_several_corrupt_layers_fail_once(images, proxy, testbed):
    """Every layer of a four-layer image is corrupt: the pull fails once and completes, even
    though the later layers fail after the first."""
    accept = "application/vnd.oci.image.manifest.v1+json"
    request = urllib.request.Request(
        f"{testbed['TESTBED_HTTP_URL']}/v2/test/layers/manifests/1.0", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.load(response)
    proxy.corrupt_blobs_except = {manifest["config"]["digest"]}
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(f"{proxy.host}/test/layers:1.0", timeout=60)
    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    # The daemon still serves, and a clean pull works.
    proxy.corrupt_blobs_except = None
    assert images.pull(f"{proxy.host}/test/layers:1.0").startswith("sha256:")
