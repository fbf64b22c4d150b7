"""Strategic merge patch: upstream's own table cases (on a MergeItem-shaped schema, as in
apimachinery's strategicpatch tests) and cases on the real Kubernetes schemas."""

import json

import pytest
import yaml

from tinykube.api import errors
from tinykube.api.patch import STRATEGIC_MERGE_PATCH, apply_patch, strategic
from tinykube.api.patch.meta import PatchField, PatchMeta


class FakeMeta(PatchMeta):
    """Patch metadata from a table, like the Go test type MergeItem's struct tags."""

    def __init__(self, fields):
        self.fields = fields

    def lookup(self, name):
        found = self.fields.get(name)
        return found() if callable(found) else (found or PatchField())


def merge_item():
    return FakeMeta({
        "mergingList": lambda: PatchField(("merge",), "name", merge_item()),
        "nonMergingList": lambda: PatchField((), "", merge_item()),
        "mergingIntList": PatchField(("merge",)),
        "nonMergingIntList": PatchField(()),
        "mergeItemPtr": lambda: PatchField(("merge",), "name", merge_item()),
        "simpleMap": PatchField(()),
        "replacingItem": PatchField(("replace",)),
        "retainKeysMap": lambda: PatchField(("retainKeys",), "", merge_item()),
        "retainKeysMergingList": lambda: PatchField(("merge", "retainKeys"), "name", merge_item()),
    })


def smp(original, patch):
    body = patch if isinstance(patch, bytes) else json.dumps(patch).encode()
    return strategic.apply(original, body, merge_item())


# Cases from apimachinery's strategicpatch tests (original, patch, expected result).
UPSTREAM_CASES = yaml.safe_load("""
- description: unique scalars when merging lists
  original: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  result: {mergingIntList: [1, 2, 3]}
- description: delete map from nested map
  original: {simpleMap: {key1: 1, key2: 1}}
  patch: {simpleMap: {$patch: delete}}
  result: {simpleMap: {}}
- description: delete all items from merging list
  original: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{$patch: replace}]}
  result: {mergingList: []}
- description: merge empty merging lists
  original: {mergingList: []}
  patch: {mergingList: []}
  result: {mergingList: []}
- description: delete all keys from map
  original: {name: 1, value: 1}
  patch: {$patch: replace}
  result: {}
- description: add key and delete all keys from map
  original: {name: 1, value: 1}
  patch: {other: a, $patch: replace}
  result: {other: a}
- description: delete all duplicate entries in a merging list
  original: {mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}
  result: {mergingList: [{name: 2, value: a}]}
- description: retainKeys map can add a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {value: bar}}
  result: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map can delete a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  result: {retainKeysMap: {name: foo}}
- description: retainKeys map merge an empty map
  original: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {}}
  result: {retainKeysMap: {name: foo, value: a}}
- description: retainKeys list can change a field when no retainKeys directive present
  original: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  result: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- description: preserve the order from the patch in a merging list
  original: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}
  result: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}
- description: preserve the order from the patch in a merging list 2
  original: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}]}
  result: {mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}
- description: preserve the order from the patch in a merging int list
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1, 2]}
  result: {mergingIntList: [3, 1, 2]}
- description: preserve the order from the patch in a merging int list 2
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  result: {mergingIntList: [2, 3, 1]}
- description: $setElementOrder contains item that is not present in the list to be merged
  original: {mergingList: [{name: 1}, {name: 3}]}
  patch:
    $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  result: {mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
- description: $setElementOrder contains item that is not present in the int list to be merged
  original: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  result: {mergingIntList: [3, 1]}
- description: delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: delete all duplicate items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: add and delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 4]}
  patch:
    $setElementOrder/mergingIntList: [1, 2, 4]
    $deleteFromPrimitiveList/mergingIntList: [3]
    mergingIntList: [4]
  result: {mergingIntList: [1, 2, 4]}
- description: merge lists of maps (three-way result)
  original: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
  result: {mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b},
                         {name: 3, value: 3}]}
- description: merge lists of maps with conflict (three-way result)
  original: {mergingList: [{name: 1, other: a}, {name: 2, value: 3, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 2, value: 2}, {name: 3, value: 3}]
  result: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
- description: add field to map in merging list
  original: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}]}
  result: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2, other: b}]}
- description: delete map from merging list
  original: {mergingList: [{name: 1}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}
  result: {mergingList: [{name: 2, other: b}]}
- description: delete missing map from merging list
  original: {mergingList: [{name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}
  result: {mergingList: [{name: 2, other: b}]}
- description: delete field from map in merging list
  original: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: null}]}
  result: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
- description: replace non merging list nested in merging list
  original: {mergingList: [{name: 1, nonMergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]
  result: {mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}, {name: 2}]}
- description: add field to map in merging list nested in merging list
  original: {mergingList: [{name: 1, mergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}]
    mergingList:
    - name: 1
      $setElementOrder/mergingList: [{name: 1}, {name: 2}]
      mergingList: [{name: 1, value: 1}]
  result: {mergingList: [{name: 1, mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}, {name: 2}]}
- description: retainKeys map with a directive drops unlisted keys
  original: {retainKeysMap: {name: foo, value: a, other: x}}
  patch: {retainKeysMap: {$retainKeys: [name, value], value: b}}
  result: {retainKeysMap: {name: foo, value: b}}
- description: retainKeys merging list item with a directive drops unlisted keys
  original: {retainKeysMergingList: [{name: foo, value: a, other: x}, {name: bar}]}
  patch:
    $setElementOrder/retainKeysMergingList: [{name: foo}, {name: bar}]
    retainKeysMergingList: [{name: foo, $retainKeys: [name, other], other: y}]
  result: {retainKeysMergingList: [{name: foo, other: y}, {name: bar}]}
- description: replace strategy replaces the whole value
  original: {replacingItem: {a: 1, b: 2}}
  patch: {replacingItem: {c: 3}}
  result: {replacingItem: {c: 3}}
- description: replace a list with a merge strategy through $patch replace
  original: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{name: 3}, {$patch: replace}]}
  result: {mergingList: [{name: 3}]}
- description: null deletes, unmatched null is ignored
  original: {name: 1, value: 2}
  patch: {name: null, other: null}
  result: {value: 2}
- description: type change replaces
  original: {simpleMap: {a: b}}
  patch: {simpleMap: [1]}
  result: {simpleMap: [1]}
""")


