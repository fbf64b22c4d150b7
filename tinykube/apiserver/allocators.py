"""Service ClusterIP and NodePort allocation, done by the API server as Kubernetes does.

The API server owns two allocators: IPv4 addresses of the service CIDR (`--service-cidr`,
10.43.0.0/16 by default; network and broadcast addresses excluded) and ports of the
NodePort range (`--service-node-port-range`, 30000-32767). A Service of type ClusterIP,
NodePort or LoadBalancer gets a ClusterIP (not a headless one, `clusterIP: None`, nor an
ExternalName); NodePort and LoadBalancer ports get NodePorts (LoadBalancer unless
`allocateLoadBalancerNodePorts: false`), and a LoadBalancer with
`externalTrafficPolicy: Local` a healthCheckNodePort. Requested values are honoured or
refused with upstream's 422 messages.

Consistency: the allocators are in-memory bitmaps rebuilt from the stored Services the
first time they are used after a start (kube-apiserver keeps them in etcd and repairs
them; tinykube has one API server process and the Services are the truth). A reservation
is made synchronously (no await between "is it free" and "take it"), so two concurrent
creates never get the same value; `Allocation.revert()` gives it back when the store
write fails, `commit()` releases what the write made unused (type change, delete).
Dynamic picks prefer the upper part of each range, keeping the lower band for users who
ask for a specific value (upstream's static/dynamic bands).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Iterable

from tinykube.api import errors
from tinykube.api.validation.fields import GoRepr, go_repr, invalid

DEFAULT_SERVICE_CIDR = "10.43.0.0/16"
DEFAULT_NODE_PORT_RANGE = "30000-32767"


class Exhausted(Exception):
    pass


class NotInRange(Exception):
    pass


class AlreadyAllocated(Exception):
    pass


class RangeAllocator:
    """Integers in [first, first + size): reserve a given one, or the next free one."""

    def __init__(self, first: int, size: int, static_band: int):
        self.first, self.size, self.static_band = first, size, min(static_band, size)
        self.used: set[int] = set()

    def allocate(self, value: int) -> None:
        offset = value - self.first
        if not 0 <= offset < self.size:
            raise NotInRange()
        if offset in self.used:
            raise AlreadyAllocated()
        self.used.add(offset)

    def allocate_next(self) -> int:
        # the dynamic band first, then the static band (upstream's two-band strategy)
        for low, high in ((self.static_band, self.size), (0, self.static_band)):
            offset = self._free_in(low, high)
            if offset is not None:
                self.used.add(offset)
                return self.first + offset
        raise Exhausted()

    def _free_in(self, low: int, high: int) -> int | None:
        if high <= low:
            return None
        start = random.randrange(low, high)
        for offset in (*range(start, high), *range(low, start)):
            if offset not in self.used:
                return offset
        return None

    def release(self, value: int) -> None:
        self.used.discard(value - self.first)

    def has(self, value: int) -> bool:
        return (value - self.first) in self.used


def ip_range(cidr: str) -> RangeAllocator:
    net = ipaddress.ip_network(cidr)
    size = net.num_addresses - 2  # no network nor broadcast address
    return RangeAllocator(int(net.network_address) + 1, size, min(max(16, size // 16), 256))


def port_range(spec: str) -> RangeAllocator:
    first, _, last = spec.partition("-")
    low, high = int(first), int(last or first)
    size = high - low + 1
    return RangeAllocator(low, size, min(max(16, size // 32), 128))


def first_ip(cidr: str) -> str:
    """The `kubernetes` Service's address: the first of the range."""
    return str(ipaddress.ip_network(cidr).network_address + 1)


@dataclass
class Allocation:
    """What one write reserved, and what it frees once it is stored."""

    owner: "ServiceAllocators"
    ips: list[int] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    release_ips: list[int] = field(default_factory=list)
    release_ports: list[int] = field(default_factory=list)

    def commit(self) -> None:
        for ip in self.release_ips:
            self.owner.ip.release(ip)
        for port in self.release_ports:
            self.owner.ports.release(port)

    def revert(self) -> None:
        for ip in self.ips:
            self.owner.ip.release(ip)
        for port in self.ports:
            self.owner.ports.release(port)


