"""Smaller kinds: ServiceAccount, Lease, Endpoints, EndpointSlice (Events live in `events`)."""

from __future__ import annotations

from tinykube.api.errors import Cause

from .containers import protocol_causes
from .fields import (
    as_dict, as_list, as_str, at, child, duplicate, invalid, invalid_each, is_int, not_supported, required,
    too_many,
)
from .meta import validate_labels, validate_object_meta, validate_object_meta_update
from .names import (
    dns1123_label_errors, dns1123_subdomain_errors, label_value_errors, name_is_dns_subdomain,
    port_num_errors, qualified_name_errors,
)
from .net import ip_causes, ipv4_causes, ipv6_causes, non_special_ip_causes

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def validate_service_account(obj: dict) -> list[Cause]:
    return validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)


# --- Lease ---------------------------------------------------------------------------


def validate_lease(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain,
                                  kube_finalizers=False)
    return causes + _lease_spec(as_dict(obj.get("spec")))


def validate_lease_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"), kube_finalizers=False)
    return causes + _lease_spec(as_dict(new.get("spec")))


def _lease_spec(spec: dict) -> list[Cause]:
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    causes = []
    if is_int(duration) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if is_int(transitions) and transitions < 0:
        causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return causes


# --- Endpoints -----------------------------------------------------------------------


