"""The three entry points: dispatch per kind, generic metadata rules, status updates."""

from tinykube.api.errors import INVALID
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.api.validation import _KINDS, validate_create, validate_status_update, validate_update

from . import changed, check_status, check_update, deployment, meta


def test_every_registered_kind_has_validation():
    missing = [(rt.group, rt.kind) for rt in REGISTRY.resources if (rt.group, rt.kind) not in _KINDS]
    assert missing == []


def test_unknown_kinds_get_the_generic_metadata_rules():
    widget = ResourceType("example.com", "v1", "Widget", "widgets")
    assert validate_create(widget, {"metadata": meta("Any_Name.OK")}) == []
    causes = validate_create(widget, {"metadata": meta("a%b")})
    assert [(c.field, c.message) for c in causes] == [("metadata.name", "Invalid value: \"a%b\": may not contain '%'")]
    assert [c.field for c in validate_create(widget, {"metadata": meta("ok", "")})] == ["metadata.namespace"]


def test_update_checks_metadata_immutability_for_every_kind():
    old = {"metadata": meta("lease-1"), "spec": {}}
    new = changed(old, lambda o: o["metadata"].update(uid="other"))
    check_update("Lease", new, old, [(INVALID, "metadata.uid", 'Invalid value: "other": field is immutable')],
                 "coordination.k8s.io")


def test_status_update_of_kinds_without_status_rules_checks_metadata():
    old = {"metadata": meta(), "data": {"k": "v"}}
    check_status("ConfigMap", changed(old, lambda o: o["metadata"].update(labels={"ok": "yes"})), old, [])
    check_status("ConfigMap", changed(old, lambda o: o["metadata"].update(labels={"bad key": "x"})), old,
                 [(INVALID, "metadata.labels", 'Invalid value: "bad key": ...')])


def test_results_have_no_duplicates():
    rt = REGISTRY.by_kind("apps", "v1", "Deployment")
    old = deployment()
    new = changed(old, lambda o: o["metadata"].update(labels={"bad key": "x"}))
    causes = validate_update(rt, new, old)
    assert len(causes) == len(set(causes)) == 1
    assert validate_status_update(rt, new, old) == causes
