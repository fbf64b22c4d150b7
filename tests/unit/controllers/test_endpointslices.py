"""EndpointSlice and Endpoints controllers: pure tables, and one sync against FakeApiClient."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.client import EventRecorder, FakeApiClient, InformerFactory
from tinykube.controllers import endpoints as ep
from tinykube.controllers import endpointslice as es
from tinykube.controllers import servicelb
from tinykube.controllers.base import ControllerContext


def service(name="web", *, selector=None, ports=None, **spec) -> dict:
    spec = {"selector": {"app": "web"} if selector is None else selector,
            "ports": ports or [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], **spec}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
            "spec": spec}


def pod(name, ip="10.42.0.5", *, ready=True, deleting=False, phase="Running", labels=None, port_name="http",
        node="n1") -> dict:
    md = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": port_name, "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"phase": phase, "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize("p, publish, conditions", [
    (pod("a"), False, {"ready": True, "serving": True, "terminating": False}),
    (pod("a", ready=False), False, {"ready": False, "serving": False, "terminating": False}),
    (pod("a", deleting=True), False, {"ready": False, "serving": True, "terminating": True}),
    (pod("a", deleting=True, ready=False), False, {"ready": False, "serving": False, "terminating": True}),
    (pod("a", ready=False), True, {"ready": True, "serving": False, "terminating": False}),
])
def test_endpoint_conditions_as_upstream(p, publish, conditions):
    svc = service(publishNotReadyAddresses=publish)
    [slice_] = es.desired_slices(svc, [p])
    [endpoint] = slice_["endpoints"]
    assert endpoint["conditions"] == conditions
    assert endpoint["addresses"] == ["10.42.0.5"] and endpoint["nodeName"] == "n1"
    assert endpoint["targetRef"] == {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}


@pytest.mark.parametrize("p", [
    pod("no-ip", ip=""), pod("done", phase="Succeeded"), pod("failed", phase="Failed"),
    pod("other", labels={"app": "db"}),
])
def test_pods_left_out(p):
    [slice_] = es.desired_slices(service(), [p])
    assert slice_["endpoints"] == [] and slice_["ports"] == []


def test_named_and_numeric_target_ports_resolved_per_pod():
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                         {"name": "metrics", "port": 9000, "targetPort": 9100, "protocol": "TCP"}])
    slices = es.desired_slices(svc, [pod("a"), pod("b", ip="10.42.0.6", port_name="web")])
    by_ports = {tuple(p["port"] for p in s["ports"]): [e["targetRef"]["name"] for e in s["endpoints"]]
                for s in slices}
    assert by_ports == {(8080, 9100): ["a"], (9100,): ["b"]}


def test_labels_and_at_most_100_endpoints_per_slice():
    pods = [pod(f"p{i:03}", ip=f"10.42.{i // 200}.{i % 200 + 1}") for i in range(250)]
    slices = es.desired_slices(service(clusterIP="None"), pods)
    assert [len(s["endpoints"]) for s in slices] == [100, 100, 50]
    assert slices[0]["labels"] == {"team": "a", es.SERVICE_NAME: "web", es.MANAGED_BY: es.CONTROLLER_NAME,
                                   es.HEADLESS: ""}


def test_plan_reuses_slices_and_leaves_selectorless_services_alone():
    svc = service()
    creates, updates, deletes = es.plan(svc, [pod("a")], [])
    assert len(creates) == 1 and not updates and not deletes
    assert creates[0]["metadata"]["generateName"] == "web-"
    assert creates[0]["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    existing = dict(creates[0], metadata=dict(creates[0]["metadata"], name="web-abcde"))
    assert es.plan(svc, [pod("a")], [existing]) == ([], [], [])
    _, updates, _ = es.plan(svc, [pod("a", ready=False)], [existing])
    assert updates[0]["metadata"]["name"] == "web-abcde"
    assert es.plan(service(selector={}), [pod("a")], [existing]) == ([], [], [existing])
    assert es.plan(None, [], [existing]) == ([], [], [existing])


def test_legacy_endpoints_addresses_and_not_ready_addresses():
    subsets = ep.desired_subsets(service(), [pod("b", ip="10.42.0.9"), pod("a", ip="10.42.0.10"),
                                             pod("c", ip="10.42.0.2", ready=False),
                                             pod("d", ip="10.42.0.3", deleting=True)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.42.0.9", "10.42.0.10"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.42.0.2"]
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert ep.plan(service(selector={}), [pod("a")], None) == ("", None)
    verb, obj = ep.plan(service(), [], None)
    assert verb == "create" and obj["subsets"] == []


def test_servicelb_ingress_is_the_ready_nodes_internal_ips():
    def node(ip, ready):
        return {"status": {"addresses": [{"type": "InternalIP", "address": ip}],
                           "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    lb = service(type="LoadBalancer")
    assert servicelb.desired_ingress(lb, [node("198.18.0.3", True), node("198.18.0.2", True),
                                          node("198.18.0.4", False)]) == [
        {"ip": "198.18.0.2", "ipMode": "VIP"}, {"ip": "198.18.0.3", "ipMode": "VIP"}]
    assert servicelb.desired_ingress(service(), []) is None


async def test_sync_once_writes_slice_and_endpoints_then_nothing():
    fake = FakeApiClient([service(), pod("a"), pod("b", ip="10.42.0.6", ready=False)])
    informers = InformerFactory(fake)
    ctx = ControllerContext(client=fake, informers=informers, recorder=EventRecorder(fake, component="test"))
    slices, legacy = es.EndpointSliceController(ctx), ep.EndpointsController(ctx)
    task = asyncio.create_task(informers.run())
    try:
        await asyncio.wait_for(informers.wait_synced(), 5)
        await slices.sync("default/web")
        await legacy.sync("default/web")
        assert [(a.verb, a.plural) for a in fake.writes()] == [("create", "endpointslices"), ("create", "endpoints")]
        [created] = (await fake.list(es.SLICES, namespace="default")).items
        assert [e["conditions"]["ready"] for e in created["endpoints"]] == [True, False]
        await slices.sync("default/web")  # the cache may lag: the tracker knows what we wrote
        assert len(fake.writes()) == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
