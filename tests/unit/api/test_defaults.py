"""Defaulting, create-time preparation, QoS and generation, as Kubernetes 1.32 does them."""

import copy

import pytest

from tinykube.api.defaults import (
    apply_defaults,
    bump_generation_if_spec_changed,
    bump_generation_on_delete,
    image_pull_policy,
    pod_qos_class,
    prepare_for_create,
    uses_generation,
)
from tinykube.api.registry import REGISTRY

PODS = REGISTRY.by_plural("", "v1", "pods")
SERVICES = REGISTRY.by_plural("", "v1", "services")
SECRETS = REGISTRY.by_plural("", "v1", "secrets")
NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
NODES = REGISTRY.by_plural("", "v1", "nodes")
ENDPOINTS = REGISTRY.by_plural("", "v1", "endpoints")
CONFIGMAPS = REGISTRY.by_plural("", "v1", "configmaps")
EVENTS = REGISTRY.by_plural("", "v1", "events")
DEPLOYMENTS = REGISTRY.by_plural("apps", "v1", "deployments")
REPLICASETS = REGISTRY.by_plural("apps", "v1", "replicasets")
DAEMONSETS = REGISTRY.by_plural("apps", "v1", "daemonsets")
STATEFULSETS = REGISTRY.by_plural("apps", "v1", "statefulsets")
JOBS = REGISTRY.by_plural("batch", "v1", "jobs")
CRONJOBS = REGISTRY.by_plural("batch", "v1", "cronjobs")
LEASES = REGISTRY.by_plural("coordination.k8s.io", "v1", "leases")
SLICES = REGISTRY.by_plural("discovery.k8s.io", "v1", "endpointslices")

DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]
CONTAINER_DEFAULTS = {
    "imagePullPolicy": "Always", "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File", "resources": {},
}
TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
    "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
}


def defaulted(rt, obj):
    obj = copy.deepcopy(obj)
    apply_defaults(rt, obj)
    return obj


def created(rt, obj):
    obj = defaulted(rt, obj)
    prepare_for_create(rt, obj)
    return obj


def a_pod(**spec):
    spec.setdefault("containers", [{"name": "c", "image": "nginx"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": spec}


def a_template(**spec):
    spec.setdefault("containers", [{"name": "c", "image": "nginx"}])
    return {"metadata": {"labels": {"app": "web"}}, "spec": spec}


# --- pods ---------------------------------------------------------------------------------


def test_minimal_pod_reads_back_like_kubernetes():
    pod = created(PODS, a_pod())
    assert pod["spec"] == {
        "containers": [{"name": "c", "image": "nginx", **CONTAINER_DEFAULTS}],
        **TEMPLATE_SPEC_DEFAULTS,
        "enableServiceLinks": True,
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": DEFAULT_TOLERATIONS,
    }
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert "generation" not in pod["metadata"]


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("docker.io/library/nginx", "Always"),
    ("registry.example.com:5000/team/app", "Always"),
    ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
    ("localhost:5000/app:latest", "Always"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("nginx:1.2@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx@sha256:" + "A" * 64, "IfNotPresent"),  # unparsable digest
    ("nginx@md5:" + "a" * 32, "IfNotPresent"),  # unsupported digest algorithm
    ("Nginx", "IfNotPresent"),  # unparsable: repository names are lowercase
    ("MyRegistry.io/app", "Always"),  # domains may have capitals
    ("", "IfNotPresent"),
    ("a" * 64, "IfNotPresent"),  # a bare image ID
    ("nginx:", "IfNotPresent"),
    ("[::1]:5000/app", "Always"),
])
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


def test_explicit_image_pull_policy_kept():
    pod = defaulted(PODS, a_pod(containers=[{"name": "c", "image": "nginx", "imagePullPolicy": "Never"}]))
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_container_defaults_cover_ports_env_probes_and_hooks():
    container = {
        "name": "c", "image": "app:1",
        "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "PLAIN", "value": "x"}],
        "livenessProbe": {"httpGet": {"port": 8080}},
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5},
        "startupProbe": {"grpc": {"port": 9090}},
        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/quit"}}},
    }
    c = defaulted(PODS, a_pod(containers=[container]))["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert c["env"][1]["valueFrom"]["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "0"}
    assert c["env"][2] == {"name": "PLAIN", "value": "x"}
    probe_defaults = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, **probe_defaults}
    assert c["readinessProbe"] == {"tcpSocket": {"port": 8080}, **probe_defaults, "periodSeconds": 5}
    assert c["startupProbe"] == {"grpc": {"port": 9090, "service": ""}, **probe_defaults}
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/quit", "scheme": "HTTP"}


