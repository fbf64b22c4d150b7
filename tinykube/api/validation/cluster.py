"""Namespaces and Nodes (ValidateNamespace*, ValidateNode*).

Upstream reports Node taint errors under "metadata.taints[i]" and resource quantities
under "status.capacity.<name>"; both are kept as Kubernetes prints them.  A Node's
legacy `spec.podCIDR` is read as `spec.podCIDRs[0]` when podCIDRs is empty, as the
v1 conversion does.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, forbidden, go_quote, go_repr, invalid,
    invalid_each,
)
from .meta import kube_finalizer_causes, validate_object_meta, validate_object_meta_update
from .names import name_is_dns_label, name_is_dns_subdomain, qualified_name_errors
from .net import cidr_causes, is_dual_stack
from .resources import quantity_causes
from .scheduling import validate_taints

CIDR_CHANGE_MSG = 'node updates may not change podCIDR except from "" to valid'


# --- Namespace -----------------------------------------------------------------------


def validate_namespace(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=False, name_fn=name_is_dns_label)
    for name in map(as_str, as_list(as_dict(obj.get("spec")).get("finalizers"))):
        causes += invalid_each("spec.finalizers", name, qualified_name_errors(name))
        causes += kube_finalizer_causes(name, "spec.finalizers")
    return causes


def validate_namespace_update(new: dict, old: dict) -> list[Cause]:
    return validate_object_meta_update(new.get("metadata"), old.get("metadata"))


def validate_namespace_status(new: dict) -> list[Cause]:
    phase = as_dict(new.get("status")).get("phase")
    deleting = bool(as_dict(new.get("metadata")).get("deletionTimestamp"))
    if not deleting and phase not in (None, "Active"):
        return [invalid("status.Phase", as_str(phase), "may only be 'Active' if `deletionTimestamp` is empty")]
    if deleting and phase != "Terminating":
        return [invalid("status.Phase", as_str(phase), "may only be 'Terminating' if `deletionTimestamp` is not empty")]
    return []


# --- Node ----------------------------------------------------------------------------


def pod_cidrs(spec: dict) -> list[str]:
    cidrs = [as_str(c) for c in as_list(spec.get("podCIDRs"))]
    return cidrs or ([as_str(spec["podCIDR"])] if as_str(spec.get("podCIDR")) else [])


def validate_node(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), namespaced=False, name_fn=name_is_dns_subdomain)
    causes += validate_taints(spec.get("taints"), "metadata.taints")
    causes += node_resources(as_dict(obj.get("status")))
    return causes + _pod_cidrs(pod_cidrs(spec))


def _pod_cidrs(cidrs: list[str]) -> list[Cause]:
    causes: list[Cause] = []
    for i, cidr in enumerate(cidrs):
        causes += cidr_causes(at("spec.podCIDRs", i), cidr)
    if len(cidrs) > 1:
        if not is_dual_stack(cidrs):
            causes.append(invalid("spec.podCIDRs", GoRepr(go_repr(cidrs)), "may specify no more than one CIDR for each IP family"))
        causes += [duplicate(at("spec.podCIDRs", i), c) for i, c in enumerate(cidrs) if c in cidrs[:i]]
    return causes


def node_resources(status: dict) -> list[Cause]:
    causes: list[Cause] = []
    for group in ("capacity", "allocatable"):
        for name, value in as_dict(status.get(group)).items():
            causes += quantity_causes(name, value, child("status", group, name))[1]
    return causes


def validate_node_update(new: dict, old: dict) -> list[Cause]:
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    causes += node_resources(as_dict(new.get("status"))) + _addresses(as_dict(new.get("status")))
    old_cidrs, new_cidrs = pod_cidrs(old_spec), pod_cidrs(new_spec)
    if old_cidrs and (len(old_cidrs) != len(new_cidrs)):
        causes.append(forbidden("spec.podCIDRs", CIDR_CHANGE_MSG))
    elif old_cidrs:
        causes += [forbidden("spec.podCIDRs", CIDR_CHANGE_MSG) for o, n in zip(old_cidrs, new_cidrs) if o != n]
    old_provider = as_str(old_spec.get("providerID"))
    if old_provider and old_provider != as_str(new_spec.get("providerID")):
        causes.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    if as_str(new_spec.get("externalID")) != as_str(old_spec.get("externalID")):
        causes.append(forbidden("spec.externalID", "may not be updated"))
    return causes + validate_taints(new_spec.get("taints"), "metadata.taints")


def _addresses(status: dict) -> list[Cause]:
    seen: set = set()
    causes = []
    for i, address in enumerate(map(as_dict, as_list(status.get("addresses")))):
        ident = (as_str(address.get("type")), as_str(address.get("address")))
        if ident in seen:
            shown = GoRepr(f"core.NodeAddress{{Type:{go_quote(ident[0])}, Address:{go_quote(ident[1])}}}")
            causes.append(duplicate(at("status.addresses", i), shown))
        seen.add(ident)
    return causes
