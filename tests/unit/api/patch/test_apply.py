"""Server-side apply and managedFields bookkeeping, against kube-apiserver's behaviour."""

import copy
import json

import pytest

from tinykube.api import errors
from tinykube.api.patch import apply

T0, T1, T2, T3 = ("2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z", "2024-05-01T12:00:02Z",
                  "2024-05-01T12:00:03Z")
APPS = dict(api_version="apps/v1", group="apps", version="v1", kind="Deployment")


def deployment(replicas=2, image="nginx:1.25", labels=None, containers=None):
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": containers or [
                             {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]}},
        },
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def ssa(live, config, manager="kubectl", force=False, now=T0):
    obj = apply.server_side_apply(live, config, manager=manager, force=force, now=now, **APPS)
    obj["metadata"].setdefault("uid", "uid-1")  # what the API server adds on create
    return obj


def update(old, new, manager, now=T0, subresource=""):
    new = copy.deepcopy(new)
    apply.update_managed_fields(old, new, manager=manager, operation="Update", now=now,
                                subresource=subresource, **APPS)
    new["metadata"].setdefault("uid", "uid-1")
    return new


def entries(obj):
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def compact(value):
    return json.dumps(value, separators=(",", ":"))


# --- create and the exact managedFields format ----------------------------------------------

def test_create_via_apply_managed_fields_byte_for_byte():
    obj = ssa(None, deployment())
    assert compact(obj["metadata"]["managedFields"]) == (
        '[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"2024-05-01T12:00:00Z",'
        '"fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},'
        '"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},"f:ports":'
        '{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}}}}}}}}]')
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_create_by_update_marks_whole_new_maps_and_items():
    obj = update(None, deployment(), "kubectl-create")
    (entry,) = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"]) == (
        "kubectl-create", "Update", "apps/v1", T0)
    assert compact(entry["fieldsV1"]) == (
        '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        '"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},'
        '"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}},'
        '"f:resources":{}}}}}}}')


def test_key_order_of_an_entry():
    obj = update(ssa(None, deployment()), {**deployment(), "status": {"replicas": 1}}, "kcm", subresource="status")
    status_entry = entries(obj)[("kcm", "Update")]
    assert list(status_entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1",
                                  "subresource"]
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}


# --- re-apply, removal, ownership -------------------------------------------------------------

def test_reapply_without_a_field_removes_it():
    live = ssa(None, deployment(labels={"app": "web", "tier": "fe"}))
    obj = ssa(live, deployment(replicas=None, labels={"app": "web"}), now=T1)
    assert "replicas" not in obj["spec"]
    assert obj["metadata"]["labels"] == {"app": "web"}
    fields = entries(obj)[("kubectl", "Apply")]["fieldsV1"]
    assert "f:replicas" not in fields["f:spec"]
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_reapply_without_a_list_item_removes_it():
    two = [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]
    live = ssa(None, deployment(containers=two))
    obj = ssa(live, deployment(containers=[{"name": "a", "image": "x"}]), now=T1)
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "x"}]


