"""Services (ValidateService / ValidateServiceUpdate / ValidateServiceStatusUpdate).

Like the Kubernetes REST layer, `clusterIP` and `clusterIPs` are read together: when
only `clusterIP` is given, `clusterIPs` is taken to be `[clusterIP]`, and an update that
omits both keeps the old values (the API server copies them).  NodePort range checks
belong to the allocator.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .containers import port_num_or_name, protocol_causes
from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, forbidden, go_quote, go_repr, invalid,
    invalid_each, is_int, not_supported, required,
)
from .meta import validate_labels, validate_object_meta
from .names import dns1123_label_errors, dns1123_subdomain_errors, name_is_dns1035_label, port_num_errors, qualified_name_errors
from .net import cidr_causes, ip_causes, is_dual_stack, is_ipv6, non_special_ip_causes

TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_AFFINITY_SECONDS = 86400
LB_SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


def cluster_ips(spec: dict) -> list[str]:
    ips = [as_str(ip) for ip in as_list(spec.get("clusterIPs"))]
    if not ips and as_str(spec.get("clusterIP")):
        return [as_str(spec["clusterIP"])]
    return ips


def is_headless(spec: dict) -> bool:
    return cluster_ips(spec) == ["None"]


def validate_service(svc: dict) -> list[Cause]:
    meta, spec = as_dict(svc.get("metadata")), as_dict(svc.get("spec"))
    causes = validate_object_meta(meta, namespaced=True, name_fn=name_is_dns1035_label)
    svc_type = spec.get("type", "ClusterIP")
    if not as_list(spec.get("ports")) and not is_headless(spec) and svc_type != "ExternalName":
        causes.append(required("spec.ports"))
    causes += _type_specific(spec, svc_type)
    causes += _ports(spec)
    if spec.get("selector") is not None:
        causes += validate_labels(spec.get("selector"), "spec.selector")
    causes += _session_affinity(spec)
    causes += validate_cluster_ips(spec, svc_type)
    causes += _external_ips(spec)
    causes += _type(spec)
    return causes + _node_ports(spec, svc_type) + _load_balancer(spec, meta, svc_type) + _traffic_policies(spec, svc_type)


def _type_specific(spec: dict, svc_type: str) -> list[Cause]:
    if svc_type in ("LoadBalancer", "NodePort") and is_headless(spec):
        return [invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {svc_type} services")]
    if svc_type != "ExternalName":
        return []
    causes = [forbidden(f"spec.{name}", "may not be set for ExternalName services")
              for name, present in (("clusterIPs", bool(cluster_ips(spec))), ("ipFamilies", bool(as_list(spec.get("ipFamilies")))),
                                    ("ipFamilyPolicy", spec.get("ipFamilyPolicy") is not None)) if present]
    cname = as_str(spec.get("externalName")).removesuffix(".")
    if not cname:
        return causes + [required("spec.externalName")]
    return causes + invalid_each("spec.externalName", cname, dns1123_subdomain_errors(cname))


def _ports(spec: dict) -> list[Cause]:
    ports = list(map(as_dict, as_list(spec.get("ports"))))
    causes: list[Cause] = []
    names: set = set()
    for i, port in enumerate(ports):
        causes += _service_port(port, at("spec.ports", i), len(ports) > 1, names)
    seen: set = set()
    for i, port in enumerate(ports):
        ident = (as_str(port.get("protocol")) or "TCP", port.get("port") if is_int(port.get("port")) else 0)
        if ident in seen:
            causes.append(duplicate(at("spec.ports", i), GoRepr(_port_key(*ident))))
        seen.add(ident)
    return causes


def _port_key(protocol: str, port) -> str:
    return (f"core.ServicePort{{Name:\"\", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), Port:{port}, "
            "TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}")


def _service_port(port: dict, path: str, require_name: bool, names: set) -> list[Cause]:
    name = as_str(port.get("name"))
    causes: list[Cause] = []
    if require_name and not name:
        causes.append(required(child(path, "name")))
    elif name:
        causes += invalid_each(child(path, "name"), name, dns1123_label_errors(name))
        causes += [duplicate(child(path, "name"), name)] if name in names else []
        names.add(name)
    number = port.get("port") if is_int(port.get("port")) else 0
    causes += invalid_each(child(path, "port"), number, port_num_errors(number))
    causes += protocol_causes(port.get("protocol"), child(path, "protocol"))
    causes += port_num_or_name(port.get("targetPort", number), child(path, "targetPort"))
    if port.get("appProtocol") is not None:
        app = as_str(port.get("appProtocol"))
        causes += invalid_each(child(path, "appProtocol"), app, qualified_name_errors(app))
    return causes


def _session_affinity(spec: dict) -> list[Cause]:
    affinity = spec.get("sessionAffinity", "None")
    config, path = spec.get("sessionAffinityConfig"), "spec.sessionAffinityConfig"
    if affinity == "":
        return [required("spec.sessionAffinity")]
    if affinity not in ("ClientIP", "None"):
        return [not_supported("spec.sessionAffinity", as_str(affinity), ("ClientIP", "None"))]
    if affinity == "None":
        return [forbidden(path, "must not be set when session affinity is None")] if config is not None else []
    timeout = as_dict(as_dict(config).get("clientIP")).get("timeoutSeconds", 10800)
    if not is_int(timeout) or not 0 < timeout <= MAX_AFFINITY_SECONDS:
        return [invalid(child(path, "clientIP", "timeoutSeconds"), timeout,
                        f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}")]
    return []


def _type(spec: dict) -> list[Cause]:
    svc_type = spec.get("type")
    if svc_type is None or svc_type in TYPES:
        return []
    return [required("spec.type")] if svc_type == "" else [not_supported("spec.type", as_str(svc_type), TYPES)]


def _external_ips(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    for i, ip in enumerate(map(as_str, as_list(spec.get("externalIPs")))):
        errs = ip_causes(at("spec.externalIPs", i), ip)
        causes += errs or non_special_ip_causes(at("spec.externalIPs", i), ip)
    return causes


def _node_ports(spec: dict, svc_type: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set = set()
    for i, port in enumerate(map(as_dict, as_list(spec.get("ports")))):
        node_port = port.get("nodePort") or 0
        if node_port and svc_type == "ClusterIP":
            causes.append(forbidden(child(at("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'"))
        ident = (as_str(port.get("protocol")) or "TCP", node_port)
        if node_port and ident in seen:
            causes.append(duplicate(child(at("spec.ports", i), "nodePort"), node_port))
        seen.add(ident)
    return causes


def _load_balancer(spec: dict, meta: dict, svc_type: str) -> list[Cause]:
    causes = _source_ranges(spec, meta, svc_type)
    if spec.get("allocateLoadBalancerNodePorts") is not None and svc_type != "LoadBalancer":
        causes.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    lb_class = spec.get("loadBalancerClass")
    if lb_class is None:
        return causes
    if svc_type != "LoadBalancer":
        return causes + [forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'")]
    return causes + invalid_each("spec.loadBalancerClass", as_str(lb_class), qualified_name_errors(as_str(lb_class)))


def _source_ranges(spec: dict, meta: dict, svc_type: str) -> list[Cause]:
    ranges, path = as_list(spec.get("loadBalancerSourceRanges")), "spec.LoadBalancerSourceRanges"
    if not ranges:
        annotation = as_dict(meta.get("annotations")).get(LB_SOURCE_RANGES_ANNOTATION)
        return [] if annotation is None else _source_ranges_annotation(as_str(annotation), svc_type)
    causes = [] if svc_type == "LoadBalancer" else [forbidden(path, "may only be used when `type` is 'LoadBalancer'")]
    for i, value in enumerate(map(as_str, ranges)):
        causes += cidr_causes(at(path, i), value.strip())
    return causes


def _source_ranges_annotation(value: str, svc_type: str) -> list[Cause]:
    path = f"metadata.annotations[{LB_SOURCE_RANGES_ANNOTATION}]"
    causes = [] if svc_type == "LoadBalancer" else [forbidden(path, "may only be used when `type` is 'LoadBalancer'")]
    for cidr in (value.strip().split(",") if value.strip() else []):
        causes += cidr_causes(path, cidr.strip())
    return causes


def _traffic_policies(spec: dict, svc_type: str) -> list[Cause]:
    return (_external_traffic(spec, svc_type) + _health_check(spec, svc_type)
            + _enum_field(spec, "internalTrafficPolicy", ("Cluster", "Local"))
            + _enum_field(spec, "trafficDistribution", ("PreferClose",)))


def _external_traffic(spec: dict, svc_type: str) -> list[Cause]:
    external = svc_type in ("NodePort", "LoadBalancer") or bool(as_list(spec.get("externalIPs")))
    policy = spec.get("externalTrafficPolicy")
    if not external and policy:
        return [invalid("spec.externalTrafficPolicy", as_str(policy), "may only be set for externally-accessible services")]
    if external and policy is not None and policy not in ("Cluster", "Local"):
        return [not_supported("spec.externalTrafficPolicy", as_str(policy), ("Cluster", "Local"))]
    return []


def _health_check(spec: dict, svc_type: str) -> list[Cause]:
    health = spec.get("healthCheckNodePort") or 0
    if not health:
        return []
    if not (svc_type == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"):
        return [invalid("spec.healthCheckNodePort", health,
                        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")]
    return invalid_each("spec.healthCheckNodePort", health, port_num_errors(health))


def _enum_field(spec: dict, name: str, allowed: tuple[str, ...]) -> list[Cause]:
    value = spec.get(name)
    if value is None or value in allowed:
        return []
    return [not_supported(child("spec", name), as_str(value), allowed)]


# --- cluster IPs and families --------------------------------------------------------


def validate_cluster_ips(spec: dict, svc_type: str) -> list[Cause]:
    if svc_type == "ExternalName":
        return []
    ips = cluster_ips(spec)
    causes = _cluster_ip_sync(spec) + _families(spec)
    ip_causes_found = _each_cluster_ip(ips)
    causes += ip_causes_found
    if len(ips) > 2:
        causes.append(invalid("spec.clusterIPs", GoRepr(go_repr(ips)), "may only hold up to 2 values"))
    if ip_causes_found:
        return causes
    if len(ips) > 1 and not is_dual_stack(ips):
        causes.append(invalid("spec.clusterIPs", GoRepr(go_repr(ips)), "may specify no more than one IP for each IP family"))
    return causes + _ips_match_families(spec, ips)


def _each_cluster_ip(ips: list[str]) -> list[Cause]:
    """Syntax of each cluster IP; "None" is allowed only as the first and only value."""
    causes: list[Cause] = []
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                causes.append(invalid("spec.clusterIPs", GoRepr(go_repr(ips)), "'None' must be the first and only value"))
            continue
        causes += ip_causes(at("spec.clusterIPs", i), ip)
    return causes


def _cluster_ip_sync(spec: dict) -> list[Cause]:
    ip, ips = as_str(spec.get("clusterIP")), [as_str(i) for i in as_list(spec.get("clusterIPs"))]
    if ip and ips and ips[0] != ip:
        return [invalid("spec.clusterIPs", GoRepr(go_repr(ips)), "first value must match `clusterIP`")]
    if not ip and ips and "clusterIP" in spec:
        return [invalid("spec.clusterIPs", GoRepr(go_repr(ips)), "must be empty when `clusterIP` is not specified")]
    return []


def _families(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    seen: set = set()
    for i, family in enumerate(map(as_str, as_list(spec.get("ipFamilies")))):
        if family not in ("IPv4", "IPv6"):
            causes.append(not_supported(at("spec.ipFamilies", i), family, ("IPv4", "IPv6")))
        if family in seen:
            causes.append(duplicate(at("spec.ipFamilies", i), family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    allowed = ("PreferDualStack", "RequireDualStack", "SingleStack")
    if policy is not None and policy not in allowed:
        causes.append(not_supported("spec.ipFamilyPolicy", as_str(policy), allowed))
    return causes


def _ips_match_families(spec: dict, ips: list[str]) -> list[Cause]:
    families = [as_str(f) for f in as_list(spec.get("ipFamilies"))]
    if is_headless(spec):
        return []
    causes = []
    for i, (ip, family) in enumerate(zip(ips, families)):
        if family == "IPv4" and is_ipv6(ip):
            causes.append(invalid(at("spec.clusterIPs", i), ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
        if family == "IPv6" and not is_ipv6(ip):
            causes.append(invalid(at("spec.clusterIPs", i), ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return causes


# --- update and status ---------------------------------------------------------------


def validate_service_update(new: dict, old: dict) -> list[Cause]:
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    if not cluster_ips(new_spec) and _keeps_cluster_ip(new_spec, old_spec):
        new_spec = dict(new_spec, clusterIP=old_spec.get("clusterIP"), clusterIPs=old_spec.get("clusterIPs"))
        new = dict(new, spec=new_spec)
    causes = _cluster_ips_update(new_spec, old_spec)
    if new_spec.get("type") == "LoadBalancer" and old_spec.get("type") == "LoadBalancer":
        if new_spec.get("loadBalancerClass") != old_spec.get("loadBalancerClass"):
            causes.append(invalid("spec.loadBalancerClass", new_spec.get("loadBalancerClass"), "may not change once set"))
    return causes + validate_service(new)


def _keeps_cluster_ip(new: dict, old: dict) -> bool:
    external = "ExternalName" in (new.get("type"), old.get("type"))
    return not external and bool(cluster_ips(old))


def _cluster_ips_update(new: dict, old: dict) -> list[Cause]:
    if "ExternalName" in (new.get("type"), old.get("type")) or (is_headless(new) and is_headless(old)):
        return []
    new_ips, old_ips = cluster_ips(new), cluster_ips(old)
    shown = GoRepr(go_repr(new_ips))
    if len(new_ips) == len(old_ips):
        return [invalid(at("spec.clusterIPs", i), shown, "may not change once set")
                for i, ip in enumerate(old_ips) if ip != new_ips[i]]
    if len(old_ips) > len(new_ips):
        return _released_cluster_ip(new, new_ips, old_ips, shown)
    if old_ips and new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", shown, "may not change once set")]
    return []


def _released_cluster_ip(new: dict, new_ips: list, old_ips: list, shown: GoRepr) -> list[Cause]:
    if not new_ips:
        return [invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset")]
    causes = [invalid("spec.clusterIPs[0]", shown, "may not change once set")] if new_ips[0] != old_ips[0] else []
    if len(new_ips) == 1 and new.get("ipFamilyPolicy") != "SingleStack":
        causes.append(invalid("spec.ipFamilyPolicy", new.get("ipFamilyPolicy"),
                              "must be set to 'SingleStack' when releasing the secondary clusterIP"))
    return causes


def validate_service_status(new: dict) -> list[Cause]:
    spec, status = as_dict(new.get("spec")), as_dict(new.get("status"))
    ingress = as_list(as_dict(status.get("loadBalancer")).get("ingress"))
    if ingress and spec.get("type", "ClusterIP") != "LoadBalancer":
        return [forbidden("status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'")]
    causes: list[Cause] = []
    for i, item in enumerate(map(as_dict, ingress)):
        path = at("status.loadBalancer.ingress", i)
        if as_str(item.get("ip")):
            causes += ip_causes(child(path, "ip"), as_str(item["ip"]))
        hostname = as_str(item.get("hostname"))
        if hostname:
            causes += invalid_each(child(path, "hostname"), hostname, dns1123_subdomain_errors(hostname))
    return causes
