"""Fixtures of the runtime integration tests: a test registry, a daemon that trusts it, and a
client with the test images pulled."""

import os
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
# A testbed of its own, on ports that do not collide with the default testbed (28000-28446).
OWN_TESTBED_DIR = "/tmp/hostcri-runtime-testbed"
OWN_TESTBED_PORT_BASE = "28200"


@pytest.fixture(scope="session")
def registry():
    """The testbed registry: $HOSTCRI_TESTBED_ENV or a running default testbed, else one started
    for this session (and stopped after it)."""
    for path in (os.environ.get("HOSTCRI_TESTBED_ENV"), "/tmp/testbed-registry/registry.env",
                 os.path.join(OWN_TESTBED_DIR, "registry.env")):
        if path and os.path.exists(path):
            env = read_env(path)
            if registry_answers(env) and images_pushed(env):
                yield env
                return
    own = dict(os.environ, TESTBED_DIR=OWN_TESTBED_DIR, TESTBED_PORT_BASE=OWN_TESTBED_PORT_BASE)
    for script in ("start-registry.sh", "make-images.sh"):
        result = subprocess.run([os.path.join(TESTBED_SCRIPTS, script)], env=own,
                                capture_output=True, text=True)
        if result.returncode != 0:
            # A registry that cannot start is a failure, never a quiet skip of every test.
            pytest.fail(f"test registry unavailable: {script} failed:\n{result.stderr[-2000:]}")
    try:
        yield read_env(os.path.join(OWN_TESTBED_DIR, "registry.env"))
    finally:
        subprocess.run([os.path.join(TESTBED_SCRIPTS, "stop-registry.sh")], env=own,
                       capture_output=True)


class RuntimeDaemon(Daemon):
    """A daemon that trusts the test registry's CA."""

    def __init__(self, workdir, registry, extra_args=()):
        super().__init__(workdir, ["--certs-dir", registry["TESTBED_CERTS_D"]] + list(extra_args))


@pytest.fixture
def hostcri(tmp_path, registry):
    instance = RuntimeDaemon(tmp_path, registry).start()
    yield instance
    try:
        code = instance.stop()
    finally:
        instance.kill()
    # -9: a restart test killed this daemon on purpose. Any other code (a sanitizer report, a
    # crash) fails the test.
    assert code in (0, -9, None), f"hostcri exited with {code}:\n{instance.log()[-20000:]}"


@pytest.fixture
def rt(api, hostcri):
    channel = open_channel(hostcri.socket_path)
    yield CriClient(api, channel)
    channel.close()


@pytest.fixture
def images(api, rt, registry):
    """Pulls the test images; returns their references by short name."""
    refs = {name: f"{registry['TESTBED_TLS']}/test/{name}"
            for name in ("busybox:1.0", "config:1.0")}
    for ref in refs.values():
        rt.image("PullImage", image=api.ImageSpec(image=ref))
    return refs


@pytest.fixture
def runtime(api, rt, tmp_path):
    """A Runtime helper whose pods are removed after the test."""
    from runtime_helpers import Runtime

    helper = Runtime(api, rt, tmp_path)
    yield helper
    helper.remove_all()
