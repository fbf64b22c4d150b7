"""Pod update (mostly immutable spec) and status update."""

import pytest

from tinykube.api.errors import DUPLICATE, FORBIDDEN, INVALID, REQUIRED
from tinykube.api.registry import REGISTRY
from tinykube.api.validation import validate_update

from . import changed, check_status, check_update, container, pod

UPDATABLE = ("pod updates may not change fields other than `spec.containers[*].image`,"
             "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
             "`spec.tolerations` (only additions to existing tolerations),"
             "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n")


def spec_set(**values):
    return lambda o: o["spec"].update(values)


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: None, []),
    (lambda o: o["spec"]["containers"][0].update(image="nginx:1.28"), []),
    (lambda o: o["metadata"]["labels"].update(tier="front"), []),
    (spec_set(activeDeadlineSeconds=30), []),
    (spec_set(tolerations=[{"key": "k", "operator": "Exists"}]), []),
    (lambda o: o["spec"]["containers"][0].update(image=""), [(REQUIRED, "spec.containers[0].image", "")]),
    (spec_set(containers=[container(), container(name="b")]),
     [(FORBIDDEN, "spec.containers", "Forbidden: pod updates may not add or remove containers")]),
    (spec_set(restartPolicy="Never"), [(FORBIDDEN, "spec", "Forbidden: " + UPDATABLE + "...RestartPolicy...")]),
    (lambda o: o["spec"]["containers"][0].update(ports=[{"containerPort": 80}]),
     [(FORBIDDEN, "spec", "Forbidden: pod updates may not change fields other than ...")]),
])
def test_pod_update(mutate, expected):
    old = pod()
    check_update("Pod", changed(old, mutate), old, expected)


def test_active_deadline_may_only_shrink():
    old = pod(activeDeadlineSeconds=60)
    check_update("Pod", changed(old, spec_set(activeDeadlineSeconds=30)), old, [])
    check_update("Pod", changed(old, spec_set(activeDeadlineSeconds=90)), old, [
        (INVALID, "spec.activeDeadlineSeconds", "Invalid value: 90: must be less than or equal to previous value")])
    check_update("Pod", changed(old, lambda o: o["spec"].pop("activeDeadlineSeconds")), old, [
        (INVALID, "spec.activeDeadlineSeconds", 'Invalid value: "null": must not update from a positive integer to nil value')])


def test_tolerations_may_only_be_added():
    old = pod(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}])
    longer = changed(old, lambda o: o["spec"]["tolerations"][0].update(tolerationSeconds=60))
    check_update("Pod", longer, old, [])
    removed = changed(old, spec_set(tolerations=[]))
    check_update("Pod", removed, old, [(FORBIDDEN, "spec.tolerations",
                                        "Forbidden: existing toleration can not be modified except its tolerationSeconds")])


def test_negative_grace_period_may_become_one():
    old = pod(terminationGracePeriodSeconds=-1)
    check_update("Pod", changed(old, spec_set(terminationGracePeriodSeconds=1)), old, [])
    check_update("Pod", changed(old, spec_set(terminationGracePeriodSeconds=5)), old,
                 [(FORBIDDEN, "spec", "Forbidden: pod updates may not change fields other than ...")])


def test_scheduling_gates_may_only_be_removed_and_gated_pods_may_add_node_selectors():
    old = pod(schedulingGates=[{"name": "example.com/a"}])
    check_update("Pod", changed(old, spec_set(schedulingGates=[])), old, [])
    check_update("Pod", changed(old, spec_set(schedulingGates=[{"name": "example.com/a"}, {"name": "example.com/b"}])), old,
                 [(FORBIDDEN, "spec.schedulingGates[1].name",
                   "Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/b'")])
    check_update("Pod", changed(old, spec_set(nodeSelector={"disk": "ssd"})), old, [])


def test_quantities_compare_semantically():
    old = pod(containers=[container(resources={"limits": {"cpu": "1"}})])
    new = changed(old, lambda o: o["spec"]["containers"][0]["resources"]["limits"].update(cpu="1000m"))
    check_update("Pod", new, old, [])


def test_diff_is_reported_after_the_message():
    old = pod()
    new = changed(old, spec_set(restartPolicy="Never"))
    causes = validate_update(REGISTRY.by_kind("", "v1", "Pod"), new, old)
    assert causes[0].message.split("\n")[1:3] == ["  core.PodSpec{", '- \tRestartPolicy: "Always",']


@pytest.mark.parametrize("status, expected", [
    ({"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
      "hostIP": "192.168.1.2", "hostIPs": [{"ip": "192.168.1.2"}]}, []),
    ({"podIPs": [{"ip": "10.42.0.999"}]}, [(INVALID, "status.podIPs[0]",
        'Invalid value: "10.42.0.999": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]),
    ({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}, [(INVALID, "status.podIPs",
        'Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"}, core.PodIP{IP:"10.0.0.2"}}: '
        "may specify no more than one IP for each IP family")]),
    ({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}, []),
    ({"hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.2"}]}, [(INVALID, "status.hostIPs[0].ip",
        'Invalid value: "10.0.0.2": must be equal to `hostIP`')]),
    ({"conditions": [{"type": "example.com/Ready", "status": "True"}, {"type": "bad type", "status": "True"}]},
     [(INVALID, "metadata.conditions[1].Type", 'Invalid value: "bad type": ...')]),
])
def test_pod_status_update(status, expected):
    old = pod()
    check_status("Pod", changed(old, lambda o: o.__setitem__("status", status)), old, expected)


def test_status_may_not_change_node_or_revive_terminated_containers():
    old = pod(restartPolicy="Never", nodeName="n1")
    old["status"] = {"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0}}}]}
    new = changed(old, lambda o: o["status"]["containerStatuses"][0].update(state={"running": {}}))
    check_status("Pod", new, old, [(FORBIDDEN, "status.containerStatuses[0].state",
                                    "Forbidden: may not be transitioned to non-terminated state")])
    moved = changed(old, lambda o: o["spec"].update(nodeName="n2"))
    check_status("Pod", moved, old, [(FORBIDDEN, "status.nodeName", "Forbidden: may not be changed directly")])


def test_duplicate_pod_ips():
    old = pod()
    new = changed(old, lambda o: o.__setitem__("status", {"podIPs": [{"ip": "fd00::1"}, {"ip": "fd00::1"}]}))
    check_status("Pod", new, old, [(DUPLICATE, "status.podIPs[1]", 'Duplicate value: core.PodIP{IP:"fd00::1"}')])
