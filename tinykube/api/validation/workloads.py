"""apps/v1 workloads: Deployment, ReplicaSet, DaemonSet, StatefulSet (pkg/apis/apps/validation).

Each kind validates its selector, that the selector matches the template's labels, the
pod template (restartPolicy must be Always), its own strategy fields, and on update
the apps/v1 rule that `spec.selector` is immutable.  Upstream 1.32 skips the pod-spec
check for StatefulSet templates (fixed in 1.34); tinykube applies it, counting
volumeClaimTemplates as volumes.
"""

from __future__ import annotations

import copy

from tinykube.api.errors import Cause

from .equality import semantic_equal
from .fields import (
    GoRepr, as_dict, as_list, as_str, child, forbidden, go_quote, go_string_map, immutable, invalid, is_int,
    nonnegative, not_supported, required,
)
from .meta import validate_annotations, validate_labels, validate_object_meta, validate_object_meta_update
from .names import name_is_dns_label, name_is_dns_subdomain, percent_errors
from .pod import pod_specific_annotations, validate_pod_template_spec
from .selectors import convertible, go_selector, is_empty, selector_matches, validate_label_selector

TEMPLATE = "spec.template"


# --- shared pieces -------------------------------------------------------------------


def selector_causes(spec: dict, word: str, *, required_selector: bool = True) -> list[Cause]:
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")] if required_selector else []
    causes = validate_label_selector(selector, "spec.selector")
    if is_empty(selector):
        causes.append(invalid("spec.selector", go_selector(selector), f"empty selector is invalid for {word}"))
    return causes


def template_matches(spec: dict) -> list[Cause]:
    """`selector` must select the template's labels (an empty selector selects all)."""
    selector = spec.get("selector")
    labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    if selector is not None and is_empty(selector):
        return []
    if selector_matches(selector, labels):
        return []
    shown = GoRepr(go_string_map(labels if labels is None else as_dict(labels)))
    return [invalid(child(TEMPLATE, "metadata", "labels"), shown, "`selector` does not match template `labels`")]


def always_restart(spec: dict, kind: str) -> list[Cause]:
    template_spec = as_dict(as_dict(spec.get("template")).get("spec"))
    policy = template_spec.get("restartPolicy", "Always")
    causes = [] if policy == "Always" else [not_supported(child(TEMPLATE, "spec", "restartPolicy"), as_str(policy), ("Always",))]
    if template_spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden(child(TEMPLATE, "spec", "activeDeadlineSeconds"),
                                f"activeDeadlineSeconds in {kind} is not Supported"))
    return causes


def int_or_percent_causes(value, path: str) -> list[Cause]:
    if isinstance(value, str):
        return [invalid(path, GoRepr(value), msg) for msg in percent_errors(value)]
    return nonnegative(path, value)


def int_or_percent_value(value) -> int:
    if isinstance(value, str):
        digits = value[:-1] if not percent_errors(value) else value
        return int(digits) if digits.isdigit() else 0
    return value if is_int(value) else 0


def not_over_100_percent(value, path: str) -> list[Cause]:
    if isinstance(value, str) and not percent_errors(value) and int(value[:-1]) > 100:
        return [invalid(path, GoRepr(value), "must not be greater than 100%")]
    return []


def _meta(obj: dict, name_fn) -> list[Cause]:
    return validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_fn)


def _replica_set_like(spec: dict, kind: str, word: str) -> list[Cause]:
    causes = nonnegative("spec.replicas", spec.get("replicas")) + nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += selector_causes(spec, word)
    if spec.get("selector") is not None and not convertible(spec.get("selector")):
        return causes + [invalid("spec.selector", go_selector(spec.get("selector")), "invalid label selector")]
    causes += template_matches(spec)
    causes += validate_pod_template_spec(spec.get("template"), TEMPLATE)
    return causes + always_restart(spec, kind)


def selector_immutable(new: dict, old: dict) -> list[Cause]:
    new_sel, old_sel = as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector")
    if semantic_equal({"s": new_sel}, {"s": old_sel}):
        return []
    return [invalid("spec.selector", go_selector(new_sel) if new_sel is not None else None, "field is immutable")]


# --- Deployment ----------------------------------------------------------------------


def validate_deployment(obj: dict) -> list[Cause]:
    return _meta(obj, name_is_dns_subdomain) + _deployment_spec(as_dict(obj.get("spec")))


def _deployment_spec(spec: dict) -> list[Cause]:
    causes = _replica_set_like(spec, "ReplicaSet", "deployment")
    causes += deployment_strategy(as_dict(spec.get("strategy")), "spec.strategy")
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds", 600)
    if is_int(deadline):
        causes += nonnegative("spec.progressDeadlineSeconds", deadline)
        if deadline <= (spec.get("minReadySeconds") or 0):
            causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes


