"""Kubernetes validation of the built-in kinds, as pure functions over plain dicts.

This package owns the rules the API server applies before storing an object, with
Kubernetes' (1.32) own field paths and messages, so that kubectl and client libraries
see exactly the errors a real cluster returns.  Three entry points:

* `validate_create(rt, obj)` — the kind's create validation, then (only if that passed)
  the generic metadata check every resource gets (names usable as a path segment: not
  "." or "..", no "/" or "%"), as the apiserver's BeforeCreate does;
* `validate_update(rt, new, old)` — the generic metadata checks, metadata immutability
  (name, namespace, uid, creationTimestamp, deletion fields) and the kind's update rules,
  which re-validate `new` and add its immutable fields;
* `validate_status_update(rt, new, old)` — metadata checks plus status sanity.

Each returns a list of `tinykube.api.errors.Cause` (empty when valid), ready for
`errors.invalid(kind, name, causes)`.  Objects arrive after defaulting; fields that
Kubernetes defaults are nevertheless accepted when absent.  The syntax helpers in
`names` (`is_dns1123_subdomain`, `is_dns1123_label`, `is_dns1035_label`,
`is_qualified_name`, `is_valid_label_value`), `validate_labels` /
`validate_annotations` and the quantity parser in `quantity` are for reuse elsewhere.
"""

from __future__ import annotations

from tinykube.api.errors import Cause
from tinykube.api.registry import ResourceType

from . import batch, cluster, config, events, misc, pod, policy, priorityclass, service, workload_status, workloads
from .fields import as_dict, dedupe
from .meta import validate_annotations, validate_labels, validate_object_meta, validate_object_meta_update
from .names import (
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    path_segment_errors,
)
from .quantity import parse_quantity

__all__ = [
    "validate_create", "validate_update", "validate_status_update",
    "is_dns1123_subdomain", "is_dns1123_label", "is_dns1035_label", "is_qualified_name",
    "is_valid_label_value", "validate_labels", "validate_annotations", "parse_quantity",
]


def _meta_only(new: dict, old: dict) -> list[Cause]:
    return []


def _status_of(kind: str):
    return lambda new, old: workload_status.validate_workload_status(kind, new, old)


# (group, kind) -> (create(obj), update(new, old), status(new, old))
_KINDS = {
    ("", "Pod"): (pod.validate_pod_create, pod.validate_pod_update, pod.validate_pod_status_update),
    ("", "Service"): (service.validate_service, service.validate_service_update,
                      lambda new, old: service.validate_service_status(new)),
    ("", "ConfigMap"): (config.validate_config_map, config.validate_config_map_update, _meta_only),
    ("", "Secret"): (config.validate_secret, config.validate_secret_update, _meta_only),
    ("", "Namespace"): (cluster.validate_namespace, cluster.validate_namespace_update,
                        lambda new, old: cluster.validate_namespace_status(new)),
    ("", "Node"): (cluster.validate_node, cluster.validate_node_update, cluster.validate_node_update),
    ("", "Endpoints"): (misc.validate_endpoints, lambda new, old: misc.validate_endpoints(new), _meta_only),
    ("", "ServiceAccount"): (misc.validate_service_account,
                             lambda new, old: misc.validate_service_account(new), _meta_only),
    ("", "Event"): (lambda obj: events.validate_event(obj, ""),
                    lambda new, old: events.validate_event_update(new, old, ""), _meta_only),
    ("events.k8s.io", "Event"): (lambda obj: events.validate_event(obj, "events.k8s.io"),
                                 lambda new, old: events.validate_event_update(new, old, "events.k8s.io"), _meta_only),
    ("apps", "Deployment"): (workloads.validate_deployment, workloads.validate_deployment_update,
                             _status_of("Deployment")),
    ("apps", "ReplicaSet"): (workloads.validate_replica_set, workloads.validate_replica_set_update,
                             _status_of("ReplicaSet")),
    ("apps", "DaemonSet"): (workloads.validate_daemon_set, workloads.validate_daemon_set_update,
                            _status_of("DaemonSet")),
    ("apps", "StatefulSet"): (workloads.validate_stateful_set, workloads.validate_stateful_set_update,
                              _status_of("StatefulSet")),
    ("apps", "ControllerRevision"): (workloads.validate_controller_revision,
                                     workloads.validate_controller_revision_update, _meta_only),
    ("batch", "Job"): (batch.validate_job, batch.validate_job_update, lambda new, old: batch.validate_job_status(new)),
    ("batch", "CronJob"): (batch.validate_cron_job, batch.validate_cron_job_update, _meta_only),
    ("coordination.k8s.io", "Lease"): (misc.validate_lease, misc.validate_lease_update, _meta_only),
    ("discovery.k8s.io", "EndpointSlice"): (misc.validate_endpoint_slice, misc.validate_endpoint_slice_update,
                                            _meta_only),
    ("scheduling.k8s.io", "PriorityClass"): (priorityclass.validate_priority_class,
                                             priorityclass.validate_priority_class_update, _meta_only),
    ("policy", "PodDisruptionBudget"): (policy.validate_pdb, policy.validate_pdb_update,
                                        policy.validate_pdb_status_update),
}


def _generic_meta(rt: ResourceType, obj: dict) -> list[Cause]:
    """What every resource gets from the apiserver itself (path-segment names)."""
    return validate_object_meta(as_dict(obj).get("metadata"), namespaced=rt.namespaced,
                                name_fn=path_segment_errors, kube_finalizers=False)


def _generic_update(rt: ResourceType, new: dict, old: dict) -> list[Cause]:
    new_meta, old_meta = as_dict(new).get("metadata"), as_dict(old).get("metadata")
    return _generic_meta(rt, new) + validate_object_meta_update(new_meta, old_meta, kube_finalizers=False)


def validate_create(rt: ResourceType, obj: dict) -> list[Cause]:
    handlers = _KINDS.get((rt.group, rt.kind))
    causes = handlers[0](as_dict(obj)) if handlers else []
    return dedupe(causes or _generic_meta(rt, obj))


def validate_update(rt: ResourceType, new: dict, old: dict) -> list[Cause]:
    handlers = _KINDS.get((rt.group, rt.kind))
    causes = _generic_update(rt, new, old)
    if handlers:
        causes += handlers[1](as_dict(new), as_dict(old))
    return dedupe(causes)


def validate_status_update(rt: ResourceType, new: dict, old: dict) -> list[Cause]:
    handlers = _KINDS.get((rt.group, rt.kind))
    causes = _generic_update(rt, new, old)
    if handlers:
        causes += handlers[2](as_dict(new), as_dict(old))
    return dedupe(causes)
