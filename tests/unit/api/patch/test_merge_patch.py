"""JSON merge patch (RFC 7386) as kube-apiserver applies it (evanphx/json-patch v4)."""

import json

import pytest

from tinykube.api import errors
from tinykube.api.patch import MERGE_PATCH, apply_patch, merge_patch

DOC = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
       "data": {"k": "v"}}


def patch(body, doc=DOC):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return apply_patch(MERGE_PATCH, doc, raw, group="", version="v1", kind="ConfigMap")


@pytest.mark.parametrize("doc, body, expected", [
    # RFC 7386 appendix A examples
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # library quirks: nulls pruned from inserted values, also from arrays
    ({}, {"a": [1, None, {"x": None, "y": 2}]}, {"a": [1, {"y": 2}]}),
    ({"a": None}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    # an object replaced by a non-object keeps that value as is (nulls included)
    ({"a": {"b": 1}}, {"a": [None]}, {"a": [None]}),
    ({"a": "x"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
])
def test_merge(doc, body, expected):
    assert merge_patch.merge(json.loads(json.dumps(doc)), body) == expected


def test_apply_patch_merges_and_copies():
    result = patch({"metadata": {"labels": {"a": None, "c": "3"}}, "data": None})
    assert result["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert "data" not in result
    assert DOC["metadata"]["labels"] == {"a": "1", "b": "2"}


@pytest.mark.parametrize("body", [b"{", b"null", b'"str"', b"12", b"true", b"NaN", b"{} {}"])
def test_bad_patches_are_400(body):
    with pytest.raises(errors.BadRequest) as info:
        patch(body)
    assert info.value.message == "Invalid JSON Patch"


def test_array_patch_replaces_the_document_and_fails_decoding():
    with pytest.raises(errors.Invalid) as info:
        patch(b"[1, null]")
    assert info.value.code == 422
    assert info.value.message.startswith(' "" is invalid: patch: Invalid value: "[1]": ')
    assert info.value.details["causes"][0]["field"] == "patch"
