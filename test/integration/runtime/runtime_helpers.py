"""Helpers of the runtime integration tests: build CRI configs, run pods and containers, wait
for states and read CRI log files."""

import json
import os
import time
import uuid

import grpc


def pid_alive(pid):
    """True while process pid exists and has not exited (a zombie or a dead task has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        # The file of a process that ends meanwhile reads as ESRCH or as an empty string.
        return False


def wait_for(predicate, timeout=30, interval=0.05, what="condition"):
    """Polls predicate until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def rpc_error(call):
    """Runs call and returns the grpc.RpcError it raises."""
    try:
        call()
    except grpc.RpcError as e:
        return e
    raise AssertionError("the call succeeded but an error was expected")


def read_log(path):
    """Returns the content of each record of a CRI log file, joining partial records."""
    lines, partial = [], ""
    if not os.path.exists(path):
        return lines
    with open(path, "r", errors="replace") as f:
        for record in f:
            parts = record.rstrip("\n").split(" ", 3)
            if len(parts) < 3:
                continue
            content = parts[3] if len(parts) == 4 else ""
            partial += content
            if parts[2] == "F":
                lines.append(partial)
                partial = ""
    return lines


class Runtime:
    """Runs pods and containers through a CriClient and removes the pods afterwards."""

    def __init__(self, api, cri, workdir):
        self.api = api
        self.cri = cri
        self.workdir = str(workdir)
        self.sandboxes = []

    # ---- sandboxes

    def pod_config(self, name="pod", host_network=True, labels=None, attempt=0, uid=None):
        api = self.api
        log_dir = os.path.join(self.workdir, "logs", name + "-" + str(attempt))
        mode = api.NODE if host_network else api.POD
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace="rt-test",
                                            uid=uid or str(uuid.uuid4()), attempt=attempt),
            log_directory=log_dir,
            labels=labels or {},
            annotations={"test.hostcri.io/name": name},
            linux=api.LinuxPodSandboxConfig(
                security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=mode, pid=mode, ipc=mode))),
        )

    def run_pod(self, config=None, **kwargs):
        config = config or self.pod_config(**kwargs)
        sandbox_id = self.cri.runtime("RunPodSandbox", config=config).pod_sandbox_id
        self.sandboxes.append((sandbox_id, config))
        return sandbox_id

    def pod_status(self, sandbox_id, verbose=False):
        return self.cri.runtime("PodSandboxStatus", pod_sandbox_id=sandbox_id, verbose=verbose)

    def config_of(self, sandbox_id):
        for known, config in self.sandboxes:
            if known == sandbox_id:
                return config
        raise KeyError(sandbox_id)

    # ---- containers

    def container_config(self, name, image, command=None, args=None, env=None, working_dir=None,
                         mounts=None, user=None, group=None, username=None, groups=None,
                         labels=None, stdin=False, tty=False):
        api = self.api
        security = api.LinuxContainerSecurityContext(
            supplemental_groups=groups or [], run_as_username=username or "")
        if user is not None:
            security.run_as_user.value = user
        if group is not None:
            security.run_as_group.value = group
        return api.ContainerConfig(
            metadata=api.ContainerMetadata(name=name),
            image=api.ImageSpec(image=image),
            command=command or [],
            args=args or [],
            working_dir=working_dir or "",
            envs=[api.KeyValue(key=k, value=v.encode()) for k, v in (env or {}).items()],
            mounts=mounts or [],
            labels=labels or {},
            log_path=f"{name}/0.log",
            stdin=stdin,
            tty=tty,
            linux=api.LinuxContainerConfig(security_context=security),
        )

    def create(self, sandbox_id, name, image, **kwargs):
        config = self.container_config(name, image, **kwargs)
        return self.cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id, config=config,
                                sandbox_config=self.config_of(sandbox_id)).container_id

    def start(self, container_id):
        self.cri.runtime("StartContainer", container_id=container_id)

    def run(self, sandbox_id, name, image, **kwargs):
        container_id = self.create(sandbox_id, name, image, **kwargs)
        self.start(container_id)
        return container_id

    def status(self, container_id, verbose=False):
        return self.cri.runtime("ContainerStatus", container_id=container_id, verbose=verbose)

    def info(self, container_id):
        return json.loads(self.status(container_id, verbose=True).info["info"])

    def state(self, container_id):
        return self.status(container_id).status.state

    def wait_exited(self, container_id, timeout=30):
        wait_for(lambda: self.state(container_id) == self.api.CONTAINER_EXITED, timeout,
                 what=f"container {container_id} to exit")
        return self.status(container_id).status

    def wait_log(self, container_id, text, timeout=30):
        path = self.status(container_id).status.log_path
        return wait_for(lambda: any(text in line for line in read_log(path)), timeout,
                        what=f"{text!r} in the log of {container_id}")

    def log(self, container_id):
        return read_log(self.status(container_id).status.log_path)

    def stop(self, container_id, timeout):
        """StopContainer with a grace period of timeout seconds."""
        request = self.api.StopContainerRequest(container_id=container_id, timeout=timeout)
        self.cri.runtime("StopContainer", request, timeout=max(timeout, 0) + 60)

    def remove_all(self):
        for sandbox_id, _ in self.sandboxes:
            try:
                self.cri.runtime("RemovePodSandbox", timeout=60, pod_sandbox_id=sandbox_id)
            except grpc.RpcError as e:
                print(f"cleanup: RemovePodSandbox {sandbox_id}: {e.details()}")
        self.sandboxes = []
