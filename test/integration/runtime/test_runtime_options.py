"""Runtime options of the daemon: pods without hostNetwork and extra runtime handlers."""

import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime


@pytest.fixture
def configured(api, tmp_path, registry):
    instance = RuntimeDaemon(tmp_path, registry, ["--accept-non-host-network-pods", "true",
                                                  "--runtime-handlers", "hpc,other"]).start()
    channel = open_channel(instance.socket_path)
    helper = Runtime(api, CriClient(api, channel), tmp_path)
    yield helper
    helper.remove_all()
    channel.close()
    try:
        code = instance.stop()
    finally:
        instance.kill()
    assert code == 0, instance.log()[-20000:]


def test_non_host_network_pod_accepted(api, configured):
    sandbox_id = configured.run_pod(name="isolated", host_network=False)
    status = configured.pod_status(sandbox_id).status
    assert status.state == api.SANDBOX_READY
    # The status reports the namespaces really in use: the host's.
    assert status.linux.namespaces.options.network == api.NODE
    assert status.linux.namespaces.options.pid == api.NODE
    assert status.linux.namespaces.options.ipc == api.NODE


def test_configured_runtime_handler(api, configured):
    config = configured.pod_config(name="handler")
    sandbox_id = configured.cri.runtime("RunPodSandbox", config=config,
                                        runtime_handler="hpc").pod_sandbox_id
    configured.sandboxes.append((sandbox_id, config))
    assert configured.pod_status(sandbox_id).status.runtime_handler == "hpc"
    listed = configured.cri.runtime("ListPodSandbox").items
    assert [item.runtime_handler for item in listed] == ["hpc"]
