"""The EndpointSlice controller: the pods a Service selects, as discovery.k8s.io/v1 slices.

kube-controller-manager's endpointslice-controller. For each Service with a selector
(not ExternalName), every pod it selects that has an IP and has not finished becomes one
endpoint: its address, nodeName, targetRef, hostname (pod.spec.hostname when its
subdomain is the Service's name) and conditions as upstream computes them:
serving = the pod is Ready, terminating = deletion started, ready = serving and not
terminating (always true with publishNotReadyAddresses). Ports are resolved per pod
(a named targetPort is looked up in the pod's containers; a pod without it gets no such
port), pods with the same resolved ports share slices of at most MAX_ENDPOINTS.

Slices are labelled kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by
and owned by the Service; only slices carrying our managed-by label are ever touched, so
Services without selectors keep the endpoints their users write. The pure
`desired_slices` decides; `sync` reuses existing slice names, writes only the slices
that differ and deletes the rest (also when the Service is gone).
"""

from __future__ import annotations

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.client import split_key
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.podutil import is_pod_ready

SERVICES = REGISTRY.by_plural("", "v1", "services")
PODS = REGISTRY.by_plural("", "v1", "pods")
SLICES = REGISTRY.by_plural("discovery.k8s.io", "v1", "endpointslices")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"
MAX_ENDPOINTS = 100  # --max-endpoints-per-slice default


# --- pure rules shared with the Endpoints controller ------------------------------------------


