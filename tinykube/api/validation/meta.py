"""ObjectMeta validation: names, namespace, labels, annotations, owners, finalizers.

Mirrors k8s.io/apimachinery/pkg/api/validation/objectmeta.go plus the core-group
additions (legacy finalizer names).  `validate_labels` / `validate_annotations` are
public helpers other code can reuse; they report at the map's path (e.g.
"metadata.labels") like Kubernetes does, with the bad key or value as the value.
"""

from __future__ import annotations

from datetime import datetime

from tinykube.api.errors import Cause

from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, forbidden, go_quote, go_repr, immutable,
    invalid, invalid_each, is_int, nonnegative, required, too_long,
)
from .names import (
    label_value_errors, name_is_dns_label, qualified_name_errors,
)

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
FIELD_MANAGER_MAX = 128


def validate_labels(labels, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for name, value in as_dict(labels).items():
        causes += validate_label_name(name, path)
        causes += invalid_each(path, value, label_value_errors(as_str(value)))
    return causes


def validate_label_name(name: str, path: str) -> list[Cause]:
    return invalid_each(path, name, qualified_name_errors(name))


def validate_annotations(annotations, path: str) -> list[Cause]:
    annotations = as_dict(annotations)
    causes: list[Cause] = []
    for name in annotations:
        # Case does not matter for annotation keys: checked lower-cased.
        causes += invalid_each(path, name, qualified_name_errors(name.lower()))
    size = sum(len(k.encode()) + len(as_str(v).encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


# --- owner references ----------------------------------------------------------------


def validate_owner_references(refs, path: str) -> list[Cause]:
    causes: list[Cause] = []
    first_controller = ""
    for ref in map(as_dict, as_list(refs)):
        causes += _owner_reference(ref, path)
        if ref.get("controller") is True:
            name = f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}"
            if first_controller:
                causes.append(invalid(path, GoRepr(_refs_repr(refs)), (
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {first_controller} and {name}")))
            else:
                first_controller = name
    return causes


def _owner_reference(ref: dict, path: str) -> list[Cause]:
    api_version, kind = as_str(ref.get("apiVersion")), as_str(ref.get("kind"))
    causes = []
    if not api_version.rpartition("/")[2]:
        causes.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
    for name in ("kind", "name", "uid"):
        if not as_str(ref.get(name)):
            causes.append(invalid(child(path, name), as_str(ref.get(name)), "must not be empty"))
    if api_version == "v1" and kind == "Event":
        causes.append(invalid(path, GoRepr(_ref_repr(ref)), "/v1, Kind=Event is disallowed from being an owner"))
    return causes


def _ref_repr(ref: dict) -> str:
    fields = ", ".join(f"{k[0].upper()}{k[1:]}:{go_quote(as_str(ref.get(k)))}"
                       for k in ("apiVersion", "kind", "name", "uid"))
    return "v1.OwnerReference{" + fields + "}"


def _refs_repr(refs) -> str:
    return "[]v1.OwnerReference{" + ", ".join(_ref_repr(as_dict(r)) for r in as_list(refs)) + "}"


# --- finalizers ----------------------------------------------------------------------


def validate_finalizers(finalizers, path: str, *, kube: bool = True) -> list[Cause]:
    """Qualified names (reported at the list's path), and, for core validation,
    "standard or fully qualified" (reported per index)."""
    names = [as_str(f) for f in as_list(finalizers)]
    causes: list[Cause] = []
    for name in names:
        causes += invalid_each(path, name, qualified_name_errors(name))
    if "orphan" in names and "foregroundDeletion" in names:
        causes.append(invalid(path, GoRepr(go_repr(names)),
                              "finalizer orphan and foregroundDeletion cannot be both set"))
    if kube:
        for i, name in enumerate(names):
            causes += kube_finalizer_causes(name, at(path, i))
    return causes


def kube_finalizer_causes(name: str, path: str) -> list[Cause]:
    if "/" not in name and name not in STANDARD_FINALIZERS:
        return [invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")]
    return []


# --- whole ObjectMeta ----------------------------------------------------------------


def validate_object_meta(meta, *, namespaced: bool, name_fn, path: str = "metadata",
                         kube_finalizers: bool = True) -> list[Cause]:
    """ValidateObjectMeta on create; `name_fn(name, prefix)` returns error strings."""
    meta = as_dict(meta)
    return (_name_causes(meta, name_fn, path) + _namespace_causes(meta, namespaced, path)
            + _common_meta(meta, path, kube_finalizers))


def _name_causes(meta: dict, name_fn, path: str) -> list[Cause]:
    causes = []
    generate_name, name = as_str(meta.get("generateName")), as_str(meta.get("name"))
    if generate_name:
        causes += invalid_each(child(path, "generateName"), generate_name, name_fn(generate_name, True))
    if not name:
        return causes + [required(child(path, "name"), "name or generateName is required")]
    return causes + invalid_each(child(path, "name"), name, name_fn(name, False))


def _namespace_causes(meta: dict, namespaced: bool, path: str) -> list[Cause]:
    namespace = as_str(meta.get("namespace"))
    if not namespaced:
        return [forbidden(child(path, "namespace"), "not allowed on this type")] if namespace else []
    if not namespace:
        return [required(child(path, "namespace"))]
    return invalid_each(child(path, "namespace"), namespace, name_is_dns_label(namespace))


def _common_meta(meta: dict, path: str, kube_finalizers: bool) -> list[Cause]:
    return (nonnegative(child(path, "generation"), meta.get("generation"))
            + validate_labels(meta.get("labels"), child(path, "labels"))
            + validate_annotations(meta.get("annotations"), child(path, "annotations"))
            + validate_owner_references(meta.get("ownerReferences"), child(path, "ownerReferences"))
            + validate_finalizers(meta.get("finalizers"), child(path, "finalizers"), kube=kube_finalizers)
            + validate_managed_fields(meta.get("managedFields"), child(path, "managedFields")))


def validate_managed_fields(entries, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, entry in enumerate(map(as_dict, as_list(entries))):
        item = at(path, i)
        if entry.get("operation") not in ("Apply", "Update"):
            causes.append(invalid(child(item, "operation"), as_str(entry.get("operation")),
                                  "must be `Apply` or `Update`"))
        if entry.get("fieldsType") not in (None, "", "FieldsV1"):
            causes.append(invalid(child(item, "fieldsType"), as_str(entry.get("fieldsType")),
                                  "must be `FieldsV1`"))
        if len(as_str(entry.get("manager"))) > FIELD_MANAGER_MAX:
            causes.append(too_long(child(item, "manager"), FIELD_MANAGER_MAX))
    return causes


# --- update --------------------------------------------------------------------------


def validate_object_meta_update(new, old, path: str = "metadata", *, kube_finalizers: bool = True) -> list[Cause]:
    """ValidateObjectMetaUpdate.  The resourceVersion check ("must be specified for an
    update") is left to the API server, which fills it in for unconditional updates."""
    new, old = as_dict(new), as_dict(old)
    causes = _no_new_finalizers(new, old, path) + _generation_update(new, old, path)
    for name in ("name", "namespace", "uid"):
        causes += immutable(child(path, name), as_str(new.get(name)), as_str(old.get(name)))
    causes += _time_immutable(new, old, "creationTimestamp", path, nullable=False)
    causes += _time_immutable(new, old, "deletionTimestamp", path, nullable=True)
    causes += immutable(child(path, "deletionGracePeriodSeconds"), new.get("deletionGracePeriodSeconds"),
                        old.get("deletionGracePeriodSeconds"))
    return causes + _common_update(new, path, kube_finalizers)


def _common_update(new: dict, path: str, kube_finalizers: bool) -> list[Cause]:
    return (validate_labels(new.get("labels"), child(path, "labels"))
            + validate_annotations(new.get("annotations"), child(path, "annotations"))
            + validate_owner_references(new.get("ownerReferences"), child(path, "ownerReferences"))
            + validate_finalizers(new.get("finalizers"), child(path, "finalizers"), kube=kube_finalizers)
            + validate_managed_fields(new.get("managedFields"), child(path, "managedFields")))


def _no_new_finalizers(new: dict, old: dict, path: str) -> list[Cause]:
    if not old.get("deletionTimestamp"):
        return []
    extra = sorted(set(as_list(new.get("finalizers"))) - set(as_list(old.get("finalizers"))))
    if not extra:
        return []
    return [forbidden(child(path, "finalizers"), "no new finalizers can be added if the object is being "
                      f"deleted, found new finalizers {go_repr(extra)}")]


def _generation_update(new: dict, old: dict, path: str) -> list[Cause]:
    new_gen, old_gen = new.get("generation"), old.get("generation")
    if is_int(new_gen) and is_int(old_gen) and new_gen < old_gen:
        return [invalid(child(path, "generation"), new_gen, "must not be decremented")]
    return []


def _time_immutable(new: dict, old: dict, name: str, path: str, *, nullable: bool) -> list[Cause]:
    new_value, old_value = new.get(name), old.get(name)
    if _same_time(new_value, old_value):
        return []
    if new_value is None and nullable:
        return [invalid(child(path, name), None, "field is immutable")]
    return [invalid(child(path, name), GoRepr(go_time(new_value)), "field is immutable")]


def _same_time(a, b) -> bool:
    return _parse_time(a) == _parse_time(b) if a and b else not a and not b


def _parse_time(value) -> datetime | str:
    try:
        return datetime.fromisoformat(as_str(value).replace("Z", "+00:00"))
    except ValueError:
        return as_str(value)


def go_time(value) -> str:
    """metav1.Time's String(): Go's time.Time format, e.g. "2024-01-02 03:04:05 +0000 UTC"."""
    parsed = _parse_time(value)
    if not isinstance(parsed, datetime):
        return "0001-01-01 00:00:00 +0000 UTC" if not value else go_quote(str(value))
    offset = parsed.strftime("%z") or "+0000"
    zone = "UTC" if offset == "+0000" else parsed.strftime("%Z") or offset
    return parsed.strftime("%Y-%m-%d %H:%M:%S") + f" {offset} {zone}"
