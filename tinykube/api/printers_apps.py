"""Printers for the workload kinds: Deployment, ReplicaSet, DaemonSet, StatefulSet,
Job and CronJob (apps/v1 and batch/v1), after Kubernetes' printers.go.

Each kind has a `<kind>_columns()` and a `<kind>_row(obj, now)` returning
(cells, row conditions). Cells come out in the wide layout: the server always
prints wide and kubectl hides priority-1 columns unless `-o wide`.
"""

from __future__ import annotations

from datetime import datetime

from tinykube.api.printers_fmt import (
    Column,
    InvalidSelector,
    age_column,
    between,
    bool_ptr,
    container_cells,
    doc,
    format_label_selector,
    format_labels,
    get,
    integer,
    items,
    mapping,
    name_column,
    since,
    human_duration,
    parse_time,
    selector_string,
    template_columns,
)


def _desired(obj: dict) -> int:
    # spec.replicas is defaulted to 1 by the API server when unset.
    return integer(obj, "spec", "replicas", default=1)


def _name(obj: dict) -> str:
    return get(obj, "metadata", "name", default="")


def _age(obj: dict, now: datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


def _template(obj: dict, *path: str) -> list[str]:
    names, images = container_cells(items(obj, *path, "spec", "containers"))
    return [names, images]


# --- Deployment -----------------------------------------------------------------------


def deployment_columns() -> list[Column]:
    return [
        name_column(),
        Column("Ready", "string", "Number of the pod with ready state"),
        Column("Up-to-date", "string", doc("apps.v1.DeploymentStatus", "updatedReplicas")),
        Column("Available", "string", doc("apps.v1.DeploymentStatus", "availableReplicas")),
        age_column(),
        *template_columns(doc("apps.v1.DeploymentSpec", "selector")),
    ]


def deployment_row(obj: dict, now: datetime) -> tuple[list, None]:
    try:
        # printDeployment prints selector.String() as is: "" for an empty selector.
        selector = selector_string(get(obj, "spec", "selector"))
    except InvalidSelector:
        selector = "<invalid>"
    cells = [
        _name(obj),
        f"{integer(obj, 'status', 'readyReplicas')}/{_desired(obj)}",
        integer(obj, "status", "updatedReplicas"),
        integer(obj, "status", "availableReplicas"),
        _age(obj, now),
        *_template(obj, "spec", "template"),
        selector,
    ]
    return cells, None


# --- ReplicaSet -----------------------------------------------------------------------


def replicaset_columns() -> list[Column]:
    return [
        name_column(),
        Column("Desired", "integer", doc("apps.v1.ReplicaSetSpec", "replicas")),
        Column("Current", "integer", doc("apps.v1.ReplicaSetStatus", "replicas")),
        Column("Ready", "integer", doc("apps.v1.ReplicaSetStatus", "readyReplicas")),
        age_column(),
        *template_columns(doc("apps.v1.ReplicaSetSpec", "selector")),
    ]


def replicaset_row(obj: dict, now: datetime) -> tuple[list, None]:
    cells = [
        _name(obj),
        _desired(obj),
        integer(obj, "status", "replicas"),
        integer(obj, "status", "readyReplicas"),
        _age(obj, now),
        *_template(obj, "spec", "template"),
        format_label_selector(get(obj, "spec", "selector")),
    ]
    return cells, None


# --- DaemonSet ------------------------------------------------------------------------


def daemonset_columns() -> list[Column]:
    status = "apps.v1.DaemonSetStatus"
    return [
        name_column(),
        Column("Desired", "integer", doc(status, "desiredNumberScheduled")),
        Column("Current", "integer", doc(status, "currentNumberScheduled")),
        Column("Ready", "integer", doc(status, "numberReady")),
        Column("Up-to-date", "integer", doc(status, "updatedNumberScheduled")),
        Column("Available", "integer", doc(status, "numberAvailable")),
        Column("Node Selector", "string", doc("core.v1.PodSpec", "nodeSelector")),
        age_column(),
        *template_columns(doc("apps.v1.DaemonSetSpec", "selector")),
    ]


def daemonset_row(obj: dict, now: datetime) -> tuple[list, None]:
    cells = [
        _name(obj),
        integer(obj, "status", "desiredNumberScheduled"),
        integer(obj, "status", "currentNumberScheduled"),
        integer(obj, "status", "numberReady"),
        integer(obj, "status", "updatedNumberScheduled"),
        integer(obj, "status", "numberAvailable"),
        format_labels(mapping(obj, "spec", "template", "spec", "nodeSelector")),
        _age(obj, now),
        *_template(obj, "spec", "template"),
        format_label_selector(get(obj, "spec", "selector")),
    ]
    return cells, None


# --- StatefulSet ----------------------------------------------------------------------


def statefulset_columns() -> list[Column]:
    return [
        name_column(),
        Column("Ready", "string", "Number of the pod with ready state"),
        age_column(),
        *template_columns(None),
    ]


def statefulset_row(obj: dict, now: datetime) -> tuple[list, None]:
    cells = [
        _name(obj),
        f"{integer(obj, 'status', 'readyReplicas')}/{_desired(obj)}",
        _age(obj, now),
        *_template(obj, "spec", "template"),
    ]
    return cells, None


# --- Job ------------------------------------------------------------------------------


def job_columns() -> list[Column]:
    return [
        name_column(),
        Column("Status", "string", "Status of the job."),
        Column("Completions", "string", doc("batch.v1.JobStatus", "succeeded")),
        Column("Duration", "string", "Time required to complete the job."),
        age_column(),
        *template_columns(doc("batch.v1.JobSpec", "selector")),
    ]


def _job_condition(obj: dict, kind: str) -> bool:
    # hasJobCondition: the first condition of that type decides.
    for cond in items(obj, "status", "conditions"):
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def job_status(obj: dict) -> str:
    if _job_condition(obj, "Complete"):
        return "Complete"
    if _job_condition(obj, "Failed"):
        return "Failed"
    if get(obj, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _job_condition(obj, "Suspended"):
        return "Suspended"
    if _job_condition(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(obj: dict) -> str:
    succeeded = integer(obj, "status", "succeeded")
    completions = get(obj, "spec", "completions")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    parallelism = integer(obj, "spec", "parallelism")
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _job_duration(obj: dict, now: datetime) -> str:
    start = get(obj, "status", "startTime")
    if parse_time(start) is None:
        return ""
    end = get(obj, "status", "completionTime")
    if parse_time(end) is None:
        return human_duration((now - parse_time(start)).total_seconds())
    return between(start, end)


def job_row(obj: dict, now: datetime) -> tuple[list, None]:
    cells = [
        _name(obj),
        job_status(obj),
        _job_completions(obj),
        _job_duration(obj, now),
        _age(obj, now),
        *_template(obj, "spec", "template"),
        format_label_selector(get(obj, "spec", "selector")),
    ]
    return cells, None


# --- CronJob --------------------------------------------------------------------------


def cronjob_columns() -> list[Column]:
    spec, status = "batch.v1.CronJobSpec", "batch.v1.CronJobStatus"
    return [
        name_column(),
        Column("Schedule", "string", doc(spec, "schedule")),
        Column("Timezone", "string", doc(spec, "timeZone")),
        Column("Suspend", "boolean", doc(spec, "suspend")),
        Column("Active", "integer", doc(status, "active")),
        Column("Last Schedule", "string", doc(status, "lastScheduleTime")),
        age_column(),
        *template_columns(doc("batch.v1.JobSpec", "selector")),
    ]


def cronjob_row(obj: dict, now: datetime) -> tuple[list, None]:
    last = get(obj, "status", "lastScheduleTime")
    cells = [
        _name(obj),
        get(obj, "spec", "schedule", default=""),
        get(obj, "spec", "timeZone") if get(obj, "spec", "timeZone") is not None else "<none>",
        bool_ptr(get(obj, "spec", "suspend")),
        len(items(obj, "status", "active")),
        since(last, now) if last is not None else "<none>",
        _age(obj, now),
        *_template(obj, "spec", "jobTemplate", "spec", "template"),
        format_label_selector(get(obj, "spec", "jobTemplate", "spec", "selector")),
    ]
    return cells, None
