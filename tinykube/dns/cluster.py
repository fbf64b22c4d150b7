"""What the DNS server knows of the cluster: Services, their EndpointSlices and the
Namespaces, kept from informer events (plain dicts in, small frozen records out).

`ClusterData` is updated by `upsert(kind, obj)`/`remove(kind, obj)`; every change bumps
`generation`, which tells the server its cached answers are stale. Reads are cheap:
`service(ns, name)`, `endpoints(ns, name)` (the ready addresses of every slice of the
Service, deduplicated, in a stable order) and `names_for_ip(ip)` (for PTR; the reverse
index is rebuilt lazily, once per generation).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Port:
    name: str
    port: int
    protocol: str  # TCP / UDP / SCTP


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]  # empty for headless and ExternalName
    headless: bool
    external_name: str
    ports: tuple[Port, ...]
    publish_not_ready: bool


@dataclass(frozen=True)
class Endpoint:
    address: str
    hostname: str  # the endpoint's DNS label: its hostname, else the address with dashes
    ports: tuple[Port, ...]


def service_from(obj: dict) -> Service:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    headless = spec.get("clusterIP") == "None"
    ports = tuple(Port(p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP")
                  for p in spec.get("ports") or ())
    return Service(namespace=meta.get("namespace", ""), name=meta.get("name", ""),
                   type=spec.get("type") or "ClusterIP",
                   cluster_ips=tuple(ip for ip in ips if ip and ip != "None" and _is_ip(ip)),
                   headless=headless, external_name=(spec.get("externalName") or "").rstrip("."),
                   ports=ports, publish_not_ready=bool(spec.get("publishNotReadyAddresses")))


def slice_endpoints(obj: dict, *, include_not_ready: bool = False) -> tuple[Endpoint, ...]:
    if obj.get("addressType") not in ("IPv4", "IPv6"):
        return ()  # FQDN slices name no address
    ports = tuple(Port(p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP")
                  for p in obj.get("ports") or () if p.get("port"))
    out = []
    for ep in obj.get("endpoints") or ():
        ready = (ep.get("conditions") or {}).get("ready")
        if ready is False and not include_not_ready:
            continue  # a nil ready condition means ready (EndpointSlice API)
        for address in ep.get("addresses") or ():
            if _is_ip(address):
                out.append(Endpoint(address, ep.get("hostname") or dashed(address), ports))
    return tuple(out)


def dashed(ip: str) -> str:
    """CoreDNS's label for an endpoint without a hostname: 10-1-2-3, or IPv6 with dashes."""
    return ip.replace(".", "-").replace(":", "-")


def _canonical(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class ClusterData:
    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.serial = int(clock())  # the SOA serial: when the data last changed, as CoreDNS
        self.services: dict[tuple[str, str], Service] = {}
        self.slices: dict[tuple[str, str], tuple[str, dict]] = {}  # (ns, slice) -> (service, obj)
        self.by_service: dict[tuple[str, str], set[str]] = {}  # (ns, service) -> slice names
        self.namespaces: set[str] = set()
        self.generation = 0
        self._reverse: dict[str, list[str]] | None = None
        self._endpoints: dict[tuple[str, str], tuple[Endpoint, ...]] = {}

    # --- informer events ---------------------------------------------------------------

    def upsert(self, kind: str, obj: dict) -> None:
        """kind is given, not read from obj: list items come without one."""
        meta = obj.get("metadata") or {}
        if kind == "Service":
            self.services[(meta.get("namespace", ""), meta.get("name", ""))] = service_from(obj)
        elif kind == "EndpointSlice":
            self._remove_slice(meta)
            service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL, "")
            if service:
                ns = meta.get("namespace", "")
                self.slices[(ns, meta.get("name", ""))] = (service, obj)
                self.by_service.setdefault((ns, service), set()).add(meta.get("name", ""))
        elif kind == "Namespace":
            self.namespaces.add(meta.get("name", ""))
        self._changed()

    def remove(self, kind: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if kind == "Service":
            self.services.pop((meta.get("namespace", ""), meta.get("name", "")), None)
        elif kind == "EndpointSlice":
            self._remove_slice(meta)
        elif kind == "Namespace":
            self.namespaces.discard(meta.get("name", ""))
        self._changed()

    def _remove_slice(self, meta: dict) -> None:
        ns = meta.get("namespace", "")
        old = self.slices.pop((ns, meta.get("name", "")), None)
        if old:
            names = self.by_service.get((ns, old[0]), set())
            names.discard(meta.get("name", ""))
            if not names:
                self.by_service.pop((ns, old[0]), None)

    def _changed(self) -> None:
        self.generation += 1
        self.serial = int(self.clock())
        self._reverse = None
        self._endpoints = {}

    # --- reads ---------------------------------------------------------------------------

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get((namespace, name))

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self.namespaces

    def endpoints(self, namespace: str, name: str) -> tuple[Endpoint, ...]:
        key = (namespace, name)
        if key not in self._endpoints:
            svc = self.services.get(key)
            include = bool(svc and svc.publish_not_ready)
            seen, out = set(), []
            for slice_name in sorted(self.by_service.get(key, ())):
                for ep in slice_endpoints(self.slices[(namespace, slice_name)][1], include_not_ready=include):
                    if ep.address not in seen:
                        seen.add(ep.address)
                        out.append(ep)
            self._endpoints[key] = tuple(out)
        return self._endpoints[key]

    def names_for_ip(self, ip: str, zone: str) -> list[str]:
        """PTR targets for an address: the Service names whose ClusterIP it is, and
        `<endpoint>.<svc>.<ns>.svc.<zone>` for every Service endpoint with it (CoreDNS)."""
        if self._reverse is None:
            self._reverse = self._build_reverse(zone)
        return self._reverse.get(ip, [])

    def _build_reverse(self, zone: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (ns, name), svc in self.services.items():
            for ip in svc.cluster_ips:
                out.setdefault(_canonical(ip), []).append(f"{name}.{ns}.svc.{zone}")
        for ns, name in self.by_service:
            for ep in self.endpoints(ns, name):
                out.setdefault(_canonical(ep.address), []).append(f"{ep.hostname}.{name}.{ns}.svc.{zone}")
        return out