def test_dropped_field_another_manager_also_owns_stays():
    live = ssa(None, deployment(labels={"app": "web", "team": "x"}))
    shared = ssa(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web", "labels": {"team": "x"}}}, manager="other", now=T1)
    obj = ssa(shared, deployment(labels={"app": "web"}), now=T2)
    assert obj["metadata"]["labels"] == {"app": "web", "team": "x"}
    assert entries(obj)[("other", "Apply")]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_dropped_field_an_updater_changed_stays():
    live = ssa(None, deployment())
    edited = update(live, deployment(replicas=5), "kubectl-edit", now=T1)
    obj = ssa(edited, deployment(replicas=None), now=T2)
    assert obj["spec"]["replicas"] == 5


def test_equal_values_are_shared_without_conflict():
    live = ssa(None, deployment())
    obj = ssa(live, deployment(), manager="second", now=T1)
    both = entries(obj)
    assert both[("second", "Apply")]["fieldsV1"] == both[("kubectl", "Apply")]["fieldsV1"]
    # nothing changed: a no-op apply records ownership without a time
    assert "time" not in both[("second", "Apply")]
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["second", "kubectl"]


def test_no_op_reapply_keeps_the_time():
    live = ssa(None, deployment())
    obj = ssa(live, deployment(), now=T1)
    assert entries(obj)[("kubectl", "Apply")]["time"] == T0


# --- conflicts ----------------------------------------------------------------------------------

def test_conflict_with_an_applier():
    live = ssa(None, deployment())
    with pytest.raises(errors.Conflict) as info:
        ssa(live, deployment(replicas=3), manager="other", now=T1)
    status = info.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert status["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".spec.replicas"}]}


def test_conflict_with_kubectl_create_names_the_api_version():
    created = update(None, deployment(), "kubectl-create")
    with pytest.raises(errors.Conflict) as info:
        ssa(created, deployment(replicas=3, image="nginx:2"), manager="helm", now=T1)
    assert info.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image')
    assert [c["field"] for c in info.value.details["causes"]] == [
        ".spec.replicas", '.spec.template.spec.containers[name="nginx"].image']
    assert {c["message"] for c in info.value.details["causes"]} == {'conflict with "kubectl-create" using apps/v1'}


def test_conflicts_with_several_managers_are_grouped_by_manager():
    live = ssa(None, deployment())
    live = update(live, deployment(replicas=4), "autoscaler", now=T1)
    with pytest.raises(errors.Conflict) as info:
        ssa(live, deployment(replicas=3, image="nginx:2"), manager="third", now=T2)
    assert info.value.message == (
        'Apply failed with 2 conflicts: conflicts with "autoscaler" using apps/v1:\n'
        "- .spec.replicas\n"
        'conflicts with "kubectl":\n'
        '- .spec.template.spec.containers[name="nginx"].image')


def test_force_takes_ownership():
    created = update(None, deployment(), "kubectl-create")
    obj = ssa(created, deployment(replicas=3), manager="helm", force=True, now=T1)
    assert obj["spec"]["replicas"] == 3
    by = entries(obj)
    assert "f:replicas" in by[("helm", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in by[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]


def test_kubectl_may_take_over_its_client_side_apply_fields():
    config = deployment()
    created = deployment()
    created["metadata"]["annotations"] = {apply.LAST_APPLIED: json.dumps(config)}
    created = update(None, created, "kubectl-client-side-apply")
    changed = deployment(replicas=3)
    obj = ssa(created, changed, manager="kubectl", now=T1)
    assert obj["spec"]["replicas"] == 3
    # and the annotation follows what was applied
    assert json.loads(obj["metadata"]["annotations"][apply.LAST_APPLIED]) == changed
    assert obj["metadata"]["annotations"][apply.LAST_APPLIED].endswith("\n")
    with pytest.raises(errors.Conflict):
        ssa(created, changed, manager="someone-else", now=T1)


# --- objects without managedFields ---------------------------------------------------------------

def test_first_apply_to_an_untracked_object_conflicts_with_before_first_apply():
    untracked = {**deployment(), "metadata": {**deployment()["metadata"], "uid": "u"}}
    with pytest.raises(errors.Conflict) as info:
        ssa(untracked, deployment(replicas=3), manager="x", now=T1)
    assert info.value.message == ('Apply failed with 1 conflict: conflict with "before-first-apply" using '
                                  "apps/v1: .spec.replicas")
    obj = ssa(untracked, deployment(), manager="x", now=T1)
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["x", "before-first-apply"]


def test_updates_of_untracked_existing_objects_stay_untracked():
    untracked = {**deployment(), "metadata": {**deployment()["metadata"], "uid": "u"}}
    obj = update(untracked, deployment(replicas=4), "kubectl-edit")
    assert "managedFields" not in obj["metadata"]


# --- updates -------------------------------------------------------------------------------------

def test_update_moves_changed_fields_to_the_writer():
    live = ssa(None, deployment())
    obj = update(live, deployment(image="nginx:2"), "kubectl-set", now=T1)
    by = entries(obj)
    assert by[("kubectl-set", "Update")]["fieldsV1"] == {"f:spec": {"f:template": {"f:spec": {"f:containers": {
        'k:{"name":"nginx"}': {"f:image": {}}}}}}}
    assert "f:image" not in by[("kubectl", "Apply")]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"]['k:{"name":"nginx"}']


def test_update_merges_with_the_writers_previous_fields_and_bumps_time():
    live = ssa(None, deployment())
    once = update(live, deployment(replicas=3), "ed", now=T1)
    twice = update(once, {**deployment(replicas=3), "metadata": {**deployment()["metadata"],
                                                                  "labels": {"app": "web", "x": "y"}}}, "ed", now=T2)
    entry = entries(twice)[("ed", "Update")]
    assert entry["time"] == T2
    assert entry["fieldsV1"] == {"f:metadata": {"f:labels": {"f:x": {}}}, "f:spec": {"f:replicas": {}}}


def test_update_without_changes_records_nothing():
    live = ssa(None, deployment())
    obj = update(live, live, "noop", now=T1)
    assert ("noop", "Update") not in entries(obj)
    assert obj["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_manager_left_with_no_fields_is_removed():
    live = update(None, deployment(), "creator")
    only_replicas = ssa(live, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                               "spec": {"replicas": 2}}, manager="scaler", now=T1)
    gone = update(only_replicas, deployment(replicas=None), "editor", now=T2)
    assert ("scaler", "Apply") not in entries(gone)


def test_status_writes_do_not_record_spec_and_main_writes_do_not_record_status():
    live = ssa(None, deployment())
    obj = update(live, {**deployment(replicas=9), "status": {"replicas": 1}}, "ctrl", now=T1, subresource="status")
    assert entries(obj)[("ctrl", "Update")]["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    obj = update(live, {**deployment(replicas=9), "status": {"replicas": 1}}, "ed", now=T1)
    assert entries(obj)[("ed", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_requests_can_reset_managed_fields():
    live = ssa(None, deployment())
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = []
    obj = update(live, reset, "ed", now=T1)
    assert "managedFields" not in obj["metadata"]


def test_updates_keep_live_managed_fields_when_the_request_has_none():
    live = ssa(None, deployment())
    request = deployment(replicas=7)
    obj = update(live, request, "ed", now=T1)
    assert {m for m, _ in entries(obj)} == {"kubectl", "ed"}


def test_update_manager_cap_folds_the_oldest_into_ancient_changes():
    labels = {"app": "web"}
    obj = update(None, deployment(labels=labels), "m00", now="2024-05-01T12:00:00Z")
    for i in range(1, 12):
        labels = {**labels, f"l{i}": "x"}  # each writer adds a field of its own
        obj = update(obj, deployment(labels=labels), f"m{i:02d}", now=f"2024-05-01T12:00:{i:02d}Z")
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert managers[0] == "ancient-changes" and "m00" not in managers and "m01" not in managers
    ancient = entries(obj)[("ancient-changes", "Update")]
    assert ancient["time"] == "2024-05-01T12:00:02Z"  # the time of the newest entry folded in
    assert set(ancient["fieldsV1"]["f:metadata"]["f:labels"]) >= {"f:l1", "f:l2"}


def test_managed_fields_sort_apply_first_then_time_then_name():
    live = update(None, deployment(), "b-creator", now=T0)
    live = ssa(live, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                                                                                  "annotations": {"n": "1"}}},
               manager="z-applier", now=T2)
    later = deployment(replicas=3)
    later["metadata"]["annotations"] = {"n": "1"}
    live = update(live, later, "a-late", now=T3)
    order = [(e["operation"], e["manager"]) for e in live["metadata"]["managedFields"]]
    assert order == [("Apply", "z-applier"), ("Update", "b-creator"), ("Update", "a-late")]


# --- status and unknown fields --------------------------------------------------------------------

def test_apply_never_touches_status():
    live = ssa(None, deployment())
    live["status"] = {"replicas": 1}
    obj = ssa(live, {**deployment(), "status": {"replicas": 99}}, now=T1)
    assert obj["status"] == {"replicas": 1}
    assert "f:status" not in entries(obj)[("kubectl", "Apply")]["fieldsV1"]
    created = ssa(None, {**deployment(), "status": {"replicas": 99}})
    assert "status" not in created


def test_unknown_fields_are_kept_and_owned():
    config = deployment()
    config["spec"]["x-unknown"] = {"nested": {"deep": 1}}
    obj = ssa(None, config)
    assert obj["spec"]["x-unknown"] == {"nested": {"deep": 1}}
    fields = entries(obj)[("kubectl", "Apply")]["fieldsV1"]["f:spec"]["f:x-unknown"]
    assert fields == {".": {}, "f:nested": {".": {}, "f:deep": {}}}


def test_config_nulls_do_not_reach_the_object():
    config = deployment()
    config["spec"]["paused"] = None
    obj = ssa(None, config)
    assert "paused" not in obj["spec"]


# --- refusals ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("api_version, kind, message", [
    ("apps/v1", "StatefulSet", "invalid object type: apps/v1, Kind=StatefulSet"),
    ("v1", "Deployment", "invalid object type: /v1, Kind=Deployment"),
    (None, "Deployment", "invalid object type: /, Kind=Deployment"),
])
def test_wrong_kind_is_400(api_version, kind, message):
    config = {**deployment(), "apiVersion": api_version, "kind": kind}
    with pytest.raises(errors.BadRequest) as info:
        ssa(None, config)
    assert info.value.message == message


def test_managed_fields_in_the_config_is_400():
    config = deployment()
    config["metadata"]["managedFields"] = []
    with pytest.raises(errors.BadRequest) as info:
        ssa(None, config)
    assert info.value.message == "metadata.managedFields must be nil"


@pytest.mark.parametrize("mutate, detail", [
    (lambda c: c["spec"].update(replicas="three"), ".spec.replicas: expected numeric (int or float), got string"),
    (lambda c: c["spec"]["template"]["spec"]["containers"].append({"name": "nginx"}),
     '.spec.template.spec.containers: duplicate entries for key [name="nginx"]'),
    (lambda c: c["spec"]["template"]["spec"]["containers"].append({"image": "x"}),
     '.spec.template.spec.containers: element 1: associative list with keys has an element that omits all key '
     'fields ["name"] (and doesn\'t have default values for any key fields)'),
])
def test_configs_that_do_not_fit_the_schema_are_500(mutate, detail):
    config = deployment()
    mutate(config)
    with pytest.raises(errors.ApiError) as info:
        ssa(None, config)
    assert info.value.code == 500
    assert info.value.message == ("failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
                                  + detail)


# --- other kinds --------------------------------------------------------------------------------

def test_service_ports_key_on_port_and_defaulted_protocol():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    obj = apply.server_side_apply(None, svc, manager="kubectl", force=False, now=T0, api_version="v1",
                                  group="", version="v1", kind="Service")
    fields = obj["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {
        ".": {}, "f:port": {}, "f:targetPort": {}}}, "f:selector": {}}}


