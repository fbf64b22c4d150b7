"""API semantics through the official Python client and raw HTTPS: pagination, watch
resume, optimistic concurrency, compaction, durability across kill -9, error Statuses."""

from __future__ import annotations

import concurrent.futures
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .conftest import start_server

pytestmark = pytest.mark.e2e


def make_ns(api: client.CoreV1Api, name: str) -> str:
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def configmap(name: str, **data) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"})


@pytest.fixture(scope="module")
def core(server):
    return client.CoreV1Api(server.client())


def test_list_pagination_is_one_consistent_snapshot(core):
    n = make_ns(core, "paging")
    for i in range(25):
        core.create_namespaced_config_map(n, configmap(f"cm-{i:02d}"))
    first = core.list_namespaced_config_map(n, limit=10)
    assert len(first.items) == 10 and first.metadata._continue
    assert first.metadata.remaining_item_count == 15
    core.create_namespaced_config_map(n, configmap("cm-99-late"))  # after the snapshot
    names = [cm.metadata.name for cm in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(n, limit=10, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [cm.metadata.name for cm in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i:02d}" for i in range(25)]
    # resourceVersion=0 ("any"): served whole from the watch cache, limit ignored, as
    # kube-apiserver does (informers' first lists)
    whole = core.list_namespaced_config_map(n, limit=10, resource_version="0")
    assert len(whole.items) == 26 and not whole.metadata._continue


def test_label_and_field_selectors(core):
    n = make_ns(core, "selectors")
    for name, color in (("red-1", "red"), ("red-2", "red"), ("blue-1", "blue")):
        cm = configmap(name)
        cm.metadata.labels = {"color": color, "size": "s" if name.endswith("1") else "m"}
        core.create_namespaced_config_map(n, cm)
    names = lambda items: sorted(i.metadata.name for i in items)  # noqa: E731
    assert names(core.list_namespaced_config_map(n, label_selector="color=red").items) == ["red-1", "red-2"]
    assert names(core.list_namespaced_config_map(n, label_selector="color in (blue),size!=m").items) == ["blue-1"]
    assert names(core.list_namespaced_config_map(n, label_selector="!color").items) == []
    assert names(core.list_namespaced_config_map(n, field_selector="metadata.name=red-2").items) == ["red-2"]
    assert names(core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={n}",
                                                         label_selector="color=blue").items) == ["blue-1"]
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="p"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
    core.create_namespaced_pod(n, pod)
    assert names(core.list_namespaced_pod(n, field_selector="status.phase=Pending").items) == ["p"]
    assert names(core.list_namespaced_pod(n, field_selector="spec.nodeName=").items) == ["p"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(n, field_selector="spec.bogus=1")
    assert bad.value.status == 400 and "field label not supported" in bad.value.body


def test_watch_resumes_from_resource_version(core):
    n = make_ns(core, "resume")
    core.create_namespaced_config_map(n, configmap("w"))
    rv = core.list_namespaced_config_map(n).metadata.resource_version
    for i in range(3):
        core.patch_namespaced_config_map("w", n, {"data": {"i": str(i)}})
    core.delete_namespaced_config_map("w", n)
    events = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, n, resource_version=rv,
                                      timeout_seconds=5):
        events.append((event["type"], (event["object"].data or {}).get("i")))
        if event["type"] == "DELETED":
            break
    assert events == [("MODIFIED", "0"), ("MODIFIED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_stale_update_is_a_conflict(core):
    n = make_ns(core, "conflict")
    created = core.create_namespaced_config_map(n, configmap("c"))
    core.patch_namespaced_config_map("c", n, {"data": {"k": "newer"}})
    created.data = {"k": "stale"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", n, created)
    assert err.value.status == 409
    status = json.loads(err.value.body)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(n, configmap("c"))
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"


def test_concurrent_writers_one_wins_per_resource_version(core):
    n = make_ns(core, "race")
    base = core.create_namespaced_config_map(n, configmap("race"))

    def write(i: int) -> bool:
        body = configmap("race", k=str(i))
        body.metadata.resource_version = base.metadata.resource_version
        try:
            core.replace_namespaced_config_map("race", n, body)
            return True
        except ApiException as exc:
            assert exc.status == 409
            return False

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(write, range(16)))
    assert wins.count(True) == 1


def test_generate_name_defaults_and_dry_run(core):
    n = make_ns(core, "create-rules")
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"), data={"a": "b"})
    made = core.create_namespaced_config_map(n, cm)
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9
    assert made.metadata.uid and made.metadata.creation_timestamp
    dry = core.create_namespaced_config_map(n, configmap("dry"), dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("dry", n)
    assert gone.value.status == 404
    pod = core.create_namespaced_pod(n, client.V1Pod(
        metadata=client.V1ObjectMeta(name="defaulted"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))
    assert pod.spec.restart_policy == "Always" and pod.spec.dns_policy == "ClusterFirst"
    assert pod.spec.containers[0].image_pull_policy == "Always"
    assert pod.spec.termination_grace_period_seconds == 30
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"


@pytest.fixture(scope="module")
def no_workload_controllers(tmp_path_factory):
    """A server whose Deployment and ReplicaSet controllers are off, so the test alone
    writes a Deployment's status."""
    srv = start_server(tmp_path_factory, "--disable-controllers", "deployment,replicaset")
    yield srv
    srv.stop()


def test_status_and_spec_are_written_separately(no_workload_controllers):
    server = no_workload_controllers
    core = client.CoreV1Api(server.client())
    apps = client.AppsV1Api(server.client())
    n = make_ns(core, "subresources")
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"replicas": 7}}
    made = apps.create_namespaced_deployment(n, body)
    assert not made.status.replicas  # status is not set by create
    apps.patch_namespaced_deployment_status("d", n, {"status": {"replicas": 3}, "spec": {"replicas": 9}})
    d = apps.read_namespaced_deployment("d", n)
    assert d.status.replicas == 3 and d.spec.replicas == 1
    apps.patch_namespaced_deployment("d", n, {"spec": {"replicas": 4}, "status": {"replicas": 0}})
    d = apps.read_namespaced_deployment("d", n)
    assert d.status.replicas == 3 and d.spec.replicas == 4
    scale = apps.read_namespaced_deployment_scale("d", n)
    assert scale.spec.replicas == 4 and scale.status.selector == "a=b"
    apps.patch_namespaced_deployment_scale("d", n, {"spec": {"replicas": 6}})
    assert apps.read_namespaced_deployment("d", n).spec.replicas == 6


def test_delete_preconditions_and_finalizers(core):
    n = make_ns(core, "deleting")
    core.create_namespaced_config_map(n, configmap("pre"))
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("pre", n, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="not-the-uid")))
    assert err.value.status == 409 and "Precondition failed" in err.value.body
    held = configmap("held")
    held.metadata.finalizers = ["example.com/hold"]
    core.create_namespaced_config_map(n, held)
    core.delete_namespaced_config_map("held", n)
    terminating = core.read_namespaced_config_map("held", n)
    assert terminating.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", n, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", n)
    assert gone.value.status == 404


