"""A real cluster for integration tests: `tinykube server` (API server, controller
manager, scheduler) plus one `tinykube agent` per node, each node's networking inside
its own test network namespace (no route off the machine), real runc and CNI, the real
kubectl as the user. Images come from Debian's static busybox, imported into every
node's store.

    @pytest.fixture(scope="module")
    def cluster(tmp_path_factory):
        with real_cluster(tmp_path_factory, nodes=("n1", "n2")) as c:
            yield c

Node i gets pod CIDR 10.42.(100+i).0/24. Everything is stopped by PID and cleaned up
(processes, mounts, cgroups, namespaces) when the block ends, even after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import REPO, Server, start_server
from tests.integration.agent.cleanup import force_cleanup
from tests.integration.images.ocibuild import busybox_archive
from tests.integration.network.nodens import Node, TestNetwork, missing_prerequisites
from tests.waiting import wait_for

IMAGE = "busybox:1.36"  # what busybox_archive builds


@dataclass
class AgentProcess:
    name: str
    node: Node
    data_dir: str
    pod_cidr: str
    log_path: str
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None


class RealCluster:
    def __init__(self, tmp_path_factory, *, nodes: tuple[str, ...] = ("n1",),
                 server_args: tuple[str, ...] = (), agent_args: tuple[str, ...] = ()):
        self.tmp = tmp_path_factory
        self.server: Server = start_server(tmp_path_factory, *server_args)
        self.net = TestNetwork()
        self.archive = busybox_archive(str(tmp_path_factory.mktemp("image")))
        self.agents: dict[str, AgentProcess] = {}
        for i, name in enumerate(nodes):
            self.add_node(name, pod_cidr=f"10.42.{100 + i}.0/24", extra_args=agent_args)

    # --- nodes ---------------------------------------------------------------------------

    def add_node(self, name: str, *, pod_cidr: str, extra_args: tuple[str, ...] = (),
                 start: bool = True) -> AgentProcess:
        node = self.net.add_node(name)
        data_dir = str(self.tmp.mktemp(f"agent-{name}"))
        asyncio.run(_import(data_dir, self.archive))
        agent = AgentProcess(name, node, data_dir, pod_cidr,
                             str(self.tmp.mktemp(f"agentlog-{name}") / "agent.log"), extra_args)
        self.agents[name] = agent
        if start:
            self.start_agent(name)
        return agent

    def start_agent(self, name: str) -> None:
        agent = self.agents[name]
        with open(f"{self.server.data_dir}/token") as f:
            token = f.read().strip()
        cmd = [sys.executable, "-m", "tinykube.cli.main", "agent", "--server", self.server.url,
               "--token", token, "--ca-file", f"{self.server.data_dir}/pki/ca.crt",
               "--data-dir", agent.data_dir, "--node-name", name, "--node-ip", agent.node.ip,
               "--host-netns", agent.node.netns_path, "--bridge", f"{self.net.prefix}b",
               "--pod-cidr", agent.pod_cidr,
               # the kubelet API: the node's IP is inside its namespace, the API server is not
               "--kubelet-address", "127.0.0.1", "--kubelet-port", "0", *agent.extra_args]
        with open(agent.log_path, "ab") as log:
            agent.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        self.wait_for(lambda: self._node_ready(name), f"node {name} Ready")

    def _node_ready(self, name: str) -> bool:
        node = self.get("node", name)
        conditions = node.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def stop_agent(self, name: str, sig: int = signal.SIGTERM) -> None:
        agent = self.agents[name]
        if agent.proc and agent.proc.poll() is None:
            agent.proc.send_signal(sig)
            try:
                agent.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.proc.kill()
                agent.proc.wait()

    # --- the user's view -----------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60):
        return self.server.kubectl(*args, input=input, check=check, timeout=timeout)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def get(self, kind: str, name: str = "", namespace: str = "default", selector: str = "") -> dict:
        """The object (or list, when name is empty) as JSON; {} when it does not exist."""
        args = ["get", kind, *([name] if name else []), "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        result = self.kubectl(*args, check=False)
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout else {}

    def pod(self, name: str, namespace: str = "default") -> dict:
        return self.get("pod", name, namespace)

    def pods(self, selector: str = "", namespace: str = "default") -> list[dict]:
        return self.get("pods", namespace=namespace, selector=selector).get("items", [])

    def wait_for(self, predicate, what: str, timeout: float = 30.0):
        """tests.waiting.wait_for that fails with the server's and agents' logs."""
        return wait_for(predicate, what, timeout=timeout, details=self.logs)

    def logs(self) -> str:
        parts = [f"--- server log:\n{self.server.log()[-3000:]}"]
        for agent in self.agents.values():
            parts.append(f"--- agent {agent.name} log:\n{_tail(agent.log_path)}")
        return "\n".join(parts)

    # --- teardown ------------------------------------------------------------------------

    def _delete_everything(self, timeout: float = 60.0) -> None:
        """Delete every workload and wait for the pods of the agents still running to go
        (their agents tear down networks and mounts); pods of a stopped agent stay
        Terminating, and force_cleanup removes what they left."""
        self.kubectl("delete", "all", "--all", "-A", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + timeout
        while _pods_on_live_nodes(self) and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        try:
            self._delete_everything()
        finally:
            for name in self.agents:
                self.stop_agent(name)
            for agent in self.agents.values():
                force_cleanup(agent.data_dir)
            self.server.stop()
            self.net.cleanup()


@contextlib.contextmanager
def real_cluster(tmp_path_factory, **options):
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    cluster = RealCluster(tmp_path_factory, **options)
    try:
        yield cluster
    finally:
        cluster.close()


def _pods_on_live_nodes(cluster: "RealCluster") -> list[dict]:
    live = {name for name, a in cluster.agents.items() if a.proc and a.proc.poll() is None}
    out = cluster.kubectl("get", "pods", "-A", "-o", "json", check=False).stdout
    pods = json.loads(out or "{}").get("items", [])
    return [p for p in pods if p.get("spec", {}).get("nodeName") in live]


async def _import(data_dir: str, archive: str) -> None:
    from tinykube.agent.images import ImageService

    images = ImageService(data_dir)
    await images.import_archive(archive)
    await images.close()


def _tail(path: str, size: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-size:]
    except OSError:
        return "(none)"


def pod_manifest(name: str, script: str, *, node: str = "", labels: dict | None = None,
                 extra_spec: str = "", container_extra: str = "") -> str:
    """A one-container busybox pod running `script` under sh -c."""
    lines = ["apiVersion: v1", "kind: Pod", "metadata:", f"  name: {name}"]
    if labels:
        lines.append(f"  labels: {json.dumps(labels)}")
    lines += ["spec:", "  terminationGracePeriodSeconds: 2"]
    if node:
        lines.append(f"  nodeName: {node}")
    lines += [extra_spec.rstrip("\n")] if extra_spec else []
    lines += ["  containers:", "  - name: app", f"    image: {IMAGE}", "    imagePullPolicy: IfNotPresent",
              f"    command: [/bin/busybox, sh, -c, {json.dumps(script)}]"]
    lines += [container_extra.rstrip("\n")] if container_extra else []
    return "\n".join(lines) + "\n"