def test_pod_status_conditions_by_type():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"},
           "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Pending"}}
    pod = {**pod, "metadata": {**pod["metadata"], "managedFields": apply.encode_managed_fields(
        apply.decode_managed_fields([{"manager": "kubectl-run", "operation": "Update", "apiVersion": "v1",
                                      "time": T0, "fieldsType": "FieldsV1",
                                      "fieldsV1": {"f:spec": {"f:containers": {}}}}]))}}
    running = copy.deepcopy(pod)
    running["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    apply.update_managed_fields(pod, running, manager="kubelet", operation="Update", now=T1, subresource="status",
                                api_version="v1", group="", version="v1", kind="Pod")
    kubelet = [e for e in running["metadata"]["managedFields"] if e["manager"] == "kubelet"][0]
    assert kubelet["subresource"] == "status"
    assert kubelet["fieldsV1"] == {"f:status": {"f:conditions": {".": {}, 'k:{"type":"Ready"}': {
        ".": {}, "f:status": {}, "f:type": {}}}, "f:phase": {}}}


def test_custom_kinds_without_schema_are_deduced():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 3, "tags": ["a"], "nested": {"x": 1}}}
    obj = apply.server_side_apply(None, widget, manager="m", force=False, now=T0, api_version="example.com/v1",
                                  group="example.com", version="v1", kind="Widget")
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {
        ".": {}, "f:nested": {".": {}, "f:x": {}}, "f:size": {}, "f:tags": {}}}
