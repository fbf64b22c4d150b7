"""Deployment pure functions as tables: maxSurge/maxUnavailable rounding, rolling plans,
proportional scaling, hashing and revision annotations, progress conditions."""

from __future__ import annotations

import datetime

import pytest

from tinykube.controllers.deployment import progress, recreate, revisions, rolling, scaling

NOW = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def deploy(replicas=10, surge="25%", unavailable="25%", strategy="RollingUpdate", **status):
    spec = {"replicas": replicas, "strategy": {"type": strategy}, "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1},
            "spec": spec, "status": status}


def rs(name, replicas, available=None, created="2024-01-01T10:00:00Z", revision=None, **annotations):
    md = {"name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": created,
          "generation": 1, "annotations": {}}
    if revision is not None:
        md["annotations"][revisions.REVISION] = str(revision)
    md["annotations"].update(annotations)
    avail = replicas if available is None else available
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": md, "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail,
                       "observedGeneration": 1}}


@pytest.mark.parametrize("value, total, up, expected", [
    (3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("0%", 10, True, 0),
    ("50%", 3, True, 2), ("50%", 3, False, 1), ("100%", 7, False, 7), ("1%", 1, True, 1), (None, 5, True, 0),
])
def test_scaled_value(value, total, up, expected):
    assert rolling.scaled_value(value, total, round_up=up) == expected


def test_scaled_value_refuses_non_percentages():
    with pytest.raises(ValueError, match="not a percentage"):
        rolling.scaled_value("5", 10, round_up=True)


@pytest.mark.parametrize("surge, unavailable, replicas, expected", [
    ("25%", "25%", 10, (3, 2)), (0, 0, 3, (0, 1)), ("0%", "10%", 3, (0, 1)), (1, 0, 3, (1, 0)), ("25%", "25%", 1, (1, 0)),
])
def test_resolve_fenceposts(surge, unavailable, replicas, expected):
    assert rolling.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate():
    assert rolling.max_unavailable(deploy(replicas=3, unavailable=5)) == 3
    assert rolling.max_unavailable(deploy(strategy="Recreate")) == 0
    assert rolling.max_unavailable(deploy(replicas=0)) == 0


@pytest.mark.parametrize("old, new, expected", [
    (10, 0, 3),    # 10 + surge 3 = 13 allowed: the new RS gets 3
    (10, 3, 3),    # at the ceiling already
    (7, 3, 6),     # old went down by 3: room for 3 more
    (0, 8, 10),    # capped at replicas
])
def test_new_rs_new_replicas(old, new, expected):
    d = deploy(replicas=10)
    new_rs = rs("new", new)
    assert rolling.new_rs_new_replicas(d, [rs("old", old), new_rs], new_rs) == expected


def test_recreate_new_replicas_is_all():
    assert rolling.new_rs_new_replicas(deploy(strategy="Recreate"), [], rs("new", 0)) == 10


def test_scale_down_keeps_min_available():
    d = deploy(replicas=10)                        # maxUnavailable 2 -> min available 8
    old, new = rs("old", 10), rs("new", 3, available=0, created="2024-01-01T11:00:00Z")
    budget = rolling.max_scaled_down(d, [old, new], new)
    assert budget == 13 - 8 - 3 == 2
    assert rolling.cleanup_unhealthy_plan([old], budget) == []
    plan = rolling.scale_down_old_plan(d, [old, new], [old])
    assert [(r["metadata"]["name"], n) for r, n in plan] == [("old", 8)]


def test_unhealthy_old_replicas_go_first_oldest_first():
    a, b = rs("a", 3, available=1), rs("b", 2, available=0, created="2024-01-01T11:00:00Z")
    plan = rolling.cleanup_unhealthy_plan([b, a], 3)
    assert [(r["metadata"]["name"], n) for r, n in plan] == [("a", 1), ("b", 1)]


@pytest.mark.parametrize("text, expected", [("0123456789", "456789bcdf"), ("", "")])
def test_safe_encode(text, expected):
    assert revisions.safe_encode(text) == expected


def test_hash_is_stable_and_changes_with_collision_count():
    t = deploy()["spec"]["template"]
    h = revisions.compute_hash(t, None)
    assert h == revisions.compute_hash(t, None) and set(h) <= set("456789bcdf")
    assert revisions.compute_hash(t, 1) != h and revisions.compute_hash(t, 0) != h
    assert revisions.fnv32a(b"a") == 0xE40C292C  # the FNV-1a test vector


def test_new_rs_object_name_labels_selector():
    obj = revisions.new_rs_object(deploy(), "abc", 2)
    assert obj["metadata"]["name"] == "web-abc"
    assert obj["metadata"]["labels"] == {"app": "web", "pod-template-hash": "abc"}
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}
    assert obj["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "abc"
    assert obj["metadata"]["ownerReferences"][0]["controller"] is True


def test_find_new_ignores_hash_label():
    d = deploy()
    match = rs("web-abc", 1)
    match["spec"]["template"] = revisions.new_rs_object(d, "abc", 1)["spec"]["template"]
    other = rs("web-old", 1)
    other["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    assert revisions.find_new_rs(d, [other, match]) is match


def test_rollback_keeps_revision_history():
    d = deploy()
    d["metadata"]["annotations"] = {"team": "a", revisions.LAST_APPLIED: "{}"}
    old = rs("web-1", 0, revision=1)
    assert revisions.set_new_rs_annotations(d, old, 3, exists=True, desired=10, max_replicas=13)
    ann = old["metadata"]["annotations"]
    assert ann[revisions.REVISION] == "3" and ann[revisions.REVISION_HISTORY] == "1" and ann["team"] == "a"
    assert revisions.LAST_APPLIED not in ann and revisions.DESIRED_REPLICAS not in ann
    revisions.set_new_rs_annotations(d, old, 5, exists=True, desired=10, max_replicas=13)
    assert ann[revisions.REVISION_HISTORY] == "1,3"


def test_cleanup_oldest_settled_beyond_limit():
    d = deploy()  # revisionHistoryLimit 2
    olds = [rs("r1", 0, revision=1), rs("r2", 0, revision=2), rs("r3", 1, revision=3), rs("r4", 0, revision=4)]
    assert [r["metadata"]["name"] for r in revisions.rss_to_clean_up(d, olds)] == ["r1", "r2"]
    olds[0]["status"]["replicas"] = 1  # still has pods: kept
    assert [r["metadata"]["name"] for r in revisions.rss_to_clean_up(d, olds)] == ["r2"]


def test_proportional_scaling_mid_rollout():
    d = deploy(replicas=20, surge=3, unavailable=2)  # was 10 (max 13), now 20 (max 23)
    old = rs("old", 8, created="2024-01-01T10:00:00Z", **{revisions.MAX_REPLICAS: "13"})
    new = rs("new", 5, available=0, created="2024-01-01T11:00:00Z", **{revisions.MAX_REPLICAS: "13"})
    plan = {r["metadata"]["name"]: n for r, n in scaling.scale_plan(d, new, [old])}
    assert plan == {"old": 14, "new": 9}  # 8*23/13 = 14.15 -> 14; 5*23/13 = 8.8 -> 9; 23 total
    assert sum(plan.values()) == 23


def test_single_active_rs_gets_all_replicas():
    d = deploy(replicas=5)
    assert [(r["metadata"]["name"], n) for r, n in scaling.scale_plan(d, rs("new", 3), [rs("old", 0)])] == [("new", 5)]


def test_scaling_event_from_desired_annotation():
    d = deploy(replicas=5)
    assert scaling.is_scaling_event(d, [rs("a", 3, **{revisions.DESIRED_REPLICAS: "3"})])
    assert not scaling.is_scaling_event(d, [rs("a", 3, **{revisions.DESIRED_REPLICAS: "5"})])


def test_recreate_waits_for_old_pods():
    new = rs("new", 0)
    running = {"uid-old": [{"status": {"phase": "Running"}}], "uid-new": []}
    done = {"uid-old": [{"status": {"phase": "Succeeded"}}]}
    assert recreate.old_pods_running(new, [rs("old", 0, available=0) | {"status": {}}], running)
    assert not recreate.old_pods_running(new, [rs("old", 0) | {"status": {}}], done)


# --- progress ------------------------------------------------------------------------------


def test_status_counts_and_available_condition():
    d = deploy(replicas=3, surge=1, unavailable=0)
    new = rs("new", 3, available=2)
    status = progress.calculate_status([rs("old", 0) | {"status": {}}, new], new, d, NOW)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2,
        "availableReplicas": 2, "unavailableReplicas": 1}
    [cond] = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")


def test_rollout_complete_sets_new_rs_available():
    d = deploy(replicas=3)
    new = rs("web-abc", 3)
    status = progress.rollout_status(d, [new], new, NOW)
    cond = progress.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True", "NewReplicaSetAvailable", 'ReplicaSet "web-abc" has successfully progressed.')
    assert progress.get_condition(status, "Available")["reason"] == "MinimumReplicasAvailable"


def test_progress_updates_last_update_time_only():
    d = deploy(replicas=3)
    earlier = "2024-01-01T11:00:00Z"
    d["status"] = {"replicas": 1, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated", "message": "x",
         "lastUpdateTime": earlier, "lastTransitionTime": earlier}]}
    new = rs("web-abc", 3, available=1)
    cond = progress.get_condition(progress.rollout_status(d, [new], new, NOW), "Progressing")
    assert (cond["reason"], cond["lastTransitionTime"], cond["lastUpdateTime"]) == (
        "ReplicaSetUpdated", earlier, "2024-01-01T12:00:00Z")
    assert cond["message"] == 'ReplicaSet "web-abc" is progressing.'


