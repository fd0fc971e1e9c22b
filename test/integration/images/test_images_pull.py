"""PullImage, ImageStatus, ListImages, RemoveImage and ImageFsInfo against the testbed."""

import glob
import json
import os
import re
import stat
import subprocess
import threading
import time

import grpc
import pytest


def chain_dirs(images, reference):
    """The layer directories of an image, base first, from ImageStatus's verbose info."""
    info = json.loads(images.status(reference, verbose=True).info["info"])
    return [os.path.join(images.root, "layers", chain.split(":", 1)[1], "fs")
            for chain in info["chainIDs"]]


def blob_requests(testbed, log_name):
    """Count of blob GETs by hostcri per digest in one registry's access log."""
    counts = {}
    pattern = re.compile(r'"GET /v2/[^ ]+/blobs/(sha256:[0-9a-f]+) HTTP/[0-9.]+" 200 .*hostcri/')
    with open(os.path.join(testbed["TESTBED_DIR"], "logs", log_name)) as f:
        for line in f:
            match = pattern.search(line)
            if match:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def host_platform():
    machine = os.uname().machine
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64/v8"}.get(machine)


def test_pull_every_image(images, testbed_images):
    for reference, digest, media_type, kind in testbed_images:
        if kind == "hostile" or reference.split("/", 1)[1].startswith("private/"):
            continue
        image_id = images.pull(reference)
        assert image_id.startswith("sha256:")
        status = images.status(reference).image
        assert status.id == image_id
        assert reference in status.repo_tags
        name = reference.rsplit(":", 1)[0]
        assert f"{name}@{digest}" in status.repo_digests
        assert status.size > 0
        for directory in chain_dirs(images, reference):
            assert os.path.isdir(directory)


def test_pull_index_selects_host_platform(images, testbed):
    platform = host_platform()
    if platform is None:
        pytest.skip("the testbed index has amd64 and arm64 entries only")
    for tag in ("1.0", "docker"):
        reference = f"{testbed['TESTBED_TLS']}/test/multi:{tag}"
        images.pull(reference)
        top = chain_dirs(images, reference)[-1]
        with open(os.path.join(top, "etc", "platform")) as f:
            assert f.read() == platform + "\n"


def test_pull_index_configured_platform(make_daemon, testbed):
    images = make_daemon("--platform", "linux/arm64")
    for tag in ("1.0", "docker"):
        reference = f"{testbed['TESTBED_TLS']}/test/multi:{tag}"
        images.pull(reference)
        top = chain_dirs(images, reference)[-1]
        with open(os.path.join(top, "etc", "platform")) as f:
            assert f.read() == "linux/arm64/v8\n"


def test_pull_variants_share_one_image(images, testbed):
    ids = set()
    for name in ("test/busybox:1.0", "test/busybox:docker", "test/busybox:uncompressed",
                 "test/busybox-zstd:1.0"):
        ids.add(images.pull(f"{testbed['TESTBED_TLS']}/{name}"))
        busybox = os.path.join(chain_dirs(images, f"{testbed['TESTBED_TLS']}/{name}")[0],
                               "bin", "busybox")
        assert os.access(busybox, os.X_OK)
    assert len(ids) == 1


def overlay_mount(lower_dirs, target):
    """Mounts lower_dirs (base first) read-only at target; False when overlayfs is missing."""
    option = "lowerdir=" + ":".join(reversed(lower_dirs))
    result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", option, str(target)],
                            capture_output=True)
    return result.returncode == 0


