"""A container's environment, resolved as the kubelet does (pure functions).

Order and precedence follow Kubernetes: envFrom sources first (in order, with their
prefix), then env entries (which override); values may refer to earlier variables as
$(NAME) ($$ escapes, unknown references stay as written); valueFrom reads configMapKeyRef,
secretKeyRef, fieldRef (the downward API) and resourceFieldRef. A missing ConfigMap,
Secret or key fails the container (CreateContainerConfigError) unless marked optional.
"""

from __future__ import annotations

import base64
import decimal
import math
import re

from tinykube.agent.runtime.process import expand
from tinykube.api.validation.quantity import parse_quantity


class EnvError(Exception):
    """The container cannot start: reason CreateContainerConfigError, with this message."""


def container_env(container: dict, pod: dict, *, configmaps: dict[str, dict],
                  secrets: dict[str, dict], node_allocatable: dict | None = None,
                  service_env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The "NAME=value" pairs of a container, in order. configmaps/secrets: name -> object."""
    env: dict[str, str] = dict(service_env or {})
    for source in container.get("envFrom") or []:
        env.update(_from_source(source, configmaps, secrets))
    for entry in container.get("env") or []:
        name = entry["name"]
        if "valueFrom" in entry:
            value = _value_from(entry["valueFrom"], container, pod, configmaps, secrets,
                                node_allocatable or {})
            if value is None:
                continue  # an optional reference that is missing: the variable is not set
            env[name] = value
        else:
            env[name] = expand(entry.get("value", ""), env)
    return list(env.items())


_C_IDENTIFIER = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _from_source(source: dict, configmaps, secrets) -> dict[str, str]:
    prefix = source.get("prefix", "")
    if "configMapRef" in source:
        ref, data = source["configMapRef"], None
        obj = configmaps.get(ref.get("name", ""))
        data = None if obj is None else {**(obj.get("data") or {})}
        kind = "configmap"
    else:
        ref = source.get("secretRef") or {}
        obj = secrets.get(ref.get("name", ""))
        data = None if obj is None else {k: _b64(v) for k, v in (obj.get("data") or {}).items()}
        kind = "secret"
    if data is None:
        if ref.get("optional"):
            return {}
        raise EnvError(f'{kind} "{ref.get("name", "")}" not found')
    # keys that are not valid variable names are skipped (the kubelet emits an event)
    return {prefix + k: v for k, v in data.items() if _C_IDENTIFIER.match(prefix + k)}


def _b64(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="replace")


def _value_from(source: dict, container, pod, configmaps, secrets, allocatable) -> str | None:
    if "configMapKeyRef" in source:
        return _key_ref(source["configMapKeyRef"], configmaps, "configmap", decode=False)
    if "secretKeyRef" in source:
        return _key_ref(source["secretKeyRef"], secrets, "secret", decode=True)
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in source:
        return resource_value(source["resourceFieldRef"], container, pod, allocatable)
    raise EnvError("valueFrom has no source")


def _key_ref(ref: dict, objects: dict, kind: str, *, decode: bool) -> str | None:
    obj = objects.get(ref.get("name", ""))
    key = ref.get("key", "")
    if obj is None:
        if ref.get("optional"):
            return None
        raise EnvError(f'{kind} "{ref.get("name", "")}" not found')
    data = obj.get("data") or {}
    if key not in data:
        if ref.get("optional"):
            return None
        raise EnvError(f'couldn\'t find key {key} in {kind.capitalize() if kind == "secret" else "ConfigMap"} '
                       f'{obj["metadata"].get("namespace", "")}/{obj["metadata"]["name"]}')
    return _b64(data[key]) if decode else data[key]


def field_value(pod: dict, path: str) -> str:
    """The downward API's fieldRef paths."""
    md, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""), "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
    }
    if path in simple:
        return simple[path]
    for prefix, mapping in (("metadata.labels", md.get("labels")), ("metadata.annotations", md.get("annotations"))):
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted((mapping or {}).items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return (mapping or {}).get(path[len(prefix) + 2:-2], "")
    raise EnvError(f"unsupported fieldRef path: {path}")


def resource_value(ref: dict, container: dict, pod: dict, allocatable: dict) -> str:
    """resourceFieldRef: a limit (node allocatable when unset) or request, over a divisor,
    rounded up as the kubelet does."""
    resource = ref["resource"]
    target = container
    if ref.get("containerName"):
        target = next((c for c in pod.get("spec", {}).get("containers", [])
                       if c["name"] == ref["containerName"]), container)
    kind, _, name = resource.partition(".")
    values = (target.get("resources") or {}).get(kind) or {}
    raw = values.get(name)
    if raw is None:
        raw = allocatable.get(name, "0") if kind == "limits" else "0"
    divisor = parse_quantity(str(ref.get("divisor") or ("1" if name != "cpu" else "1")))
    if divisor == 0:
        divisor = decimal.Decimal(1)
    return str(math.ceil(parse_quantity(str(raw)) / divisor))
