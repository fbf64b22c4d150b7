"""Table tests of the Node object an agent registers."""

from tinykube.agent.node import (MachineFacts, NodeConditions, NodeSettings, lease_object, machine_facts,
                                 node_object, node_status)

FACTS = MachineFacts(cpus=2, memory_bytes=24 * 1024**3, boot_id="b", machine_id="m",
                     os_image="Debian GNU/Linux 12 (bookworm)", kernel_version="6.1.0",
                     architecture="amd64", hostname="host", ephemeral_storage_bytes=100 * 1024**3)
SETTINGS = NodeSettings(name="node-a", addresses=(("InternalIP", "192.0.2.10"),), pod_cidr="10.42.0.0/24",
                        system_reserved_memory=1024**3)


def test_node_object_has_kubelet_labels_and_pod_cidr():
    node = node_object(FACTS, SETTINGS)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    assert node["spec"] == {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}


def test_capacity_allocatable_and_addresses():
    status = node_status(FACTS, SETTINGS, NodeConditions(), now="2026-11-24T14:00:00Z")
    assert status["capacity"] == {"cpu": "2", "memory": f"{24 * 1024**2}Ki", "pods": "110",
                                  "ephemeral-storage": f"{100 * 1024**2}Ki"}
    assert status["allocatable"]["memory"] == f"{23 * 1024**2}Ki"
    assert {"type": "InternalIP", "address": "192.0.2.10"} in status["addresses"]
    assert {"type": "Hostname", "address": "node-a"} in status["addresses"]
    assert status["nodeInfo"]["osImage"].startswith("Debian")


def test_conditions_and_transition_times():
    first = node_status(FACTS, SETTINGS, NodeConditions(), now="t1")
    kinds = {c["type"]: c for c in first["conditions"]}
    assert [c["type"] for c in first["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert kinds["Ready"]["status"] == "True" and kinds["Ready"]["reason"] == "KubeletReady"
    assert kinds["MemoryPressure"]["status"] == "False"
    second = node_status(FACTS, SETTINGS, NodeConditions(disk_pressure=True), now="t2", previous=first)
    kinds = {c["type"]: c for c in second["conditions"]}
    assert kinds["DiskPressure"]["lastTransitionTime"] == "t2" and kinds["DiskPressure"]["reason"] == "KubeletHasDiskPressure"
    assert kinds["Ready"]["lastTransitionTime"] == "t1" and kinds["Ready"]["lastHeartbeatTime"] == "t2"


def test_lease_is_owned_by_the_node():
    lease = lease_object("node-a", "uid-1", now_micro="2026-11-24T14:00:00.000000Z")
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0] == {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "uid-1"}
    assert lease["spec"]["leaseDurationSeconds"] == 40


def test_machine_facts_of_this_machine_are_plausible():
    facts = machine_facts()
    assert facts.cpus >= 1 and facts.memory_bytes > 64 * 1024**2 and facts.kernel_version
