"""Job controller tables: fill the caches, sync once, assert the writes."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from tinykube.controllers.job import core, indexes
from tinykube.controllers.job.controller import JobController
from tinykube.controllers.job.decide import decide
from tinykube.controllers.job.ttl import TTLAfterFinishedController, expires_at

from .workload_fakes import NOW, make, writes

UID = "job-uid-1"


def job(name="pi", *, status=None, **spec):
    base = {"completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}},
            "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": UID,
                                                 "batch.kubernetes.io/job-name": name, "job-name": name}},
                         "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": UID, "creationTimestamp": "2024-01-01T11:00:00Z"},
            "spec": base, "status": status if status is not None else {}}


def pod(name, phase="Running", *, owner="pi", uid=None, finalizer=True, index=None, exit_code=None,
        ready=False, created="2024-01-01T11:59:00Z", deleting=False, failures=None):
    md = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}", "creationTimestamp": created,
          "labels": {"batch.kubernetes.io/controller-uid": UID},
          "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": owner, "uid": UID, "controller": True}]}
    if finalizer:
        md["finalizers"] = [core.FINALIZER]
    if index is not None:
        md["annotations"] = {indexes.INDEX_KEY: str(index)}
        if failures is not None:
            md["annotations"][indexes.FAILURE_COUNT_KEY] = str(failures)
    if deleting:
        md["deletionTimestamp"], md["deletionGracePeriodSeconds"] = "2024-01-01T12:00:30Z", 30
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "main", "state": {"terminated": {
            "exitCode": exit_code, "finishedAt": "2024-01-01T11:59:58Z"}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {"nodeName": "n1"}, "status": status}


def sync(cls, *objects, key="default/pi"):
    controller, client = make(cls, *objects)
    asyncio.run(controller.sync(key))
    return controller, client


def current(client, name="pi"):
    return client._objects[("batch", "jobs", "default", name)]


def conditions(obj):
    return {c["type"]: (c["status"], c.get("reason")) for c in obj["status"].get("conditions") or ()}


# --- creating pods ----------------------------------------------------------------------------


def test_new_job_creates_parallelism_pods_tracked_and_owned():
    controller, client = sync(JobController, job(completions=5, parallelism=2))
    created = [a.body for a in writes(client, "create")]
    assert len(created) == 2
    md = created[0]["metadata"]
    assert md["generateName"] == "pi-" and md["finalizers"] == [core.FINALIZER]
    assert md["labels"]["batch.kubernetes.io/job-name"] == "pi"
    assert md["ownerReferences"][0] == {"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": UID,
                                        "controller": True, "blockOwnerDeletion": True}
    status = current(client)["status"]
    assert status["active"] == 2 and status["startTime"] == "2024-01-01T12:00:00Z"
    assert controller.recorder.reasons() == ["SuccessfulCreate", "SuccessfulCreate"]


def test_stale_cache_does_not_create_twice():
    controller, client = make(JobController, job(parallelism=2, completions=2))
    asyncio.run(controller.sync("default/pi"))
    asyncio.run(controller.sync("default/pi"))  # the informer has not shown the pods yet
    assert len(writes(client, "create")) == 2


def test_indexed_pods_carry_their_index():
    _, client = sync(JobController, job(completions=3, parallelism=3, completionMode="Indexed"),
                     pod("pi-1-abc", index=1))
    created = sorted((a.body for a in writes(client, "create")), key=lambda p: p["metadata"]["generateName"])
    assert [p["metadata"]["generateName"] for p in created] == ["pi-0-", "pi-2-"]
    p0 = created[0]
    assert p0["metadata"]["annotations"][indexes.INDEX_KEY] == "0" == p0["metadata"]["labels"][indexes.INDEX_KEY]
    assert p0["spec"]["hostname"] == "pi-0"
    assert p0["spec"]["containers"][0]["env"][0] == {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}


# --- counting finished pods -------------------------------------------------------------------


def test_succeeded_pod_is_recorded_untracked_counted_then_complete():
    controller, client = sync(JobController, job(), pod("pi-a", "Succeeded", exit_code=0))
    verbs = [(a.verb, a.plural) for a in client.writes()]
    # uncounted first, then the finalizer off, then the counters, then the conditions
    assert verbs == [("update", "jobs"), ("patch", "pods"), ("update", "jobs"), ("update", "jobs")]
    first = client.writes()[0].body["status"]
    assert first["uncountedTerminatedPods"] == {"succeeded": ["uid-pi-a"], "failed": []}
    status = current(client)["status"]
    assert status["succeeded"] == 1 and status["uncountedTerminatedPods"] == {}
    assert conditions(current(client)) == {"SuccessCriteriaMet": ("True", "CompletionsReached"),
                                           "Complete": ("True", "CompletionsReached")}
    assert status["completionTime"] == "2024-01-01T12:00:00Z"
    assert controller.recorder.reasons() == ["Completed"]


def test_pod_whose_finalizer_removal_is_in_flight_is_not_counted_again():
    done = job(status={"succeeded": 1, "startTime": "2024-01-01T11:00:00Z"}, completions=2)
    controller, client = make(JobController, done, pod("pi-a", "Succeeded"), pod("pi-b"))
    controller.finalizers_removed["default/pi"] = {"uid-pi-a"}  # the cache still shows the finalizer
    asyncio.run(controller.sync("default/pi"))
    assert current(client)["status"].get("uncountedTerminatedPods") in ({}, None)
    assert current(client)["status"]["succeeded"] == 1


def test_failure_past_backoff_limit_fails_the_job():
    controller, client = sync(JobController, job(backoffLimit=0), pod("pi-a", "Failed", exit_code=1))
    job_now = current(client)
    assert job_now["status"]["failed"] == 1
    assert conditions(job_now) == {"FailureTarget": ("True", "BackoffLimitExceeded"),
                                   "Failed": ("True", "BackoffLimitExceeded")}
    assert "completionTime" not in job_now["status"]
    assert ("pi", "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in controller.recorder.events


def test_failed_pod_is_replaced_after_the_back_off():
    failed = pod("pi-a", "Failed", exit_code=1, finalizer=False)  # failed at 11:59:58, back-off 10 s
    controller, client = sync(JobController, job(status={"failed": 1}), failed)
    assert writes(client, "create") == [] and controller.clock.pending == 1
    late = datetime.datetime(2024, 1, 1, 12, 0, 30, tzinfo=datetime.timezone.utc)
    assert len(decide(job(status={"failed": 1}), [failed], late).create) == 1
    assert decide(job(status={"failed": 3}), [failed], late).create == []  # 40 s after three


def test_terminating_pods_delay_the_failed_condition():
    running = pod("pi-b", deleting=True)
    plan = decide(job(backoffLimit=0, status={"failed": 1}), [pod("pi-a", "Failed", finalizer=False), running], NOW)
    assert {c["type"] for c in plan.status["conditions"]} == {"FailureTarget"}
    assert plan.status["terminating"] == 1


def test_active_deadline_deletes_pods_and_targets_failure():
    started = {"startTime": "2024-01-01T11:58:00Z", "active": 1}
    controller, client = sync(JobController, job(activeDeadlineSeconds=60, status=started), pod("pi-a"))
    assert [(a.verb, a.name) for a in writes(client, "delete")] == [("delete", "pi-a")]
    assert conditions(current(client)) == {"FailureTarget": ("True", "DeadlineExceeded")}


def test_active_deadline_in_the_future_requeues():
    plan = decide(job(activeDeadlineSeconds=600, status={"startTime": "2024-01-01T11:58:00Z"}), [pod("pi-a")], NOW)
    assert plan.requeue_after == 480 and not plan.create and not plan.delete


@pytest.mark.parametrize("rule, expected", [
    ({"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
     ("PodFailurePolicy", "Container main for pod default/pi-a failed with exit code 42 matching FailJob rule at index 0")),
    ({"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1, 42]}}, None),
    ({"action": "FailJob", "onExitCodes": {"containerName": "other", "operator": "In", "values": [42]}}, None),
])
def test_pod_failure_policy_fail_job(rule, expected):
    failed = pod("pi-a", "Failed", exit_code=42)
    plan = decide(job(podFailurePolicy={"rules": [rule]}, status={"failed": 1}), [failed], NOW)
    target = [(c["reason"], c["message"]) for c in plan.status.get("conditions") or () if c["type"] == "FailureTarget"]
    assert target == ([expected] if expected else [])


def test_pod_failure_policy_ignore_is_not_counted():
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}
    evicted = pod("pi-a", "Failed", exit_code=137)
    evicted["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    _, client = sync(JobController, job(backoffLimit=0, podFailurePolicy=policy), evicted)
    assert "failed" not in current(client)["status"]
    assert [a.verb for a in writes(client, "patch")] == ["patch"]  # its finalizer goes all the same
    assert len(writes(client, "create")) == 1  # replaced at once, no back-off


def test_backoff_limit_per_index_and_fail_index():
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]}
    spec = dict(completions=2, parallelism=2, completionMode="Indexed", backoffLimitPerIndex=1,
                podFailurePolicy=policy, podReplacementPolicy="Failed")
    failed = pod("pi-0-a", "Failed", index=0, exit_code=3, failures=0)
    recorded = core.record_finished(job(**spec), [failed])
    assert recorded["failedIndexes"] == "0" and recorded["uncountedTerminatedPods"]["failed"] == ["uid-pi-0-a"]
    done = pod("pi-1-a", "Succeeded", index=1, finalizer=False)
    plan = decide(job(**spec, status={"failedIndexes": "0", "completedIndexes": "1", "failed": 1}), [failed, done], NOW)
    assert [(c["type"], c["reason"]) for c in plan.status["conditions"]] == [
        ("FailureTarget", "FailedIndexes"), ("Failed", "FailedIndexes")]


def test_completed_indexes_make_an_indexed_job_complete():
    spec = dict(completions=2, parallelism=2, completionMode="Indexed")
    pods = [pod("pi-0-a", "Succeeded", index=0), pod("pi-1-a", "Succeeded", index=1)]
    _, client = sync(JobController, job(**spec), *pods)
    status = current(client)["status"]
    assert status["completedIndexes"] == "0-1" and status["succeeded"] == 2
    assert conditions(current(client))["Complete"] == ("True", "CompletionsReached")


def test_suspend_deletes_active_pods():
    controller, client = sync(JobController, job(suspend=True, status={"active": 1}), pod("pi-a"))
    assert [a.name for a in writes(client, "delete")] == ["pi-a"]
    assert conditions(current(client)) == {"Suspended": ("True", "JobSuspended")}
    assert "Suspended" in controller.recorder.reasons()


def test_scale_down_deletes_not_ready_newest_first():
    pods = [pod("old", ready=True, created="2024-01-01T11:00:00Z"), pod("new", ready=True),
            pod("unready", created="2024-01-01T10:00:00Z")]
    plan = decide(job(completions=5, parallelism=1), pods, NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["unready", "new"]


def test_deleted_job_releases_its_pods():
    controller, client = make(JobController, pod("pi-a"))
    asyncio.run(controller.sync("default/pi"))
    patch = writes(client, "patch")[0]
    assert patch.name == "pi-a" and patch.body[-1] == {"op": "replace", "path": "/metadata/finalizers", "value": []}


def test_finished_job_is_left_alone():
    done = job(status={"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    _, client = sync(JobController, done, pod("pi-a", "Succeeded", finalizer=False))
    assert client.writes() == []


# --- indexes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, limit, expected", [
    ("", 5, set()), ("1,3-5", 10, {1, 3, 4, 5}), ("0-9", 3, {0, 1, 2}), ("x,2", 5, {2}),
])
def test_parse_intervals(text, limit, expected):
    assert indexes.parse_intervals(text, limit) == expected


def test_format_intervals():
    assert indexes.format_intervals({5, 1, 3, 4, 7}) == "1,3-5,7"


# --- TTL after finished ------------------------------------------------------------------------


def finished(ttl, at="2024-01-01T11:59:00Z"):
    return job(ttlSecondsAfterFinished=ttl, status={"conditions": [
        {"type": "Complete", "status": "True", "lastTransitionTime": at}], "completionTime": at})


def test_ttl_expired_job_is_deleted_in_the_background():
    _, client = sync(TTLAfterFinishedController, finished(30))
    deletes = writes(client, "delete")
    assert [(a.plural, a.name) for a in deletes] == [("jobs", "pi")]
    assert deletes[0].body == {"resourceVersion": "1"}


def test_ttl_not_yet_expired_is_requeued():
    controller, client = sync(TTLAfterFinishedController, finished(300))
    assert client.writes() == [] and controller.clock.pending == 1
    assert expires_at(finished(300)) == datetime.datetime(2024, 1, 1, 12, 4, tzinfo=datetime.timezone.utc)
    assert expires_at(job(ttlSecondsAfterFinished=5)) is None


def test_failed_replacement_policy_waits_for_terminating_pods():
    spec = dict(podFailurePolicy={"rules": []}, podReplacementPolicy="Failed")
    assert decide(job(**spec), [pod("pi-a", deleting=True)], NOW).create == []
    assert len(decide(job(), [pod("pi-a", deleting=True, finalizer=False)], NOW).create) == 1


@pytest.mark.parametrize("rules, done, expected", [
    ([{"succeededIndexes": "0,2"}], "0-1", None),
    ([{"succeededIndexes": "0,2"}], "0-2", "Matched rules at index 0"),
    ([{"succeededCount": 5}, {"succeededIndexes": "1-3", "succeededCount": 2}], "2-3", "Matched rules at index 1"),
    ([{"succeededCount": 2}], "4,9", "Matched rules at index 0"),
])
def test_success_policy(rules, done, expected):
    spec = dict(completions=10, parallelism=10, completionMode="Indexed", successPolicy={"rules": rules})
    plan = decide(job(**spec, status={"completedIndexes": done}), [pod("pi-0-a", index=0)], NOW)
    met = [(c["reason"], c["message"]) for c in plan.status.get("conditions") or () if c["type"] == "SuccessCriteriaMet"]
    assert met == ([("SuccessPolicy", expected)] if expected else [])
    if expected:
        assert names_of(plan.delete) == ["pi-0-a"]  # the rest is not needed any more


def names_of(pods):
    return [p["metadata"]["name"] for p in pods]


def test_job_managed_by_another_controller_is_left_alone():
    _, client = sync(JobController, job(managedBy="example.com/other"))
    assert client.writes() == []
