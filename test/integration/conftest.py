"""Shared fixtures: the compiled CRI API, a running daemon and a client connected to it."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cri_client import CriClient, load_api, open_channel  # noqa: E402
from daemon import Daemon  # noqa: E402


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    return load_api(str(tmp_path_factory.mktemp("api")))


@pytest.fixture
def daemon(tmp_path):
    """A hostcri daemon on a socket of its own; stopped with SIGTERM after the test."""
    instance = Daemon(tmp_path).start()
    yield instance
    code = instance.stop()
    if code not in (0, None):
        print(instance.log())
    instance.kill()
    assert code in (0, None), f"hostcri exited with {code}"


@pytest.fixture
def cri(api, daemon):
    channel = open_channel(daemon.socket_path)
    yield CriClient(api, channel)
    channel.close()
