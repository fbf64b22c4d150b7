"""Namespace, Node, Lease, Endpoints, EndpointSlice, Event, ServiceAccount."""

import pytest

from tinykube.api.errors import DUPLICATE, FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED, TOO_MANY

from . import changed, check_create, check_status, check_update, meta


def namespace(**spec):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("team-a", None), "spec": spec}


@pytest.mark.parametrize("obj, expected", [
    (namespace(finalizers=["kubernetes"]), []),
    (namespace(finalizers=["custom"]), [(INVALID, "spec.finalizers",
        'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified')]),
    (changed(namespace(), lambda o: o["metadata"].update(name="Team")), [(INVALID, "metadata.name", 'Invalid value: "Team": ...')]),
])
def test_namespace(obj, expected):
    check_create("Namespace", obj, expected)


def test_namespace_status_phase():
    old = namespace()
    active = changed(old, lambda o: o.__setitem__("status", {"phase": "Active"}))
    check_status("Namespace", active, old, [])
    wrong = changed(old, lambda o: o.__setitem__("status", {"phase": "Terminating"}))
    check_status("Namespace", wrong, old, [(INVALID, "status.Phase",
        "Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty")])


def node(**spec):
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta("node-1.example.com", None), "spec": spec,
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}


TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize("obj, expected", [
    (node(podCIDR="10.42.0.0/24", podCIDRs=["10.42.0.0/24"], taints=[TAINT]), []),
    (node(podCIDRs=["10.42.0.0/33"]), [(INVALID, "spec.podCIDRs[0]", 'Invalid value: "10.42.0.0/33": must be a valid CIDR value, '
                                                                   "(e.g. 10.9.8.0/24 or 2001:db8::/64)")]),
    (node(podCIDR="bogus"), [(INVALID, "spec.podCIDRs[0]", 'Invalid value: "bogus": ...')]),
    (node(podCIDRs=["10.42.0.0/24", "10.43.0.0/24"]), [(INVALID, "spec.podCIDRs",
        'Invalid value: []string{"10.42.0.0/24", "10.43.0.0/24"}: may specify no more than one CIDR for each IP family')]),
    (node(podCIDRs=["10.42.0.0/24", "fd00::/64"]), []),
    (node(taints=[{"key": "k", "effect": "Sometimes"}]), [(NOT_SUPPORTED, "metadata.taints[0].effect",
        'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    (node(taints=[{"key": "k"}]), [(REQUIRED, "metadata.taints[0].effect", "")]),
    (node(taints=[{"key": "bad key", "effect": "NoSchedule"}]), [(INVALID, "metadata.taints[0].key", 'Invalid value: "bad key": ...')]),
    (node(taints=[TAINT, TAINT]), [(DUPLICATE, "metadata.taints[1]", "Duplicate value: core.Taint{...}: taints must be unique by key and effect pair")]),
    (changed(node(), lambda o: o["status"]["capacity"].update(cpu="-1")),
     [(INVALID, "status.capacity.cpu", 'Invalid value: "-1": must be greater than or equal to 0')]),
])
def test_node(obj, expected):
    check_create("Node", obj, expected)


def test_node_pod_cidr_is_set_once():
    old = node()
    assigned = changed(old, lambda o: o["spec"].update(podCIDRs=["10.42.1.0/24"]))
    check_update("Node", assigned, old, [])
    moved = changed(assigned, lambda o: o["spec"].update(podCIDRs=["10.42.2.0/24"]))
    check_update("Node", moved, assigned, [(FORBIDDEN, "spec.podCIDRs",
                                            'Forbidden: node updates may not change podCIDR except from "" to valid')])
    tainted = changed(assigned, lambda o: o["spec"].update(unschedulable=True, taints=[TAINT]))
    check_update("Node", tainted, assigned, [])


def lease(**spec):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("node-1", "kube-node-lease"), "spec": spec}


@pytest.mark.parametrize("obj, expected", [
    (lease(holderIdentity="node-1", leaseDurationSeconds=40, renewTime="2024-01-01T00:00:00.000000Z"), []),
    (lease(leaseDurationSeconds=0), [(INVALID, "spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")]),
    (lease(leaseTransitions=-1), [(INVALID, "spec.leaseTransitions", "Invalid value: -1: must be greater than or equal to 0")]),
])
def test_lease(obj, expected):
    check_create("Lease", obj, expected, "coordination.k8s.io")


def endpoints(*subsets):
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(), "subsets": list(subsets)}


@pytest.mark.parametrize("obj, expected", [
    (endpoints({"addresses": [{"ip": "10.42.0.5", "nodeName": "node-1"}], "ports": [{"port": 8080, "protocol": "TCP"}]}), []),
    (endpoints({"ports": [{"port": 80}]}), [(REQUIRED, "subsets[0]", "must specify `addresses` or `notReadyAddresses`")]),
    (endpoints({"addresses": [{"ip": "nope"}]}), [(INVALID, "subsets[0].addresses[0].ip", 'Invalid value: "nope": must be a valid IP address...')]),
    (endpoints({"addresses": [{"ip": "127.0.0.1"}]}), [(INVALID, "subsets[0].addresses[0].ip",
        'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)')]),
    (endpoints({"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0}]}), [(INVALID, "subsets[0].ports[0].port",
        "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    (endpoints({"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "name": "a"}, {"port": 81}]}),
     [(REQUIRED, "subsets[0].ports[1].name", "")]),
])
def test_endpoints(obj, expected):
    check_create("Endpoints", obj, expected)