def validate_endpoints(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    for i, subset in enumerate(map(as_dict, as_list(obj.get("subsets")))):
        causes += _subset(subset, at("subsets", i))
    return causes


def _subset(subset: dict, path: str) -> list[Cause]:
    ready, not_ready = as_list(subset.get("addresses")), as_list(subset.get("notReadyAddresses"))
    causes = [] if ready or not_ready else [required(path, "must specify `addresses` or `notReadyAddresses`")]
    for name, items in (("addresses", ready), ("notReadyAddresses", not_ready)):
        for i, address in enumerate(map(as_dict, items)):
            causes += _endpoint_address(address, at(child(path, name), i))
    ports = as_list(subset.get("ports"))
    for i, port in enumerate(map(as_dict, ports)):
        causes += _endpoint_port(port, at(child(path, "ports"), i), len(ports) > 1)
    return causes


def _endpoint_address(address: dict, path: str) -> list[Cause]:
    ip = as_str(address.get("ip"))
    causes = ip_causes(child(path, "ip"), ip)
    hostname = as_str(address.get("hostname"))
    if hostname:
        causes += invalid_each(child(path, "hostname"), hostname, dns1123_label_errors(hostname))
    if address.get("nodeName") is not None:
        node = as_str(address["nodeName"])
        causes += invalid_each(child(path, "nodeName"), node, name_is_dns_subdomain(node))
    return causes + non_special_ip_causes(child(path, "ip"), ip)


def _endpoint_port(port: dict, path: str, require_name: bool) -> list[Cause]:
    name = as_str(port.get("name"))
    causes: list[Cause] = []
    if require_name and not name:
        causes.append(required(child(path, "name")))
    elif name:
        causes += invalid_each(child(path, "name"), name, dns1123_label_errors(name))
    number = port.get("port") if is_int(port.get("port")) else 0
    causes += invalid_each(child(path, "port"), number, port_num_errors(number))
    causes += protocol_causes(port.get("protocol"), child(path, "protocol"))
    return causes + _app_protocol(port.get("appProtocol"), child(path, "appProtocol"))


def _app_protocol(value, path: str) -> list[Cause]:
    return [] if value is None else invalid_each(path, as_str(value), qualified_name_errors(as_str(value)))


# --- EndpointSlice -------------------------------------------------------------------


def validate_endpoint_slice(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    address_type = obj.get("addressType")
    if not address_type:
        causes.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        causes.append(not_supported("addressType", as_str(address_type), ADDRESS_TYPES))
    causes += _slice_endpoints(as_list(obj.get("endpoints")), as_str(address_type))
    return causes + _slice_ports(as_list(obj.get("ports")))


def validate_endpoint_slice_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata")) + validate_endpoint_slice(new)
    if new.get("addressType") != old.get("addressType"):
        causes.append(invalid("addressType", as_str(new.get("addressType")), "field is immutable"))
    return causes


def _slice_endpoints(endpoints: list, address_type: str) -> list[Cause]:
    if len(endpoints) > 1000:
        return [too_many("endpoints", len(endpoints), 1000)]
    causes: list[Cause] = []
    for i, endpoint in enumerate(map(as_dict, endpoints)):
        causes += _slice_endpoint(endpoint, at("endpoints", i), address_type)
    return causes


def _slice_endpoint(endpoint: dict, path: str, address_type: str) -> list[Cause]:
    causes = _slice_addresses(as_list(endpoint.get("addresses")), child(path, "addresses"), address_type)
    if endpoint.get("nodeName") is not None:
        node = as_str(endpoint["nodeName"])
        causes += invalid_each(child(path, "nodeName"), node, name_is_dns_subdomain(node))
    topology = as_dict(endpoint.get("deprecatedTopology"))
    if len(topology) > 16:
        causes.append(too_many(child(path, "deprecatedTopology"), len(topology), 16))
    causes += validate_labels(topology, child(path, "deprecatedTopology"))
    if endpoint.get("hostname") is not None:
        hostname = as_str(endpoint["hostname"])
        causes += invalid_each(child(path, "hostname"), hostname, dns1123_label_errors(hostname))
    return causes + _hints(endpoint.get("hints"), child(path, "hints"))


def _slice_addresses(addresses: list, path: str, address_type: str) -> list[Cause]:
    causes: list[Cause] = []
    if not addresses:
        causes.append(required(path, "must contain at least 1 address"))
    elif len(addresses) > 100:
        causes.append(too_many(path, len(addresses), 100))
    for i, address in enumerate(map(as_str, addresses)):
        causes += _slice_address(address, at(path, i), address_type)
    return causes


def _slice_address(address: str, path: str, address_type: str) -> list[Cause]:
    if address_type == "IPv4":
        return ipv4_causes(path, address) + non_special_ip_causes(path, address)
    if address_type == "IPv6":
        return ipv6_causes(path, address) + non_special_ip_causes(path, address)
    if address_type == "FQDN":
        return fqdn_causes(path, address)
    return []


def fqdn_causes(path: str, name: str) -> list[Cause]:
    """IsFullyQualifiedDomainName: at least two labels; a trailing dot is allowed."""
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    errors = dns1123_subdomain_errors(name)
    if errors:
        return [invalid(path, name, ",".join(errors))]
    if len(name.split(".")) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in name.split("."):
        errors = dns1123_label_errors(label)
        if errors:
            return [invalid(path, label, ",".join(errors))]
    return []


def _hints(hints, path: str) -> list[Cause]:
    zones = as_list(as_dict(hints).get("forZones"))
    if len(zones) > 8:
        return [too_many(child(path, "forZones"), len(zones), 8)]
    causes: list[Cause] = []
    seen: set = set()
    for i, zone in enumerate(map(as_dict, zones)):
        zone_path, name = child(at(child(path, "forZones"), i), "name"), as_str(zone.get("name"))
        causes += [duplicate(zone_path, name)] if name in seen else []
        seen.add(name)
        causes += invalid_each(zone_path, name, label_value_errors(name))
    return causes


def _slice_ports(ports: list) -> list[Cause]:
    if len(ports) > 20000:
        return [too_many("ports", len(ports), 20000)]
    causes: list[Cause] = []
    names: set = set()
    for i, port in enumerate(map(as_dict, ports)):
        path, name = at("ports", i), as_str(port.get("name"))
        if name:
            causes += invalid_each(child(path, "name"), name, dns1123_label_errors(name))
        causes += [duplicate(child(path, "name"), name)] if name in names else []
        names.add(name)
        causes += protocol_causes(port.get("protocol"), child(path, "protocol"))
        causes += _app_protocol(port.get("appProtocol"), child(path, "appProtocol"))
    return causes  # upstream 1.32 does not range-check endpointslice port numbers
