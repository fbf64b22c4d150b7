"""Pods and pod templates: create, update (mostly immutable spec), status update.

Mirrors ValidatePodCreate / ValidatePodUpdate / ValidatePodStatusUpdate and
ValidatePodTemplateSpec.  Note that a template's label and annotation errors are
reported at "<path>.labels" (not "<path>.metadata.labels"), exactly as upstream does.
"""

from __future__ import annotations

import copy
import re

from tinykube.api.errors import Cause

from .equality import diff, semantic_equal
from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, forbidden, go_quote, invalid, invalid_each, is_int,
    key, required,
)
from .meta import validate_annotations, validate_labels, validate_object_meta, validate_object_meta_update
from .names import inclusive_range_error, name_is_dns_subdomain, qualified_name_errors
from .net import ip_causes, is_dual_stack
from .podspec import MAX_INT32, image_whitespace, validate_pod_spec
from .scheduling import validate_tolerations
from .paths import local_descending_path

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
UPDATABLE_FIELDS = ",".join((
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
))
SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized")
_INT32_RE = re.compile(r"^[+-]?[0-9]+$")


def validate_pod_create(pod: dict) -> list[Cause]:
    spec = as_dict(pod.get("spec"))
    causes = _metadata_and_spec(pod)
    causes += _deletion_cost(as_dict(as_dict(pod.get("metadata")).get("annotations")), "metadata.annotations")
    if as_list(spec.get("ephemeralContainers")):
        causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if as_str(spec.get("nodeName")) and as_list(spec.get("schedulingGates")):
        causes.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return causes


def _metadata_and_spec(pod: dict) -> list[Cause]:
    meta, spec = as_dict(pod.get("metadata")), as_dict(pod.get("spec"))
    causes = validate_object_meta(meta, namespaced=True, name_fn=name_is_dns_subdomain)
    causes += pod_specific_annotations(as_dict(meta.get("annotations")), spec, "metadata.annotations")
    causes += validate_pod_spec(spec, "spec", is_pod=True, pod_name=as_str(meta.get("name")))
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(map(as_dict, as_list(spec.get(kind)))):
            causes += image_whitespace(ctr, at(child("spec", kind), i))
    return causes


