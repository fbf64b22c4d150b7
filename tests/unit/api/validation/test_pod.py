"""Pod create validation: containers, ports, env, volumes, mounts, resources, probes, policies."""

import pytest

from tinykube.api.errors import DUPLICATE, FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED
from tinykube.api.validation.fields import NOT_FOUND

from . import changed, check_create, container, pod

C0 = "spec.containers[0]"


def with_container(**extra):
    return pod(containers=[container(**extra)])


@pytest.mark.parametrize("obj, expected", [
    (pod(), []),
    (pod(containers=[]), [(REQUIRED, "spec.containers", "")]),
    (with_container(name=""), [(REQUIRED, f"{C0}.name", "")]),
    (with_container(name="Web_1"), [(INVALID, f"{C0}.name", 'Invalid value: "Web_1": a lowercase RFC 1123 label must...')]),
    (with_container(image=""), [(REQUIRED, f"{C0}.image", "")]),
    (with_container(image=" nginx"), [(INVALID, f"{C0}.image", 'Invalid value: " nginx": must not have leading or trailing whitespace')]),
    (pod(containers=[container(), container()]), [(DUPLICATE, "spec.containers[1].name", 'Duplicate value: "app"')]),
    (pod(initContainers=[container()]), [(DUPLICATE, "spec.initContainers[0].name", 'Duplicate value: "app"')]),
    (with_container(imagePullPolicy="Sometimes"), [(NOT_SUPPORTED, f"{C0}.imagePullPolicy",
        'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"')]),
    (with_container(imagePullPolicy=""), [(REQUIRED, f"{C0}.imagePullPolicy", "")]),
    (with_container(terminationMessagePolicy="Log"), [(NOT_SUPPORTED, f"{C0}.terminationMessagePolicy",
        'Unsupported value: "Log": supported values: "File", "FallbackToLogsOnError"')]),
    (with_container(restartPolicy="Always"), [(FORBIDDEN, f"{C0}.restartPolicy", "Forbidden: may not be set for non-init containers")]),
])
def test_containers(obj, expected):
    check_create("Pod", obj, expected)


def ports(*items):
    return with_container(ports=list(items))


