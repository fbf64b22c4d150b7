"""Printers for Service, Node, Namespace, ConfigMap, Secret, ServiceAccount,
Endpoints, EndpointSlice, Event (core/v1 and events.k8s.io/v1) and Lease, after
Kubernetes' printers.go.

Each kind has `<kind>_columns()` and `<kind>_row(obj, now)` returning
(cells, row conditions), cells in the wide layout.
"""

from __future__ import annotations

from datetime import datetime

from tinykube.api.printers_fmt import (
    META,
    Column,
    age_column,
    doc,
    format_labels,
    get,
    integer,
    items,
    list_with_more,
    mapping,
    name_column,
    parse_time,
    since,
    human_duration,
)


def _name(obj: dict) -> str:
    return get(obj, "metadata", "name", default="")


def _age(obj: dict, now: datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


# --- Service --------------------------------------------------------------------------


def service_columns() -> list[Column]:
    spec = "core.v1.ServiceSpec"
    return [
        name_column(),
        Column("Type", "string", doc(spec, "type")),
        Column("Cluster-IP", "string", doc(spec, "clusterIP")),
        Column("External-IP", "string", doc(spec, "externalIPs")),
        Column("Port(s)", "string", doc(spec, "ports")),
        age_column(),
        Column("Selector", "string", doc(spec, "selector"), 1),
    ]


def _load_balancer_ips(svc: dict) -> list[str]:
    # A sorted set of ingress IPs, or hostnames for ingress points without one.
    found = set()
    for ingress in items(svc, "status", "loadBalancer", "ingress"):
        value = ingress.get("ip") or ingress.get("hostname")
        if value:
            found.add(value)
    return sorted(found)


def _external_ip(svc: dict) -> str:
    kind = get(svc, "spec", "type", default="")
    external = [str(ip) for ip in items(svc, "spec", "externalIPs")]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        # The server prints wide, so the list is never clipped to 16 characters.
        ips = _load_balancer_ips(svc) + external
        return ",".join(ips) if ips else "<pending>"
    if kind == "ExternalName":
        return get(svc, "spec", "externalName", default="")
    return "<unknown>"


def _ports(svc: dict) -> str:
    pieces = []
    for port in items(svc, "spec", "ports"):
        protocol = port.get("protocol") or "TCP"  # defaulted by the API server
        if integer(port, "nodePort") > 0:
            pieces.append(f"{integer(port, 'port')}:{integer(port, 'nodePort')}/{protocol}")
        else:
            pieces.append(f"{integer(port, 'port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def _cluster_ip(svc: dict) -> str:
    # v1 -> internal conversion makes spec.clusterIP authoritative over clusterIPs[0].
    ips = items(svc, "spec", "clusterIPs")
    return get(svc, "spec", "clusterIP") or (ips[0] if ips else "") or "<none>"


def service_row(svc: dict, now: datetime) -> tuple[list, None]:
    cells = [
        _name(svc),
        get(svc, "spec", "type", default=""),
        _cluster_ip(svc),
        _external_ip(svc),
        _ports(svc),
        _age(svc, now),
        format_labels(mapping(svc, "spec", "selector")),
    ]
    return cells, None


# --- ConfigMap, Secret, ServiceAccount, Namespace, Lease ------------------------------


def configmap_columns() -> list[Column]:
    return [name_column(), Column("Data", "string", doc("core.v1.ConfigMap", "data")), age_column()]


def configmap_row(obj: dict, now: datetime) -> tuple[list, None]:
    count = len(mapping(obj, "data")) + len(mapping(obj, "binaryData"))
    return [_name(obj), count, _age(obj, now)], None


def secret_columns() -> list[Column]:
    return [
        name_column(),
        Column("Type", "string", doc("core.v1.Secret", "type")),
        Column("Data", "string", doc("core.v1.Secret", "data")),
        age_column(),
    ]


def secret_row(obj: dict, now: datetime) -> tuple[list, None]:
    # stringData is merged into data when a Secret is converted to the internal type.
    keys = set(mapping(obj, "data")) | set(mapping(obj, "stringData"))
    return [_name(obj), get(obj, "type", default=""), len(keys), _age(obj, now)], None


def serviceaccount_columns() -> list[Column]:
    return [name_column(), Column("Secrets", "string", doc("core.v1.ServiceAccount", "secrets")), age_column()]


def serviceaccount_row(obj: dict, now: datetime) -> tuple[list, None]:
    return [_name(obj), len(items(obj, "secrets")), _age(obj, now)], None


def namespace_columns() -> list[Column]:
    return [name_column(), Column("Status", "string", "The status of the namespace"), age_column()]


def namespace_row(obj: dict, now: datetime) -> tuple[list, None]:
    return [_name(obj), get(obj, "status", "phase", default=""), _age(obj, now)], None


def lease_columns() -> list[Column]:
    holder = doc("coordination.v1.LeaseSpec", "holderIdentity")
    return [name_column(), Column("Holder", "string", holder), age_column()]


def lease_row(obj: dict, now: datetime) -> tuple[list, None]:
    return [_name(obj), get(obj, "spec", "holderIdentity", default=""), _age(obj, now)], None


# --- Node -----------------------------------------------------------------------------


def node_columns() -> list[Column]:
    info, status = "core.v1.NodeSystemInfo", "core.v1.NodeStatus"
    return [
        name_column(),
        Column("Status", "string", "The status of the node"),
        Column("Roles", "string", "The roles of the node"),
        age_column(),
        Column("Version", "string", doc(info, "kubeletVersion")),
        Column("Internal-IP", "string", doc(status, "addresses"), 1),
        Column("External-IP", "string", doc(status, "addresses"), 1),
        Column("OS-Image", "string", doc(info, "osImage"), 1),
        Column("Kernel-Version", "string", doc(info, "kernelVersion"), 1),
        Column("Container-Runtime", "string", doc(info, "containerRuntimeVersion"), 1),
    ]


def node_status(node: dict) -> str:
    # Only the Ready condition is shown; the last one of that type wins.
    ready = None
    for cond in items(node, "status", "conditions"):
        if cond.get("type") == "Ready":
            ready = cond
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if get(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: dict) -> str:
    roles = set()
    for key, value in mapping(node, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _address(node: dict, kind: str) -> str:
    for address in items(node, "status", "addresses"):
        if address.get("type") == kind:
            return address.get("address", "")
    return "<none>"


def node_row(node: dict, now: datetime) -> tuple[list, None]:
    info = mapping(node, "status", "nodeInfo")
    cells = [
        _name(node),
        node_status(node),
        node_roles(node),
        _age(node, now),
        info.get("kubeletVersion", ""),
        _address(node, "InternalIP"),
        _address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]
    return cells, None


# --- Endpoints and EndpointSlice ------------------------------------------------------


def endpoints_columns() -> list[Column]:
    return [name_column(), Column("Endpoints", "string", doc("core.v1.Endpoints", "subsets")), age_column()]


def _host_port(ip: str, port: int) -> str:
    # net.JoinHostPort brackets IPv6 addresses.
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_endpoints(obj: dict) -> str:
    subsets = items(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in items(subset, "addresses")]
        ports = items(subset, "ports")
        if not ports:  # headless services may have no ports
            count += len(addresses)
            shown += addresses[: max(0, 3 - len(shown))]
            continue
        for port in ports:
            count += len(addresses)
            for ip in addresses[: max(0, 3 - len(shown))]:
                shown.append(_host_port(ip, integer(port, "port")))
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text


def endpoints_row(obj: dict, now: datetime) -> tuple[list, None]:
    return [_name(obj), format_endpoints(obj), _age(obj, now)], None


def endpointslice_columns() -> list[Column]:
    slice_ = "discovery.v1.EndpointSlice"
    return [
        name_column(),
        Column("AddressType", "string", doc(slice_, "addressType")),
        Column("Ports", "string", doc(slice_, "ports")),
        Column("Endpoints", "string", doc(slice_, "endpoints")),
        age_column(),
    ]


def _slice_ports(obj: dict) -> str:
    names = []
    for port in items(obj, "ports"):
        if isinstance(port.get("port"), int):
            names.append(str(port["port"]))
        elif port.get("name") is not None:
            names.append(port["name"])
        else:
            names.append("*")
    return list_with_more(names, len(names))


def _slice_endpoints(obj: dict) -> str:
    addresses = [a for ep in items(obj, "endpoints") for a in (ep.get("addresses") or [])]
    return list_with_more(addresses, len(addresses))


def endpointslice_row(obj: dict, now: datetime) -> tuple[list, None]:
    cells = [_name(obj), get(obj, "addressType", default=""), _slice_ports(obj), _slice_endpoints(obj), _age(obj, now)]
    return cells, None


# --- Event ----------------------------------------------------------------------------


def event_columns() -> list[Column]:
    event = "core.v1.Event"
    return [
        Column("Last Seen", "string", doc(event, "lastTimestamp")),
        Column("Type", "string", doc(event, "type")),
        Column("Reason", "string", doc(event, "reason")),
        Column("Object", "string", doc(event, "involvedObject")),
        Column("Subobject", "string", doc("core.v1.ObjectReference", "fieldPath"), 1),
        Column("Source", "string", doc(event, "source"), 1),
        Column("Message", "string", doc(event, "message")),
        Column("First Seen", "string", doc(event, "firstTimestamp"), 1),
        Column("Count", "string", doc(event, "count"), 1),
        name_column(priority=1),
    ]


def _micro_since(value, now: datetime) -> str:
    stamp = parse_time(value)
    return "<unknown>" if stamp is None else human_duration((now - stamp).total_seconds())


def _event_source(event: dict) -> str:
    # formatEventSource: the reporting controller/instance stand in for an empty source.
    component = get(event, "source", "component") or event.get("reportingComponent") or ""
    host = get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def event_row(event: dict, now: datetime) -> tuple[list, None]:
    first = since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first = _micro_since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp")) is None:
        last = first
    count = integer(event, "count")
    if event.get("series") is not None:
        last = _micro_since(get(event, "series", "lastObservedTime"), now)
        count = integer(event, "series", "count")
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    kind = str(get(event, "involvedObject", "kind", default="")).lower()
    involved_name = get(event, "involvedObject", "name", default="")
    target = f"{kind}/{involved_name}" if involved_name else kind
    cells = [
        last,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        get(event, "involvedObject", "fieldPath", default=""),
        _event_source(event),
        str(event.get("message") or "").strip(),
        first,
        count,
        _name(event),
    ]
    return cells, None


def core_event_from_events_v1(event: dict) -> dict:
    """An events.k8s.io/v1 Event in core/v1 shape, as the internal type holds both."""
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason", ""),
        "message": event.get("note", ""),
        "source": event.get("deprecatedSource") or {},
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount", 0),
        "type": event.get("type", ""),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController", ""),
        "reportingInstance": event.get("reportingInstance", ""),
    }


def events_v1_row(event: dict, now: datetime) -> tuple[list, None]:
    return event_row(core_event_from_events_v1(event), now)