@pytest.mark.parametrize("case", UPSTREAM_CASES, ids=[c["description"] for c in UPSTREAM_CASES])
def test_upstream_cases(case):
    assert smp(case["original"], case["patch"]) == case["result"]


def test_new_merge_list_items_come_first():
    # normalizeElementOrder puts patch items not in the live list before server-only items
    result = smp({"mergingList": [{"name": "a"}, {"name": "b"}]}, {"mergingList": [{"name": "c"}]})
    assert [i["name"] for i in result["mergingList"]] == ["c", "a", "b"]


def test_scalar_lists_dedupe_and_put_new_items_first():
    result = smp({"mergingIntList": [1, 2, 1, 3]}, {"mergingIntList": [4]})
    assert result == {"mergingIntList": [4, 1, 2, 3]}


def test_deletion_list_for_a_missing_field_is_stored():
    # upstream stores the patch value when the original lacks the field
    assert smp({}, {"$deleteFromPrimitiveList/mergingIntList": [1]}) == {"mergingIntList": [1]}


def test_inserted_values_lose_their_nulls():
    assert smp({}, {"simpleMap": {"a": None, "b": "c"}}) == {"simpleMap": {"b": "c"}}


@pytest.mark.parametrize("patch, message", [
    ({"mergingList": [{"value": "b"}]}, "map: map[value:b] does not contain declared merge key: name"),
    ({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
      "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]},
     "The order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match $setElementOrder "
     "list:\n[map[name:1] map[name:2] map[name:3]]\n"),
    ({"simpleMap": {"$patch": "merge"}}, "unknown patch type: merge in map: map[$patch:merge]"),
    ({"mergingList": [{"name": 1, "$patch": "merge"}]}, "merging lists cannot yet be specified in the patch"),
    ({"mergingList": [{"name": 1, "$patch": "bogus"}]}, "unknown patch type: bogus in map: map[$patch:bogus name:1]"),
    ({"mergingIntList": [1, "a"]}, "list element types are not identical: [[1 2] [1 a]]"),
])
def test_go_errors_are_500(patch, message):
    original = {"mergingList": [{"name": 1, "value": "a"}, {"name": 3}, {"name": 2}], "simpleMap": {"k": "v"},
                "mergingIntList": [1, 2]}
    with pytest.raises(errors.ApiError) as info:
        smp(original, patch)
    assert info.value.code == 500
    assert info.value.message == message
    assert "reason" not in info.value.to_status()


@pytest.mark.parametrize("patch, message", [
    ({"retainKeysMap": {"$retainKeys": ["name"], "value": "b"}}, "invalid patch format of retainKeys"),
    ({"retainKeysMap": {"$retainKeys": "name"}}, "invalid patch format of retainKeys"),
    ({"$deleteFromPrimitiveListX/mergingIntList": [1]}, "invalid patch format of primitive list"),
    ({"$setElementOrderX/mergingIntList": [1]}, "invalid patch format of setElementOrder list"),
])
def test_format_errors_are_400(patch, message):
    with pytest.raises(errors.BadRequest) as info:
        smp({"retainKeysMap": {"name": "foo"}, "mergingIntList": [1]}, patch)
    assert info.value.message == message


def test_list_of_lists_is_the_generic_422():
    with pytest.raises(errors.Invalid) as info:
        smp({"mergingIntList": [[1]]}, {"mergingIntList": [[2]]})
    assert info.value.message == "the server rejected our request due to an error in our request"


@pytest.mark.parametrize("body, message", [
    (b"[1]", "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    (b'{"a":', "unexpected end of JSON input"),
    (b"{'a': 1}", "invalid character '\\'' looking for beginning of object key string"),
])
def test_undecodable_patch_is_400(body, message):
    with pytest.raises(errors.BadRequest) as info:
        smp({}, body)
    assert info.value.message == message


# --- the real schemas -----------------------------------------------------------------------

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a.io/x"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "side", "image": "busybox"},
        ],
        "volumes": [{"name": "data", "hostPath": {"path": "/tmp"}}],
        "tolerations": [{"key": "k1", "operator": "Exists"}],
    },
}