def deployment_strategy(strategy: dict, path: str) -> list[Cause]:
    kind = strategy.get("type", "RollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        return [forbidden(child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")] if rolling is not None else []
    if kind != "RollingUpdate":
        shown = GoRepr(f"apps.DeploymentStrategy{{Type:{go_quote(as_str(kind))}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}")
        return [not_supported(path, shown, ("Recreate", "RollingUpdate"))]
    return _rolling_deployment(as_dict(rolling), child(path, "rollingUpdate"))


def _rolling_deployment(rolling: dict, path: str) -> list[Cause]:
    unavailable, surge = rolling.get("maxUnavailable", "25%"), rolling.get("maxSurge", "25%")
    causes = int_or_percent_causes(unavailable, child(path, "maxUnavailable"))
    causes += int_or_percent_causes(surge, child(path, "maxSurge"))
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        causes.append(invalid(child(path, "maxUnavailable"), GoRepr(str(unavailable)), "may not be 0 when `maxSurge` is 0"))
    return causes + not_over_100_percent(unavailable, child(path, "maxUnavailable"))


def validate_deployment_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    return causes + _deployment_spec(as_dict(new.get("spec"))) + selector_immutable(new, old)


# --- ReplicaSet ----------------------------------------------------------------------


def validate_replica_set(obj: dict) -> list[Cause]:
    return _meta(obj, name_is_dns_subdomain) + _replica_set_like(as_dict(obj.get("spec")), "ReplicaSet", "deployment")


def validate_replica_set_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    causes += _replica_set_like(as_dict(new.get("spec")), "ReplicaSet", "deployment")
    return causes + selector_immutable(new, old)


# --- DaemonSet -----------------------------------------------------------------------


def validate_daemon_set(obj: dict) -> list[Cause]:
    return _meta(obj, name_is_dns_subdomain) + _daemon_set_spec(as_dict(obj.get("spec")))


def _daemon_set_spec(spec: dict) -> list[Cause]:
    selector = spec.get("selector")
    causes = validate_label_selector(selector, "spec.selector")
    if selector is None or convertible(selector):
        causes += template_matches(spec)
    if selector is not None and is_empty(selector):
        causes.append(invalid("spec.selector", go_selector(selector), "empty selector is invalid for daemonset"))
    causes += validate_pod_template_spec(spec.get("template"), TEMPLATE) + always_restart(spec, "DaemonSet")
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += daemon_set_strategy(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    return causes + nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))


def daemon_set_strategy(strategy: dict, path: str) -> list[Cause]:
    kind = strategy.get("type", "RollingUpdate")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        shown = GoRepr(f"apps.DaemonSetUpdateStrategy{{Type:{go_quote(as_str(kind))}, "
                       "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}")
        return [not_supported(path, shown, ("RollingUpdate", "OnDelete"))]
    return _rolling_daemon_set(as_dict(strategy.get("rollingUpdate")), child(path, "rollingUpdate"))


