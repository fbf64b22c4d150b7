"""ObjectMeta rules on create and update, checked through real kinds."""

import pytest

from tinykube.api.errors import DUPLICATE, FORBIDDEN, INVALID, REQUIRED, TOO_LONG, invalid
from tinykube.api.validation import validate_annotations, validate_create, validate_labels

from . import changed, check_create, check_update, meta, rt

SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters..."
LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters..."


def config_map(**metadata):
    base = meta()
    base.update(metadata)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": base, "data": {"k": "v"}}


@pytest.mark.parametrize("metadata, expected", [
    ({}, []),
    ({"name": ""}, [(REQUIRED, "metadata.name", "name or generateName is required")]),
    ({"name": "Bad_Name"}, [(INVALID, "metadata.name", 'Invalid value: "Bad_Name": ' + SUBDOMAIN)]),
    ({"name": "a" * 254}, [(INVALID, "metadata.name", 'Invalid value: "' + "a" * 254 + '": must be no more than 253 characters')]),
    ({"name": "."}, [(INVALID, "metadata.name", 'Invalid value: ".": ' + SUBDOMAIN)]),
    ({"name": "a/b"}, [(INVALID, "metadata.name", 'Invalid value: "a/b": ' + SUBDOMAIN)]),
    ({"generateName": "web-", "name": "web-x7k2p"}, []),
    ({"generateName": "Web-"}, [(INVALID, "metadata.generateName", 'Invalid value: "Web-": ' + SUBDOMAIN)]),
    ({"namespace": ""}, [(REQUIRED, "metadata.namespace", "")]),
    ({"namespace": "Bad"}, [(INVALID, "metadata.namespace", 'Invalid value: "Bad": ' + LABEL)]),
    ({"namespace": "a.b"}, [(INVALID, "metadata.namespace", 'Invalid value: "a.b": must not contain dots')]),
    ({"labels": {"app": "web", "example.com/tier": ""}}, []),
    ({"labels": {"bad key": "x"}}, [(INVALID, "metadata.labels", 'Invalid value: "bad key": name part must consist of...')]),
    ({"labels": {"app": "-x"}}, [(INVALID, "metadata.labels", 'Invalid value: "-x": a valid label must be an empty string...')]),
    ({"labels": {"app": "a" * 64}}, [(INVALID, "metadata.labels", 'Invalid value: "' + "a" * 64 + '": must be no more than 63 characters')]),
    ({"annotations": {"Example.COM/Thing": "x"}}, []),
    ({"annotations": {"a/b/c": "x"}}, [(INVALID, "metadata.annotations", 'Invalid value: "a/b/c": a qualified name must...')]),
    ({"annotations": {"big": "x" * (256 * 1024)}}, [(TOO_LONG, "metadata.annotations", "Too long: must have at most 262144 bytes")]),
    ({"generation": -1}, [(INVALID, "metadata.generation", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"finalizers": ["kubernetes.io/pv-protection", "foregroundDeletion"]}, []),
    ({"finalizers": ["custom"]}, [(INVALID, "metadata.finalizers[0]",
                                   'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified')]),
    ({"finalizers": ["bad key/x/y"]}, [(INVALID, "metadata.finalizers", 'Invalid value: "bad key/x/y": a qualified name...')]),
    ({"finalizers": ["orphan", "foregroundDeletion"]}, [(INVALID, "metadata.finalizers",
                                                          'Invalid value: []string{"orphan", "foregroundDeletion"}: '
                                                          "finalizer orphan and foregroundDeletion cannot be both set")]),
])
def test_object_meta_on_create(metadata, expected):
    check_create("ConfigMap", config_map(**metadata), expected)


OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": True}


@pytest.mark.parametrize("refs, expected", [
    ([OWNER], []),
    ([dict(OWNER, apiVersion="")], [(INVALID, "metadata.ownerReferences.apiVersion", 'Invalid value: "": version must not be empty')]),
    ([dict(OWNER, kind="")], [(INVALID, "metadata.ownerReferences.kind", 'Invalid value: "": must not be empty')]),
    ([dict(OWNER, name="")], [(INVALID, "metadata.ownerReferences.name", 'Invalid value: "": must not be empty')]),
    ([dict(OWNER, uid="")], [(INVALID, "metadata.ownerReferences.uid", 'Invalid value: "": must not be empty')]),
    ([OWNER, dict(OWNER, name="web-2", uid="u2")], [(INVALID, "metadata.ownerReferences",
      'Invalid value: ...: Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/web-1 and ReplicaSet/web-2')]),
    ([dict(OWNER, apiVersion="v1", kind="Event")], [(INVALID, "metadata.ownerReferences",
      "Invalid value: ...")]),
])
def test_owner_references(refs, expected):
    check_create("ConfigMap", config_map(ownerReferences=refs), expected)


def test_controller_conflict_message_tail():
    obj = config_map(ownerReferences=[OWNER, dict(OWNER, name="web-2", uid="u2")])
    message = validate_create(rt("ConfigMap"), obj)[0].message
    assert message.endswith('Found "true" in references for ReplicaSet/web-1 and ReplicaSet/web-2')


@pytest.mark.parametrize("kind, name, expected", [
    ("Namespace", "team-a", []),
    ("Namespace", "team.a", [(INVALID, "metadata.name", 'Invalid value: "team.a": must not contain dots')]),
    ("Namespace", "a" * 64, [(INVALID, "metadata.name", "Invalid value: ...: must be no more than 63 characters")]),
    ("ServiceAccount", "builder.bot", []),
])
def test_name_rules_per_kind(kind, name, expected):
    namespaced = kind != "Namespace"
    obj = {"metadata": meta(name, "default" if namespaced else None)}
    check_create(kind, obj, expected)


def test_namespace_forbidden_on_cluster_scoped_kinds():
    obj = {"metadata": meta("team-a", namespace="default")}
    check_create("Namespace", obj, [(FORBIDDEN, "metadata.namespace", "Forbidden: not allowed on this type")])


def test_generic_path_segment_check_only_when_kind_rules_pass():
    # A core/v1 Event has no name syntax of its own, only the generic path-segment rule.
    event = {"metadata": meta("a/b"), "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"}}
    check_create("Event", event, [(INVALID, "metadata.name", "Invalid value: \"a/b\": may not contain '/'")])
    event["metadata"]["name"] = ".."
    check_create("Event", event, [(INVALID, "metadata.name", "Invalid value: \"..\": may not be '..'")])