def pod_ip(pod: dict) -> str:
    status = pod.get("status") or {}
    return status.get("podIP") or next((p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")), "")


def should_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Upstream's ShouldPodBeInEndpoints."""
    if not pod_ip(pod):
        return False
    if not include_terminating and pod["metadata"].get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


def selects(service: dict, pod: dict) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector or pod["metadata"].get("namespace") != service["metadata"].get("namespace"):
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def managed(service: dict) -> bool:
    """Services whose endpoints a controller computes: with a selector, not ExternalName."""
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def find_port(pod: dict, service_port: dict) -> int | None:
    """The pod's port for a Service port (upstream's FindPort)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return port.get("containerPort")
    return None


def resolved_ports(pod: dict, service: dict) -> tuple[tuple[str, int, str, str], ...]:
    """The Service's ports this pod serves, in the Service's order, as hashable
    (name, port, protocol, appProtocol) entries: the grouping key of Endpoints subsets and
    of slices. A port whose named targetPort the pod lacks is left out."""
    ports = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is not None:
            ports.append((sp.get("name") or "", number, sp.get("protocol", "TCP"), sp.get("appProtocol") or ""))
    return tuple(ports)


def should_set_hostname(pod: dict, service: dict) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == service["metadata"]["name"] and \
        pod["metadata"].get("namespace") == service["metadata"].get("namespace")


def target_ref(pod: dict) -> dict:
    md = pod["metadata"]
    return {"kind": "Pod", "namespace": md.get("namespace", ""), "name": md["name"], "uid": md.get("uid", "")}


# --- the slices --------------------------------------------------------------------------------


def to_endpoint(pod: dict, service: dict) -> dict:
    serving = is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint = {"addresses": [pod_ip(pod)],
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                "targetRef": target_ref(pod)}
    if (pod.get("spec") or {}).get("nodeName"):
        endpoint["nodeName"] = pod["spec"]["nodeName"]
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


def slice_ports(key: tuple) -> list[dict]:
    """discovery/v1 EndpointPorts (name always set, "" when the Service port has none)."""
    ports = []
    for name, port, protocol, app in key:
        entry = {"name": name, "port": port, "protocol": protocol}
        if app:
            entry["appProtocol"] = app
        ports.append(entry)
    return ports


def slice_labels(service: dict) -> dict:
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items()
              if k not in (SERVICE_NAME, MANAGED_BY, HEADLESS)}
    labels[SERVICE_NAME] = service["metadata"]["name"]
    labels[MANAGED_BY] = CONTROLLER_NAME
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS] = ""
    return labels


def desired_slices(service: dict, pods: list[dict]) -> list[dict]:
    """The slices' contents (addressType, endpoints, ports, labels; no names yet), in a
    stable order: grouped by resolved ports, endpoints sorted by pod name."""
    groups: dict[tuple, list[dict]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if selects(service, pod) and should_be_in_endpoints(pod, include_terminating=True) and ":" not in pod_ip(pod):
            # slices list their ports sorted (port names are unique within a Service)
            groups.setdefault(tuple(sorted(resolved_ports(pod, service))), []).append(to_endpoint(pod, service))
    labels = slice_labels(service)
    slices = [{"addressType": "IPv4", "endpoints": endpoints[i:i + MAX_ENDPOINTS],
               "ports": slice_ports(key), "labels": labels}
              for key, endpoints in sorted(groups.items()) for i in range(0, len(endpoints), MAX_ENDPOINTS)]
    if not slices:  # upstream keeps one empty placeholder slice per Service
        slices = [{"addressType": "IPv4", "endpoints": [], "ports": [], "labels": labels}]
    return slices


def owner_reference(service: dict) -> dict:
    md = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service", "name": md["name"], "uid": md.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def same_slice(current: dict, want: dict) -> bool:
    return ((current.get("endpoints") or []) == want["endpoints"] and (current.get("ports") or []) == want["ports"]
            and current.get("addressType") == want["addressType"]
            and (current["metadata"].get("labels") or {}) == want["labels"])


def plan(service: dict | None, pods: list[dict], existing: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(to create, to update, to delete) for one Service; existing = its managed slices."""
    existing = sorted(existing, key=lambda s: s["metadata"]["name"])
    if service is None or not managed(service):
        return [], [], existing
    creates, updates = [], []
    desired = desired_slices(service, pods)
    for i, want in enumerate(desired):
        obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "addressType": want["addressType"], "endpoints": want["endpoints"], "ports": want["ports"]}
        if i < len(existing):
            current = existing[i]
            if not same_slice(current, want):
                md = dict(current["metadata"], labels=want["labels"])
                updates.append(dict(obj, metadata=md))
        else:
            md = {"generateName": f"{service['metadata']['name']}-", "namespace": service["metadata"]["namespace"],
                  "labels": want["labels"], "ownerReferences": [owner_reference(service)]}
            creates.append(dict(obj, metadata=md))
    return creates, updates, existing[len(desired):]


# --- the controller ----------------------------------------------------------------------------


class EndpointSliceController(Controller):
    name = "endpointslice"
    workers = 5  # --concurrent-service-endpoint-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.tracker = SliceTracker()
        self.services = ctx.informers.informer(SERVICES, indexers={"namespace": _namespace})
        self.pods = ctx.informers.informer(PODS, indexers={"namespace": _namespace})
        self.slices = ctx.informers.informer(SLICES, label_selector=f"{MANAGED_BY}={CONTROLLER_NAME}",
                                             indexers={"service": _service_of_slice})
        self.services.add_event_handler(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                        on_delete=self.enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.slices.add_event_handler(on_add=self._slice_changed, on_update=lambda o, n: self._slice_changed(n),
                                      on_delete=self._slice_changed)

    def _pod_changed(self, pod: dict) -> None:
        for service in self.services.store.by_index("namespace", pod["metadata"].get("namespace", "")):
            if selects(service, pod):
                self.enqueue(service)

    def _pod_updated(self, old: dict, new: dict) -> None:
        self._pod_changed(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self._pod_changed(old)  # services that selected it before the label change

    def _slice_changed(self, slice_: dict) -> None:
        name = (slice_["metadata"].get("labels") or {}).get(SERVICE_NAME)
        if name:
            self.queue.add(f"{slice_['metadata'].get('namespace', '')}/{name}")

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        service = self.services.store.get(key)
        pods = self.pods.store.by_index("namespace", namespace)
        existing = self.tracker.current(key, self.slices.store.by_index("service", key))
        creates, updates, deletes = plan(service, pods, existing)
        for obj in creates:
            self.tracker.wrote(key, await self.client.create(SLICES, obj, namespace=namespace))
        for obj in updates:
            self.tracker.wrote(key, await self.client.update(SLICES, obj, namespace=namespace))
        for obj in deletes:
            try:
                await self.client.delete(SLICES, obj["metadata"]["name"], namespace=namespace)
            except errors.NotFound:
                pass
            self.tracker.deleted(key, obj)


class SliceTracker:
    """Our own writes the informer has not delivered yet (upstream's endpointSliceTracker):
    without it a sync right after a create would not see the new slice and make another."""

    def __init__(self):
        self.written: dict[str, dict[str, dict]] = {}  # service key -> name -> object we wrote
        self.gone: dict[str, set[str]] = {}  # service key -> names we deleted

    def wrote(self, key: str, obj: dict) -> None:
        self.written.setdefault(key, {})[obj["metadata"]["name"]] = obj

    def deleted(self, key: str, obj: dict) -> None:
        self.written.get(key, {}).pop(obj["metadata"]["name"], None)
        self.gone.setdefault(key, set()).add(obj["metadata"]["name"])

    def current(self, key: str, cached: list[dict]) -> list[dict]:
        by_name = {s["metadata"]["name"]: s for s in cached}
        for name, obj in list(self.written.get(key, {}).items()):
            seen = by_name.get(name)
            if seen is not None and _rv(seen) >= _rv(obj):
                del self.written[key][name]  # the cache caught up
            else:
                by_name[name] = obj
        gone = self.gone.get(key, set())
        for name in list(gone):
            if name in by_name:
                del by_name[name]
            else:
                gone.discard(name)  # the cache saw the delete
        return list(by_name.values())


def _rv(obj: dict) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def _namespace(obj: dict) -> list[str]:
    return [obj["metadata"].get("namespace", "")]


def _service_of_slice(slice_: dict) -> list[str]:
    name = (slice_["metadata"].get("labels") or {}).get(SERVICE_NAME)
    return [f"{slice_['metadata'].get('namespace', '')}/{name}"] if name else []