def _rolling_daemon_set(rolling: dict, path: str) -> list[Cause]:
    """Both are ints or percentages <= 100%; exactly one of them is non-zero."""
    unavailable, surge = rolling.get("maxUnavailable", 1), rolling.get("maxSurge", 0)
    causes: list[Cause] = []
    for name, value in (("maxUnavailable", unavailable), ("maxSurge", surge)):
        causes += int_or_percent_causes(value, child(path, name)) + not_over_100_percent(value, child(path, name))
    has_unavailable, has_surge = int_or_percent_value(unavailable) != 0, int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        causes.append(invalid(child(path, "maxSurge"), GoRepr(str(surge)), "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        causes.append(required(child(path, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return causes


def validate_daemon_set_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    return causes + _daemon_set_spec(as_dict(new.get("spec"))) + selector_immutable(new, old)


# --- StatefulSet ---------------------------------------------------------------------


STATEFUL_SET_MUTABLE = ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
                        "persistentVolumeClaimRetentionPolicy")


def validate_stateful_set(obj: dict) -> list[Cause]:
    return _meta(obj, name_is_dns_label) + _stateful_set_spec(as_dict(obj.get("spec")))


def _stateful_set_spec(spec: dict) -> list[Cause]:
    causes = _pod_management(spec.get("podManagementPolicy")) + _sts_strategy(as_dict(spec.get("updateStrategy")))
    causes += _retention(spec.get("persistentVolumeClaimRetentionPolicy"))
    if spec.get("volumeClaimTemplates"):  # refused rather than ignored until PVCs exist
        causes.append(forbidden("spec.volumeClaimTemplates", "tinykube does not support PersistentVolumeClaims yet"))
    causes += nonnegative("spec.replicas", spec.get("replicas")) + nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    if spec.get("ordinals") is not None:
        causes += nonnegative("spec.ordinals.start", as_dict(spec["ordinals"]).get("start"))
    causes += selector_causes(spec, "statefulset")
    if not convertible(spec.get("selector")):
        causes.append(invalid("spec.selector", go_selector(spec.get("selector")), ""))
    else:
        causes += _sts_template(spec)
    return causes + always_restart(spec, "StatefulSet")


def _sts_template(spec: dict) -> list[Cause]:
    template = as_dict(spec.get("template"))
    meta = as_dict(template.get("metadata"))
    causes = template_matches(spec)
    causes += validate_labels(meta.get("labels"), child(TEMPLATE, "labels"))
    causes += validate_annotations(meta.get("annotations"), child(TEMPLATE, "annotations"))
    causes += pod_specific_annotations(as_dict(meta.get("annotations")), as_dict(template.get("spec")),
                                       child(TEMPLATE, "annotations"))
    claims = {as_str(as_dict(as_dict(c).get("metadata")).get("name")): {"persistentVolumeClaim": {}}
              for c in as_list(spec.get("volumeClaimTemplates"))}
    return causes + validate_pod_template_spec(template, TEMPLATE, extra_volumes=claims)


def _pod_management(policy) -> list[Cause]:
    if policy is None or policy in ("OrderedReady", "Parallel"):
        return []
    if policy == "":
        return [required("spec.podManagementPolicy")]
    return [invalid("spec.podManagementPolicy", as_str(policy), "must be 'OrderedReady' or 'Parallel'")]


def _sts_strategy(strategy: dict) -> list[Cause]:
    kind, rolling = strategy.get("type", "RollingUpdate"), strategy.get("rollingUpdate")
    path = "spec.updateStrategy"
    if kind == "":
        return [required(path)]
    if kind == "OnDelete":
        return [invalid(child(path, "rollingUpdate"), GoRepr("&apps.RollingUpdateStatefulSetStrategy{...}"),
                        "only allowed for updateStrategy 'RollingUpdate'")] if rolling is not None else []
    if kind != "RollingUpdate":
        shown = GoRepr(f"apps.StatefulSetUpdateStrategy{{Type:{go_quote(as_str(kind))}, "
                       "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}")
        return [invalid(path, shown, "must be 'RollingUpdate' or 'OnDelete'")]
    return _sts_rolling(as_dict(rolling), child(path, "rollingUpdate")) if rolling is not None else []


def _sts_rolling(rolling: dict, path: str) -> list[Cause]:
    causes = nonnegative(child(path, "partition"), rolling.get("partition"))
    unavailable = rolling.get("maxUnavailable")
    if unavailable is not None:
        causes += int_or_percent_causes(unavailable, child(path, "maxUnavailable"))
        if int_or_percent_value(unavailable) == 0:
            causes.append(invalid(child(path, "maxUnavailable"), GoRepr(str(unavailable)), "cannot be 0"))
        causes += not_over_100_percent(unavailable, child(path, "maxUnavailable"))
    return causes


def _retention(policy) -> list[Cause]:
    if policy is None:
        return []
    causes = []
    for name in ("whenDeleted", "whenScaled"):
        value = as_dict(policy).get(name, "Retain")
        if value not in ("Retain", "Delete"):
            causes.append(not_supported(child("spec.persistentVolumeClaimRetentionPolicy", name), as_str(value),
                                        ("Retain", "Delete")))
    return causes


def validate_stateful_set_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes += _stateful_set_spec(new_spec)
    if not semantic_equal(_without(new_spec, STATEFUL_SET_MUTABLE), _without(old_spec, STATEFUL_SET_MUTABLE)):
        causes.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                        "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                        "'minReadySeconds' are forbidden"))
    return causes


def _without(spec: dict, names: tuple[str, ...]) -> dict:
    return {k: copy.deepcopy(v) for k, v in spec.items() if k not in names}


# --- ControllerRevision (the history of DaemonSets and StatefulSets) -----------------


def validate_controller_revision(obj: dict) -> list[Cause]:
    causes = _meta(obj, name_is_dns_subdomain)
    if obj.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    return causes + nonnegative("revision", obj.get("revision"))


def validate_controller_revision_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    return causes + validate_controller_revision(new) + immutable("data", new.get("data"), old.get("data"))