@pytest.mark.parametrize("obj, expected", [
    (ports({"containerPort": 80, "protocol": "TCP", "name": "http"}), []),
    (ports({"protocol": "TCP"}), [(REQUIRED, f"{C0}.ports[0].containerPort", "")]),
    (ports({"containerPort": 70000}), [(INVALID, f"{C0}.ports[0].containerPort",
                                        "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    (ports({"containerPort": 80, "hostPort": 65536}), [(INVALID, f"{C0}.ports[0].hostPort",
                                                        "Invalid value: 65536: must be between 1 and 65535, inclusive")]),
    (ports({"containerPort": 80, "protocol": "ICMP"}), [(NOT_SUPPORTED, f"{C0}.ports[0].protocol",
                                                         'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"')]),
    (ports({"containerPort": 80, "name": "HTTP"}), [(INVALID, f"{C0}.ports[0].name",
        'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)')]),
    (ports({"containerPort": 80, "name": "averyveryverylongname"}), [(INVALID, f"{C0}.ports[0].name",
        'Invalid value: "averyveryverylongname": must be no more than 15 characters')]),
    (ports({"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}),
     [(DUPLICATE, f"{C0}.ports[1].name", 'Duplicate value: "web"')]),
    (pod(containers=[container(ports=[{"containerPort": 80, "hostPort": 8080}]),
                     container(name="b", ports=[{"containerPort": 81, "hostPort": 8080}])]),
     [(DUPLICATE, "spec.containers[1].ports[0].hostPort", 'Duplicate value: "TCP//8080"')]),
    (pod(hostNetwork=True, containers=[container(ports=[{"containerPort": 80, "hostPort": 81}])]),
     [(INVALID, f"{C0}.ports[0].hostPort", "Invalid value: 81: must match `containerPort` when `hostNetwork` is true")]),
    (pod(hostNetwork=True, containers=[container(ports=[{"containerPort": 80}])]), []),
])
def test_ports(obj, expected):
    check_create("Pod", obj, expected)


def env(*items):
    return with_container(env=list(items))


@pytest.mark.parametrize("obj, expected", [
    (env({"name": "A", "value": "1"}, {"name": "Logging:Level", "value": "x"}), []),
    (env({"value": "1"}), [(REQUIRED, f"{C0}.env[0].name", "")]),
    (env({"name": "A=B"}), [(INVALID, f"{C0}.env[0].name", 'Invalid value: "A=B": a valid environment variable name '
                                                          "must consist only of printable ASCII characters other than '='")]),
    (env({"name": "A", "valueFrom": {}}), [(INVALID, f"{C0}.env[0].valueFrom", 'Invalid value: "": must specify one of: '
        "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")]),
    (env({"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
     [(INVALID, f"{C0}.env[0].valueFrom", 'Invalid value: "": may not be specified when `value` is not empty')]),
    (env({"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"},
                                     "secretKeyRef": {"name": "s", "key": "k"}}}),
     [(INVALID, f"{C0}.env[0].valueFrom", 'Invalid value: "": may not have more than one field specified at a time')]),
    (env({"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.phase"}}}),
     [(NOT_SUPPORTED, f"{C0}.env[0].valueFrom.fieldRef.fieldPath", 'Unsupported value: "status.phase": supported values: '
       '"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", '
       '"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"')]),
    (env({"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}),
     [(INVALID, f"{C0}.env[0].valueFrom.fieldRef.fieldPath",
       'Invalid value: "spec.bogus": error converting fieldPath: field label not supported: spec.bogus')]),
    (env({"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}), []),
    (env({"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a/b"}}}),
     [(INVALID, f"{C0}.env[0].valueFrom.configMapKeyRef.key", 'Invalid value: "a/b": a valid config key must...')]),
    (env({"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}), [(REQUIRED, f"{C0}.env[0].valueFrom.secretKeyRef.key", "")]),
    (env({"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}),
     [(NOT_SUPPORTED, f"{C0}.env[0].valueFrom.resourceFieldRef.resource", 'Unsupported value: "limits.gpu": ...')]),
    (with_container(envFrom=[{"configMapRef": {"name": "cm"}, "prefix": "P_"}]), []),
    (with_container(envFrom=[{}]), [(INVALID, f"{C0}.envFrom", 'Invalid value: "": must specify one of: `configMapRef` or `secretRef`')]),
])
def test_env(obj, expected):
    check_create("Pod", obj, expected)


def volumes(*items, mounts=()):
    return pod(volumes=list(items), containers=[container(volumeMounts=list(mounts))])


EMPTY = {"name": "data", "emptyDir": {}}


@pytest.mark.parametrize("obj, expected", [
    (volumes(EMPTY, mounts=[{"name": "data", "mountPath": "/data"}]), []),
    (volumes({"name": "data"}), [(REQUIRED, "spec.volumes[0]", "must specify a volume type")]),
    (volumes({"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}),
     [(FORBIDDEN, "spec.volumes[0].hostPath", "Forbidden: may not specify more than 1 volume type")]),
    (volumes({"name": "Data", "emptyDir": {}}), [(INVALID, "spec.volumes[0].name", 'Invalid value: "Data": ...')]),
    (volumes({"emptyDir": {}}), [(REQUIRED, "spec.volumes[0].name", "")]),
    (volumes(EMPTY, EMPTY), [(DUPLICATE, "spec.volumes[1].name", 'Duplicate value: "data"')]),
    (volumes({"name": "h", "hostPath": {"path": "/a/../b"}}), [(INVALID, "spec.volumes[0].hostPath.path",
                                                              "Invalid value: \"/a/../b\": must not contain '..'")]),
    (volumes({"name": "h", "hostPath": {"path": "/x", "type": "Dir"}}), [(NOT_SUPPORTED, "spec.volumes[0].hostPath.type",
        'Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", '
        '"File", "FileOrCreate", "Socket"')]),
    (volumes({"name": "s", "secret": {}}), [(REQUIRED, "spec.volumes[0].secret.secretName", "")]),
    (volumes({"name": "s", "secret": {"secretName": "s", "defaultMode": 1000}}), [(INVALID, "spec.volumes[0].secret.defaultMode",
        "Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive")]),
    (volumes({"name": "c", "configMap": {"name": "c", "items": [{"key": "k", "path": "/abs"}]}}),
     [(INVALID, "spec.volumes[0].configMap.items[0].path", 'Invalid value: "/abs": must be a relative path')]),
    (volumes({"name": "p", "persistentVolumeClaim": {}}), [(REQUIRED, "spec.volumes[0].persistentVolumeClaim.claimName", "")]),
    (volumes({"name": "n", "nfs": {"server": "s", "path": "rel"}}), [(INVALID, "spec.volumes[0].nfs.path",
                                                                     'Invalid value: "rel": must be an absolute path')]),
    (volumes({"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 60}}]}}),
     [(INVALID, "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
       "Invalid value: 60: may not specify a duration less than 10 minutes")]),
])
def test_volumes(obj, expected):
    check_create("Pod", obj, expected)


@pytest.mark.parametrize("mounts, expected", [
    ([{"name": "other", "mountPath": "/x"}], [(NOT_FOUND, f"{C0}.volumeMounts[0].name", 'Not found: "other"')]),
    ([{"name": "data"}], [(REQUIRED, f"{C0}.volumeMounts[0].mountPath", "")]),
    ([{"name": "data", "mountPath": "/x"}, {"name": "data", "mountPath": "/x"}],
     [(INVALID, f"{C0}.volumeMounts[1].mountPath", 'Invalid value: "/x": must be unique')]),
    ([{"name": "data", "mountPath": "/x", "subPath": "/abs"}],
     [(INVALID, f"{C0}.volumeMounts.subPath", 'Invalid value: "/abs": must be a relative path')]),
    ([{"name": "data", "mountPath": "/x", "subPath": "a/../../b"}],
     [(INVALID, f"{C0}.volumeMounts.subPath", "Invalid value: \"a/../../b\": must not contain '..'")]),
    ([{"name": "data", "mountPath": "/x", "mountPropagation": "Bidirectional"}],
     [(FORBIDDEN, f"{C0}.volumeMounts.mountPropagation",
       "Forbidden: Bidirectional mount propagation is available only to privileged containers")]),
])
def test_volume_mounts(mounts, expected):
    check_create("Pod", volumes(EMPTY, mounts=mounts), expected)


def test_mount_of_a_broken_volume_is_not_found():
    obj = volumes({"name": "data"}, mounts=[{"name": "data", "mountPath": "/d"}])
    check_create("Pod", obj, [(NOT_FOUND, f"{C0}.volumeMounts[0].name", 'Not found: "data"')])


def resources(requests=None, limits=None):
    res = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    return with_container(resources=res)


@pytest.mark.parametrize("obj, expected", [
    (resources({"cpu": "250m", "memory": "64Mi"}, {"cpu": "500m", "memory": "128Mi"}), []),
    (resources({"cpu": "1"}, {"cpu": "500m"}), [(INVALID, f"{C0}.resources.requests",
                                                 'Invalid value: "1": must be less than or equal to cpu limit of 500m')]),
    (resources({"memory": "1.5Gi"}, {"memory": "1Gi"}), [(INVALID, f"{C0}.resources.requests",
        'Invalid value: "1536Mi": must be less than or equal to memory limit of 1Gi')]),
    (resources({"cpu": "lots"}), [(INVALID, f"{C0}.resources.requests[cpu]",
        'Invalid value: "lots": quantities must match the regular expression ...')]),
    (resources({"cpu": "-1"}), [(INVALID, f"{C0}.resources.requests[cpu]", 'Invalid value: "-1": must be greater than or equal to 0')]),
    (resources({"pods": "1"}), [(INVALID, f"{C0}.resources.requests[pods]", 'Invalid value: "pods": must be a standard resource for containers')]),
    (resources({"gpu": "1"}), [(INVALID, f"{C0}.resources.requests[gpu]",
                                'Invalid value: "gpu": must be a standard resource type or fully qualified')]),
    (resources({"example.com/gpu": "1"}), [(REQUIRED, f"{C0}.resources.limits", "Limit must be set for non overcommitable resources")]),
    (resources({"example.com/gpu": "1"}, {"example.com/gpu": "2"}), [(INVALID, f"{C0}.resources.requests",
                                                                     'Invalid value: "1": must be equal to example.com/gpu limit of 2')]),
    (resources(None, {"example.com/gpu": "500m"}), [(INVALID, f"{C0}.resources.limits[example.com/gpu]",
                                                     "Invalid value: 500m: must be an integer")]),
])
def test_resources(obj, expected):
    check_create("Pod", obj, expected)


HTTP = {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"}}


@pytest.mark.parametrize("probe_kind, probe, expected", [
    ("livenessProbe", dict(HTTP, periodSeconds=10, successThreshold=1), []),
    ("livenessProbe", {}, [(REQUIRED, f"{C0}.livenessProbe", "must specify a handler type")]),
    ("livenessProbe", dict(HTTP, exec={"command": ["true"]}), [(FORBIDDEN, f"{C0}.livenessProbe.httpGet",
                                                                 "Forbidden: may not specify more than 1 handler type")]),
    ("livenessProbe", dict(HTTP, successThreshold=2), [(INVALID, f"{C0}.livenessProbe.successThreshold", "Invalid value: 2: must be 1")]),
    ("startupProbe", dict(HTTP, successThreshold=3), [(INVALID, f"{C0}.startupProbe.successThreshold", "Invalid value: 3: must be 1")]),
    ("readinessProbe", dict(HTTP, successThreshold=3), []),
    ("readinessProbe", dict(HTTP, periodSeconds=-1), [(INVALID, f"{C0}.readinessProbe.periodSeconds",
                                                       "Invalid value: -1: must be greater than or equal to 0")]),
    ("readinessProbe", dict(HTTP, terminationGracePeriodSeconds=5), [(INVALID, f"{C0}.readinessProbe.terminationGracePeriodSeconds",
                                                                      "Invalid value: 5: must not be set for readinessProbes")]),
    ("livenessProbe", {"tcpSocket": {"port": 0}}, [(INVALID, f"{C0}.livenessProbe.tcpSocket.port",
                                                     "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("livenessProbe", {"tcpSocket": {"port": "HTTP"}}, [(INVALID, f"{C0}.livenessProbe.tcpSocket.port", 'Invalid value: "HTTP": ...')]),
    ("livenessProbe", {"exec": {"command": []}}, [(REQUIRED, f"{C0}.livenessProbe.exec.command", "")]),
    ("livenessProbe", {"httpGet": {"port": 80, "scheme": "FTP"}}, [(NOT_SUPPORTED, f"{C0}.livenessProbe.httpGet.scheme",
                                                                    'Unsupported value: "FTP": supported values: "HTTP", "HTTPS"')]),
])
def test_probes(probe_kind, probe, expected):
    check_create("Pod", with_container(**{probe_kind: probe}), expected)


def test_lifecycle_sleep_must_fit_grace_period():
    obj = with_container(lifecycle={"preStop": {"sleep": {"seconds": 40}}})
    check_create("Pod", obj, [(INVALID, f"{C0}.lifecycle.preStop.sleep", "Invalid value: 40: must be greater than 0 and "
                                "less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue "
                                "feature gate for zero sleep.")])


@pytest.mark.parametrize("init, expected", [
    (container(name="init", restartPolicy="Always", readinessProbe=HTTP), []),
    (container(name="init", livenessProbe=HTTP), [(FORBIDDEN, "spec.initContainers[0].livenessProbe",
                                                   "Forbidden: may not be set for init containers without restartPolicy=Always")]),
    (container(name="init", restartPolicy="OnFailure"), [(NOT_SUPPORTED, "spec.initContainers[0].restartPolicy",
                                                          'Unsupported value: "OnFailure": supported values: "Always"')]),
])
def test_init_containers(init, expected):
    check_create("Pod", pod(initContainers=[init]), expected)


@pytest.mark.parametrize("spec, expected", [
    ({"restartPolicy": "Sometimes"}, [(NOT_SUPPORTED, "spec.restartPolicy",
                                       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ({"dnsPolicy": "Google"}, [(NOT_SUPPORTED, "spec.dnsPolicy", 'Unsupported value: "Google": supported values: '
                                '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"')]),
    ({"dnsPolicy": "None"}, [(REQUIRED, "spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")]),
    ({"dnsPolicy": "None", "dnsConfig": {"searches": ["a"]}},
     [(REQUIRED, "spec.dnsConfig.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None")]),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"]}}, []),
    ({"dnsConfig": {"nameservers": ["x.y"]}}, [(INVALID, "spec.dnsConfig.nameservers[0]",
        'Invalid value: "x.y": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]),
    ({"terminationGracePeriodSeconds": -5}, []),
    ({"activeDeadlineSeconds": 0}, [(INVALID, "spec.activeDeadlineSeconds", "Invalid value: 0: must be between 1 and 2147483647, inclusive")]),
    ({"activeDeadlineSeconds": 60}, []),
    ({"nodeSelector": {"disk": "ssd", "bad key": "x"}}, [(INVALID, "spec.nodeSelector", 'Invalid value: "bad key": ...')]),
    ({"hostname": "Web"}, [(INVALID, "spec.hostname", 'Invalid value: "Web": ...')]),
    ({"serviceAccountName": "Bad_SA"}, [(INVALID, "spec.serviceAccountName", 'Invalid value: "Bad_SA": ...')]),
    ({"ephemeralContainers": [container(name="debug")]}, [(FORBIDDEN, "spec.ephemeralContainers", "Forbidden: cannot be set on create")]),
    ({"nodeName": "n1", "schedulingGates": [{"name": "example.com/gate"}]},
     [(FORBIDDEN, "spec.nodeName", "Forbidden: cannot be set until all schedulingGates have been cleared")]),
    ({"securityContext": {"runAsUser": -1}}, [(INVALID, "spec.securityContext.runAsUser",
                                               "Invalid value: -1: must be between 0 and 4294967295, inclusive")]),
    ({"securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1"}]}, "hostNetwork": True},
     [(INVALID, "spec.securityContext.sysctls[0].name", "Invalid value: \"net.core.somaxconn\": may not be specified when 'hostNetwork' is true")]),
    ({"os": {"name": "plan9"}}, [(NOT_SUPPORTED, "spec.os", 'Unsupported value: "plan9": supported values: "linux", "windows"')]),
    ({"imagePullSecrets": [{"name": "regcred"}]}, []),
])
def test_pod_level_fields(spec, expected):
    check_create("Pod", pod(**spec), expected)


TOL = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}


@pytest.mark.parametrize("toleration, expected", [
    (TOL, []),
    ({"operator": "Exists"}, []),
    ({"key": "k", "operator": "Exists", "value": "v"}, [(INVALID, "spec.tolerations[0].operator",
                                                         "Invalid value: \"v\": value must be empty when `operator` is 'Exists'")]),
    ({"key": "k", "operator": "Like"}, [(NOT_SUPPORTED, "spec.tolerations[0].operator",
                                         'Unsupported value: "Like": supported values: "Equal", "Exists"')]),
    ({"key": "k", "effect": "Evict"}, [(NOT_SUPPORTED, "spec.tolerations[0].effect",
        'Unsupported value: "Evict": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    ({"value": "v", "operator": "Equal"}, [(INVALID, "spec.tolerations[0].operator",
        'Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"')]),
    ({"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5},
     [(INVALID, "spec.tolerations[0].effect", "Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set")]),
])
def test_tolerations(toleration, expected):
    check_create("Pod", pod(tolerations=[toleration]), expected)


def test_affinity_and_spread():
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}},
                         "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                             {"weight": 0, "podAffinityTerm": {"topologyKey": ""}}]}},
            "topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}
    na = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    pa = "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
    check_create("Pod", pod(**spec), [
        (REQUIRED, na, "must have at least one node selector term"),
        (INVALID, f"{pa}.weight", "Invalid value: 0: must be in the range 1-100"),
        (REQUIRED, f"{pa}.podAffinityTerm.topologyKey", "can not be empty"),
        (INVALID, "spec.topologySpreadConstraints[0].maxSkew", "Invalid value: 0: must be greater than zero"),
    ])


def test_annotations_specific_to_pods():
    obj = changed(pod(), lambda o: o["metadata"].update(annotations={
        "controller.kubernetes.io/pod-deletion-cost": "x", "kubernetes.io/config.mirror": "m"}))
    check_create("Pod", obj, [
        (INVALID, "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]", 'Invalid value: "x": must be a 32bit integer'),
        (INVALID, "metadata.annotations[kubernetes.io/config.mirror]",
         'Invalid value: "m": must set spec.nodeName if mirror pod annotation is set'),
    ])