def pod_patch(patch, pod=POD):
    return apply_patch(STRATEGIC_MERGE_PATCH, pod, json.dumps(patch).encode(), group="", version="v1", kind="Pod")


def test_containers_merge_by_name():
    result = pod_patch({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}})
    app, side = result["spec"]["containers"]
    assert app["image"] == "nginx:2" and app["ports"] == POD["spec"]["containers"][0]["ports"]
    assert side == POD["spec"]["containers"][1]


def test_ports_merge_by_container_port():
    result = pod_patch({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}})
    ports = result["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]


def test_env_delete_directive():
    result = pod_patch({"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}})
    assert result["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]


def test_kubectl_apply_style_patch_with_set_element_order():
    patch = {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                        "env": [{"name": "C", "value": "3"}, {"name": "A", "$patch": "delete"}],
                        "name": "app"}]}}
    result = pod_patch(patch)
    assert [c["name"] for c in result["spec"]["containers"]] == ["side", "app"]
    assert result["spec"]["containers"][1]["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]


def test_volumes_merge_with_retain_keys():
    patch = {"spec": {"$setElementOrder/volumes": [{"name": "data"}],
                      "volumes": [{"$retainKeys": ["emptyDir", "name"], "emptyDir": {}, "name": "data"}]}}
    assert pod_patch(patch)["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_finalizers_union_and_delete_from_primitive_list():
    result = pod_patch({"metadata": {"finalizers": ["b.io/y", "a.io/x"]}})
    assert result["metadata"]["finalizers"] == ["b.io/y", "a.io/x"]
    result = pod_patch({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/x"]}})
    assert result["metadata"]["finalizers"] == []


def test_tolerations_are_replaced():
    result = pod_patch({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}})
    assert result["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}]


def test_labels_are_a_map_and_null_deletes():
    result = pod_patch({"metadata": {"labels": {"app": None, "tier": "fe"}}})
    assert result["metadata"]["labels"] == {"tier": "fe"}


def test_unknown_fields_merge_as_plain_maps():
    pod = {**POD, "spec": {**POD["spec"], "x-extra": {"a": 1, "l": [1, 2]}}}
    result = pod_patch({"spec": {"x-extra": {"b": 2, "l": [3]}}}, pod)
    assert result["spec"]["x-extra"] == {"a": 1, "b": 2, "l": [3]}


def test_deployment_strategy_retain_keys():
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    result = apply_patch(STRATEGIC_MERGE_PATCH, deploy, json.dumps(patch).encode(),
                         group="apps", version="v1", kind="Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_original_is_not_modified():
    before = json.dumps(POD, sort_keys=True)
    pod_patch({"spec": {"containers": [{"name": "app", "$patch": "delete"}]}})
    assert json.dumps(POD, sort_keys=True) == before


def test_kinds_without_schema_refuse_strategic_merge_patch():
    with pytest.raises(errors.UnsupportedMediaType) as info:
        apply_patch(STRATEGIC_MERGE_PATCH, {}, b"{}", group="example.com", version="v1", kind="Widget")
    assert info.value.code == 415
    assert info.value.message == ("the body of the request was in an unknown format - accepted media types include: "
                                  "application/json-patch+json, application/merge-patch+json, "
                                  "application/apply-patch+yaml")


def test_unknown_content_type_is_415():
    with pytest.raises(errors.UnsupportedMediaType):
        apply_patch("application/apply-patch+cbor", {}, b"{}", group="", version="v1", kind="Pod")


def test_content_type_parameters_are_ignored():
    result = apply_patch(STRATEGIC_MERGE_PATCH + "; charset=utf-8", POD, b'{"metadata":{"labels":null}}',
                         group="", version="v1", kind="Pod")
    assert "labels" not in result["metadata"]