def test_init_and_ephemeral_containers_get_container_defaults():
    spec = defaulted(PODS, a_pod(initContainers=[{"name": "i", "image": "busybox:1.36"}],
                                 ephemeralContainers=[{"name": "e", "image": "busybox"}]))["spec"]
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["initContainers"][0]["terminationMessagePolicy"] == "File"
    assert spec["ephemeralContainers"][0]["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("volume, expected", [
    ({"name": "v"}, {"name": "v", "emptyDir": {}}),
    ({"name": "v", "emptyDir": {"medium": "Memory"}}, {"name": "v", "emptyDir": {"medium": "Memory"}}),
    ({"name": "v", "hostPath": {"path": "/x"}}, {"name": "v", "hostPath": {"path": "/x", "type": ""}}),
    ({"name": "v", "secret": {"secretName": "s"}}, {"name": "v", "secret": {"secretName": "s", "defaultMode": 420}}),
    ({"name": "v", "secret": {"secretName": "s", "defaultMode": 256}},
     {"name": "v", "secret": {"secretName": "s", "defaultMode": 256}}),
    ({"name": "v", "configMap": {"name": "c"}}, {"name": "v", "configMap": {"name": "c", "defaultMode": 420}}),
    ({"name": "v", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
     {"name": "v", "downwardAPI": {"defaultMode": 420, "items": [
         {"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}}),
    ({"name": "v", "projected": {"sources": [
        {"serviceAccountToken": {"path": "t"}},
        {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x"}}]}}]}},
     {"name": "v", "projected": {"defaultMode": 420, "sources": [
         {"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}},
         {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x", "apiVersion": "v1"}}]}}]}}),
    ({"name": "v", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0}},
     {"name": "v", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0, "iscsiInterface": "default"}}),
    ({"name": "v", "rbd": {"monitors": ["m"], "image": "i"}},
     {"name": "v", "rbd": {"monitors": ["m"], "image": "i", "pool": "rbd", "user": "admin",
                           "keyring": "/etc/ceph/keyring"}}),
    ({"name": "v", "azureDisk": {"diskName": "d", "diskURI": "u"}},
     {"name": "v", "azureDisk": {"diskName": "d", "diskURI": "u", "cachingMode": "ReadWrite", "kind": "Shared",
                                 "fsType": "ext4", "readOnly": False}}),
    ({"name": "v", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"}}},
     {"name": "v", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"},
                               "storageMode": "ThinProvisioned", "fsType": "xfs"}}),
    ({"name": "v", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
     {"name": "v", "ephemeral": {"volumeClaimTemplate": {
         "metadata": {"creationTimestamp": None},
         "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem", "resources": {}}}}}),
])
def test_volume_defaults(volume, expected):
    assert defaulted(PODS, a_pod(volumes=[volume]))["spec"]["volumes"] == [expected]


@pytest.mark.parametrize("resources, expected", [
    ({"limits": {"cpu": "1", "memory": "1Gi"}},
     {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}),
    ({"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}},
     {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
     {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}),
    ({"requests": {"cpu": "1"}}, {"requests": {"cpu": "1"}}),
])
def test_pod_requests_default_to_limits(resources, expected):
    container = {"name": "c", "image": "x:1", "resources": resources}
    pod = defaulted(PODS, a_pod(containers=[container], initContainers=[copy.deepcopy(container)]))
    assert pod["spec"]["containers"][0]["resources"] == expected
    assert pod["spec"]["initContainers"][0]["resources"] == expected


def test_template_requests_do_not_default_to_limits():
    container = {"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "1"}}}
    dep = defaulted(DEPLOYMENTS, {"spec": {"template": a_template(containers=[container])}})
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


def test_host_network_ports_default_in_pods_only():
    spec = {"hostNetwork": True, "containers": [{"name": "c", "image": "x:1", "ports": [{"containerPort": 8080}]}]}
    pod = defaulted(PODS, a_pod(**copy.deepcopy(spec)))
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]
    dep = defaulted(DEPLOYMENTS, {"spec": {"template": {"spec": spec}}})
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize("given, expected", [
    ({}, {"serviceAccountName": "default", "serviceAccount": "default"}),
    ({"serviceAccountName": "sa"}, {"serviceAccountName": "sa", "serviceAccount": "sa"}),
    ({"serviceAccount": "old"}, {"serviceAccountName": "old", "serviceAccount": "old"}),
    ({"serviceAccountName": "new", "serviceAccount": "old"}, {"serviceAccountName": "new", "serviceAccount": "new"}),
])
def test_pod_service_account(given, expected):
    spec = defaulted(PODS, a_pod(**given))["spec"]
    assert {k: spec[k] for k in ("serviceAccountName", "serviceAccount")} == expected


def test_mirror_pods_get_no_service_account():
    pod = a_pod()
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    spec = defaulted(PODS, pod)["spec"]
    assert "serviceAccountName" not in spec and "serviceAccount" not in spec


def test_template_without_service_account_has_none():
    dep = defaulted(DEPLOYMENTS, {"spec": {"template": a_template()}})
    assert "serviceAccountName" not in dep["spec"]["template"]["spec"]
    dep = defaulted(DEPLOYMENTS, {"spec": {"template": a_template(serviceAccountName="sa")}})
    assert dep["spec"]["template"]["spec"]["serviceAccount"] == "sa"


@pytest.mark.parametrize("tolerations, expected", [
    (None, DEFAULT_TOLERATIONS),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}],
     [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
      DEFAULT_TOLERATIONS[1]]),
    ([{"operator": "Exists"}], [{"operator": "Exists"}]),  # tolerates every taint already
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}],
     [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, DEFAULT_TOLERATIONS[0]]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}, *DEFAULT_TOLERATIONS]),
])
def test_default_toleration_seconds(tolerations, expected):
    spec = {} if tolerations is None else {"tolerations": tolerations}
    assert defaulted(PODS, a_pod(**spec))["spec"]["tolerations"] == expected


@pytest.mark.parametrize("given, priority, policy", [
    ({}, 0, "PreemptLowerPriority"),
    ({"priorityClassName": "system-node-critical"}, 2000001000, "PreemptLowerPriority"),
    ({"priorityClassName": "system-cluster-critical"}, 2000000000, "PreemptLowerPriority"),
    ({"preemptionPolicy": "Never"}, 0, "Never"),
])
def test_pod_priority(given, priority, policy):
    spec = defaulted(PODS, a_pod(**given))["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (priority, policy)


def test_unknown_priority_class_left_alone():
    spec = defaulted(PODS, a_pod(priorityClassName="high"))["spec"]
    assert "priority" not in spec and "preemptionPolicy" not in spec


@pytest.mark.parametrize("status, expected", [
    ({"podIP": "10.0.0.1"}, {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}),
    ({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]},
     {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}),
    ({"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.1"}]}, {"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}]}),
    ({"hostIP": "192.168.0.1"}, {"hostIP": "192.168.0.1", "hostIPs": [{"ip": "192.168.0.1"}]}),
    ({}, {}),
])
def test_pod_ip_aliases(status, expected):
    pod = a_pod()
    pod["status"] = status
    assert defaulted(PODS, pod)["status"] == expected


def test_pod_defaults_are_idempotent():
    once = defaulted(PODS, a_pod(volumes=[{"name": "v"}], tolerations=[{"operator": "Exists"}]))
    assert defaulted(PODS, once) == once


# --- QoS ----------------------------------------------------------------------------------


def c(requests=None, limits=None):
    resources = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "resources": resources}


GUARANTEED = c({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})


@pytest.mark.parametrize("containers, init_containers, qos", [
    ([c()], [], "BestEffort"),
    ([{"name": "c"}], [], "BestEffort"),
    ([c({"cpu": "0"}, {"memory": "0"})], [], "BestEffort"),
    ([c({"storage": "1Gi"})], [], "BestEffort"),  # only cpu and memory count
    ([c({"cpu": "100m"})], [], "Burstable"),
    ([GUARANTEED], [], "Guaranteed"),
    ([c({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"})], [], "Guaranteed"),
    ([c({"cpu": "0.5", "memory": "1G"}, {"cpu": "500m", "memory": "1e9"})], [], "Guaranteed"),
    ([c(limits={"cpu": "1"})], [], "Burstable"),
    ([c({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})], [], "Burstable"),
    ([GUARANTEED, c()], [], "Burstable"),
    ([GUARANTEED], [c({"cpu": "1"})], "Burstable"),
    ([GUARANTEED], [GUARANTEED], "Guaranteed"),
    ([c({"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], [], "Guaranteed"),
    ([c({"cpu": 1, "memory": 1073741824}, {"cpu": "1", "memory": "1Gi"})], [], "Guaranteed"),
])
def test_pod_qos_class(containers, init_containers, qos):
    assert pod_qos_class({"containers": containers, "initContainers": init_containers}) == qos


def test_qos_uses_requests_defaulted_from_limits():
    container = {"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    assert created(PODS, a_pod(containers=[container]))["status"]["qosClass"] == "Guaranteed"


def test_submitted_qos_class_is_kept_on_create():
    pod = a_pod()
    pod["status"] = {"phase": "Running", "qosClass": "Guaranteed", "podIP": "1.2.3.4"}
    assert created(PODS, pod)["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


def test_scheduling_gates_add_condition_on_create():
    pod = created(PODS, a_pod(schedulingGates=[{"name": "example.com/gate"}]))
    assert pod["status"]["conditions"] == [{
        "type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": None,
        "reason": "SchedulingGated", "message": "Scheduling is blocked due to non-empty scheduling gates",
    }]


# --- services -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ({"ports": [{"port": 80}]},
     {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "sessionAffinity": "None",
      "type": "ClusterIP", "internalTrafficPolicy": "Cluster"}),
    ({"ports": [{"port": 80, "targetPort": "http", "protocol": "UDP"}]},
     {"ports": [{"port": 80, "targetPort": "http", "protocol": "UDP"}], "sessionAffinity": "None",
      "type": "ClusterIP", "internalTrafficPolicy": "Cluster"}),
    ({"type": "NodePort"},
     {"type": "NodePort", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
      "internalTrafficPolicy": "Cluster"}),
    ({"type": "LoadBalancer"},
     {"type": "LoadBalancer", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
      "internalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True}),
    ({"type": "ExternalName", "externalName": "example.com"},
     {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}),
    ({"externalIPs": ["1.2.3.4"]},
     {"externalIPs": ["1.2.3.4"], "sessionAffinity": "None", "type": "ClusterIP",
      "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
    ({"sessionAffinity": "ClientIP"},
     {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
      "type": "ClusterIP", "internalTrafficPolicy": "Cluster"}),
    ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}},
     {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
      "type": "ClusterIP", "internalTrafficPolicy": "Cluster"}),
    ({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}},
     {"sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster"}),
    ({"type": "NodePort", "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local"},
     {"type": "NodePort", "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
      "sessionAffinity": "None"}),
])
def test_service_spec_defaults(spec, expected):
    assert defaulted(SERVICES, {"spec": spec})["spec"] == expected


def test_load_balancer_ingress_ip_mode():
    svc = defaulted(SERVICES, {"spec": {"type": "LoadBalancer"},
                               "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}, {"hostname": "h"}]}}})
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": "1.1.1.1", "ipMode": "VIP"}, {"hostname": "h"}]


@pytest.mark.parametrize("spec, policy, families, cluster_ips", [
    ({"selector": {"a": "b"}}, "SingleStack", ["IPv4"], None),
    ({"clusterIP": "None", "selector": {"a": "b"}}, "SingleStack", ["IPv4"], ["None"]),
    ({"clusterIP": "None"}, "RequireDualStack", ["IPv4", "IPv6"], ["None"]),
    ({"clusterIP": "None", "ipFamilyPolicy": "SingleStack"}, "SingleStack", ["IPv4"], ["None"]),
    ({"clusterIP": "10.96.0.10"}, "SingleStack", ["IPv4"], ["10.96.0.10"]),
    ({"ipFamilyPolicy": "PreferDualStack"}, "PreferDualStack", ["IPv4"], None),
])
def test_service_ip_families_on_create(spec, policy, families, cluster_ips):
    svc = created(SERVICES, {"metadata": {"name": "s"}, "spec": spec})
    assert svc["spec"]["ipFamilyPolicy"] == policy
    assert svc["spec"]["ipFamilies"] == families
    assert svc["spec"].get("clusterIPs") == cluster_ips
    assert svc["status"] == {"loadBalancer": {}}


def test_external_name_service_has_no_ip_families():
    svc = created(SERVICES, {"spec": {"type": "ExternalName", "externalName": "x.example.com"}})
    assert "ipFamilyPolicy" not in svc["spec"] and "ipFamilies" not in svc["spec"]


# --- other core kinds -----------------------------------------------------------------------


@pytest.mark.parametrize("secret, expected", [
    ({}, {"type": "Opaque"}),
    ({"type": "kubernetes.io/tls"}, {"type": "kubernetes.io/tls"}),
    ({"stringData": {"user": "admin"}}, {"type": "Opaque", "data": {"user": "YWRtaW4="}}),
    ({"data": {"user": "eA==", "pw": "eQ=="}, "stringData": {"user": "admin"}},
     {"type": "Opaque", "data": {"user": "YWRtaW4=", "pw": "eQ=="}}),
])
def test_secret_defaults(secret, expected):
    assert defaulted(SECRETS, secret) == expected


def test_namespace_defaults_and_create():
    ns = defaulted(NAMESPACES, {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "wrong"}}})
    assert ns == {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
                  "spec": {}, "status": {"phase": "Active"}}
    ns = created(NAMESPACES, {"metadata": {"name": "team"}, "spec": {"finalizers": ["example.com/x"]},
                              "status": {"phase": "Terminating"}})
    assert ns["spec"]["finalizers"] == ["example.com/x", "kubernetes"]
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    assert created(NAMESPACES, {"metadata": {"name": "a"}})["spec"] == {"finalizers": ["kubernetes"]}


def test_namespace_without_name_gets_no_label():
    assert "labels" not in defaulted(NAMESPACES, {"metadata": {"generateName": "x-"}})["metadata"]


def test_node_defaults():
    node = defaulted(NODES, {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.0.0/24"},
                             "status": {"capacity": {"cpu": "4", "pods": "110"}}})
    assert node["spec"] == {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
    assert node["status"]["allocatable"] == {"cpu": "4", "pods": "110"}
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    assert node["status"]["nodeInfo"]["kubeletVersion"] == ""
    node = defaulted(NODES, {"spec": {"podCIDRs": ["10.244.1.0/24", "fd00::/64"]},
                             "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"}}})
    assert node["spec"]["podCIDR"] == "10.244.1.0/24"
    assert node["status"]["allocatable"] == {"cpu": "3"}


def test_endpoints_port_protocol():
    ep = defaulted(ENDPOINTS, {"subsets": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}]})
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]


def test_endpoint_slice_defaults():
    ports = [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]
    eps = defaulted(SLICES, {"addressType": "IPv4", "ports": ports})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]
    assert eps["endpoints"] is None
    assert defaulted(SLICES, {"addressType": "IPv4"})["ports"] is None


def test_core_event_zero_fields():
    event = defaulted(EVENTS, {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                               "reason": "Pulled", "source": {"component": "kubelet"}})
    assert event["firstTimestamp"] is None and event["eventTime"] is None
    assert event["reportingComponent"] == "" and event["reportingInstance"] == ""
    assert event["source"] == {"component": "kubelet"}


def test_configmap_has_no_defaults():
    assert defaulted(CONFIGMAPS, {"metadata": {"name": "c"}}) == {"metadata": {"name": "c"}}


def test_lease_spec_always_present():
    assert defaulted(LEASES, {"metadata": {"name": "l"}}) == {"metadata": {"name": "l"}, "spec": {}}


# --- workloads ----------------------------------------------------------------------------


def template_defaults(labels=None):
    metadata = {"creationTimestamp": None, "labels": labels or {"app": "web"}}
    return {"metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "nginx", **CONTAINER_DEFAULTS}], **TEMPLATE_SPEC_DEFAULTS}}


def test_deployment_defaults():
    dep = defaulted(DEPLOYMENTS, {"spec": {"template": a_template()}})
    assert dep["spec"] == {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "template": template_defaults(),
    }
    assert dep["status"] == {}


@pytest.mark.parametrize("strategy, expected", [
    ({"type": "Recreate"}, {"type": "Recreate"}),
    ({"rollingUpdate": {"maxSurge": 1}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
])
def test_deployment_strategy(strategy, expected):
    assert defaulted(DEPLOYMENTS, {"spec": {"strategy": strategy}})["spec"]["strategy"] == expected


def test_deployment_explicit_zero_replicas_kept():
    assert defaulted(DEPLOYMENTS, {"spec": {"replicas": 0}})["spec"]["replicas"] == 0


def test_replica_set_defaults():
    rs = defaulted(REPLICASETS, {"spec": {"template": a_template()}})
    assert rs["spec"] == {"replicas": 1, "template": template_defaults()}
    assert rs["status"] == {"replicas": 0}


def test_daemon_set_defaults():
    ds = defaulted(DAEMONSETS, {"spec": {"template": a_template()}})
    assert ds["spec"] == {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "revisionHistoryLimit": 10, "template": template_defaults(),
    }
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 0, "numberReady": 0}
    ds = defaulted(DAEMONSETS, {"spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_stateful_set_defaults():
    sts = defaulted(STATEFULSETS, {"spec": {"template": a_template(), "volumeClaimTemplates": [
        {"metadata": {"name": "data"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    assert sts["spec"] == {
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "replicas": 1, "revisionHistoryLimit": 10, "template": template_defaults(),
        "volumeClaimTemplates": [{
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "creationTimestamp": None},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"}}],
    }
    assert sts["status"] == {"replicas": 0, "availableReplicas": 0}


@pytest.mark.parametrize("strategy, expected", [
    ({"type": "RollingUpdate"}, {"type": "RollingUpdate"}),  # no rollingUpdate, so no partition
    ({"type": "RollingUpdate", "rollingUpdate": {}}, {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    ({"type": "OnDelete"}, {"type": "OnDelete"}),
])
def test_stateful_set_update_strategy(strategy, expected):
    assert defaulted(STATEFULSETS, {"spec": {"updateStrategy": strategy}})["spec"]["updateStrategy"] == expected


# --- batch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ({}, {"completions": 1, "parallelism": 1, "backoffLimit": 6}),
    ({"completions": 5}, {"completions": 5, "parallelism": 1, "backoffLimit": 6}),
    ({"parallelism": 3}, {"parallelism": 3, "backoffLimit": 6}),
    ({"parallelism": 0}, {"parallelism": 0, "backoffLimit": 6}),
    ({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1},
     {"completionMode": "Indexed", "completions": 3, "parallelism": 1, "backoffLimit": 2147483647,
      "backoffLimitPerIndex": 1}),
    ({"backoffLimit": 0}, {"completions": 1, "parallelism": 1, "backoffLimit": 0}),
])
def test_job_counts(spec, expected):
    out = defaulted(JOBS, {"spec": spec})["spec"]
    assert {k: out[k] for k in expected} == expected
    if "completions" not in expected:
        assert "completions" not in out


def test_job_defaults_and_create():
    job = {"metadata": {"name": "pi", "namespace": "default", "uid": "1234"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "pi", "image": "perl:5.34"}]}}},
           "status": {"succeeded": 3}}
    job = created(JOBS, job)
    generated = {"job-name": "pi", "batch.kubernetes.io/job-name": "pi", "controller-uid": "1234",
                 "batch.kubernetes.io/controller-uid": "1234"}
    assert job["metadata"]["labels"] == generated
    assert job["metadata"]["generation"] == 1
    spec = job["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
    assert spec["template"]["metadata"] == {"creationTimestamp": None, "labels": generated}
    assert {k: spec[k] for k in ("completionMode", "suspend", "podReplacementPolicy", "manualSelector")} == {
        "completionMode": "NonIndexed", "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
        "manualSelector": False}
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert job["status"] == {}


def test_job_keeps_its_own_labels():
    job = created(JOBS, {"metadata": {"name": "j", "uid": "u", "labels": {"team": "a"}},
                         "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}})
    assert job["metadata"]["labels"] == {"team": "a"}
    assert job["spec"]["template"]["metadata"]["labels"]["app"] == "x"


def test_job_labels_follow_template_labels():
    job = created(JOBS, {"metadata": {"name": "j", "uid": "u"},
                         "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}})
    assert job["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"]
    assert job["metadata"]["labels"]["app"] == "x"
    assert job["metadata"]["labels"]["controller-uid"] == "u"


def test_job_manual_selector_generates_nothing():
    selector = {"matchLabels": {"app": "x"}}
    job = created(JOBS, {"metadata": {"name": "j", "uid": "u"},
                         "spec": {"manualSelector": True, "selector": selector,
                                  "template": {"metadata": {"labels": {"app": "x"}}}}})
    assert job["spec"]["selector"] == selector
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "x"}
    assert job["metadata"]["labels"] == {"app": "x"}


def test_job_user_labels_in_template_kept():
    job = created(JOBS, {"metadata": {"name": "j", "uid": "u"},
                         "spec": {"template": {"metadata": {"labels": {"job-name": "custom"}}}}})
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "custom"
    assert job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "j"


@pytest.mark.parametrize("policy, replacement, pattern_status", [
    (None, "TerminatingOrFailed", None),
    ({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}, "Failed", "True"),
    ({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "X", "status": "False"}]}]}, "Failed", "False"),
])
def test_job_pod_failure_policy(policy, replacement, pattern_status):
    spec = {} if policy is None else {"podFailurePolicy": policy}
    out = defaulted(JOBS, {"spec": spec})["spec"]
    assert out["podReplacementPolicy"] == replacement
    if pattern_status:
        assert out["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == pattern_status


def test_cron_job_defaults():
    cj = defaulted(CRONJOBS, {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": a_template()}}}})
    assert cj["spec"] == {
        "schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": False,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
        # Job-level defaults (backoffLimit, ...) are not applied to a job template.
        "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {"template": template_defaults()}},
    }
    assert cj["status"] == {}


# --- prepare_for_create -------------------------------------------------------------------


@pytest.mark.parametrize("rt, status", [
    (DEPLOYMENTS, {}),
    (REPLICASETS, {"replicas": 0}),
    (STATEFULSETS, {"replicas": 0, "availableReplicas": 0}),
    (DAEMONSETS, {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0}),
    (JOBS, {}),
    (CRONJOBS, {}),
])
def test_workload_create_resets_status_and_starts_generation(rt, status):
    obj = {"metadata": {"name": "w", "uid": "u", "generation": 7, "deletionTimestamp": "2024-01-01T00:00:00Z"},
           "spec": {}, "status": {"replicas": 5, "readyReplicas": 5, "conditions": [{"type": "x"}]}}
    prepare_for_create(rt, obj)
    assert obj["status"] == status
    assert obj["metadata"]["generation"] == 1
    assert "deletionTimestamp" not in obj["metadata"]


def test_daemon_set_create_sets_template_generation():
    ds = {"metadata": {"name": "d"}, "spec": {}}
    prepare_for_create(DAEMONSETS, ds)
    assert ds["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    ds = {"metadata": {"name": "d", "annotations": {"deprecated.daemonset.template.generation": "4"}}}
    prepare_for_create(DAEMONSETS, ds)
    assert ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "4"


def test_endpoint_slice_create_starts_generation():
    eps = {"metadata": {"name": "s"}, "addressType": "IPv4"}
    prepare_for_create(SLICES, eps)
    assert eps["metadata"]["generation"] == 1


@pytest.mark.parametrize("rt, uses", [
    (DEPLOYMENTS, True), (REPLICASETS, True), (DAEMONSETS, True), (STATEFULSETS, True), (JOBS, True),
    (CRONJOBS, True), (SLICES, True), (PODS, False), (SERVICES, False), (CONFIGMAPS, False), (NAMESPACES, False),
])
def test_uses_generation(rt, uses):
    assert uses_generation(rt) is uses


def test_kinds_without_generation_keep_metadata_untouched_on_create():
    cm = {"metadata": {"name": "c"}, "data": {"a": "b"}}
    prepare_for_create(CONFIGMAPS, cm)
    assert cm == {"metadata": {"name": "c"}, "data": {"a": "b"}}


# --- generation on update -------------------------------------------------------------------


def obj(kind, api_version="apps/v1", generation=3, annotations=None, labels=None, **body):
    meta = {"name": "x", "generation": generation}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


@pytest.mark.parametrize("old, new, bumped", [
    (obj("Deployment", spec={"replicas": 1}), obj("Deployment", spec={"replicas": 2}), True),
    (obj("Deployment", spec={"replicas": 1}), obj("Deployment", spec={"replicas": 1}), False),
    (obj("Deployment", spec={}), obj("Deployment", spec={}, annotations={"a": "b"}), True),
    (obj("Deployment", spec={}), obj("Deployment", spec={}, labels={"a": "b"}), False),
    (obj("Deployment", spec={}, status={"replicas": 1}), obj("Deployment", spec={}, status={"replicas": 2}), False),
    (obj("ReplicaSet", spec={"replicas": 1}), obj("ReplicaSet", spec={"replicas": 3}), True),
    (obj("ReplicaSet", spec={}), obj("ReplicaSet", spec={}, annotations={"a": "b"}), False),
    (obj("StatefulSet", spec={"replicas": 1}), obj("StatefulSet", spec={"replicas": 3}), True),
    (obj("Job", "batch/v1", spec={"suspend": True}), obj("Job", "batch/v1", spec={"suspend": False}), True),
    (obj("CronJob", "batch/v1", spec={"schedule": "a"}), obj("CronJob", "batch/v1", spec={"schedule": "b"}), True),
    (obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[]),
     obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[{"addresses": ["1.1.1.1"]}]), True),
    (obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[]),
     obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[], labels={"a": "b"}), True),
    (obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[]),
     obj("EndpointSlice", "discovery.k8s.io/v1", endpoints=[], annotations={"a": "b"}), False),
])
def test_bump_generation_if_spec_changed(old, new, bumped):
    assert bump_generation_if_spec_changed(new, old) is bumped
    assert new["metadata"]["generation"] == (4 if bumped else 3)


def test_clients_cannot_set_generation():
    old = obj("Deployment", spec={})
    new = obj("Deployment", generation=99, spec={})
    bump_generation_if_spec_changed(new, old, DEPLOYMENTS)
    assert new["metadata"]["generation"] == 3
    cm_new = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "generation": 5}}
    assert not bump_generation_if_spec_changed(cm_new, {"metadata": {"name": "c"}}, CONFIGMAPS)
    assert "generation" not in cm_new["metadata"]


TG = "deprecated.daemonset.template.generation"


@pytest.mark.parametrize("new_spec, new_annotation, generation, template_generation", [
    ({"template": {"spec": {"x": 1}}, "minReadySeconds": 0}, "2", 3, "2"),  # nothing changed
    ({"template": {"spec": {"x": 2}}, "minReadySeconds": 0}, "2", 4, "3"),  # template changed
    ({"template": {"spec": {"x": 1}}, "minReadySeconds": 5}, "2", 4, "2"),  # spec outside the template
    ({"template": {"spec": {"x": 1}}, "minReadySeconds": 0}, "9", 3, "2"),  # annotation cannot be set
])
def test_daemon_set_generation_and_template_generation(new_spec, new_annotation, generation, template_generation):
    old = obj("DaemonSet", annotations={TG: "2"}, spec={"template": {"spec": {"x": 1}}, "minReadySeconds": 0})
    new = obj("DaemonSet", annotations={TG: new_annotation}, spec=new_spec)
    bump_generation_if_spec_changed(new, old)
    assert new["metadata"]["generation"] == generation
    assert new["metadata"]["annotations"][TG] == template_generation


@pytest.mark.parametrize("meta, bumped, generation", [
    ({"generation": 2}, True, 3),
    ({"generation": 2, "deletionTimestamp": "2024-01-01T00:00:00Z"}, False, 2),
    ({}, False, None),
    ({"generation": 0}, False, 0),
])
def test_bump_generation_on_delete(meta, bumped, generation):
    target = {"metadata": dict(meta)}
    assert bump_generation_on_delete(target) is bumped
    assert target["metadata"].get("generation") == generation


# --- every kind: idempotent, and malformed input is left for validation ----------------------

ALL_KINDS = [rt for rt in REGISTRY.resources]
SAMPLES = {
    "Pod": a_pod(volumes=[{"name": "v"}], initContainers=[{"name": "i", "image": "x"}]),
    "Deployment": {"spec": {"template": a_template()}},
    "StatefulSet": {"spec": {"template": a_template(), "volumeClaimTemplates": [{"metadata": {"name": "d"}}]}},
    "Job": {"metadata": {"name": "j", "uid": "u"}, "spec": {"template": a_template()}},
    "CronJob": {"spec": {"jobTemplate": {"spec": {"template": a_template()}}}},
    "Service": {"spec": {"ports": [{"port": 80}], "type": "LoadBalancer"}},
    "Secret": {"stringData": {"a": "b"}},
    "Namespace": {"metadata": {"name": "n"}},
    "Node": {"spec": {"podCIDR": "10.0.0.0/24"}, "status": {"capacity": {"cpu": "1"}}},
    "EndpointSlice": {"addressType": "IPv4", "ports": [{"port": 1}]},
}


@pytest.mark.parametrize("rt", ALL_KINDS, ids=lambda rt: f"{rt.group or 'core'}/{rt.kind}")
def test_defaults_are_idempotent_for_every_kind(rt):
    once = defaulted(rt, SAMPLES.get(rt.kind, {"metadata": {"name": "x"}}))
    assert defaulted(rt, once) == once
    prepared = copy.deepcopy(once)
    prepare_for_create(rt, prepared)
    again = defaulted(rt, prepared)
    assert again == defaulted(rt, again)


MALFORMED = [
    {},
    {"metadata": {}, "spec": "not-a-dict", "status": 5},
    {"metadata": {"name": "x", "labels": "oops"}, "spec": {
        "containers": "x", "initContainers": [None, 3], "volumes": {"a": 1}, "tolerations": "t",
        "template": "t", "ports": 7, "selector": [], "jobTemplate": 1, "strategy": "s", "updateStrategy": [],
        "sessionAffinityConfig": "c", "clusterIPs": "ip", "finalizers": "f", "podCIDRs": "p"},
     "status": {"podIPs": "ip", "capacity": []}, "stringData": ["x"], "subsets": [{"ports": "p"}],
     "involvedObject": "o"},
]


@pytest.mark.parametrize("rt", ALL_KINDS, ids=lambda rt: f"{rt.group or 'core'}/{rt.kind}")
@pytest.mark.parametrize("sample", range(len(MALFORMED)))
def test_malformed_objects_never_crash(rt, sample):
    obj = copy.deepcopy(MALFORMED[sample])
    apply_defaults(rt, obj)
    prepare_for_create(rt, obj)
    if sample == 1 and rt.kind in ("Pod", "Deployment", "StatefulSet", "Job", "Service", "Namespace"):
        assert obj["spec"] == "not-a-dict"  # wrong types are left for validation to report
