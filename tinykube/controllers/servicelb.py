"""The service load balancer: LoadBalancer Services get the nodes' addresses as ingress.

As k3s's servicelb (klipper-lb) does, a Service of type LoadBalancer without a
loadBalancerClass gets status.loadBalancer.ingress = the InternalIP of every Ready node
(sorted, ipMode VIP); the service proxy then answers the Service's ports on those
addresses. Services of another type, or with a loadBalancerClass (someone else's load
balancer), are left alone. Written only when the list changes.
"""

from __future__ import annotations

import ipaddress

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.controllers.base import Controller, ControllerContext

SERVICES = REGISTRY.by_plural("", "v1", "services")
NODES = REGISTRY.by_plural("", "v1", "nodes")


def node_ingress_ips(nodes: list[dict]) -> list[str]:
    ips = set()
    for node in nodes:
        status = node.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if ready:
            ips.update(a["address"] for a in status.get("addresses") or []
                       if a.get("type") == "InternalIP" and ":" not in a.get("address", ""))
    return sorted(ips, key=lambda ip: int(ipaddress.ip_address(ip)))


def desired_ingress(service: dict, nodes: list[dict]) -> list[dict] | None:
    """The ingress list this controller wants, or None when the Service is not ours."""
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
        return None
    return [{"ip": ip, "ipMode": "VIP"} for ip in node_ingress_ips(nodes)]


class ServiceLBController(Controller):
    name = "servicelb"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.services = ctx.informers.informer(SERVICES)
        self.nodes = ctx.informers.informer(NODES)
        self.services.add_event_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n))
        self.nodes.add_event_handler(on_add=self._all, on_update=lambda o, n: self._all(n), on_delete=self._all)

    def _all(self, _node: dict) -> None:
        for service in self.services.store.list():
            if (service.get("spec") or {}).get("type") == "LoadBalancer":
                self.enqueue(service)

    async def sync(self, key: str) -> None:
        service = self.services.store.get(key)
        if service is None:
            return
        want = desired_ingress(service, self.nodes.store.list())
        current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if want is None or want == current:
            return
        status = dict(service.get("status") or {})
        status["loadBalancer"] = {"ingress": want} if want else {}
        try:
            await self.client.update_status(SERVICES, dict(service, status=status))
        except errors.NotFound:
            pass
