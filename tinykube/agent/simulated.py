"""Simulated nodes (as kwok does): many Nodes that heartbeat and run pods on paper.

`tinykube agent --simulate N` registers N nodes named `<node-name>-sim-<i>` (or
`sim-<i>`) with the capacity given by flags (32 cpu, 256Gi, 110 pods by default),
Ready, and renews their Leases in kube-node-lease from one loop that spreads the N
renewals evenly over the renewal interval (N writes per interval, never a burst).
Every pod bound to one of them is reported Running at once — phase, the four pod
conditions True, running and ready container statuses, a pod IP from the node's own
/24 in 10.64.0.0/10, the node's address as hostIP — and nothing is started. A pod
deleted gracefully is finished at once (deleted with gracePeriodSeconds 0).

Needs no root, runc or network setup: it only talks to the API server. The decisions
(`pod_status`, `pod_action`) are pure functions; the shell writes only when they say so.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
from dataclasses import dataclass

from tinykube.agent import node as nodes
from tinykube.api import errors
from tinykube.client import ApiClient, Informer, object_key

log = logging.getLogger(__name__)

NODES, PODS, LEASES = ("v1", "Node"), ("v1", "Pod"), ("coordination.k8s.io/v1", "Lease")
POD_NETWORK = ipaddress.ip_network("10.64.0.0/10")  # a /24 per simulated node
NODE_NETWORK = ipaddress.ip_network("172.16.0.0/12")
SIMULATED_LABEL = "tinykube.io/simulated"
REGISTER_CONCURRENCY = 32
POD_WORKERS = 16


@dataclass(frozen=True)
class SimulatedConfig:
    count: int
    prefix: str = ""  # the real node's name; nodes are "<prefix>-sim-<i>" or "sim-<i>"
    cpu: int = 32
    memory: str = "256Gi"
    max_pods: int = 110
    lease_interval: float = nodes.LEASE_DURATION_SECONDS / 4  # the kubelet's 10 s
    status_interval: float = 300.0


def node_name(prefix: str, index: int) -> str:
    return f"{prefix}-sim-{index}" if prefix else f"sim-{index}"


def node_ip(index: int) -> str:
    return str(NODE_NETWORK.network_address + index + 1)


def pod_cidr(index: int) -> str:
    return str(ipaddress.ip_network((int(POD_NETWORK.network_address) + index * 256, 24)))


def pod_ip(index: int, serial: int) -> str:
    return str(POD_NETWORK.network_address + index * 256 + 2 + serial % 253)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_object(config: SimulatedConfig, index: int) -> dict:
    name = node_name(config.prefix, index)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", SIMULATED_LABEL: "true"}},
            "spec": {"podCIDR": pod_cidr(index), "podCIDRs": [pod_cidr(index)]}}


def node_status(config: SimulatedConfig, index: int, now: str, previous: dict | None = None) -> dict:
    facts = nodes.MachineFacts(cpus=config.cpu, memory_bytes=_bytes(config.memory), os_image="tinykube simulated",
                               kernel_version="simulated", ephemeral_storage_bytes=1 << 40)
    settings = nodes.NodeSettings(name=node_name(config.prefix, index), addresses=(("InternalIP", node_ip(index)),),
                                  max_pods=config.max_pods)
    status = nodes.node_status(facts, settings, nodes.NodeConditions(), now=now, previous=previous)
    status["nodeInfo"]["containerRuntimeVersion"] = "simulated://tinykube"
    return status


def _bytes(text: str) -> int:
    from tinykube.api.validation.quantity import parse_quantity
    return int(parse_quantity(text))


def pod_action(pod: dict) -> str:
    """"delete" (terminating), "report" (status not yet Running), or "" (nothing to do)."""
    md, status = pod.get("metadata") or {}, pod.get("status") or {}
    if md.get("deletionTimestamp"):
        return "delete"
    if status.get("phase") in ("Succeeded", "Failed"):
        return ""
    names = {c.get("name") for c in (pod.get("spec") or {}).get("containers") or ()}
    reported = {c.get("name") for c in status.get("containerStatuses") or () if (c.get("state") or {}).get("running")}
    if status.get("phase") == "Running" and status.get("podIP") and names <= reported:
        return ""
    return "report"


def pod_status(pod: dict, *, host_ip: str, ip: str, now: str) -> dict:
    """The status a kubelet would report once every container runs and is ready."""
    spec, old = pod.get("spec") or {}, pod.get("status") or {}
    started = old.get("startTime") or now
    uid = (pod.get("metadata") or {}).get("uid", "")
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "phase": "Running", "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": ip, "podIPs": [{"ip": ip}], "startTime": started, "qosClass": old.get("qosClass"),
        "initContainerStatuses": [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
             "containerID": f"simulated://{uid}-{c['name']}", "started": False,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
            for c in spec.get("initContainers") or ()],
        "containerStatuses": [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
             "containerID": f"simulated://{uid}-{c['name']}", "started": True,
             "state": {"running": {"startedAt": now}}}
            for c in spec.get("containers") or ()],
    }


class SimulatedNodes:
    def __init__(self, client: ApiClient, config: SimulatedConfig):
        self.client, self.config = client, config
        self.names = [node_name(config.prefix, i) for i in range(config.count)]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.node_uids: dict[str, str] = {}
        self.leases: dict[str, dict] = {}
        self._serial = [0] * config.count
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self.pods = Informer(client, PODS)

    async def run(self) -> None:
        await self.register_all()
        log.info("simulated nodes: %d registered (%s ... %s)", len(self.names), self.names[0], self.names[-1])
        self.pods.add_event_handler(self._on_pod, lambda old, new: self._on_pod(new))
        tasks = [asyncio.create_task(self.pods.run()), asyncio.create_task(self._lease_loop()),
                 asyncio.create_task(self._status_loop())]
        tasks += [asyncio.create_task(self._pod_worker()) for _ in range(POD_WORKERS)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- nodes and leases --------------------------------------------------------------------

    async def register_all(self) -> None:
        slots = asyncio.Semaphore(REGISTER_CONCURRENCY)

        async def one(index: int) -> None:
            async with slots:
                await self._register(index)
        await asyncio.gather(*(one(i) for i in range(self.config.count)))

    async def _register(self, index: int) -> None:
        name = self.names[index]
        try:
            node = await self.client.create(NODES, node_object(self.config, index))
        except errors.AlreadyExists:  # a restart: keep what users changed (labels, taints)
            node = await self.client.get(NODES, name)
        node["status"] = node_status(self.config, index, _now(), node.get("status"))
        node = await self.client.update_status(NODES, node)
        self.node_uids[name] = node["metadata"]["uid"]
        await self._renew(name)

    async def _renew(self, name: str) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = self.leases.get(name)
        try:
            if lease is None:
                try:
                    lease = await self.client.get(LEASES, name, namespace=nodes.NODE_LEASE_NAMESPACE)
                except errors.NotFound:
                    self.leases[name] = await self.client.create(
                        LEASES, nodes.lease_object(name, self.node_uids.get(name, ""), now_micro=now))
                    return
            lease["spec"]["renewTime"], lease["spec"]["holderIdentity"] = now, name
            self.leases[name] = await self.client.update(LEASES, lease)
        except (errors.Conflict, errors.NotFound):
            self.leases.pop(name, None)  # read it again next time

    async def _lease_loop(self) -> None:
        """One renewal every interval/N seconds, round-robin: an even, cheap heartbeat."""
        step = self.config.lease_interval / max(len(self.names), 1)
        batch = max(1, int(0.05 / step)) if step < 0.05 else 1  # at most ~20 wake-ups a second
        i = 0
        while True:
            names = [self.names[(i + k) % len(self.names)] for k in range(batch)]
            i += batch
            results = await asyncio.gather(*(self._renew(n) for n in names), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.warning("simulated nodes: lease renewal failed: %s", result)
            await asyncio.sleep(step * batch)

    async def _status_loop(self) -> None:
        """Node status at least every status_interval (spread out, as the leases)."""
        step = self.config.status_interval / max(len(self.names), 1)
        while True:
            for index, name in enumerate(self.names):
                await asyncio.sleep(step)
                try:
                    node = await self.client.get(NODES, name)
                    node["status"] = node_status(self.config, index, _now(), node.get("status"))
                    await self.client.update_status(NODES, node)
                except errors.NotFound:
                    await self._register(index)
                except Exception as exc:
                    log.warning("simulated nodes: status of %s: %s", name, exc)

    # --- pods ----------------------------------------------------------------------------------

    def _on_pod(self, pod: dict) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.index and pod_action(pod):
            key = object_key(pod)
            if key not in self._queued:
                self._queued.add(key)
                self._keys.put_nowait(key)

    async def _pod_worker(self) -> None:
        while True:
            key = await self._keys.get()
            self._queued.discard(key)
            pod = self.pods.store.get(key)
            if pod is None:
                continue
            try:
                await self._sync_pod(pod)
            except errors.NotFound:
                pass
            except Exception as exc:
                log.warning("simulated nodes: pod %s: %s", key, exc)

    async def _sync_pod(self, pod: dict) -> None:
        md, action = pod["metadata"], pod_action(pod)
        if action == "delete":
            await self.client.delete(PODS, md["name"], namespace=md["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": md["uid"]})
        elif action == "report":
            index = self.index[pod["spec"]["nodeName"]]
            self._serial[index] += 1
            status = pod_status(pod, host_ip=node_ip(index), ip=pod_ip(index, self._serial[index]), now=_now())
            await self.client.patch(PODS, md["name"], {"status": status}, namespace=md["namespace"],
                                    subresource="status")
