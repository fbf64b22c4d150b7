"""The downward API: fieldRef / resourceFieldRef selectors and downwardAPI volume files.

Field paths are converted as the v1 API does (subscripted metadata.labels['x'] and
metadata.annotations['x'] allowed, "spec.host" read as spec.nodeName) and then checked
against the set each consumer supports (env vars and volumes differ).
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import as_dict, as_str, child, invalid, invalid_each, not_supported, required
from .names import qualified_name_errors
from .paths import file_mode_causes, local_non_reserved_path

VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                      "metadata.uid")
CONVERTIBLE_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                           "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
                           "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs",
                           "status.podIP", "status.podIPs", "spec.host")
RESOURCE_FIELD_PATHS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                        "requests.ephemeral-storage", "requests.memory")


def downward_api_file(item: dict, path: str) -> list[Cause]:
    file_path = as_str(item.get("path"))
    causes = [] if file_path else [required(child(path, "path"))]
    causes += local_non_reserved_path(file_path, child(path, "path"))
    field_ref, resource_ref = item.get("fieldRef"), item.get("resourceFieldRef")
    if field_ref is not None:
        causes += object_field_selector(as_dict(field_ref), VOLUME_FIELD_PATHS, child(path, "fieldRef"))
        if resource_ref is not None:
            causes.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif resource_ref is not None:
        causes += resource_field_selector(as_dict(resource_ref), child(path, "resourceFieldRef"), volume=True)
    else:
        causes.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return causes + file_mode_causes(item.get("mode"), child(path, "mode"))


def object_field_selector(ref: dict, expressions: tuple[str, ...], path: str) -> list[Cause]:
    """validateObjectFieldSelector; apiVersion is defaulted to "v1" when absent."""
    api_version, field_path = ref.get("apiVersion", "v1"), as_str(ref.get("fieldPath"))
    if not api_version:
        return [required(child(path, "apiVersion"))]
    if not field_path:
        return [required(child(path, "fieldPath"))]
    base, subscript = _split_subscript(field_path)
    error = _conversion_error(as_str(api_version), field_path, base, subscript)
    if error:
        return [invalid(child(path, "fieldPath"), field_path, f"error converting fieldPath: {error}")]
    if subscript is not None:
        name = subscript.lower() if base == "metadata.annotations" else subscript
        return invalid_each(path, name, qualified_name_errors(name))
    field_path = "spec.nodeName" if field_path == "spec.host" else field_path
    if field_path not in expressions:
        return [not_supported(child(path, "fieldPath"), field_path, sorted(expressions))]
    return []


def _split_subscript(field_path: str) -> tuple[str, str | None]:
    if not field_path.endswith("']"):
        return field_path, None
    base, sep, rest = field_path.partition("['")
    return (base, rest[:-2]) if sep else (field_path, None)


def _conversion_error(api_version: str, field_path: str, base: str, subscript) -> str:
    if api_version != "v1":
        return f"unsupported pod version: {api_version}"
    if subscript is not None:
        if base in ("metadata.annotations", "metadata.labels"):
            return ""
        return f"field label does not support subscript: {field_path}"
    return "" if field_path in CONVERTIBLE_FIELD_PATHS else f"field label not supported: {field_path}"


def resource_field_selector(ref: dict, path: str, *, volume: bool) -> list[Cause]:
    resource = as_str(ref.get("resource"))
    if volume and not as_str(ref.get("containerName")):
        return [required(child(path, "containerName"))]
    if not resource:
        return [required(child(path, "resource"))]
    if resource not in RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(child(path, "resource"), resource, RESOURCE_FIELD_PATHS)]
    return []  # TODO: divisor values per resource.
