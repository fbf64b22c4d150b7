"""Table tests of the metadata helpers of the generic registry."""

import pytest

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import meta

PODS = REGISTRY.by_plural("", "v1", "pods")


def test_continue_token_round_trip():
    token = meta.encode_continue(42, "/registry/core/pods/ns/a")
    assert meta.decode_continue(token) == (42, "/registry/core/pods/ns/a")


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24"])
def test_bad_continue_token_is_bad_request(token):
    with pytest.raises(errors.BadRequest):
        meta.decode_continue(token)


def test_generate_name_uses_kubernetes_alphabet():
    name = meta.generate_name("web-")
    assert name.startswith("web-") and len(name) == 9
    assert all(c in "bcdfghjklmnpqrstvwxz2456789" for c in name[4:])


@pytest.mark.parametrize("body,error", [
    ({"apiVersion": "apps/v1", "kind": "Pod"}, "the API version in the data (apps/v1) does not match"),
    ({"apiVersion": "v1", "kind": "Service"}, "the kind in the data (Service) does not match"),
])
def test_check_kind_refuses_other_kinds(body, error):
    with pytest.raises(errors.BadRequest, match=error.replace("(", r"\(").replace(")", r"\)")):
        meta.check_kind(PODS, body)


def test_check_kind_fills_missing():
    body = {}
    meta.check_kind(PODS, body)
    assert body == {"apiVersion": "v1", "kind": "Pod"}


def test_namespace_mismatch_is_bad_request():
    with pytest.raises(errors.BadRequest, match="does not match the namespace"):
        meta.check_namespace(PODS, {"metadata": {"namespace": "a"}}, "b")


def test_stored_form_has_no_resource_version():
    obj = {"metadata": {"name": "a", "resourceVersion": "7"}}
    assert b"resourceVersion" not in meta.strip_for_storage(obj)
    assert obj["metadata"]["resourceVersion"] == "7"


def test_same_object_ignores_resource_version_and_managed_fields():
    a = {"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [1]}, "data": {"k": "v"}}
    b = {"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "v"}}
    assert meta.same_object(a, b)
    assert not meta.same_object(a, {**b, "data": {"k": "w"}})
