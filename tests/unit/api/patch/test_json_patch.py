"""JSON patch (RFC 6902) with kube-apiserver's (evanphx/json-patch v4) semantics and errors."""

import json

import pytest

from tinykube.api import errors
from tinykube.api.patch import JSON_PATCH, apply_patch, json_patch

GENERIC_422 = "the server rejected our request due to an error in our request"

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "web", "a/b": "slash", "t~x": "tilde"}},
    "spec": {"containers": [{"name": "a", "image": "one"}, {"name": "b", "image": "two"}]},
}


def patch(ops, doc=POD):
    return apply_patch(JSON_PATCH, doc, json.dumps(ops).encode(), group="", version="v1", kind="Pod")


@pytest.mark.parametrize("ops, path, expected", [
    ([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}], ("metadata", "labels", "tier"), "fe"),
    ([{"op": "replace", "path": "/spec/containers/0/image", "value": "x"}],
     ("spec", "containers", 0, "image"), "x"),
    ([{"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}}], ("spec", "containers", 2, "name"), "c"),
    ([{"op": "add", "path": "/spec/containers/0", "value": {"name": "z"}}], ("spec", "containers", 0, "name"), "z"),
    ([{"op": "add", "path": "/spec/containers/2", "value": {"name": "end"}}],
     ("spec", "containers", 2, "name"), "end"),
    # negative indices count from the end for add (v4 SupportNegativeIndices)
    ([{"op": "add", "path": "/spec/containers/-1", "value": {"name": "n"}}],
     ("spec", "containers", 2, "name"), "n"),
    ([{"op": "remove", "path": "/spec/containers/-1"}], ("spec", "containers", 0, "name"), "a"),
    # JSON pointer escaping: ~1 is "/", ~0 is "~"
    ([{"op": "replace", "path": "/metadata/labels/a~1b", "value": "s2"}], ("metadata", "labels", "a/b"), "s2"),
    ([{"op": "replace", "path": "/metadata/labels/t~0x", "value": "t2"}], ("metadata", "labels", "t~x"), "t2"),
    ([{"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"}],
     ("metadata", "labels", "copy"), "web"),
    ([{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/moved"}],
     ("metadata", "labels", "moved"), "web"),
    # v4 quirk: replace of a missing object key adds it
    ([{"op": "replace", "path": "/metadata/labels/missing", "value": "v"}], ("metadata", "labels", "missing"), "v"),
    # v4 quirk: copy from a missing key copies null
    ([{"op": "copy", "from": "/metadata/nothing", "path": "/metadata/labels/n"}], ("metadata", "labels", "n"), None),
    ([{"op": "test", "path": "/metadata/labels/app", "value": "web"},
      {"op": "add", "path": "/metadata/labels/ok", "value": "yes"}], ("metadata", "labels", "ok"), "yes"),
    # test of a null/missing value against null passes
    ([{"op": "test", "path": "/metadata/missing", "value": None},
      {"op": "add", "path": "/metadata/labels/ok", "value": "yes"}], ("metadata", "labels", "ok"), "yes"),
    # add without value adds null
    ([{"op": "add", "path": "/metadata/labels/empty"}], ("metadata", "labels", "empty"), None),
])
def test_operations(ops, path, expected):
    result = patch(ops)
    node = result
    for step in path:
        node = node[step]
    assert node == expected


def test_original_is_untouched():
    before = json.dumps(POD, sort_keys=True)
    patch([{"op": "remove", "path": "/metadata/labels"}])
    assert json.dumps(POD, sort_keys=True) == before


def test_move_removes_source():
    result = patch([{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/moved"}])
    assert "app" not in result["metadata"]["labels"]


def test_test_op_compares_objects_as_subsets():
    # lazyNode.equal only checks the document's keys against the test value
    patch([{"op": "test", "path": "/metadata/labels", "value": {**POD["metadata"]["labels"], "extra": "x"}}])


def test_null_document_patch_is_a_no_op():
    assert patch(None) == POD


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/metadata/labels/app", "value": "other"}],
    [{"op": "test", "path": "/spec/containers/0/image", "value": 1}],
    [{"op": "test", "path": "/metadata/labels/app"}],
    [{"op": "remove", "path": "/metadata/labels/missing"}],
    [{"op": "remove", "path": "/spec/containers/5"}],
    [{"op": "add", "path": "/nope/deeper/x", "value": 1}],
    [{"op": "add", "path": "/spec/containers/9", "value": {}}],
    [{"op": "add", "path": "/spec/containers/x", "value": {}}],
    [{"op": "replace", "path": "/spec/containers/7", "value": {}}],
    [{"op": "move", "from": "/metadata/missing", "path": "/metadata/x"}],
    [{"op": "add", "path": "", "value": {}}],
    [{"op": "frobnicate", "path": "/metadata"}],
    [{"path": "/metadata"}],
    [None],
])
def test_failures_are_the_generic_422(ops):
    with pytest.raises(errors.Invalid) as info:
        patch(ops)
    assert info.value.code == 422
    assert info.value.message == GENERIC_422


@pytest.mark.parametrize("body, message", [
    (b'[{"op": "add",', "unexpected end of JSON input"),
    (b"[{op: 1}]", "invalid character 'o' looking for beginning of object key string"),
    (b'{"op": "add"}', "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    (b'["add"]', "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
    (b"[1]", "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    (b"[] x", "invalid character 'x' after top-level value"),
])
def test_undecodable_patch_is_400_with_gos_message(body, message):
    with pytest.raises(errors.BadRequest) as info:
        apply_patch(JSON_PATCH, POD, body, group="", version="v1", kind="Pod")
    assert info.value.message == message


def test_too_many_operations_is_413():
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001
    with pytest.raises(errors.RequestEntityTooLarge) as info:
        patch(ops)
    assert info.value.code == 413
    assert info.value.message == ("Request entity too large: The allowed maximum operations in a JSON patch "
                                  "is 10000, got 10001")


def test_exactly_the_limit_is_fine():
    patch([{"op": "test", "path": "/kind", "value": "Pod"}] * 10000)


def test_copy_size_is_capped():
    big = {"op": "add", "path": "/metadata/annotations", "value": {"a": "x" * (1024 * 1024)}}
    copies = [{"op": "copy", "from": "/metadata/annotations/a", "path": f"/metadata/labels/c{i}"} for i in range(4)]
    with pytest.raises(errors.Invalid):
        patch([big] + copies)


def test_pointer_tokens_decode_in_one_pass():
    assert json_patch.decode_pointer_token("~01") == "~1"
    assert json_patch.decode_pointer_token("a~1b~0c") == "a/b~c"
