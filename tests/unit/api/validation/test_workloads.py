"""Deployments, ReplicaSets, DaemonSets, StatefulSets."""

import pytest

from tinykube.api.errors import FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED

from . import changed, check_create, check_status, check_update, container, deployment, meta, template

MISMATCH = 'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'


def spec_set(**values):
    return lambda o: o["spec"].update(values)


def strategy(**rolling):
    return spec_set(strategy={"type": "RollingUpdate", "rollingUpdate": rolling})


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: None, []),
    (lambda o: o["spec"].pop("selector"), [(REQUIRED, "spec.selector", ""),
                                           (INVALID, "spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"web"}: ...')]),
    (spec_set(selector={}), [(INVALID, "spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                                                       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")]),
    (spec_set(template=template(labels={"app": "other"})), [(INVALID, "spec.template.metadata.labels", MISMATCH)]),
    (spec_set(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}), []),
    (spec_set(selector={"matchExpressions": [{"key": "app", "operator": "Near", "values": ["web"]}]}),
     [(INVALID, "spec.selector.matchExpressions[0].operator", 'Invalid value: "Near": not a valid selector operator'),
      (INVALID, "spec.selector", "Invalid value: v1.LabelSelector{...}: invalid label selector")]),
    (spec_set(selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
     [(REQUIRED, "spec.selector.matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'")]),
    (spec_set(selector={"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}),
     [(FORBIDDEN, "spec.selector.matchExpressions[0].values",
       "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]),
    (spec_set(replicas=-1), [(INVALID, "spec.replicas", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(template=template(restartPolicy="OnFailure")), [(NOT_SUPPORTED, "spec.template.spec.restartPolicy",
                                                               'Unsupported value: "OnFailure": supported values: "Always"')]),
    (spec_set(template=template(activeDeadlineSeconds=5)), [(FORBIDDEN, "spec.template.spec.activeDeadlineSeconds",
                                                             "Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported")]),
    (spec_set(template=template(containers=[container(name="Bad")])), [(INVALID, "spec.template.spec.containers[0].name", "...")]),
    (spec_set(template=template(labels={"app": "web", "bad key": "x"})), [(INVALID, "spec.template.labels", 'Invalid value: "bad key": ...')]),
    (spec_set(strategy={"type": "Recreate", "rollingUpdate": {}}),
     [(FORBIDDEN, "spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")]),
    (spec_set(strategy={"type": "BlueGreen"}), [(NOT_SUPPORTED, "spec.strategy", 'Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
                                                  'RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"')]),
    (strategy(maxUnavailable=0, maxSurge=0), [(INVALID, "spec.strategy.rollingUpdate.maxUnavailable",
                                               "Invalid value: 0: may not be 0 when `maxSurge` is 0")]),
    (strategy(maxUnavailable="0%", maxSurge="0%"), [(INVALID, "spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0%: ...")]),
    (strategy(maxUnavailable="110%", maxSurge=1), [(INVALID, "spec.strategy.rollingUpdate.maxUnavailable",
                                                    "Invalid value: 110%: must not be greater than 100%")]),
    (strategy(maxUnavailable="abc", maxSurge=1), [(INVALID, "spec.strategy.rollingUpdate.maxUnavailable",
        "Invalid value: abc: a valid percent string must be a numeric string followed by an ending '%' ...")]),
    (strategy(maxUnavailable=-1, maxSurge=1), [(INVALID, "spec.strategy.rollingUpdate.maxUnavailable",
                                                "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(revisionHistoryLimit=-1), [(INVALID, "spec.revisionHistoryLimit", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(minReadySeconds=700), [(INVALID, "spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds")]),
])
def test_deployment(mutate, expected):
    check_create("Deployment", changed(deployment(), mutate), expected, "apps")


def test_deployment_selector_is_immutable():
    old = deployment()
    new = changed(old, spec_set(selector={"matchLabels": {"app": "web", "tier": "front"}},
                                template=template(labels={"app": "web", "tier": "front"})))
    check_update("Deployment", new, old, [(INVALID, "spec.selector",
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"front"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")], "apps")
    scaled = changed(old, spec_set(replicas=5))
    check_update("Deployment", scaled, old, [], "apps")


def test_deployment_status():
    old = deployment()
    bad = changed(old, lambda o: o.__setitem__("status", {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1}))
    check_status("Deployment", bad, old, [(INVALID, "status.readyReplicas", "Invalid value: 2: cannot be greater than status.replicas")], "apps")
    old["status"] = {"collisionCount": 2}
    lower = changed(old, lambda o: o["status"].update(collisionCount=1))
    check_status("Deployment", lower, old, [(INVALID, "status.collisionCount", "Invalid value: 1: cannot be decremented")], "apps")


def replica_set():
    obj = deployment()
    obj["kind"] = "ReplicaSet"
    for name in ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds"):
        obj["spec"].pop(name)
    return obj


def test_replica_set():
    check_create("ReplicaSet", replica_set(), [], "apps")
    empty = changed(replica_set(), spec_set(selector={"matchLabels": {}}))
    check_create("ReplicaSet", empty, [(INVALID, "spec.selector", "Invalid value: ...: empty selector is invalid for deployment")], "apps")
    mismatch = changed(replica_set(), spec_set(template=template(labels={"app": "other"})))
    check_create("ReplicaSet", mismatch, [(INVALID, "spec.template.metadata.labels", MISMATCH)], "apps")


def daemon_set():
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(),
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}}


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: None, []),
    (spec_set(updateStrategy={"type": "OnDelete"}), []),
    (spec_set(updateStrategy={"type": "Sometimes"}), [(NOT_SUPPORTED, "spec.updateStrategy", "Unsupported value: "
        'apps.DaemonSetUpdateStrategy{Type:"Sometimes", RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: '
        'supported values: "RollingUpdate", "OnDelete"')]),
    (spec_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
     [(REQUIRED, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0")]),
    (spec_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
     [(INVALID, "spec.updateStrategy.rollingUpdate.maxSurge", "Invalid value: 1: may not be set when maxUnavailable is non-zero")]),
    (spec_set(template=template(restartPolicy="Never")), [(NOT_SUPPORTED, "spec.template.spec.restartPolicy", "...")]),
    (spec_set(template=template(activeDeadlineSeconds=1)), [(FORBIDDEN, "spec.template.spec.activeDeadlineSeconds",
                                                             "Forbidden: activeDeadlineSeconds in DaemonSet is not Supported")]),
    (spec_set(selector={}), [(INVALID, "spec.selector", "Invalid value: ...: empty selector is invalid for daemonset")]),
    (spec_set(template=template(labels={"app": "other"})), [(INVALID, "spec.template.metadata.labels", MISMATCH)]),
])
def test_daemon_set(mutate, expected):
    check_create("DaemonSet", changed(daemon_set(), mutate), expected, "apps")


def stateful_set():
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "serviceName": "web",
                     "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                     "template": template(containers=[container(volumeMounts=[{"name": "data", "mountPath": "/data"}])],
                                          volumes=[{"name": "data", "emptyDir": {}}])}}


CLAIM_TEMPLATES = [{"metadata": {"name": "claim"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                            "resources": {"requests": {"storage": "1Gi"}}}}]


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: None, []),
    (lambda o: o["spec"].pop("serviceName"), []),
    (lambda o: o["metadata"].update(name="web.db"), [(INVALID, "metadata.name", 'Invalid value: "web.db": must not contain dots')]),
    (spec_set(podManagementPolicy="Random"), [(INVALID, "spec.podManagementPolicy",
                                               "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'")]),
    (spec_set(updateStrategy={"type": "Manual"}), [(INVALID, "spec.updateStrategy",
                                                    "Invalid value: ...: must be 'RollingUpdate' or 'OnDelete'")]),
    (spec_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}),
     [(INVALID, "spec.updateStrategy.rollingUpdate.partition", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(selector={}), [(INVALID, "spec.selector", "Invalid value: ...: empty selector is invalid for statefulset")]),
    (spec_set(template=template(restartPolicy="OnFailure")), [(NOT_SUPPORTED, "spec.template.spec.restartPolicy", "...")]),
    (spec_set(template=template(containers=[container(volumeMounts=[{"name": "other", "mountPath": "/o"}])])),
     [("FieldValueNotFound", "spec.template.spec.containers[0].volumeMounts[0].name", 'Not found: "other"')]),
    (spec_set(ordinals={"start": -1}), [(INVALID, "spec.ordinals.start", "Invalid value: -1: must be greater than or equal to 0")]),
    # tinykube has no PersistentVolumeClaims: claim templates are refused, not ignored
    (spec_set(volumeClaimTemplates=CLAIM_TEMPLATES), [(FORBIDDEN, "spec.volumeClaimTemplates",
                                                       "Forbidden: tinykube does not support PersistentVolumeClaims yet")]),
])
def test_stateful_set(mutate, expected):
    check_create("StatefulSet", changed(stateful_set(), mutate), expected, "apps")


def test_stateful_set_update_is_limited():
    old = stateful_set()
    check_update("StatefulSet", changed(old, spec_set(replicas=5, minReadySeconds=3)), old, [], "apps")
    check_update("StatefulSet", changed(old, spec_set(serviceName="other")), old, [(FORBIDDEN, "spec",
        "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")], "apps")


def controller_revision():
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta("web-5d8c9b7f6"),
            "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1}


def test_controller_revision():
    check_create("ControllerRevision", controller_revision(), [], "apps")
    check_create("ControllerRevision", changed(controller_revision(), lambda o: o.pop("data")),
                 [(REQUIRED, "data", "data is mandatory")], "apps")
    check_create("ControllerRevision", changed(controller_revision(), lambda o: o.update(revision=-1)),
                 [(INVALID, "revision", "Invalid value: -1: must be greater than or equal to 0")], "apps")
    old = controller_revision()
    check_update("ControllerRevision", changed(old, lambda o: o.update(data={"x": 1})), old,
                 [(INVALID, "data", "...field is immutable")], "apps")
