"""ServiceAllocators: ClusterIP and NodePort allocation, release and upstream's errors."""

from __future__ import annotations

import pytest

from tinykube.api import errors
from tinykube.apiserver.allocators import ServiceAllocators, first_ip, port_range


def svc(name="s", **spec) -> dict:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("ports", [{"port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": name}, "spec": spec}


def test_first_ip_is_the_kubernetes_service_address():
    assert first_ip("10.43.0.0/16") == "10.43.0.1"


@pytest.mark.parametrize("spec, wants_ip, node_ports", [
    ({"type": "ClusterIP"}, True, 0),
    ({"type": "NodePort"}, True, 1),
    ({"type": "LoadBalancer"}, True, 1),
    ({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}, True, 0),
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Local"}, True, 2),  # + healthCheckNodePort
    ({"type": "ClusterIP", "clusterIP": "None"}, False, 0),
    ({"type": "ExternalName", "externalName": "example.com"}, False, 0),
])
def test_what_each_type_gets(spec, wants_ip, node_ports):
    a = ServiceAllocators()
    obj = svc(**spec)
    a.allocate_create(obj)
    assert bool(obj["spec"].get("clusterIPs") and obj["spec"]["clusterIP"] != "None") == wants_ip
    assert len(a.ports.used) == node_ports
    if wants_ip:
        assert obj["spec"]["clusterIP"].startswith("10.43.")
        assert obj["spec"]["clusterIPs"] == [obj["spec"]["clusterIP"]]


@pytest.mark.parametrize("spec, message", [
    ({"clusterIP": "10.43.0.5"}, 'spec.clusterIPs: Invalid value: []string{"10.43.0.5"}: '
                                 "failed to allocate IP 10.43.0.5: provided IP is already allocated"),
    ({"clusterIP": "10.44.0.5"}, "failed to allocate IP 10.44.0.5: the provided IP (10.44.0.5) is not in the "
                                 "valid range. The range of valid IPs is 10.43.0.0/16"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30007}]},
     "spec.ports[0].nodePort: Invalid value: 30007: provided port is already allocated"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]},
     "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
     "The range of valid ports is 30000-32767"),
])
def test_requested_values_taken_or_out_of_range_are_refused(spec, message):
    a = ServiceAllocators()
    a.allocate_create(svc("first", type="NodePort", clusterIP="10.43.0.5",
                          ports=[{"port": 80, "nodePort": 30007}]))
    used_ips, used_ports = set(a.ip.used), set(a.ports.used)
    with pytest.raises(errors.Invalid) as info:
        a.allocate_create(svc("second", **spec))
    assert message in str(info.value)
    assert (a.ip.used, a.ports.used) == (used_ips, used_ports)  # nothing leaked


def test_never_handed_out_twice_until_released():
    a = ServiceAllocators(service_cidr="10.43.0.0/28", node_port_range="30000-30004")
    services = [svc(f"s{i}", type="NodePort") for i in range(5)]
    for s in services:
        a.allocate_create(s)
    assert len({s["spec"]["clusterIP"] for s in services}) == 5
    assert len({s["spec"]["ports"][0]["nodePort"] for s in services}) == 5
    with pytest.raises(errors.InternalError):
        a.allocate_create(svc("full", type="NodePort"))
    a.release(services[0])
    again = svc("again", type="NodePort")
    a.allocate_create(again)
    assert again["spec"]["ports"][0]["nodePort"] == services[0]["spec"]["ports"][0]["nodePort"]


def test_load_rebuilds_from_stored_services():
    a = ServiceAllocators()
    a.load([svc(type="NodePort", clusterIP="10.43.0.9", clusterIPs=["10.43.0.9"],
                ports=[{"port": 80, "nodePort": 31000}])])
    with pytest.raises(errors.Invalid):
        a.allocate_create(svc(clusterIP="10.43.0.9"))
    with pytest.raises(errors.Invalid):
        a.allocate_create(svc(type="NodePort", ports=[{"port": 1, "nodePort": 31000}]))


def test_type_change_allocates_then_releases_on_commit():
    a = ServiceAllocators()
    old = svc(type="NodePort", externalTrafficPolicy="Cluster")
    a.allocate_create(old)
    port = old["spec"]["ports"][0]["nodePort"]
    new = svc(type="ClusterIP", clusterIP=old["spec"]["clusterIP"], clusterIPs=old["spec"]["clusterIPs"],
              externalTrafficPolicy="Cluster", ports=[dict(old["spec"]["ports"][0])])
    a.prepare_update(old, new)
    assert "nodePort" not in new["spec"]["ports"][0] and "externalTrafficPolicy" not in new["spec"]
    allocation = a.allocate_update(old, new)
    assert a.ports.has(port)  # still held until the write is stored
    allocation.commit()
    assert not a.ports.has(port)


def test_update_keeps_a_nodeport_the_client_left_out_and_reverts_on_failure():
    a = ServiceAllocators()
    old = svc(type="NodePort", ports=[{"port": 80, "protocol": "TCP"}])
    a.allocate_create(old)
    new = svc(type="NodePort", ports=[{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}])
    a.prepare_update(old, new)
    assert new["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]
    allocation = a.allocate_update(old, new)
    assert len(a.ports.used) == 2
    allocation.revert()  # the store write failed
    assert len(a.ports.used) == 1


def test_same_node_port_for_tcp_and_udp_is_one_allocation():
    a = ServiceAllocators()
    s = svc(type="NodePort", ports=[{"port": 53, "protocol": "UDP", "nodePort": 30053},
                                    {"port": 53, "protocol": "TCP", "nodePort": 30053}])
    a.allocate_create(s)
    assert a.ports.used == {53}


def test_dynamic_ports_prefer_the_upper_band():
    r = port_range("30000-32767")
    assert all(r.allocate_next() >= 30000 + r.static_band for _ in range(100))
