"""One container: name, image, ports, env, mounts (probes: `handlers`; security: `security`).

Mirrors validateContainerCommon and friends in core validation (1.32 defaults:
relaxed environment variable names, no zero-second sleep).  Fields Kubernetes fills in
by defaulting (protocol, imagePullPolicy, terminationMessagePolicy, probe thresholds,
httpGet path/scheme) are accepted when absent and checked when present.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import (
    as_dict, as_list, as_str, at, child, duplicate, forbidden, invalid, invalid_each, is_int, not_found,
    not_supported, required,
)
from .downward import object_field_selector, resource_field_selector
from .names import (
    config_map_key_errors, dns1123_label_errors, name_is_dns_subdomain, port_name_errors, port_num_errors,
    relaxed_env_var_name_errors,
)
from .paths import local_descending_path
from .resources import validate_resource_requirements
from .security import validate_security_context
from .volumes import pull_policy_causes

PROTOCOLS = ("SCTP", "TCP", "UDP")
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")


def validate_container_common(ctr: dict, path: str, volumes: dict) -> list[Cause]:
    causes = _name_and_image(ctr, path)
    causes += _termination_message_policy(ctr.get("terminationMessagePolicy"), child(path, "terminationMessagePolicy"))
    causes += validate_ports(ctr.get("ports"), child(path, "ports"))
    causes += validate_env(ctr.get("env"), child(path, "env"))
    causes += validate_env_from(ctr.get("envFrom"), child(path, "envFrom"))
    causes += validate_volume_mounts(ctr, child(path, "volumeMounts"), volumes)
    causes += pull_policy_causes(ctr.get("imagePullPolicy"), child(path, "imagePullPolicy"))
    causes += validate_resource_requirements(ctr.get("resources"), child(path, "resources"))
    return causes + validate_security_context(ctr.get("securityContext"), child(path, "securityContext"))


def _name_and_image(ctr: dict, path: str) -> list[Cause]:
    name = as_str(ctr.get("name"))
    name_path = child(path, "name")
    causes = invalid_each(name_path, name, dns1123_label_errors(name)) if name else [required(name_path)]
    if not as_str(ctr.get("image")):
        causes.append(required(child(path, "image")))
    return causes


def _termination_message_policy(policy, path: str) -> list[Cause]:
    if policy is None or policy in ("File", "FallbackToLogsOnError"):
        return []
    if policy == "":
        return [required(path)]
    return [not_supported(path, as_str(policy), ("File", "FallbackToLogsOnError"))]


# --- ports ---------------------------------------------------------------------------


def validate_ports(ports, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set = set()
    for i, port in enumerate(map(as_dict, as_list(ports))):
        causes += _port(port, at(path, i), names)
    return causes


def _port(port: dict, path: str, names: set) -> list[Cause]:
    causes = _port_name(as_str(port.get("name")), child(path, "name"), names)
    container_port = port.get("containerPort") or 0
    if not container_port:
        causes.append(required(child(path, "containerPort")))
    else:
        causes += invalid_each(child(path, "containerPort"), container_port, port_num_errors(container_port))
    host_port = port.get("hostPort") or 0
    if host_port:
        causes += invalid_each(child(path, "hostPort"), host_port, port_num_errors(host_port))
    return causes + protocol_causes(port.get("protocol"), child(path, "protocol"))


def _port_name(name: str, path: str, names: set) -> list[Cause]:
    if not name:
        return []
    errors = port_name_errors(name)
    if errors:
        return invalid_each(path, name, errors)
    if name in names:
        return [duplicate(path, name)]
    names.add(name)
    return []


def protocol_causes(protocol, path: str) -> list[Cause]:
    if protocol is None or protocol in PROTOCOLS:
        return []
    if protocol == "":
        return [required(path)]
    return [not_supported(path, as_str(protocol), PROTOCOLS)]


def port_num_or_name(port, path: str) -> list[Cause]:
    """ValidatePortNumOrName for an IntOrString."""
    if isinstance(port, str):
        return invalid_each(path, port, port_name_errors(port))
    number = port if is_int(port) else 0
    return invalid_each(path, number, port_num_errors(number))


# --- environment ---------------------------------------------------------------------


def validate_env(env, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, var in enumerate(map(as_dict, as_list(env))):
        item = at(path, i)
        name = as_str(var.get("name"))
        if not name:
            causes.append(required(child(item, "name")))
        else:
            causes += invalid_each(child(item, "name"), name, relaxed_env_var_name_errors(name))
        causes += _value_from(var, child(item, "valueFrom"))
    return causes


def _value_from(var: dict, path: str) -> list[Cause]:
    source = var.get("valueFrom")
    if source is None:
        return []
    source = as_dict(source)
    causes, count = _value_sources(source, path)
    if count == 0:
        causes.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                        "`configMapKeyRef` or `secretKeyRef`"))
    elif as_str(var.get("value")):
        causes.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        causes.append(invalid(path, "", "may not have more than one field specified at a time"))
    return causes


def _value_sources(source: dict, path: str) -> tuple[list[Cause], int]:
    causes: list[Cause] = []
    count = 0
    if source.get("fieldRef") is not None:
        count += 1
        causes += object_field_selector(as_dict(source["fieldRef"]), ENV_FIELD_PATHS, child(path, "fieldRef"))
    if source.get("resourceFieldRef") is not None:
        count += 1
        causes += resource_field_selector(as_dict(source["resourceFieldRef"]), child(path, "resourceFieldRef"),
                                          volume=False)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if source.get(kind) is not None:
            count += 1
            causes += _key_selector(as_dict(source[kind]), child(path, kind))
    return causes, count


def _key_selector(ref: dict, path: str) -> list[Cause]:
    name, key_name = as_str(ref.get("name")), as_str(ref.get("key"))
    causes = invalid_each(child(path, "name"), name, name_is_dns_subdomain(name))
    if not key_name:
        return causes + [required(child(path, "key"))]
    return causes + invalid_each(child(path, "key"), key_name, config_map_key_errors(key_name))


def validate_env_from(sources, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, source in enumerate(map(as_dict, as_list(sources))):
        item = at(path, i)
        prefix = as_str(source.get("prefix"))
        if prefix:
            causes += invalid_each(child(item, "prefix"), prefix, relaxed_env_var_name_errors(prefix))
        kinds = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
        for kind in kinds:
            causes += _env_source_name(as_dict(source[kind]), child(item, kind))
        if not kinds:
            causes.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(kinds) > 1:
            causes.append(invalid(path, "", "may not have more than one field specified at a time"))
    return causes


def _env_source_name(ref: dict, path: str) -> list[Cause]:
    name = as_str(ref.get("name"))
    if not name:
        return [required(child(path, "name"))]
    return invalid_each(child(path, "name"), name, name_is_dns_subdomain(name, True))


# --- volume mounts -------------------------------------------------------------------


def validate_volume_mounts(ctr: dict, path: str, volumes: dict) -> list[Cause]:
    causes: list[Cause] = []
    mount_points: set = set()
    for i, mount in enumerate(map(as_dict, as_list(ctr.get("volumeMounts")))):
        causes += _mount(mount, at(path, i), path, volumes, mount_points)
        causes += _propagation(mount, path, _privileged(ctr))
    return causes


def _mount(mount: dict, item: str, path: str, volumes: dict, mount_points: set) -> list[Cause]:
    name, mount_path = as_str(mount.get("name")), as_str(mount.get("mountPath"))
    causes = [] if name else [required(child(item, "name"))]
    if name not in volumes:
        causes.append(not_found(child(item, "name"), name))
    if not mount_path:
        causes.append(required(child(item, "mountPath")))
    if mount_path in mount_points:
        causes.append(invalid(child(item, "mountPath"), mount_path, "must be unique"))
    mount_points.add(mount_path)
    return causes + _sub_paths(mount, item, path, as_dict(volumes.get(name)))


def _sub_paths(mount: dict, item: str, path: str, volume: dict) -> list[Cause]:
    sub_path, sub_expr = as_str(mount.get("subPath")), as_str(mount.get("subPathExpr"))
    causes: list[Cause] = []
    if volume.get("image") is not None:
        if sub_path:
            causes.append(invalid(child(item, "subPath"), sub_path, "not allowed in image volume sources"))
        if sub_expr:
            causes.append(invalid(child(item, "subPathExpr"), sub_expr, "not allowed in image volume sources"))
    if sub_path:  # upstream reports these two at the list's path, not the item's
        causes += local_descending_path(sub_path, child(path, "subPath"))
    if sub_expr:
        if sub_path:
            causes.append(invalid(child(item, "subPathExpr"), sub_expr, "subPathExpr and subPath are mutually exclusive"))
        causes += local_descending_path(sub_expr, child(path, "subPathExpr"))
    return causes


def _propagation(mount: dict, path: str, privileged: bool) -> list[Cause]:
    mode = mount.get("mountPropagation")
    causes: list[Cause] = []
    if mode is not None:
        prop_path = child(path, "mountPropagation")
        if mode not in ("Bidirectional", "HostToContainer", "None"):
            causes.append(not_supported(prop_path, as_str(mode), ("Bidirectional", "HostToContainer", "None")))
        if mode == "Bidirectional" and not privileged:
            causes.append(forbidden(prop_path, "Bidirectional mount propagation is available only to privileged containers"))
    return causes + _recursive_read_only(mount, child(path, "recursiveReadOnly"))


def _recursive_read_only(mount: dict, path: str) -> list[Cause]:
    mode = mount.get("recursiveReadOnly")
    if mode is None or mode == "Disabled":
        return []
    if mode not in ("Enabled", "IfPossible"):
        return [not_supported(path, as_str(mode), ("Disabled", "Enabled", "IfPossible"))]
    causes = [] if mount.get("readOnly") is True else [forbidden(path, "may only be specified when readOnly is true")]
    if mount.get("mountPropagation") not in (None, "None"):
        causes.append(forbidden(path, "may only be specified when mountPropagation is None or not specified"))
    return causes


def _privileged(ctr: dict) -> bool:
    return as_dict(ctr.get("securityContext")).get("privileged") is True