def test_deadline_exceeded():
    d = deploy(replicas=3)
    d["spec"]["progressDeadlineSeconds"] = 60
    stamp = "2024-01-01T11:58:00Z"
    d["status"] = {"replicas": 3, "updatedReplicas": 3, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "x",
         "lastUpdateTime": stamp, "lastTransitionTime": stamp}]}
    new = rs("web-abc", 3, available=0)
    new["status"]["readyReplicas"] = 0
    cond = progress.get_condition(progress.rollout_status(d, [new], new, NOW), "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-abc" has timed out progressing.')


def test_requeue_before_deadline():
    d = deploy(replicas=3)
    stamp = "2024-01-01T11:59:00Z"
    d["status"] = {"conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                   "lastUpdateTime": stamp, "lastTransitionTime": stamp}]}
    assert progress.requeue_after(d, {}, NOW) == 600 - 60 + 1


def test_paused_and_resumed_conditions():
    d = deploy()
    d["spec"]["paused"] = True
    status = progress.paused_condition_status(d, NOW)
    cond = progress.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    d["status"], d["spec"]["paused"] = status, False
    cond = progress.get_condition(progress.paused_condition_status(d, NOW), "Progressing")
    assert (cond["reason"], cond["message"]) == ("DeploymentResumed", "Deployment is resumed")
    d["status"] = progress.paused_condition_status(d, NOW)
    assert progress.paused_condition_status(d, NOW) is None


def test_replica_failure_copied_from_new_rs():
    d = deploy(replicas=1)
    new = rs("web-abc", 1, available=0)
    new["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                    "message": "quota", "lastTransitionTime": "2024-01-01T11:00:00Z"}]
    cond = progress.get_condition(progress.rollout_status(d, [new], new, NOW), "ReplicaFailure")
    assert (cond["reason"], cond["message"]) == ("FailedCreate", "quota")
