"""Table tests for tinykube.api.validation, with small builders of valid objects.

Each builder returns a fresh, valid (already defaulted) object; a test case mutates a
copy and lists the causes it expects as (type, field, message) with the message either
exact or with "..." standing for any text.
"""

from __future__ import annotations

import copy
import re

from tinykube.api.registry import REGISTRY
from tinykube.api.validation import validate_create, validate_status_update, validate_update


def rt(kind: str, group: str = ""):
    found = [r for r in REGISTRY.resources if r.kind == kind and r.group == group]
    assert found, kind
    return found[0]


def container(**extra) -> dict:
    base = {"name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
            "terminationMessagePolicy": "File", "terminationMessagePath": "/dev/termination-log"}
    base.update(extra)
    return base


def pod_spec(**extra) -> dict:
    base = {"containers": [container()], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}
    base.update(extra)
    return base


def pod(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                         "uid": "1111", "creationTimestamp": "2024-01-02T03:04:05Z", "resourceVersion": "5"},
            "spec": pod_spec(**spec)}


def template(labels=None, **spec) -> dict:
    return {"metadata": {"labels": {"app": "web"} if labels is None else labels}, "spec": pod_spec(**spec)}


def meta(name: str = "web", namespace: str | None = "default") -> dict:
    out = {"name": name, "uid": "1111", "creationTimestamp": "2024-01-02T03:04:05Z", "resourceVersion": "5"}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template(),
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}


def service(**spec) -> dict:
    base = {"type": "ClusterIP", "selector": {"app": "web"}, "sessionAffinity": "None",
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(), "spec": base}


def job() -> dict:
    uid = "1111"
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "web",
              "controller-uid": uid, "job-name": "web"}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(),
            "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                     "template": template(labels=labels, restartPolicy="Never"), "backoffLimit": 6,
                     "completions": 1, "parallelism": 1, "completionMode": "NonIndexed"}}


def changed(obj: dict, fn) -> dict:
    out = copy.deepcopy(obj)
    fn(out)
    return out


def triples(causes) -> list[tuple[str, str, str]]:
    return [(c.type, c.field, c.message) for c in causes]


def matches(cause: tuple, expected: tuple) -> bool:
    """"..." in an expected message matches any text."""
    kind, field, message = expected
    if cause[0] != kind or cause[1] != field:
        return False
    pattern = ".*".join(re.escape(part) for part in message.split("..."))
    return re.fullmatch(pattern, cause[2], re.DOTALL) is not None


def assert_causes(causes, expected: list[tuple]) -> None:
    """Every expected cause is present; with no expectation, there must be none."""
    got = triples(causes)
    if not expected:
        assert got == [], got
    for item in expected:
        assert any(matches(c, item) for c in got), f"{item} not in {got}"


def check_create(kind: str, obj: dict, expected: list[tuple], group: str = "") -> None:
    assert_causes(validate_create(rt(kind, group), obj), expected)


def check_update(kind: str, new: dict, old: dict, expected: list[tuple], group: str = "") -> None:
    assert_causes(validate_update(rt(kind, group), new, old), expected)


def check_status(kind: str, new: dict, old: dict, expected: list[tuple], group: str = "") -> None:
    assert_causes(validate_status_update(rt(kind, group), new, old), expected)