# --- raw HTTP: authentication and error statuses ------------------------------------------


def raw(server, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
        token: str | None = "") -> tuple[int, dict | str]:
    context = ssl._create_unverified_context()
    headers = {"Content-Type": content_type}
    if token is None:
        pass
    else:
        with open(f"{server.data_dir}/token") as f:
            headers["Authorization"] = f"Bearer {token or f.read().strip()}"
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:
            data = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        data, status = err.read(), err.code
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data.decode()


def test_authentication_required(server):
    status, body = raw(server, "GET", "/api/v1/namespaces", token=None)
    assert status == 401 and body["reason"] == "Unauthorized"
    status, body = raw(server, "GET", "/api/v1/namespaces", token="wrong-token")
    assert status == 401
    status, body = raw(server, "GET", "/api/v1/namespaces")
    assert status == 200 and body["kind"] == "NamespaceList"
    assert raw(server, "GET", "/readyz", token=None)[0] == 200


def test_error_statuses(server):
    path = "/api/v1/namespaces/default/configmaps"
    status, body = raw(server, "POST", path, b"{not json")
    assert status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"
    status, body = raw(server, "POST", path, b"x" * (3 * 1024 * 1024 + 10))
    assert status == 413 and body["reason"] == "RequestEntityTooLarge"
    status, body = raw(server, "PATCH", path + "/x", b"{}", content_type="text/plain")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    status, body = raw(server, "GET", "/api/v1/namespaces/default/widgets")
    assert status == 404 and body["reason"] == "NotFound"
    status, body = raw(server, "POST", path, json.dumps({"metadata": {"name": "-bad-"}}).encode())
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    status, body = raw(server, "PUT", "/api/v1/namespaces/default/configmaps", b"{}")
    assert status == 405