class ServiceAllocators:
    """The API server's Service allocators; hooks called by Resources around Service writes."""

    def __init__(self, service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: str = DEFAULT_NODE_PORT_RANGE):
        self.service_cidr = service_cidr
        self.node_port_range = node_port_range
        self.ip = ip_range(service_cidr)
        self.ports = port_range(node_port_range)
        self.loaded = False

    def load(self, services: Iterable[dict]) -> None:
        """Rebuild from the stored Services (at the first write after a start)."""
        for svc in services:
            spec = svc.get("spec") or {}
            for ip in _ips(spec):
                self._mark(self.ip, int(ipaddress.ip_address(ip)))
            for port in _node_ports(spec):
                self._mark(self.ports, port)
        self.loaded = True

    @staticmethod
    def _mark(allocator: RangeAllocator, value: int) -> None:
        try:
            allocator.allocate(value)
        except (NotInRange, AlreadyAllocated):
            pass  # out of the (changed) range, or shared: nothing to reserve

    # --- hooks -------------------------------------------------------------------------

    def allocate_create(self, svc: dict) -> Allocation:
        """Fill spec.clusterIP(s) and nodePorts of a new Service, reserving them."""
        allocation = Allocation(self)
        try:
            self._allocate_ips(svc, allocation)
            self._allocate_ports(svc, {}, allocation)
        except Exception:
            allocation.revert()
            raise
        return allocation

    def prepare_update(self, old: dict, new: dict) -> None:
        """Before validation: keep allocated values a client left out, drop the fields the
        new type no longer has (upstream's patchAllocatedValues, dropTypeDependentFields)."""
        old_spec, spec = old.get("spec") or {}, new.get("spec")
        if not isinstance(spec, dict):
            return
        _keep_allocated(old_spec, spec)
        _drop_type_dependent(old_spec, spec)

    def allocate_update(self, old: dict, new: dict) -> Allocation:
        allocation = Allocation(self)
        old_spec, spec = old.get("spec") or {}, new.get("spec") or {}
        try:
            if _wants_ip(spec) and not _ips(old_spec):  # from ExternalName or headless
                self._allocate_ips(new, allocation)
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("ipFamilies", ["IPv4"])
            allocation.release_ips += [int(ipaddress.ip_address(ip)) for ip in _ips(old_spec)
                                       if ip not in _ips(spec)]
            self._allocate_ports(new, _node_port_set(old_spec), allocation)
            allocation.release_ports += sorted(_node_port_set(old_spec) - _node_port_set(spec))
        except Exception:
            allocation.revert()
            raise
        return allocation

    def release(self, svc: dict) -> None:
        """A Service was deleted: its values are free again."""
        spec = svc.get("spec") or {}
        for ip in _ips(spec):
            self.ip.release(int(ipaddress.ip_address(ip)))
        for port in _node_port_set(spec):
            self.ports.release(port)

    # --- IPs ---------------------------------------------------------------------------

    def _allocate_ips(self, svc: dict, allocation: Allocation) -> None:
        spec = svc.setdefault("spec", {})
        if not _wants_ip(spec):
            return
        requested = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if requested:
            ip = requested[0]
            self._allocate_ip(svc, ip, requested)
        else:
            try:
                ip = str(ipaddress.ip_address(self.ip.allocate_next()))
            except Exhausted:
                raise errors.InternalError(
                    "failed to allocate a serviceIP: range is full") from None
        allocation.ips.append(int(ipaddress.ip_address(ip)))
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    def _allocate_ip(self, svc: dict, ip: str, requested: list) -> None:
        try:
            self.ip.allocate(int(ipaddress.ip_address(ip)))
        except NotInRange:
            reason = (f"the provided IP ({ip}) is not in the valid range. "
                      f"The range of valid IPs is {self.service_cidr}")
        except AlreadyAllocated:
            reason = "provided IP is already allocated"
        else:
            return
        raise errors.invalid("Service", svc["metadata"].get("name", ""), [invalid(
            "spec.clusterIPs", GoRepr(go_repr(list(requested))), f"failed to allocate IP {ip}: {reason}")])

    # --- NodePorts ---------------------------------------------------------------------

    def _allocate_ports(self, svc: dict, already: set[int], allocation: Allocation) -> None:
        spec = svc.setdefault("spec", {})
        name = svc["metadata"].get("name", "")
        taken: dict[int, int] = {}  # nodePort -> index of the first port asking for it
        for i, port in enumerate(p for p in spec.get("ports") or [] if isinstance(p, dict)):
            if not _wants_node_ports(spec):
                continue
            node_port = port.get("nodePort") or 0
            if node_port and (node_port in taken or node_port in already):
                taken.setdefault(node_port, i)
                continue  # the same nodePort for TCP and UDP, or kept from before
            port["nodePort"] = self._take_port(name, f"spec.ports[{i}].nodePort", node_port, allocation)
            taken[port["nodePort"]] = i
        if _wants_health_check_port(spec):
            hc = spec.get("healthCheckNodePort") or 0
            if not (hc and hc in already):
                spec["healthCheckNodePort"] = self._take_port(name, "spec.healthCheckNodePort", hc, allocation)

    def _take_port(self, name: str, path: str, requested: int, allocation: Allocation) -> int:
        if not requested:
            try:
                port = self.ports.allocate_next()
            except Exhausted:
                raise errors.InternalError("failed to allocate a nodePort: range is full") from None
            allocation.ports.append(port)
            return port
        try:
            self.ports.allocate(requested)
        except NotInRange:
            reason = ("provided port is not in the valid range. "
                      f"The range of valid ports is {self.node_port_range}")
        except AlreadyAllocated:
            reason = "provided port is already allocated"
        else:
            allocation.ports.append(requested)
            return requested
        raise errors.invalid("Service", name, [invalid(path, requested, reason)])


