"""Fixtures of the image integration tests: the testbed registries, a daemon that trusts them,
and a client.

The testbed is $HOSTCRI_TESTBED_ENV (a registry.env) when that is set, else a running testbed
in $TESTBED_DIR or /tmp/testbed-registry with its images pushed; otherwise the session starts
its own in /tmp/hostcri-images-testbed on ports 28300-28746 and stops it at the end.
"""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cri_client import SOURCE_DIR, CriClient, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402
from testbed import images_pushed, read_env, registry_answers  # noqa: E402,F401

TESTBED_SCRIPTS = os.path.join(SOURCE_DIR, "test", "testbed")
OWN_TESTBED_DIR = "/tmp/hostcri-images-testbed"
OWN_TESTBED_PORT_BASE = "28300"


def read_images(path):
    """images.txt as a list of (reference, digest, media type, kind)."""
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                rows.append(tuple(line.split()))
    return rows


@pytest.fixture(scope="session")
def testbed():
    given = os.environ.get("HOSTCRI_TESTBED_ENV")
    if given:
        env = read_env(given)
        if not registry_answers(env):
            pytest.fail(f"HOSTCRI_TESTBED_ENV={given}: its registry does not respond")
        yield env
        return
    running = [os.path.join(os.environ.get("TESTBED_DIR", "/tmp/testbed-registry"), "registry.env"),
               "/tmp/testbed-registry/registry.env"]
    for path in running:
        if os.path.exists(path):
            env = read_env(path)
            if registry_answers(env) and os.path.exists(env.get("TESTBED_IMAGES", "")):
                yield env
                return
    own = dict(os.environ, TESTBED_DIR=OWN_TESTBED_DIR, TESTBED_PORT_BASE=OWN_TESTBED_PORT_BASE)
    log_path = "/tmp/hostcri-images-testbed.log"
    with open(log_path, "w") as log:
        for script in ("start-registry.sh", "make-images.sh"):
            result = subprocess.run([os.path.join(TESTBED_SCRIPTS, script)], env=own,
                                    stdout=log, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                subprocess.run([os.path.join(TESTBED_SCRIPTS, "stop-registry.sh")], env=own)
                pytest.fail(f"{script} failed with {result.returncode}; see {log_path}")
    try:
        yield read_env(os.path.join(OWN_TESTBED_DIR, "registry.env"))
    finally:
        subprocess.run([os.path.join(TESTBED_SCRIPTS, "stop-registry.sh"), "--purge"], env=own,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def testbed_images(testbed):
    return read_images(testbed["TESTBED_IMAGES"])


@pytest.fixture
def certs_dir(tmp_path, testbed):
    """A certs.d of the test's own, starting as a copy of the testbed's."""
    path = tmp_path / "certs.d"
    shutil.copytree(testbed["TESTBED_CERTS_D"], path)
    return path


class ImageDaemon:
    """A daemon with its client; restart() keeps its root directory."""

    def __init__(self, api, workdir, extra_args):
        self.api = api
        self.workdir = workdir
        self.extra_args = extra_args
        self.daemon = None
        self.channel = None
        self.cri = None

    def start(self):
        self.daemon = Daemon(self.workdir, extra_args=self.extra_args).start()
        self.channel = open_channel(self.daemon.socket_path)
        self.cri = CriClient(self.api, self.channel)
        return self

    def stop(self):
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        code = self.daemon.stop()
        self.daemon.kill()
        return code

    def kill(self):
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.daemon.kill()

    @property
    def root(self):
        return self.daemon.root

    def log(self):
        return self.daemon.log()

    def spec(self, image):
        return self.api.ImageSpec(image=image)

    def pull(self, image, auth=None, timeout=120):
        request = self.api.PullImageRequest(image=self.spec(image))
        if auth is not None:
            request.auth.CopyFrom(auth)
        return self.cri.image("PullImage", request, timeout=timeout).image_ref

    def status(self, image, verbose=False):
        return self.cri.image("ImageStatus", image=self.spec(image), verbose=verbose)

    def remove(self, image):
        return self.cri.image("RemoveImage", image=self.spec(image))

    def list(self, image=None):
        request = self.api.ListImagesRequest()
        if image is not None:
            request.filter.image.image = image
        return self.cri.image("ListImages", request).images


@pytest.fixture
def make_daemon(api, tmp_path, certs_dir):
    """Factory of daemons that trust the testbed; extra flags go to the command line."""
    daemons = []

    def make(*extra_args):
        workdir = tmp_path / f"daemon{len(daemons)}"
        workdir.mkdir()
        # A short retry backoff keeps the tests of failing registries quick.
        args = ["--certs-dir", str(certs_dir), "--registry-retry-backoff", "20ms"]
        instance = ImageDaemon(api, workdir, args + list(extra_args))
        daemons.append(instance)
        return instance.start()

    yield make
    failures = []
    for instance in daemons:
        if instance.daemon is not None and instance.daemon.process.poll() is None:
            code = instance.stop()
            if code not in (0, None):
                print(instance.log())
                failures.append(code)
    assert failures == [], f"hostcri exited with {failures}"


@pytest.fixture
def images(make_daemon):
    return make_daemon()