def endpoint_slice(address_type="IPv4", addresses=("10.42.0.5",), **extra):
    obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta("web-abc12"),
           "addressType": address_type, "endpoints": [{"addresses": list(addresses), "conditions": {"ready": True}}],
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    obj.update(extra)
    return obj


@pytest.mark.parametrize("obj, expected", [
    (endpoint_slice(), []),
    (endpoint_slice("IPv6", ["fd00::5"]), []),
    (endpoint_slice("FQDN", ["db.example.com"]), []),
    (endpoint_slice("IPv5"), [(NOT_SUPPORTED, "addressType", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"')]),
    (endpoint_slice(""), [(REQUIRED, "addressType", "")]),
    (endpoint_slice("IPv4", ["fd00::5"]), [(INVALID, "endpoints[0].addresses[0]", 'Invalid value: "fd00::5": must be a valid IPv4 address')]),
    (endpoint_slice("IPv6", ["10.0.0.1"]), [(INVALID, "endpoints[0].addresses[0]", 'Invalid value: "10.0.0.1": must be a valid IPv6 address')]),
    (endpoint_slice("FQDN", ["localhost"]), [(INVALID, "endpoints[0].addresses[0]",
        'Invalid value: "localhost": should be a domain with at least two segments separated by dots')]),
    (endpoint_slice(addresses=()), [(REQUIRED, "endpoints[0].addresses", "must contain at least 1 address")]),
    (endpoint_slice(addresses=[f"10.0.{i // 250}.{i % 250 + 1}" for i in range(101)]),
     [(TOO_MANY, "endpoints[0].addresses", "Too many: 101: must have at most 100 items")]),
    (endpoint_slice(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]), [(DUPLICATE, "ports[1].name", 'Duplicate value: "a"')]),
    (endpoint_slice(ports=[{"name": "a", "protocol": "ICMP"}]), [(NOT_SUPPORTED, "ports[0].protocol", "...")]),
])
def test_endpoint_slice(obj, expected):
    check_create("EndpointSlice", obj, expected, "discovery.k8s.io")


def test_endpoint_slice_address_type_is_immutable():
    old = endpoint_slice()
    new = endpoint_slice("IPv6", ["fd00::5"])
    check_update("EndpointSlice", new, old, [(INVALID, "addressType", 'Invalid value: "IPv6": field is immutable')], "discovery.k8s.io")


def core_event(**fields):
    base = {"apiVersion": "v1", "kind": "Event", "metadata": meta("web.17a8b9c"),
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web"},
            "reason": "Started", "message": "Started container", "type": "Normal", "count": 1,
            "source": {"component": "kubelet"}}
    base.update(fields)
    return base


@pytest.mark.parametrize("obj, expected", [
    (core_event(), []),
    (core_event(involvedObject={"apiVersion": "v1", "kind": "Pod", "namespace": "other", "name": "web"}),
     [(INVALID, "involvedObject.namespace", 'Invalid value: "other": does not match event.namespace')]),
    (core_event(involvedObject={"apiVersion": "v1", "kind": "Pod", "name": "web"}),
     [(REQUIRED, "involvedObject.namespace", "required for kind Pod")]),
    (changed(core_event(involvedObject={"apiVersion": "v1", "kind": "Node", "name": "node-1"}),
             lambda o: o["metadata"].update(namespace="default")), []),
    (core_event(eventTime="2024-01-01T00:00:00.000000Z"), [(REQUIRED, "reportingComponent", ""),
                                                           (REQUIRED, "reportingInstance", ""), (REQUIRED, "action", "")]),
])
def test_core_event(obj, expected):
    check_create("Event", obj, expected)


def v1_event(**fields):
    base = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("web.17a8b9c"),
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
            "reportingInstance": "ctl-1", "action": "Pull", "reason": "Pulled", "type": "Normal",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web"}}
    base.update(fields)
    return base


@pytest.mark.parametrize("obj, expected", [
    (v1_event(), []),
    (v1_event(type="Info"), [(INVALID, "type", 'Invalid value: "": has invalid value: Info')]),
    (v1_event(eventTime=None), [(REQUIRED, "eventTime", "")]),
    (v1_event(deprecatedCount=3), [(INVALID, "count", 'Invalid value: "": needs to be unset')]),
    (v1_event(series={"count": 1, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}),
     [(INVALID, "series.count", 'Invalid value: "": should be at least 2')]),
    (v1_event(reportingController="bad name"), [(INVALID, "reportingController", 'Invalid value: "bad name": ...')]),
    (changed(v1_event(), lambda o: o["metadata"].update(name="Bad_Name")), [(INVALID, "metadata.name", 'Invalid value: "Bad_Name": ...')]),
])
def test_events_k8s_io_event(obj, expected):
    check_create("Event", obj, expected, "events.k8s.io")


def test_events_k8s_io_event_fields_are_immutable():
    old = v1_event()
    check_update("Event", changed(old, lambda o: o.update(reason="Other")), old,
                 [(INVALID, "reason", 'Invalid value: "Other": field is immutable')], "events.k8s.io")


def test_service_account():
    check_create("ServiceAccount", {"metadata": meta("builder"), "secrets": [{"name": "x"}]}, [])
    check_create("ServiceAccount", {"metadata": meta("Builder")}, [(INVALID, "metadata.name", 'Invalid value: "Builder": ...')])
