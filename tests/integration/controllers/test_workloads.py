"""Jobs, CronJobs, DaemonSets and StatefulSets with real pods, the real scheduler and the
real kubectl, on a two-node cluster (tests/integration/cluster.py)."""

from __future__ import annotations

import json

import pytest

from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with real_cluster(tmp_path_factory, nodes=("n1", "n2")) as c:
        yield c


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions") or () if c["type"] == type_), {})


def job_manifest(name: str, script: str, **spec) -> str:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": IMAGE, "command": ["/bin/busybox", "sh", "-c", script]}]}}}}
    return json.dumps(body)


def test_create_job_and_wait_for_complete(cluster):
    cluster.kubectl("create", "job", "once", f"--image={IMAGE}", "--", "echo", "hi")
    cluster.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=40s", timeout=45)
    job = cluster.get("job", "once")
    assert job["status"]["succeeded"] == 1 and job["status"].get("completionTime")
    assert condition(job, "SuccessCriteriaMet")["status"] == "True"
    pods = cluster.pods("batch.kubernetes.io/job-name=once")
    assert len(pods) == 1 and not pods[0]["metadata"].get("finalizers")  # job-tracking finalizer removed
    assert pods[0]["status"]["phase"] == "Succeeded"
    assert cluster.kubectl("logs", "job/once").stdout.strip() == "hi"


def test_failing_job_reaches_backoff_limit(cluster):
    cluster.apply(job_manifest("fails", "exit 3", backoffLimit=0))
    cluster.kubectl("wait", "--for=condition=failed", "job/fails", "--timeout=40s", timeout=45)
    job = cluster.get("job", "fails")
    failed = condition(job, "Failed")
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert job["status"]["failed"] == 1 and "completionTime" not in job["status"]


def test_indexed_job(cluster):
    # each pod checks its own identity: a mismatch exits 1 and the Job would fail
    script = 'test "$(hostname)" = "idx-$JOB_COMPLETION_INDEX" && test -n "$JOB_COMPLETION_INDEX"'
    cluster.apply(job_manifest("idx", script, completions=3, parallelism=3, completionMode="Indexed", backoffLimit=0))
    cluster.kubectl("wait", "--for=condition=complete", "job/idx", "--timeout=40s", timeout=45)
    job = cluster.get("job", "idx")
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                     for p in cluster.pods("batch.kubernetes.io/job-name=idx"))
    assert indexes == ["0", "1", "2"]


def test_job_from_cronjob(cluster):
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
               "spec": {"schedule": "0 3 1 1 *", "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                   "containers": [{"name": "main", "image": IMAGE, "command": ["/bin/busybox", "true"]}]}}}}}}
    cluster.apply(json.dumps(cronjob))
    cluster.kubectl("create", "job", "nightly-manual", "--from=cronjob/nightly")
    cluster.kubectl("wait", "--for=condition=complete", "job/nightly-manual", "--timeout=40s", timeout=45)
    status = cluster.wait_for(lambda: cluster.get("cronjob", "nightly").get("status", {}).get("lastSuccessfulTime")
                              and cluster.get("cronjob", "nightly")["status"], "the CronJob to see its job finish")
    assert "active" not in status


DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: %s, command: [/bin/busybox, sleep, "3600"]}
""" % IMAGE


def test_daemonset_puts_one_pod_on_each_node(cluster):
    cluster.apply(DAEMONSET)
    cluster.wait_for(lambda: cluster.get("ds", "agent").get("status", {}).get("numberReady") == 2,
                     "the DaemonSet ready on both nodes", timeout=40)
    pods = cluster.pods("app=agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["n1", "n2"]
    status = cluster.get("ds", "agent")["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["updatedNumberScheduled"],
            status["numberMisscheduled"]) == (2, 2, 2, 0)
    assert all(p["metadata"]["labels"].get("controller-revision-hash") for p in pods)
    assert cluster.get("controllerrevisions", selector="app=agent")["items"]
    assert "successfully rolled out" in cluster.kubectl("rollout", "status", "ds/agent", "--timeout=30s").stdout

    # a rolling update (maxUnavailable 1): every node's pod is replaced by one of the new template
    cluster.kubectl("patch", "ds", "agent", "--type=merge", "-p",
                    json.dumps({"spec": {"template": {"metadata": {"annotations": {"version": "2"}}}}}))
    cluster.kubectl("rollout", "status", "ds/agent", "--timeout=40s", timeout=45)
    pods = [p for p in cluster.pods("app=agent") if not p["metadata"].get("deletionTimestamp")]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["n1", "n2"]
    assert all(p["metadata"]["annotations"] == {"version": "2"} for p in pods)
    assert len(cluster.get("controllerrevisions", selector="app=agent")["items"]) == 2


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 3
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: %s, command: [/bin/busybox, sleep, "3600"]}
""" % IMAGE


def test_statefulset_ordered_start_and_partitioned_update(cluster):
    cluster.apply(STATEFULSET)
    cluster.wait_for(lambda: cluster.get("sts", "web").get("status", {}).get("readyReplicas") == 3,
                     "three ready replicas", timeout=45)
    pods = {p["metadata"]["name"]: p for p in cluster.pods("app=web")}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    for lower, higher in (("web-0", "web-1"), ("web-1", "web-2")):  # each waits for the one before to be Ready
        assert pods[higher]["metadata"]["creationTimestamp"] >= condition(pods[lower], "Ready")["lastTransitionTime"]
    assert pods["web-1"]["spec"]["hostname"] == "web-1" and pods["web-1"]["spec"]["subdomain"] == "web"
    assert pods["web-1"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    old_revision = cluster.get("sts", "web")["status"]["currentRevision"]

    patch = {"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                      "template": {"metadata": {"annotations": {"version": "2"}}}}}
    cluster.kubectl("patch", "sts", "web", "--type=merge", "-p", json.dumps(patch))

    def updated():
        status = cluster.get("sts", "web").get("status", {})
        return status.get("updatedReplicas") == 1 and status.get("readyReplicas") == 3 and status
    status = cluster.wait_for(updated, "web-2 updated", timeout=40)
    revisions = {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"] for p in cluster.pods("app=web")}
    assert revisions == {"web-0": old_revision, "web-1": old_revision, "web-2": status["updateRevision"]}
    assert status["currentRevision"] == old_revision != status["updateRevision"]
    assert "partitioned roll out complete" in cluster.kubectl("rollout", "status", "sts/web", "--timeout=30s").stdout
