"""PodSpec validation, shared by Pods and every pod template (ValidatePodSpec).

`validate_pod_spec(spec, path, is_pod=..., pod_name=..., extra_volumes=...)` returns
causes with paths under `path` ("spec" for a Pod, "spec.template.spec" for a
Deployment).  Defaulted fields (restartPolicy, dnsPolicy, terminationGracePeriodSeconds,
schedulerName ...) are accepted when absent and checked when present.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .containers import validate_container_common
from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, forbidden, go_quote, go_repr, invalid, invalid_each,
    is_int, not_found, not_supported, required,
)
from .handlers import validate_lifecycle, validate_probe
from .meta import validate_labels
from .names import dns1123_label_errors, dns1123_subdomain_errors, inclusive_range_error, name_is_dns_subdomain, qualified_name_errors
from .net import ip_causes
from .scheduling import validate_affinity, validate_tolerations, validate_topology_spread
from .security import validate_pod_security_context
from .volumes import validate_volumes

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
EPHEMERAL_FORBIDDEN = ("ports", "resources", "resizePolicy", "livenessProbe", "readinessProbe", "startupProbe",
                       "lifecycle", "restartPolicy")
DEFAULT_GRACE = 30
MAX_INT32 = 2147483647


def validate_pod_spec(spec, path: str, *, is_pod: bool = False, pod_name: str = "",
                      extra_volumes: dict | None = None) -> list[Cause]:
    spec = as_dict(spec)
    causes = _grace_required(spec, path)
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    volumes, vol_causes = validate_volumes(spec.get("volumes"), child(path, "volumes"), pod_name=pod_name, is_pod=is_pod)
    volumes.update(extra_volumes or {})
    causes += vol_causes
    causes += validate_containers(spec.get("containers"), child(path, "containers"), volumes, grace)
    causes += validate_init_containers(spec, child(path, "initContainers"), volumes, grace)
    causes += validate_ephemeral_containers(spec, child(path, "ephemeralContainers"), volumes)
    causes += _host_network(spec, path)
    causes += _policies(spec, path)
    causes += validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    causes += validate_pod_security_context(spec, child(path, "securityContext"))
    causes += _scheduling(spec, path)
    causes += validate_dns_config(spec, child(path, "dnsConfig"))
    return causes + _names_and_limits(spec, path)


def _grace_required(spec: dict, path: str) -> list[Cause]:
    if "terminationGracePeriodSeconds" in spec and spec["terminationGracePeriodSeconds"] is None:
        return [required(child(path, "terminationGracePeriodSeconds"))]
    return []


# --- container lists -----------------------------------------------------------------


def validate_containers(containers, path: str, volumes: dict, grace) -> list[Cause]:
    containers = list(map(as_dict, as_list(containers)))
    if not containers:
        return [required(path)]
    causes: list[Cause] = []
    names: set = set()
    for i, ctr in enumerate(containers):
        item = at(path, i)
        causes += validate_container_common(ctr, item, volumes)
        name = as_str(ctr.get("name"))
        causes += [duplicate(child(item, "name"), name)] if name in names else []
        names.add(name)
        causes += _lifecycle_and_probes(ctr, item, grace)
        if ctr.get("restartPolicy") is not None:
            causes.append(forbidden(child(item, "restartPolicy"), "may not be set for non-init containers"))
    return causes + host_port_conflicts(containers, path)


def _lifecycle_and_probes(ctr: dict, path: str, grace) -> list[Cause]:
    causes = validate_lifecycle(as_dict(ctr["lifecycle"]), grace, child(path, "lifecycle")) if ctr.get("lifecycle") is not None else []
    for kind in ("liveness", "readiness", "startup"):
        causes += validate_probe(ctr.get(f"{kind}Probe"), grace, child(path, f"{kind}Probe"), kind)
    return causes


def validate_init_containers(spec: dict, path: str, volumes: dict, grace) -> list[Cause]:
    names = {as_str(as_dict(c).get("name")) for c in as_list(spec.get("containers"))}
    causes: list[Cause] = []
    for i, ctr in enumerate(map(as_dict, as_list(spec.get("initContainers")))):
        item = at(path, i)
        causes += validate_container_common(ctr, item, volumes)
        causes += _init_restart_policy(ctr, item, grace)
        name = as_str(ctr.get("name"))
        if name in names:
            causes.append(duplicate(child(item, "name"), name))
        elif name:
            names.add(name)
        causes += host_port_conflicts([ctr], path)
    return causes


def _init_restart_policy(ctr: dict, path: str, grace) -> list[Cause]:
    policy = ctr.get("restartPolicy")
    causes = []
    if policy is not None and policy != "Always":
        causes.append(not_supported(child(path, "restartPolicy"), as_str(policy), ("Always",)))
    if policy == "Always":
        return causes + _lifecycle_and_probes(ctr, path, grace)
    for name in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
        if ctr.get(name) is not None:
            causes.append(forbidden(child(path, name), "may not be set for init containers without restartPolicy=Always"))
    return causes


def validate_ephemeral_containers(spec: dict, path: str, volumes: dict) -> list[Cause]:
    others = {as_str(as_dict(c).get("name")) for key in ("containers", "initContainers") for c in as_list(spec.get(key))}
    names = set(others)
    causes: list[Cause] = []
    for i, ctr in enumerate(map(as_dict, as_list(spec.get("ephemeralContainers")))):
        item = at(path, i)
        causes += validate_container_common(ctr, item, volumes) + image_whitespace(ctr, item)
        name = as_str(ctr.get("name"))
        causes += [duplicate(child(item, "name"), name)] if name in names else []
        names.add(name)
        target = as_str(ctr.get("targetContainerName"))
        if target and target not in others:
            causes.append(not_found(child(item, "targetContainerName"), target))
        causes += [forbidden(child(item, f), "cannot be set for an Ephemeral Container")
                   for f in EPHEMERAL_FORBIDDEN if ctr.get(f) not in (None, {}, [])]
        causes += _ephemeral_sub_paths(ctr, item)
    return causes


def _ephemeral_sub_paths(ctr: dict, path: str) -> list[Cause]:
    causes = []
    for i, mount in enumerate(map(as_dict, as_list(ctr.get("volumeMounts")))):
        for name in ("subPath", "subPathExpr"):
            if as_str(mount.get(name)):
                causes.append(forbidden(child(at(child(path, "volumeMounts"), i), name), "cannot be set for an Ephemeral Container"))
    return causes


def image_whitespace(ctr: dict, path: str) -> list[Cause]:
    image = as_str(ctr.get("image"))
    if image != image.strip():
        return [invalid(child(path, "image"), image, "must not have leading or trailing whitespace")]
    return []


def host_port_conflicts(containers: list, path: str) -> list[Cause]:
    seen: set = set()
    causes: list[Cause] = []
    for ci, ctr in enumerate(map(as_dict, containers)):
        for pi, port in enumerate(map(as_dict, as_list(ctr.get("ports")))):
            host_port = port.get("hostPort") or 0
            if not host_port:
                continue
            ident = f"{as_str(port.get('protocol')) or 'TCP'}/{as_str(port.get('hostIP'))}/{host_port}"
            if ident in seen:
                causes.append(duplicate(child(at(child(at(path, ci), "ports"), pi), "hostPort"), ident))
            seen.add(ident)
    return causes


def _host_network(spec: dict, path: str) -> list[Cause]:
    if spec.get("hostNetwork") is not True:
        return []
    causes = []
    for i, ctr in enumerate(map(as_dict, as_list(spec.get("containers")))):
        for j, port in enumerate(map(as_dict, as_list(ctr.get("ports")))):
            host_port, container_port = port.get("hostPort") or 0, port.get("containerPort") or 0
            if host_port and host_port != container_port:  # 0/absent: defaulted to containerPort
                causes.append(invalid(child(at(child(at(child(path, "containers"), i), "ports"), j), "hostPort"),
                                      host_port, "must match `containerPort` when `hostNetwork` is true"))
    return causes


# --- pod-level fields ----------------------------------------------------------------


def _policies(spec: dict, path: str) -> list[Cause]:
    return (_enum(spec.get("restartPolicy"), child(path, "restartPolicy"), RESTART_POLICIES)
            + _enum(spec.get("dnsPolicy"), child(path, "dnsPolicy"), DNS_POLICIES))


def _enum(value, path: str, allowed: tuple[str, ...]) -> list[Cause]:
    if value is None or value in allowed:
        return []
    return [required(path)] if value == "" else [not_supported(path, as_str(value), allowed)]


def _scheduling(spec: dict, path: str) -> list[Cause]:
    causes = _image_pull_secrets(spec.get("imagePullSecrets"), child(path, "imagePullSecrets"))
    causes += validate_affinity(spec.get("affinity"), child(path, "affinity"))
    for i, gate in enumerate(map(as_dict, as_list(spec.get("readinessGates")))):
        ctype = as_str(gate.get("conditionType"))
        causes += invalid_each(child(at(child(path, "readinessGates"), i), "conditionType"), ctype, qualified_name_errors(ctype))
    causes += _scheduling_gates(spec.get("schedulingGates"), child(path, "schedulingGates"))
    causes += validate_topology_spread(spec.get("topologySpreadConstraints"), child(path, "topologySpreadConstraints"))
    return causes + validate_tolerations(spec.get("tolerations"), child(path, "tolerations"))


def _image_pull_secrets(secrets, path: str) -> list[Cause]:
    causes = []
    for i, ref in enumerate(map(as_dict, as_list(secrets))):
        if set(ref) - {"name"}:
            shown = GoRepr(f"core.LocalObjectReference{{Name:{go_quote(as_str(ref.get('name')))}}}")
            causes.append(invalid(at(path, i), shown, "only name may be set"))
    return causes


def _scheduling_gates(gates, path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set = set()
    for i, gate in enumerate(map(as_dict, as_list(gates))):
        name = as_str(gate.get("name"))
        causes += invalid_each(at(path, i), name, qualified_name_errors(name))
        causes += [duplicate(at(path, i), name)] if name in seen else []
        seen.add(name)
    return causes


def _names_and_limits(spec: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for name in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = as_str(spec.get(name))
        if value:
            causes += invalid_each(child(path, name), value, name_is_dns_subdomain(value))
    for name in ("hostname", "subdomain"):
        value = as_str(spec.get(name))
        if value:
            causes += invalid_each(child(path, name), value, dns1123_label_errors(value))
    if spec.get("runtimeClassName") is not None:
        value = as_str(spec.get("runtimeClassName"))
        causes += invalid_each(child(path, "runtimeClassName"), value, name_is_dns_subdomain(value))
    return causes + _deadline(spec, path) + _misc_fields(spec, path)


def _deadline(spec: dict, path: str) -> list[Cause]:
    value = spec.get("activeDeadlineSeconds")
    if is_int(value) and not 1 <= value <= MAX_INT32:
        return [invalid(child(path, "activeDeadlineSeconds"), value, inclusive_range_error(1, MAX_INT32))]
    return []


def _misc_fields(spec: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, alias in enumerate(map(as_dict, as_list(spec.get("hostAliases")))):
        item = at(child(path, "hostAliases"), i)
        causes += ip_causes(child(item, "ip"), as_str(alias.get("ip")))
        for j, host in enumerate(map(as_str, as_list(alias.get("hostnames")))):
            causes += invalid_each(at(child(item, "hostnames"), j), host, dns1123_subdomain_errors(host))
    policy = spec.get("preemptionPolicy")
    if policy is not None:
        causes += _enum(policy, child(path, "preemptionPolicy"), ("PreemptLowerPriority", "Never"))
    return causes + _os(spec.get("os"), child(path, "os"))


def _os(value, path: str) -> list[Cause]:
    if value is None:
        return []
    name = as_str(as_dict(value).get("name"))
    if not name:
        return [required(child(path, "name"), "cannot be empty")]
    return [] if name in ("linux", "windows") else [not_supported(path, name, ("linux", "windows"))]


# --- DNS -----------------------------------------------------------------------------


def validate_dns_config(spec: dict, path: str) -> list[Cause]:
    config, policy = spec.get("dnsConfig"), spec.get("dnsPolicy")
    if policy == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not as_list(as_dict(config).get("nameservers")):
            return [required(child(path, "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if config is None:
        return []
    config = as_dict(config)
    return _nameservers(as_list(config.get("nameservers")), path) + _searches(as_list(config.get("searches")), path) + [
        required(at(child(path, "options"), i), "must not be empty")
        for i, option in enumerate(map(as_dict, as_list(config.get("options")))) if not as_str(option.get("name"))]


def _nameservers(servers: list, path: str) -> list[Cause]:
    causes = []
    if len(servers) > 3:
        causes.append(invalid(child(path, "nameservers"), GoRepr(go_repr(servers)), "must not have more than 3 nameservers"))
    for i, server in enumerate(servers):
        causes += ip_causes(at(child(path, "nameservers"), i), as_str(server))
    return causes


def _searches(searches: list, path: str) -> list[Cause]:
    causes = []
    shown = GoRepr(go_repr(searches))
    if len(searches) > 32:
        causes.append(invalid(child(path, "searches"), shown, "must not have more than 32 search paths"))
    if len(" ".join(map(as_str, searches))) > 2048:
        causes.append(invalid(child(path, "searches"), shown,
                              "must not have more than 2048 characters (including spaces) in the search list"))
    for i, search in enumerate(map(as_str, searches)):
        trimmed = search[:-1] if search.endswith(".") else search
        causes += invalid_each(at(child(path, "searches"), i), trimmed, dns1123_subdomain_errors(trimmed))
    return causes