def pod_specific_annotations(annotations: dict, spec: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if MIRROR_ANNOTATION in annotations and not as_str(spec.get("nodeName")):
        causes.append(invalid(key(path, MIRROR_ANNOTATION), as_str(annotations[MIRROR_ANNOTATION]),
                              "must set spec.nodeName if mirror pod annotation is set"))
    for name, value in annotations.items():
        if name == SECCOMP_POD_ANNOTATION or name.startswith(SECCOMP_CONTAINER_PREFIX):
            causes += _seccomp_annotation(as_str(value), child(path, name))
        if name.startswith(APPARMOR_PREFIX):
            causes += _apparmor_annotation(name, as_str(value), spec, path)
    return causes


def _deletion_cost(annotations: dict, path: str) -> list[Cause]:
    if DELETION_COST_ANNOTATION not in annotations:
        return []
    value = as_str(annotations[DELETION_COST_ANNOTATION])
    if _INT32_RE.match(value) and -(2 ** 31) <= int(value) <= MAX_INT32:
        return []
    return [invalid(key(path, DELETION_COST_ANNOTATION), value, "must be a 32bit integer")]


def _seccomp_annotation(value: str, path: str) -> list[Cause]:
    if value in ("runtime/default", "docker/default", "unconfined"):
        return []
    if value.startswith("localhost/"):
        return local_descending_path(value[len("localhost/"):], path)
    return [invalid(path, value, "must be a valid seccomp profile")]


def _apparmor_annotation(name: str, value: str, spec: dict, path: str) -> list[Cause]:
    container = name[len(APPARMOR_PREFIX):]
    names = {as_str(as_dict(c).get("name")) for k in ("containers", "initContainers", "ephemeralContainers")
             for c in as_list(spec.get(k))}
    causes = [] if container in names else [invalid(key(path, name), container, "container not found")]
    if value not in ("", "runtime/default", "unconfined") and not value.startswith("localhost/"):
        causes.append(invalid(key(path, name), value, f"invalid AppArmor profile name: {go_quote(value)}"))
    return causes


# --- templates -----------------------------------------------------------------------


def validate_pod_template_spec(template, path: str, *, extra_volumes: dict | None = None) -> list[Cause]:
    template = as_dict(template)
    meta, spec = as_dict(template.get("metadata")), as_dict(template.get("spec"))
    causes = validate_labels(meta.get("labels"), child(path, "labels"))
    causes += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    causes += pod_specific_annotations(as_dict(meta.get("annotations")), spec, child(path, "annotations"))
    causes += _deletion_cost(as_dict(meta.get("annotations")), child(path, "annotations"))
    causes += validate_pod_spec(spec, child(path, "spec"), extra_volumes=extra_volumes)
    if as_list(spec.get("ephemeralContainers")):
        causes.append(forbidden(child(path, "spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
    return causes


# --- update --------------------------------------------------------------------------


def validate_pod_update(new: dict, old: dict) -> list[Cause]:
    new_meta, old_meta = as_dict(new.get("metadata")), as_dict(old.get("metadata"))
    causes = validate_object_meta_update(new_meta, old_meta) + _metadata_and_spec(new)
    new_annotations, old_annotations = as_dict(new_meta.get("annotations")), as_dict(old_meta.get("annotations"))
    causes += _annotation_updates(new_annotations, old_annotations)
    if not _deletion_cost(old_annotations, "metadata.annotations"):
        causes += _deletion_cost(new_annotations, "metadata.annotations")
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    for kind in ("containers", "initContainers"):
        errs, stop = _container_updates(as_list(new_spec.get(kind)), as_list(old_spec.get(kind)), child("spec", kind))
        causes += errs
        if stop:
            return causes
    deadline = _deadline_update(new_spec, old_spec)
    if deadline:
        return causes + deadline
    causes += _tolerations_update(new_spec, old_spec)
    causes += _scheduling_gates_update(new_spec, old_spec)
    return causes + _spec_unchanged(new_spec, old_spec)


def _annotation_updates(new: dict, old: dict) -> list[Cause]:
    path = key("metadata.annotations", MIRROR_ANNOTATION)
    if MIRROR_ANNOTATION in old and new.get(MIRROR_ANNOTATION) != old[MIRROR_ANNOTATION]:
        return [forbidden(path, "may not remove or update mirror pod annotation")]
    if MIRROR_ANNOTATION in new and MIRROR_ANNOTATION not in old:
        return [forbidden(path, "may not add mirror pod annotation")]
    return []


def _container_updates(new: list, old: list, path: str) -> tuple[list[Cause], bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    causes: list[Cause] = []
    for i, ctr in enumerate(map(as_dict, new)):
        if not as_str(ctr.get("image")):
            causes.append(required(child(at(path, i), "image")))
        causes += image_whitespace(ctr, at(path, i))
    return causes, False


def _deadline_update(new: dict, old: dict) -> list[Cause]:
    path = "spec.activeDeadlineSeconds"
    new_value, old_value = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if is_int(new_value):
        if not 0 <= new_value <= MAX_INT32:
            return [invalid(path, new_value, inclusive_range_error(0, MAX_INT32))]
        if is_int(old_value) and old_value < new_value:
            return [invalid(path, new_value, "must be less than or equal to previous value")]
    elif old_value is not None:
        return [invalid(path, None, "must not update from a positive integer to nil value")]
    return []


def _tolerations_update(new: dict, old: dict) -> list[Cause]:
    path = "spec.tolerations"
    new_list = [as_dict(t) for t in as_list(new.get("tolerations"))]
    for old_tol in map(as_dict, as_list(old.get("tolerations"))):
        if not any(_same_toleration(old_tol, t) for t in new_list):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return validate_tolerations(new_list, path)


def _same_toleration(old: dict, new: dict) -> bool:
    def strip(t: dict) -> dict:
        return {k: v for k, v in t.items() if k != "tolerationSeconds" and v not in (None, "")}
    return strip(old) == strip(new)


def _scheduling_gates_update(new: dict, old: dict) -> list[Cause]:
    old_names = {as_str(as_dict(g).get("name")) for g in as_list(old.get("schedulingGates"))}
    causes = []
    for i, gate in enumerate(map(as_dict, as_list(new.get("schedulingGates")))):
        name = as_str(gate.get("name"))
        if name not in old_names:
            causes.append(forbidden(child(at("spec.schedulingGates", i), "name"),
                                    f"only deletion is allowed, but found new scheduling gate '{name}'"))
    return causes


def _spec_unchanged(new: dict, old: dict) -> list[Cause]:
    if semantic_equal(new, old):
        return []
    munged = _munge(new, old)
    causes = _gated_mutations(munged, old) if as_list(old.get("schedulingGates")) else []
    if semantic_equal(munged, old):
        return causes
    message = f"pod updates may not change fields other than {UPDATABLE_FIELDS}\n{diff(old, munged, 'core.PodSpec')}"
    return causes + [forbidden("spec", message)]


def _munge(new: dict, old: dict) -> dict:
    """The new spec with every field users may change reset to the old value."""
    munged = copy.deepcopy(new)
    for kind in ("containers", "initContainers"):
        for ctr, old_ctr in zip(as_list(munged.get(kind)), as_list(old.get(kind))):
            if isinstance(ctr, dict):
                ctr["image"] = as_dict(old_ctr).get("image")
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(name, None)
        if name in old:
            munged[name] = copy.deepcopy(old[name])
    old_grace, new_grace = old.get("terminationGracePeriodSeconds"), munged.get("terminationGracePeriodSeconds")
    if is_int(old_grace) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _gated_mutations(munged: dict, old: dict) -> list[Cause]:
    """Gated pods may add (only add) nodeSelector entries; node affinity changes are
    accepted here.  TODO: validateNodeAffinityMutation (additions only)."""
    causes: list[Cause] = []
    new_selector, old_selector = as_dict(munged.get("nodeSelector")), as_dict(old.get("nodeSelector"))
    if any(new_selector.get(k) != v for k, v in old_selector.items()):
        causes.append(invalid("spec.nodeSelector", new_selector,
                              "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
    munged["nodeSelector"] = copy.deepcopy(old.get("nodeSelector"))
    affinity = as_dict(munged.get("affinity"))
    if affinity.get("nodeAffinity") != as_dict(old.get("affinity")).get("nodeAffinity"):
        affinity = dict(affinity)
        affinity["nodeAffinity"] = as_dict(old.get("affinity")).get("nodeAffinity")
        munged["affinity"] = affinity
    return causes


# --- status --------------------------------------------------------------------------


def validate_pod_status_update(new: dict, old: dict) -> list[Cause]:
    new_meta, old_meta = as_dict(new.get("metadata")), as_dict(old.get("metadata"))
    status, old_status = as_dict(new.get("status")), as_dict(old.get("status"))
    causes = validate_object_meta_update(new_meta, old_meta)
    causes += _annotation_updates(as_dict(new_meta.get("annotations")), as_dict(old_meta.get("annotations")))
    causes += _conditions(status.get("conditions"))
    if as_str(as_dict(new.get("spec")).get("nodeName")) != as_str(as_dict(old.get("spec")).get("nodeName")):
        causes.append(forbidden("status.nodeName", "may not be changed directly"))
    nominated = as_str(status.get("nominatedNodeName"))
    if nominated and nominated != as_str(old_status.get("nominatedNodeName")):
        causes += invalid_each("status.nominatedNodeName", nominated, name_is_dns_subdomain(nominated))
    if as_str(old_status.get("qosClass")) and status.get("qosClass") != old_status.get("qosClass"):
        causes.append(invalid("status.qosClass", as_str(status.get("qosClass")), "field is immutable"))
    causes += _terminated_stay_terminated(status, old_status, as_dict(old.get("spec")))
    return causes + _ips(status.get("podIPs"), "status.podIPs", "PodIP") + _host_ips(status)


def _conditions(conditions) -> list[Cause]:
    causes: list[Cause] = []
    for i, cond in enumerate(map(as_dict, as_list(conditions))):
        ctype = as_str(cond.get("type"))
        if ctype not in SYSTEM_CONDITIONS:  # upstream reports these under "metadata"
            causes += invalid_each(child(at("metadata.conditions", i), "Type"), ctype, qualified_name_errors(ctype))
    return causes


def _terminated_stay_terminated(status: dict, old_status: dict, old_spec: dict) -> list[Cause]:
    policy = as_str(old_spec.get("restartPolicy")) or "Always"
    if policy == "Always":
        return []
    causes: list[Cause] = []
    for field_name in ("containerStatuses", "initContainerStatuses"):
        new_states = {as_str(as_dict(s).get("name")): as_dict(as_dict(s).get("state"))
                      for s in as_list(status.get(field_name))}
        for i, old in enumerate(map(as_dict, as_list(old_status.get(field_name)))):
            terminated = as_dict(old.get("state")).get("terminated")
            if terminated is None or (policy == "OnFailure" and as_dict(terminated).get("exitCode", 0) != 0):
                continue
            state = new_states.get(as_str(old.get("name")))
            if state is not None and state.get("terminated") is None:
                causes.append(forbidden(child(at(child("status", field_name), i), "state"),
                                        "may not be transitioned to non-terminated state"))
    return causes  # TODO: restartable (sidecar) init containers may restart.


def _ips(entries, path: str, type_name: str) -> list[Cause]:
    ips = [as_str(as_dict(e).get("ip")) for e in as_list(entries)]
    causes: list[Cause] = []
    for i, ip in enumerate(ips):
        causes += ip_causes(at(path, i), ip)
    if len(ips) > 1 and not causes:
        shown = [f"core.{type_name}{{IP:{go_quote(ip)}}}" for ip in ips]
        if not is_dual_stack(ips):
            listing = GoRepr(f"[]core.{type_name}{{" + ", ".join(shown) + "}")
            causes.append(invalid(path, listing, "may specify no more than one IP for each IP family"))
        for i, ip in enumerate(ips):
            if ip in ips[:i]:
                causes.append(duplicate(at(path, i), GoRepr(shown[i])))
    return causes


def _host_ips(status: dict) -> list[Cause]:
    host_ips = as_list(status.get("hostIPs"))
    if not host_ips:
        return []
    causes: list[Cause] = []
    first = as_str(as_dict(host_ips[0]).get("ip"))
    if as_str(status.get("hostIP")) != first:
        causes.append(invalid("status.hostIPs[0].ip", first, "must be equal to `hostIP`"))
    return causes + _ips(host_ips, "status.hostIPs", "HostIP")
