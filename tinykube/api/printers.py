"""Server-side printing: the meta.k8s.io/v1 Table `kubectl get` asks for.

kubectl requests `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints
whatever columns and cells the server returns, so the column set and every cell
string must be the ones kube-apiserver 1.32 produces (pkg/printers/internalversion).
The per-kind logic lives in printers_pod.py, printers_apps.py and printers_core.py;
this module picks the printer for a ResourceType and assembles the Table.

Like kube-apiserver, rows always carry the wide cells (priority-1 columns included);
kubectl drops priority-1 columns unless run with `-o wide`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from tinykube.api import printers_apps as apps
from tinykube.api import printers_core as core
from tinykube.api import printers_pod as pod
from tinykube.api.printers_fmt import Column, age_column, human_duration, name_column, since
from tinykube.api.registry import ResourceType

RowFn = Callable[[dict, datetime], "tuple[list, list | None]"]

INCLUDE_NONE = "None"
INCLUDE_OBJECT = "Object"
INCLUDE_METADATA = "PartialObjectMetadata"


@dataclass(frozen=True)
class Printer:
    columns: Callable[[], list[Column]]
    row: RowFn


def _generic_row(obj: dict, now: datetime) -> tuple[list, None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), since(meta.get("creationTimestamp"), now)], None


GENERIC = Printer(lambda: [name_column(), age_column()], _generic_row)


def _priority_class_columns() -> list[Column]:
    return [name_column(), Column("Value", "integer", "The value of this priority class."),
            Column("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be "
                                                "considered as the default priority."),
            age_column(), Column("PreemptionPolicy", "string", "PreemptionPolicy is the Policy for preempting "
                                                               "pods with lower priority.")]


def _priority_class_row(obj: dict, now: datetime) -> tuple[list, None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), obj.get("value") or 0, bool(obj.get("globalDefault")),
            since(meta.get("creationTimestamp"), now), obj.get("preemptionPolicy") or ""], None


def _pdb_columns() -> list[Column]:
    return [name_column(), Column("Min Available", "string", "The minimum number of pods that must be available."),
            Column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
            Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
            age_column()]


def _pdb_row(obj: dict, now: datetime) -> tuple[list, None]:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    shown = lambda value: "N/A" if value is None else str(value)  # noqa: E731 (IntOrString.String())
    return [meta.get("name", ""), shown(spec.get("minAvailable")), shown(spec.get("maxUnavailable")),
            (obj.get("status") or {}).get("disruptionsAllowed") or 0,
            since(meta.get("creationTimestamp"), now)], None

# (group, kind) -> printer. Versions of one kind share a printer, as they share
# Kubernetes' internal type.
PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(pod.columns, pod.row),
    ("", "Service"): Printer(core.service_columns, core.service_row),
    ("", "Endpoints"): Printer(core.endpoints_columns, core.endpoints_row),
    ("", "ConfigMap"): Printer(core.configmap_columns, core.configmap_row),
    ("", "Secret"): Printer(core.secret_columns, core.secret_row),
    ("", "Node"): Printer(core.node_columns, core.node_row),
    ("", "Namespace"): Printer(core.namespace_columns, core.namespace_row),
    ("", "Event"): Printer(core.event_columns, core.event_row),
    ("", "ServiceAccount"): Printer(core.serviceaccount_columns, core.serviceaccount_row),
    ("apps", "Deployment"): Printer(apps.deployment_columns, apps.deployment_row),
    ("apps", "ReplicaSet"): Printer(apps.replicaset_columns, apps.replicaset_row),
    ("apps", "DaemonSet"): Printer(apps.daemonset_columns, apps.daemonset_row),
    ("apps", "StatefulSet"): Printer(apps.statefulset_columns, apps.statefulset_row),
    ("batch", "Job"): Printer(apps.job_columns, apps.job_row),
    ("batch", "CronJob"): Printer(apps.cronjob_columns, apps.cronjob_row),
    ("coordination.k8s.io", "Lease"): Printer(core.lease_columns, core.lease_row),
    ("discovery.k8s.io", "EndpointSlice"): Printer(core.endpointslice_columns, core.endpointslice_row),
    ("events.k8s.io", "Event"): Printer(core.event_columns, core.events_v1_row),
    ("scheduling.k8s.io", "PriorityClass"): Printer(_priority_class_columns, _priority_class_row),
    ("policy", "PodDisruptionBudget"): Printer(_pdb_columns, _pdb_row),
}


def printer_for(rt: ResourceType) -> Printer:
    return PRINTERS.get((rt.group, rt.kind), GENERIC)


@functools.cache
def _column_dicts(group: str, kind: str) -> tuple[dict, ...]:
    # Descriptions come from the OpenAPI definitions, so build them once per kind.
    return tuple(c.to_dict() for c in PRINTERS.get((group, kind), GENERIC).columns())


def column_definitions(rt: ResourceType) -> list[dict]:
    return [dict(c) for c in _column_dicts(rt.group, rt.kind)]


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == INCLUDE_NONE:
        return None
    if include_object == INCLUDE_OBJECT:
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def rows(
    rt: ResourceType, objects: list[dict], *, now: datetime, include_object: str = INCLUDE_METADATA
) -> list[dict]:
    row_fn = printer_for(rt).row
    out = []
    for obj in objects:
        cells, conditions = row_fn(obj, now)
        row: dict = {"cells": cells}
        if conditions:
            row["conditions"] = [dict(c) for c in conditions]
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        out.append(row)
    return out


def table(
    rt: ResourceType,
    objects: list[dict],
    *,
    now: datetime,
    include_object: str = INCLUDE_METADATA,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    no_headers: bool = False,
) -> dict:
    """A meta.k8s.io/v1 Table of `objects` (all of kind rt) as kube-apiserver prints it.

    include_object is the request's includeObject ("None", "Object" or
    "PartialObjectMetadata", the default). no_headers mirrors the request's
    TableOptions.noHeaders: column definitions are then null, as Kubernetes sends them.
    """
    metadata: dict = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": None if no_headers else column_definitions(rt),
        "rows": rows(rt, objects, now=now, include_object=include_object),
    }


__all__ = ["Column", "PRINTERS", "Printer", "column_definitions", "human_duration", "printer_for", "rows", "table"]
