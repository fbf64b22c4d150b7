"""The Endpoints controller: the legacy core/v1 Endpoints object of each Service.

kube-controller-manager's endpoint-controller, for `kubectl get endpoints` and older
clients. For a Service with a selector (not ExternalName), each selected pod with an IP
that has not finished is an address (ip, nodeName, targetRef, hostname): in `addresses`
when Ready (or publishNotReadyAddresses), else in `notReadyAddresses`; terminating pods
are left out unless publishNotReadyAddresses. Subsets group addresses by their resolved
ports (upstream's RepackSubsets, addresses sorted by IP). The object carries the
Service's labels (plus service.kubernetes.io/headless for headless Services). Services
without selectors keep user-written Endpoints; a deleted Service's Endpoints go.
"""

from __future__ import annotations

import ipaddress

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.client import split_key
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.endpointslice import (
    HEADLESS, PODS, SERVICES, managed, pod_ip, resolved_ports, selects, should_be_in_endpoints,
    should_set_hostname, target_ref,
)
from tinykube.controllers.podutil import is_pod_ready

ENDPOINTS = REGISTRY.by_plural("", "v1", "endpoints")


def address(pod: dict, service: dict) -> dict:
    entry = {"ip": pod_ip(pod)}
    if should_set_hostname(pod, service):
        entry["hostname"] = pod["spec"]["hostname"]
    if (pod.get("spec") or {}).get("nodeName"):
        entry["nodeName"] = pod["spec"]["nodeName"]
    entry["targetRef"] = target_ref(pod)
    return entry


def desired_subsets(service: dict, pods: list[dict]) -> list[dict]:
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple, tuple[list, list]] = {}
    for pod in pods:
        if not selects(service, pod) or not should_be_in_endpoints(pod, include_terminating=publish):
            continue
        ports = resolved_ports(pod, service)
        if not ports and (service.get("spec") or {}).get("ports"):
            continue
        ready, not_ready = groups.setdefault(ports, ([], []))
        (ready if publish or is_pod_ready(pod) else not_ready).append(address(pod, service))
    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items()):
        subset = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_ip_key)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_ip_key)
        subset["ports"] = [_port(p) for p in ports]
        subsets.append(subset)
    return subsets


def _port(port: tuple) -> dict:
    name, number, protocol, app = port
    entry = {"name": name, "port": number, "protocol": protocol} if name else {"port": number, "protocol": protocol}
    if app:
        entry["appProtocol"] = app
    return entry


def _ip_key(entry: dict):
    try:
        return int(ipaddress.ip_address(entry["ip"]))
    except ValueError:
        return 0


def desired_labels(service: dict) -> dict:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS] = ""
    else:
        labels.pop(HEADLESS, None)
    return labels


def plan(service: dict | None, pods: list[dict], current: dict | None) -> tuple[str, dict | None]:
    """("create" | "update" | "delete" | "", object) for one Service's Endpoints."""
    if service is None:
        return ("delete", current) if current is not None and _ours(current) else ("", None)
    if not managed(service):
        return "", None
    subsets = desired_subsets(service, pods)
    labels = desired_labels(service)
    if current is None:
        md = {"name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"], "labels": labels}
        return "create", {"apiVersion": "v1", "kind": "Endpoints", "metadata": md, "subsets": subsets}
    if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
        return "", None
    return "update", dict(current, subsets=subsets, metadata=dict(current["metadata"], labels=labels))


def _ours(endpoints: dict) -> bool:
    # a selectorless Service's Endpoints are its user's; they only go with their namespace
    return any(m.get("manager") == "endpoint-controller" for m in endpoints["metadata"].get("managedFields") or [])


class EndpointsController(Controller):
    name = "endpoints"
    workers = 5  # --concurrent-endpoint-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.services = ctx.informers.informer(SERVICES, indexers={"namespace": _namespace})
        self.pods = ctx.informers.informer(PODS, indexers={"namespace": _namespace})
        self.endpoints = ctx.informers.informer(ENDPOINTS)
        self.services.add_event_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                        on_delete=self.enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.endpoints.add_event_handler(on_delete=self.enqueue)

    def _pod_changed(self, pod: dict) -> None:
        for service in self.services.store.by_index("namespace", pod["metadata"].get("namespace", "")):
            if selects(service, pod):
                self.enqueue(service)

    def _pod_updated(self, old: dict, new: dict) -> None:
        self._pod_changed(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self._pod_changed(old)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        verb, obj = plan(self.services.store.get(key),
                         self.pods.store.by_index("namespace", namespace), self.endpoints.store.get(key))
        try:
            if verb == "create":
                await self.client.create(ENDPOINTS, obj, namespace=namespace, field_manager="endpoint-controller")
            elif verb == "update":
                await self.client.update(ENDPOINTS, obj, namespace=namespace, field_manager="endpoint-controller")
            elif verb == "delete":
                await self.client.delete(ENDPOINTS, name, namespace=namespace)
        except errors.NotFound:
            pass


def _namespace(obj: dict) -> list[str]:
    return [obj["metadata"].get("namespace", "")]
