"""The Services the API server itself keeps: `default/kubernetes` and `kube-system/kube-dns`.

- `kubernetes` (clusterIP = the first address of the service CIDR, port 443 named https ->
  the API server's port) with its Endpoints and EndpointSlice, both named `kubernetes`
  and holding the API server's address, as kube-apiserver's endpoint reconciler keeps
  them (re-checked every RECONCILE_SECONDS; written only when they differ).
- `kube-dns` (clusterIP = `--cluster-dns`, 10.43.0.10 by default, ports dns 53/UDP and
  dns-tcp 53/TCP, label k8s-app=kube-dns, no selector). tinykube's DNS server answers on
  that address on every node itself (NodeLocal DNSCache style), so the Service carries
  NODE_LOCAL_DNS and the service proxy renders no rule for it.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver.resources import Resources, WriteContext

log = logging.getLogger(__name__)

SERVICES = REGISTRY.by_plural("", "v1", "services")
ENDPOINTS = REGISTRY.by_plural("", "v1", "endpoints")
SLICES = REGISTRY.by_plural("discovery.k8s.io", "v1", "endpointslices")
NODE_LOCAL_DNS = "tinykube.io/node-local-dns"
RECONCILE_SECONDS = 10.0  # kube-apiserver's --endpoint-reconciler interval


def advertise_address(host: str) -> str:
    """The address the `kubernetes` endpoints name: the listen address, or (listening on
    every address or on loopback, which endpoints may not hold) the one the default route
    leaves from, as kube-apiserver picks it; "" when there is none."""
    if host not in ("", "0.0.0.0", "::") and not host.startswith("127.") and host != "localhost":
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            return s.getsockname()[0]
        except OSError:
            return ""


def _system() -> WriteContext:
    return WriteContext(user="system:apiserver", field_manager="kube-apiserver", field_validation="Ignore")


def kubernetes_service(cluster_ip: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}


def kube_dns_service(cluster_ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                    "kubernetes.io/name": "CoreDNS"},
                         "annotations": {NODE_LOCAL_DNS: "true"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip,
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}


def kubernetes_endpoints(address: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def kubernetes_slice(address: str, port: int) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}


async def ensure_services(resources: Resources, *, kubernetes_ip: str, dns_ip: str, port: int) -> None:
    """Create the two Services if missing (an existing one is left as the user made it)."""
    for rt_obj in (kubernetes_service(kubernetes_ip, port), kube_dns_service(dns_ip)):
        md = rt_obj["metadata"]
        try:
            # looked up first: creating it again would fail on its address (allocated to
            # itself) before the name, and say so as an error at every restart
            await resources.get(SERVICES, md["namespace"], md["name"])
            continue
        except errors.NotFound:
            pass
        try:
            await resources.create(SERVICES, md["namespace"], rt_obj, _system())
        except errors.AlreadyExists:
            pass
        except errors.ApiError as e:  # e.g. the address is taken: say so, keep serving
            log.error("cannot create Service %s/%s: %s", md["namespace"], md["name"], e)


async def reconcile_endpoints(resources: Resources, *, address: str, port: int) -> None:
    """Make `kubernetes`'s Endpoints and EndpointSlice hold this API server, writing only
    when they differ."""
    for rt, want in ((ENDPOINTS, kubernetes_endpoints(address, port)),
                     (SLICES, kubernetes_slice(address, port))):
        try:
            current = (await resources.get(rt, "default", "kubernetes")).obj
        except errors.NotFound:
            await resources.create(rt, "default", want, _system())
            continue
        fields = ("subsets",) if rt is ENDPOINTS else ("addressType", "endpoints", "ports")
        if any(current.get(f) != want.get(f) for f in fields) or \
                current["metadata"].get("labels") != want["metadata"]["labels"]:
            updated = dict(current, **{f: want[f] for f in fields})
            updated["metadata"] = dict(current["metadata"], labels=want["metadata"]["labels"])
            await resources.update(rt, "default", "kubernetes", updated, _system())


class EndpointReconciler:
    def __init__(self, resources: Resources, *, address: str, port: int):
        self.resources, self.address, self.port = resources, address, port

    async def run(self) -> None:
        if not self.address:
            log.warning("no address to advertise: the kubernetes Service has no endpoints")
            return
        while True:
            try:
                await reconcile_endpoints(self.resources, address=self.address, port=self.port)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the kubernetes Service's endpoints: reconcile failed; retrying")
            await asyncio.sleep(RECONCILE_SECONDS)