def test_watch_from_compacted_revision_gets_410(tmp_path_factory):
    server = start_server(tmp_path_factory, "--compaction-interval", "1", "--watch-history", "1")
    try:
        core = client.CoreV1Api(server.client())
        core.create_namespaced_config_map("default", configmap("old"))
        old_rv = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(5):
            core.patch_namespaced_config_map("old", "default", {"data": {"i": str(i)}})
        time.sleep(2.5)  # two compaction intervals: old_rv is compacted by then
        core.patch_namespaced_config_map("old", "default", {"data": {"i": "last"}})
        status, body = raw(server, "GET",
                           f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old_rv}&timeoutSeconds=2")
        first = json.loads(body.splitlines()[0]) if isinstance(body, str) else body
        assert status == 200  # Kubernetes answers 200, then one ERROR event
        assert first["type"] == "ERROR"
        assert first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"
        assert first["object"]["message"].startswith(f"too old resource version: {old_rv} (")
    finally:
        server.stop()


def test_acknowledged_writes_survive_kill_9(tmp_path_factory):
    server = start_server(tmp_path_factory)
    acknowledged: list[str] = []
    stop = threading.Event()
    try:
        core = client.CoreV1Api(server.client())

        def writer(worker: int) -> None:
            i = 0
            while not stop.is_set():
                name = f"w{worker}-{i}"
                try:
                    core.create_namespaced_config_map("default", configmap(name))
                except Exception:
                    return  # the server died mid-request: not acknowledged
                acknowledged.append(name)
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill9()
        stop.set()
        for t in threads:
            t.join()
        assert len(acknowledged) >= 50
        server.start()
        core = client.CoreV1Api(server.client())
        stored = {cm.metadata.name for cm in core.list_namespaced_config_map("default").items}
        missing = [name for name in acknowledged if name not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
    finally:
        server.stop()


def test_a_restarted_server_keeps_its_system_services_without_errors(tmp_path_factory):
    server = start_server(tmp_path_factory)
    try:
        core = client.CoreV1Api(server.client())
        before = {s.metadata.name: s.spec.cluster_ip for s in core.list_service_for_all_namespaces().items}
        server.stop()
        server.start()
        core = client.CoreV1Api(server.client())
        after = {s.metadata.name: s.spec.cluster_ip for s in core.list_service_for_all_namespaces().items}
        with open(server.log_path) as f:
            log = f.read()
        assert before == after == {"kubernetes": "10.43.0.1", "kube-dns": "10.43.0.10"}
        assert "cannot create Service" not in log and " ERROR " not in log, log
    finally:
        server.stop()


def test_delete_collection_by_label(core):
    n = make_ns(core, "collection")
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        cm = configmap(name)
        cm.metadata.labels = {"tier": tier}
        core.create_namespaced_config_map(n, cm)
    core.delete_collection_namespaced_config_map(n, label_selector="tier=web")
    left = [cm.metadata.name for cm in core.list_namespaced_config_map(n).items]
    assert left == ["c"]


def test_unknown_fields_warn_by_default_and_fail_when_strict(server):
    body = json.dumps({"metadata": {"name": "warned"}, "data": {"a": "b"}, "bogus": 1}).encode()
    path = "/api/v1/namespaces/default/configmaps"
    context = ssl._create_unverified_context()
    with open(f"{server.data_dir}/token") as f:
        token = f.read().strip()
    request = urllib.request.Request(server.url + path, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        assert resp.status == 201
        assert resp.headers.get("Warning") == '299 - "unknown field \\"bogus\\""'
    body = json.dumps({"metadata": {"name": "strict"}, "bogus": 1}).encode()
    status, answer = raw(server, "POST", path + "?fieldValidation=Strict", body)
    assert status == 400
    assert answer["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                 'strict decoding error: unknown field "bogus"')


def test_concurrent_unpinned_patches_all_apply(core):
    """Patches that carry no resourceVersion are re-applied when another write wins the
    race (upstream's GuaranteedUpdate); only a pinned resourceVersion gets 409."""
    n = make_ns(core, "racing-patches")
    core.create_namespaced_config_map(n, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="race")))

    def label(i: int) -> None:
        core.patch_namespaced_config_map("race", n, {"metadata": {"labels": {f"k{i}": "v"}}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(label, range(24)))  # raises if any patch failed
    labels = core.read_namespaced_config_map("race", n).metadata.labels
    assert set(labels) == {f"k{i}" for i in range(24)}
    stale = core.read_namespaced_config_map("race", n)
    core.patch_namespaced_config_map("race", n, {"data": {"a": "1"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("race", n, {"metadata": {"resourceVersion": stale.metadata.resource_version},
                                                     "data": {"a": "2"}})
    assert err.value.status == 409
