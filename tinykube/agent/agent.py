"""The node agent process: compose the parts and run one worker per pod.

`Agent(config).run()` registers the Node, keeps its Lease and status fresh, starts the pod
network, watches the pods bound to this node (fieldSelector spec.nodeName=NODE) and the
ConfigMaps and Secrets they read, and gives each pod a PodWorker. After the first sync it
cleans up what belongs to pods that no longer exist (deleted while the agent was down).
It talks only to the API server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass

from tinykube.agent import dnsconfig
from tinykube.agent import node as nodes
from tinykube.agent.heartbeat import NodeHeartbeat
from tinykube.agent.images import ImageManager, ImageService
from tinykube.agent.network import NetworkSettings, NodeNetwork
from tinykube.agent.pods import NodeContext, PodWorker, pods_on_node, remove_orphan
from tinykube.agent.runtime import Cgroups, Runc
from tinykube.agent.runtime.hostinfo import probe_runtime_config
from tinykube.agent.server import ADDRESS_ANNOTATION, KubeletServer
from tinykube.agent.teardown import NodeLock
from tinykube.client import EventRecorder, Informer

log = logging.getLogger(__name__)


@dataclass
class AgentConfig:
    data_dir: str
    client: object  # an ApiClient
    node_name: str = ""
    node_ip: str = ""
    pod_cidr: str = "10.42.0.0/24"
    cluster_cidr: str = "10.42.0.0/16"
    service_cidr: str = "10.43.0.0/16"
    host_netns: str = ""  # run CNI in this namespace instead of ours (tests' node namespaces)
    bridge: str = "tinykube0"
    cluster_dns: str = "10.43.0.10"  # written into pods' resolv.conf ("" = none: Default policy)
    cluster_domain: str = "cluster.local"
    lease_interval: float = 10.0
    kubelet_address: str = ""  # the kubelet API's listen/advertised address; "" = node_ip
    kubelet_port: int = 10250  # 0 picks a free port
    ca_file: str = ""          # the cluster CA the kubelet API trusts; "" = DATA/pki/ca.crt
    container_log_max_size: int = 10 * 1024 * 1024  # containerLogMaxSize
    container_log_max_files: int = 5                 # containerLogMaxFiles


def default_node_ip() -> str:
    """The address the host name resolves to, else loopback (never a probe of the network)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Agent:
    def __init__(self, config: AgentConfig):
        self.config = config
        self.node_name = config.node_name or socket.gethostname()
        self.node_ip = config.node_ip or default_node_ip()
        self.workers: dict[str, PodWorker] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        # one agent per data dir; `tinykube down` waits for none to run
        with NodeLock(self.config.data_dir):
            await self._run()

    async def _run(self) -> None:
        cfg = self.config
        client = cfg.client
        facts = nodes.machine_facts(cfg.data_dir)
        kubelet = KubeletServer(self, address=cfg.kubelet_address or self.node_ip, port=cfg.kubelet_port,
                                ca_file=cfg.ca_file or os.path.join(cfg.data_dir, "pki", "ca.crt"),
                                data_dir=cfg.data_dir)
        kubelet_port = await kubelet.start()
        settings = nodes.NodeSettings(name=self.node_name, addresses=(("InternalIP", self.node_ip),),
                                      pod_cidr=cfg.pod_cidr, kubelet_port=kubelet_port)
        heartbeat = NodeHeartbeat(client, facts, settings, lease_interval=cfg.lease_interval)
        node = await heartbeat.register()
        # where the API server reaches the kubelet API (it may differ from the node's IP)
        node = heartbeat.node = await client.patch(("v1", "Node"), self.node_name, {"metadata": {"annotations": {
            ADDRESS_ANNOTATION: kubelet.address}}}, patch_type="merge")
        network = NodeNetwork(NetworkSettings(cfg.data_dir, pod_cidr=cfg.pod_cidr, cluster_cidr=cfg.cluster_cidr,
                                              service_cidr=cfg.service_cidr, host_netns=cfg.host_netns,
                                              bridge=cfg.bridge))
        await network.start()
        # the kubelet's eventRecordQPS / eventBurst defaults
        recorder = EventRecorder(client, component="kubelet", host=self.node_name, qps=50, burst=100)
        pods = Informer(client, ("v1", "Pod"), field_selector=f"spec.nodeName={self.node_name}")
        configmaps, secrets = Informer(client, ("v1", "ConfigMap")), Informer(client, ("v1", "Secret"))
        images = ImageService(cfg.data_dir)
        self.ctx = NodeContext(
            data_dir=cfg.data_dir, node_name=self.node_name, host_ip=self.node_ip, client=client,
            recorder=recorder, runc=Runc(os.path.join(cfg.data_dir, "runtime"), cgroups=Cgroups()),
            images=images, image_manager=ImageManager(images), network=network,
            runtime_config=probe_runtime_config(), configmaps=configmaps.store, secrets=secrets.store,
            allocatable=node.get("status", {}).get("allocatable", {}), resolv_conf=_host_resolv_conf(),
            dns=dnsconfig.ClusterDNS(tuple(filter(None, cfg.cluster_dns.split(","))), cfg.cluster_domain,
                                     _host_resolv_conf()),
            log_max_size=cfg.container_log_max_size, log_max_files=cfg.container_log_max_files)
        pods.add_event_handler(on_add=self._on_pod, on_update=lambda _old, new: self._on_pod(new),
                               on_delete=self._on_pod_gone)
        background = [asyncio.create_task(t) for t in (heartbeat.run(), recorder.run(), configmaps.run(),
                                                         secrets.run())]
        try:
            await asyncio.gather(configmaps.wait_synced(), secrets.wait_synced())
            background.append(asyncio.create_task(pods.run()))
            await pods.wait_synced()
            await self._clean_orphans({p["metadata"]["uid"] for p in pods.store.list()})
            self.ready.set()
            await asyncio.gather(*background)
        finally:
            for task in [*background, *self.tasks.values()]:
                task.cancel()
            await asyncio.gather(*background, *self.tasks.values(), return_exceptions=True)
            await network.stop(cleanup=False)  # running pods keep their network
            await kubelet.stop()
            await images.close()

    def _on_pod(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            worker = self.workers[uid] = PodWorker(self.ctx, pod)
            self.tasks[uid] = asyncio.create_task(self._run_worker(uid, worker))
        else:
            worker.update(pod)

    def _on_pod_gone(self, pod: dict) -> None:
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.update(None)

    async def _run_worker(self, uid: str, worker: PodWorker) -> None:
        try:
            await worker.run()
        finally:
            self.workers.pop(uid, None)
            self.tasks.pop(uid, None)

    async def _clean_orphans(self, live_uids: set[str]) -> None:
        """Pods deleted while the agent was down: stop and remove what they left."""
        for uid in pods_on_node(self.ctx) - live_uids:
            log.info("cleaning up pod %s, deleted while the agent was away", uid)
            await remove_orphan(self.ctx, uid)


def _host_resolv_conf() -> str:
    """The node's resolv.conf, for dnsPolicy Default and the cluster search path."""
    return dnsconfig.node_resolv_conf()