@pytest.mark.parametrize("field, new_value, expected", [
    ("name", "other", (INVALID, "metadata.name", 'Invalid value: "other": field is immutable')),
    ("namespace", "other", (INVALID, "metadata.namespace", 'Invalid value: "other": field is immutable')),
    ("uid", "2222", (INVALID, "metadata.uid", 'Invalid value: "2222": field is immutable')),
    ("creationTimestamp", "2025-01-01T00:00:00Z",
     (INVALID, "metadata.creationTimestamp", "Invalid value: 2025-01-01 00:00:00 +0000 UTC: field is immutable")),
    ("deletionTimestamp", "2025-01-01T00:00:00Z",
     (INVALID, "metadata.deletionTimestamp", "Invalid value: 2025-01-01 00:00:00 +0000 UTC: field is immutable")),
    ("generation", 0, None),
])
def test_immutable_metadata_on_update(field, new_value, expected):
    old = config_map(generation=0)
    new = changed(old, lambda o: o["metadata"].__setitem__(field, new_value))
    check_update("ConfigMap", new, old, [expected] if expected else [])


def test_generation_may_not_decrease():
    old = config_map(generation=3)
    new = changed(old, lambda o: o["metadata"].__setitem__("generation", 2))
    check_update("ConfigMap", new, old, [(INVALID, "metadata.generation", "Invalid value: 2: must not be decremented")])


def test_no_new_finalizers_while_deleting():
    old = config_map(deletionTimestamp="2025-01-01T00:00:00Z", finalizers=["a.io/x"])
    new = changed(old, lambda o: o["metadata"].__setitem__("finalizers", ["a.io/x", "b.io/y"]))
    check_update("ConfigMap", new, old, [(FORBIDDEN, "metadata.finalizers",
        'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b.io/y"}')])
    removing = changed(old, lambda o: o["metadata"].__setitem__("finalizers", []))
    check_update("ConfigMap", removing, old, [])


def test_public_helpers():
    assert validate_labels({"ok": "v"}, "spec.selector") == []
    assert [c.field for c in validate_labels({"bad key": "v"}, "spec.selector")] == ["spec.selector"]
    assert validate_annotations({"x": "y"}, "metadata.annotations") == []


def test_rendered_status_message_matches_kubectl():
    causes = validate_create(rt("ConfigMap"), config_map(name="Bad_Name"))
    error = invalid("ConfigMap", "Bad_Name", causes)
    assert error.message.startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                                    "a lowercase RFC 1123 subdomain")
    assert error.code == 422
    assert error.details["causes"][0] == {"reason": "FieldValueInvalid", "field": "metadata.name",
                                          "message": causes[0].message}


def test_duplicate_causes_are_merged():
    causes = validate_create(rt("ConfigMap"), config_map(labels={"bad key": "x"}))
    assert len(causes) == len(set(causes))
    assert DUPLICATE not in {c.type for c in causes}