def check_expected_layers(root, expected_path):
    failures = []
    with open(expected_path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition(" ")
            if kind == "no-whiteouts":
                for dirpath, dirnames, filenames in os.walk(root):
                    for name in dirnames + filenames:
                        if name.startswith(".wh."):
                            failures.append(f"whiteout {os.path.join(dirpath, name)}")
                continue
            path, _, arg = rest.partition(" ")
            full = os.path.join(root, path)
            if kind == "present" and not os.path.lexists(full):
                failures.append(line)
            elif kind == "absent" and os.path.lexists(full):
                failures.append(line)
            elif kind == "only" and sorted(os.listdir(full)) != sorted(arg.split()):
                failures.append(f"{line}: found {sorted(os.listdir(full))}")
            elif kind == "content":
                with open(full) as content:
                    if content.read() != arg + "\n":
                        failures.append(line)
            elif kind == "hardlink" and os.stat(full).st_ino != os.stat(
                    os.path.join(root, arg)).st_ino:
                failures.append(line)
            elif kind == "symlink" and (not os.path.islink(full) or os.readlink(full) != arg):
                failures.append(line)
            elif kind == "mode" and stat.S_IMODE(os.lstat(full).st_mode) != int(arg, 8):
                failures.append(f"{line}: found {oct(stat.S_IMODE(os.lstat(full).st_mode))}")
            elif kind == "owner":
                st = os.lstat(full)
                if f"{st.st_uid}:{st.st_gid}" != arg:
                    failures.append(line)
    return failures


def test_pull_layers_match_expected(images, testbed, tmp_path):
    reference = f"{testbed['TESTBED_TLS']}/test/layers:1.0"
    images.pull(reference)
    lower = chain_dirs(images, reference)
    assert len(lower) == 4
    target = tmp_path / "merged"
    target.mkdir()
    if not overlay_mount(lower, target):
        pytest.skip("overlayfs cannot be mounted here")
    try:
        failures = check_expected_layers(str(target), testbed["TESTBED_EXPECTED_LAYERS"])
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert failures == []


def test_status_of_config_image(images, testbed):
    numeric = f"{testbed['TESTBED_TLS']}/test/config:1.0"
    named = f"{testbed['TESTBED_TLS']}/test/config:named"
    images.pull(numeric)
    images.pull(named)

    status = images.status(numeric).image
    assert status.HasField("uid")
    assert status.uid.value == 1000
    assert status.username == ""

    status = images.status(named, verbose=True)
    assert not status.image.HasField("uid")
    assert status.image.username == "app"
    config = json.loads(status.info["info"])["imageSpec"]["config"]
    assert config["WorkingDir"] == "/app"
    assert config["StopSignal"] == "SIGTERM"
    assert "GREETING=hello world" in config["Env"]


def test_status_of_unknown_image_is_empty(images):
    response = images.status("docker.io/library/never-pulled:1.0")
    assert not response.HasField("image")
    assert len(response.info) == 0


def test_status_and_list_by_id_and_prefix(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/pause:1.0"
    image_id = images.pull(reference)
    for key in (image_id, image_id[len("sha256:"):], image_id[len("sha256:"):][:12]):
        assert images.status(key).image.id == image_id
    listed = images.list()
    assert [image.id for image in listed] == [image_id]
    assert [image.id for image in images.list(reference)] == [image_id]
    assert len(images.list("docker.io/library/none:1")) == 0


@pytest.mark.parametrize("hostile", ["hostile/traversal:1.0", "hostile/symlink:1.0"])
def test_hostile_images_stay_inside(images, testbed, hostile):
    for leftover in ("/tmp/testbed-escape-canary", "/tmp/testbed-escape"):
        if os.path.lexists(leftover):
            os.unlink(leftover)
    reference = f"{testbed['TESTBED_TLS']}/{hostile}"
    try:
        images.pull(reference)
    except grpc.RpcError as error:
        assert reference in error.details()
    assert not os.path.lexists("/tmp/testbed-escape-canary")
    assert not os.path.lexists("/tmp/testbed-escape")
    root = images.root
    assert not glob.glob(os.path.join(root, "escape")) + glob.glob(
        os.path.join(root, "*", "escape")) + glob.glob(os.path.join(root, "layers", "*", "escape"))


def test_wrong_password_names_registry_and_status(images, api, testbed):
    reference = f"{testbed['TESTBED_AUTH']}/test/busybox:1.0"
    bad = api.AuthConfig(username=testbed["TESTBED_USER"], password="not-the-password")
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference, auth=bad)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    details = raised.value.details()
    assert f'pull "{reference}"' in details
    assert f"registry {testbed['TESTBED_AUTH']} returned 401 Unauthorized" in details
    assert "not-the-password" not in details
    assert "not-the-password" not in images.log()


def test_auth_forms_accepted(images, api, testbed):
    import base64
    user, password = testbed["TESTBED_USER"], testbed["TESTBED_PASS"]
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    for auth in (api.AuthConfig(username=user, password=password), api.AuthConfig(auth=encoded)):
        images.pull(f"{testbed['TESTBED_AUTH']}/test/busybox:1.0", auth=auth)
        images.pull(f"{testbed['TESTBED_TOKEN']}/private/busybox:1.0", auth=auth)
    assert password not in images.log()


def test_token_registry_anonymous_and_private(images, testbed):
    images.pull(f"{testbed['TESTBED_TOKEN']}/test/busybox:1.0")
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(f"{testbed['TESTBED_TOKEN']}/private/busybox:1.0")
    assert "401 Unauthorized" in raised.value.details()
    assert testbed["TESTBED_TOKEN"] in raised.value.details()


def test_failed_repull_keeps_image(images, api, testbed):
    reference = f"{testbed['TESTBED_AUTH']}/test/busybox:1.0"
    good = api.AuthConfig(username=testbed["TESTBED_USER"], password=testbed["TESTBED_PASS"])
    bad = api.AuthConfig(username=testbed["TESTBED_USER"], password="wrong")
    image_id = images.pull(reference, auth=good)
    with pytest.raises(grpc.RpcError):
        images.pull(reference, auth=bad)
    status = images.status(reference).image
    assert status.id == image_id
    for directory in chain_dirs(images, reference):
        assert os.path.isdir(directory)


def test_concurrent_pulls_download_once(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/layers:1.0"
    before = blob_requests(testbed, "tls.log")
    results = [None] * 8
    errors = []

    def pull(index):
        try:
            results[index] = images.pull(reference)
        except grpc.RpcError as error:
            errors.append(error.details())

    threads = [threading.Thread(target=pull, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    after = blob_requests(testbed, "tls.log")
    fetched = {digest: after[digest] - before.get(digest, 0) for digest in after}
    fetched = {digest: count for digest, count in fetched.items() if count > 0}
    # One config and four layers, each fetched once.
    assert len(fetched) == 5
    assert set(fetched.values()) == {1}


def manifest_requests(testbed, log_name, method, path):
    pattern = f'"{method} {path} HTTP/'
    with open(os.path.join(testbed["TESTBED_DIR"], "logs", log_name)) as f:
        return sum(1 for line in f if pattern in line and "hostcri/" in line)


def test_repull_fetches_no_blob(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/config:1.0"
    path = "/v2/test/config/manifests/1.0"
    images.pull(reference)
    before = blob_requests(testbed, "tls.log")
    gets = manifest_requests(testbed, "tls.log", "GET", path)
    heads = manifest_requests(testbed, "tls.log", "HEAD", path)
    images.pull(reference)
    assert blob_requests(testbed, "tls.log") == before
    # The tag is resolved with HEAD; the manifest it names is already stored.
    assert manifest_requests(testbed, "tls.log", "GET", path) == gets
    assert manifest_requests(testbed, "tls.log", "HEAD", path) == heads + 1


def test_remove_untags_then_removes(images, testbed):
    one = f"{testbed['TESTBED_TLS']}/test/busybox:1.0"
    latest = f"{testbed['TESTBED_TLS']}/test/busybox:latest"
    image_id = images.pull(one)
    assert images.pull(latest) == image_id
    assert sorted(images.status(image_id).image.repo_tags) == sorted([one, latest])

    images.remove(one)
    status = images.status(image_id).image
    assert list(status.repo_tags) == [latest]
    assert not images.status(one).HasField("image")

    images.remove(latest)
    assert not images.status(image_id).HasField("image")
    images.remove(latest)
    images.remove("sha256:" + "0" * 64)


def test_remove_by_id_collects_files(images, testbed):
    references = [f"{testbed['TESTBED_TLS']}/test/layers:1.0",
                  f"{testbed['TESTBED_TLS']}/test/config:1.0"]
    image_ids = [images.pull(reference) for reference in references]
    layers = [d for reference in references for d in chain_dirs(images, reference)]
    blobs = os.path.join(images.root, "content", "blobs", "sha256")
    # Back to back, so the second removal comes while the first collection may still run.
    for image_id in image_ids:
        images.remove(image_id)
    assert len(images.list()) == 0

    # The collections run on the thread pool after the replies.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (os.listdir(blobs) or
                                           any(os.path.exists(d) for d in layers)):
        time.sleep(0.05)
    for directory in layers:
        assert not os.path.exists(directory)
    assert os.listdir(blobs) == []


def test_restart_collects_leftovers(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/pause:1.0"
    image_id = images.pull(reference)
    layers = chain_dirs(images, reference)
    images.remove(image_id)
    assert images.stop() in (0, None)
    # Whatever the stop interrupted, the collection at start removes it.
    images.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(d) for d in layers):
        time.sleep(0.05)
    for directory in layers:
        assert not os.path.exists(directory)


def test_image_fs_info(images, testbed):
    images.pull(f"{testbed['TESTBED_TLS']}/test/busybox:1.0")
    response = images.cri.image("ImageFsInfo")
    assert len(response.image_filesystems) == 1
    usage = response.image_filesystems[0]
    assert usage.fs_id.mountpoint == images.root
    assert usage.used_bytes.value > 1000000
    assert usage.inodes_used.value > 10
    assert usage.timestamp > 0
    # No container exists yet: the writable layers take nothing.
    assert len(response.container_filesystems) == 1
    layers = response.container_filesystems[0]
    assert layers.fs_id.mountpoint == os.path.join(images.root, "containers")
    assert layers.used_bytes.value == 0


def test_records_survive_restart(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/config:1.0"
    image_id = images.pull(reference)
    assert images.stop() in (0, None)
    images.start()
    assert images.status(reference).image.id == image_id
    for directory in chain_dirs(images, reference):
        assert os.path.isdir(directory)


def test_pull_invalid_reference(images):
    with pytest.raises(grpc.RpcError) as raised:
        images.pull("UPPER/Case:!!")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UPPER/Case:!!" in raised.value.details()


def test_pinned_image(make_daemon, testbed):
    pause = f"{testbed['TESTBED_TLS']}/test/pause:1.0"
    busybox = f"{testbed['TESTBED_TLS']}/test/busybox:1.0"
    images = make_daemon("--pinned-images", pause)
    images.pull(pause)
    images.pull(busybox)
    assert images.status(pause).image.pinned
    assert not images.status(busybox).image.pinned


def test_concurrent_images_share_layers(images, testbed):
    """Three images with one common layer (gzip, Docker gzip and zstd blobs of the same tar):
    pulled at once, the layer is fetched once in all."""
    references = [f"{testbed['TESTBED_TLS']}/{name}" for name in
                  ("test/busybox:1.0", "test/busybox:docker", "test/busybox-zstd:1.0")]
    before = blob_requests(testbed, "tls.log")
    errors = []

    def pull(reference):
        try:
            images.pull(reference)
        except grpc.RpcError as error:
            errors.append(error.details())

    threads = [threading.Thread(target=pull, args=(r,)) for r in references]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    after = blob_requests(testbed, "tls.log")
    layers = set()
    for reference in references:
        info = json.loads(images.status(reference, verbose=True).info["info"])
        assert len(info["chainIDs"]) == 1
        layers.add(info["chainIDs"][0])
    assert len(layers) == 1
    configs = {json.loads(images.status(r, verbose=True).info["info"])["id"] for r in references}
    fetched = {digest: after[digest] - before.get(digest, 0) for digest in after
               if after[digest] > before.get(digest, 0) and digest not in configs}
    assert sum(fetched.values()) == 1


def token_requests(testbed, repository):
    scope = f"scope=repository%3A{repository.replace('/', '%2F')}%3Apull"
    with open(os.path.join(testbed["TESTBED_DIR"], "logs", "token-server.log")) as f:
        return sum(1 for line in f if "/token?" in line and scope in line)


def test_token_cached_per_scope(images, testbed):
    before = token_requests(testbed, "test/busybox")
    # Two tags of one repository: manifests, configs and layers of both share one token.
    images.pull(f"{testbed['TESTBED_TOKEN']}/test/busybox:1.0")
    images.pull(f"{testbed['TESTBED_TOKEN']}/test/busybox:docker")
    assert token_requests(testbed, "test/busybox") - before == 1
    # Another repository is another scope.
    before = token_requests(testbed, "test/pause")
    images.pull(f"{testbed['TESTBED_TOKEN']}/test/pause:1.0")
    assert token_requests(testbed, "test/pause") - before == 1


def test_unknown_tag_is_not_found(images, testbed):
    reference = f"{testbed['TESTBED_TLS']}/test/busybox:no-such-tag"
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details().startswith(
        f'pull "{reference}": registry {testbed["TESTBED_TLS"]} returned 404 Not Found for the '
        f'manifest')


def test_unreachable_registry_is_unavailable(images):
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    reference = "127.0.0.1:1/test/busybox:1.0"
    with pytest.raises(grpc.RpcError) as raised:
        images.pull(reference)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details().startswith(f'pull "{reference}": registry 127.0.0.1:1: ')
    assert "retry 3 of 3" in images.log()


def test_pinned_after_restart_with_config(make_daemon, testbed, tmp_path):
    pause = f"{testbed['TESTBED_TLS']}/test/pause:1.0"
    images = make_daemon()
    images.pull(pause)
    assert not images.status(pause).image.pinned
    assert images.stop() == 0
    images.extra_args += ["--pinned-images", pause]
    images.start()
    assert images.status(pause).image.pinned
    assert [image.pinned for image in images.list()] == [True]
