"""FieldsV1 encoding and field sets (structured-merge-diff's fieldpath)."""

import json

import pytest

from tinykube.api.patch import fieldpath
from tinykube.api.patch.fieldpath import FieldSet, field, key, path_string

# A kube-controller-manager status entry and a kubectl-create entry, as Kubernetes stores them.
REAL = [
    {"f:status": {"f:availableReplicas": {}, "f:conditions": {
        ".": {}, 'k:{"type":"Available"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
        'k:{"type":"Progressing"}': {".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}},
    {"f:metadata": {"f:finalizers": {".": {}, 'v:"a.io/x"': {}, 'v:"b.io/y"': {}}},
     "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:targetPort": {}}},
                "f:args": {}, "f:list": {"i:0": {}, "i:10": {}, "i:2": {}}}},
]


@pytest.mark.parametrize("fields", REAL)
def test_round_trip_is_byte_identical(fields):
    decoded = FieldSet.from_fields_v1(fields)
    encoded = decoded.to_fields_v1()
    # same content; "." first and elements in structured-merge-diff order
    assert encoded == fields
    assert list(encoded) == sorted(fields, key=lambda k: (k != ".", k))


def test_element_order_is_fields_keys_values_indices():
    s = FieldSet.of((("i", 3),), (("v", fieldpath.freeze("b")),), (("v", fieldpath.freeze(2)),),
                    (key([("name", "a")]),), (field("z"),), (field("a"),), (("i", 10),))
    assert list(s.to_fields_v1()) == ["f:a", "f:z", 'k:{"name":"a"}', "v:2", 'v:"b"', "i:3", "i:10"]


def test_key_values_encode_like_go():
    s = FieldSet.of((key([("name", "<a&b>"), ("port", 8080)]),))
    assert list(s.to_fields_v1()) == ['k:{"name":"\\u003ca\\u0026b\\u003e","port":8080}']


def test_members_with_children_get_a_dot():
    s = FieldSet.of((field("a"),), (field("a"), field("b")))
    assert s.to_fields_v1() == {"f:a": {".": {}, "f:b": {}}}


def test_unknown_element_types_are_dropped_when_decoding():
    assert FieldSet.from_fields_v1({"x:what": {}, "f:a": {}}).to_fields_v1() == {"f:a": {}}


def test_set_operations():
    a = FieldSet.of((field("s"), field("x")), (field("s"), field("y")), (field("m"),))
    b = FieldSet.of((field("s"), field("y")), (field("m"),))
    assert a.intersection(b).to_fields_v1() == {"f:m": {}, "f:s": {"f:y": {}}}
    assert a.difference(b).to_fields_v1() == {"f:s": {"f:x": {}}}
    assert b.union(FieldSet.of((field("n"),))).to_fields_v1() == {"f:m": {}, "f:n": {}, "f:s": {"f:y": {}}}
    assert a.recursive_difference(FieldSet.of((field("s"),))).to_fields_v1() == {"f:m": {}}
    assert a.has((field("s"), field("x"))) and not a.has((field("s"),))


def test_paths_iterate_members_before_children():
    s = FieldSet.of((field("spec"), field("replicas")), (field("metadata"), field("labels"), field("a")),
                    (field("apiVersion"),))
    assert [path_string(p) for p in s.paths()] == [".apiVersion", ".metadata.labels.a", ".spec.replicas"]


@pytest.mark.parametrize("path, text", [
    ((field("spec"), key([("name", "app")]), field("image")), '.spec[name="app"].image'),
    ((key([("protocol", "TCP"), ("containerPort", 80)]),), '[containerPort=80,protocol="TCP"]'),
    ((("v", fieldpath.freeze("x")),), '[="x"]'),
    ((("v", fieldpath.freeze(True)),), "[=true]"),
    ((("i", 4),), "[4]"),
])
def test_path_strings(path, text):
    assert path_string(path) == text


def test_frozen_values_keep_types_apart():
    assert fieldpath.freeze(True) != fieldpath.freeze(1)
    assert fieldpath.thaw(fieldpath.freeze({"a": [1, None, "x"]})) == {"a": [1, None, "x"]}
    assert json.dumps(fieldpath.thaw(fieldpath.freeze({"b": 1, "a": 2}))) == '{"a": 2, "b": 1}'