# --- what a Service spec asks for ----------------------------------------------------------


def _wants_ip(spec: dict) -> bool:
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def _ips(spec: dict) -> list[str]:
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if isinstance(ip, str) and ip and ip != "None" and ":" not in ip]


def _wants_node_ports(spec: dict) -> bool:
    kind = spec.get("type", "ClusterIP")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _wants_health_check_port(spec: dict) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _external(spec: dict) -> bool:
    kind = spec.get("type", "ClusterIP")
    return kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def _node_ports(spec: dict) -> list[int]:
    ports = [p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)]
    ports.append(spec.get("healthCheckNodePort"))
    return [p for p in ports if isinstance(p, int) and not isinstance(p, bool) and p > 0]


def _node_port_set(spec: dict) -> set[int]:
    return set(_node_ports(spec))


def _keep_allocated(old: dict, spec: dict) -> None:
    """A client that leaves a nodePort out of an update keeps the one it had."""
    if not (_wants_node_ports(old) and _wants_node_ports(spec)):
        return
    by_port = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
               for p in old.get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and not port.get("nodePort"):
            kept = by_port.get((port.get("port"), port.get("protocol", "TCP")))
            if kept:
                port["nodePort"] = kept
    if _wants_health_check_port(old) and _wants_health_check_port(spec) and not spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = old.get("healthCheckNodePort")


def _drop_type_dependent(old: dict, spec: dict) -> None:
    """Fields the new type does not have go, when the client left them as they were."""
    if not _wants_node_ports(spec) and _wants_node_ports(old):
        old_ports = {p.get("nodePort") for p in old.get("ports") or [] if isinstance(p, dict)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") in old_ports:
                port.pop("nodePort", None)
    if not _wants_health_check_port(spec) and spec.get("healthCheckNodePort") == old.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if not _external(spec) and _external(old) and spec.get("externalTrafficPolicy") == old.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") == "ExternalName" and old.get("type") != "ExternalName":
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(name) == old.get(name):
                spec.pop(name, None)
