"""The managedFields shortcuts (FieldsV1 memo, shared top-level subtrees, shallow copies)
give byte-identical output to the plain path, write after write, and fast JSON decoding
accepts and refuses exactly what Go's encoding/json does."""

from __future__ import annotations

import copy

import orjson
import pytest

from tinykube.api.patch import apply, fieldpath, gojson, typed

T0, T1, T2 = "2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z", "2024-05-01T12:00:02Z"
POD = dict(api_version="v1", group="", version="v1", kind="Pod")
APPS = dict(api_version="apps/v1", group="apps", version="v1", kind="Deployment")


def pod(**spec):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "pause",
                                     "resources": {"requests": {"cpu": "100m"}}}], **spec}}


def deployment(replicas=2, paused=False, annotations=None):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
           "spec": {"replicas": replicas, "paused": paused, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "n", "image": "nginx"}]}}}}
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    return obj


def with_(obj, path, value):
    obj = copy.deepcopy(obj)
    node = obj
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value
    return obj


RUNNING = {"phase": "Running", "podIP": "10.1.0.2",
           "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": T1}],
           "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0, "image": "pause",
                                  "imageID": "", "state": {"running": {"startedAt": T1}}}]}

# (name, type, [(operation, manager, subresource, change)]): each step turns the previous
# object into the next one; "apply" steps server-side apply the given configuration.
SCENARIOS = [
    ("pod lifecycle", POD, [
        ("create", "kubectl-create", "", lambda o: pod()),
        ("update", "scheduler", "binding", lambda o: with_(o, ("spec", "nodeName"), "n1")),
        ("update", "agent", "status", lambda o: with_(o, ("status",), RUNNING)),
        ("update", "agent", "status", lambda o: with_(o, ("status", "phase"), "Succeeded")),
        ("update", "kubectl-label", "", lambda o: with_(o, ("metadata", "labels", "x"), "y")),
        ("update", "kubectl-label", "", lambda o: with_(o, ("metadata", "labels"), {"app": "a"})),
        ("update", "kubectl-edit", "", lambda o: with_(o, ("spec", "activeDeadlineSeconds"), 5)),
        ("update", "kubectl-edit", "", lambda o: with_(o, ("spec", "containers"), [
            {"name": "c", "image": "pause", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                      {"containerPort": 80.0, "protocol": "UDP"}]}])),
        ("update", "agent", "status", lambda o: with_(o, ("status",), {"phase": "Pending"})),
    ]),
    ("deployment apply and updates", APPS, [
        ("apply", "kubectl", "", lambda o: deployment()),
        ("update", "kube-controller-manager", "status", lambda o: with_(o, ("status", "replicas"), 2)),
        ("update", "hpa", "", lambda o: with_(o, ("spec", "replicas"), 5)),
        ("update", "edit", "", lambda o: with_(o, ("spec", "paused"), True)),
        ("apply", "kubectl", "", lambda o: deployment(replicas=3)),
        ("update", "edit", "", lambda o: with_(o, ("metadata", "annotations"), {"a": "1"})),
        ("update", "edit", "", lambda o: {k: v for k, v in o.items() if k != "status"}),
        ("update", "reset", "", lambda o: with_(o, ("metadata", "managedFields"), [])),
        ("update", "after-reset", "", lambda o: with_(o, ("spec", "replicas"), 7)),
    ]),
    ("untracked object stays untracked", APPS, [
        ("raw", "", "", lambda o: dict(deployment(), metadata=dict(deployment()["metadata"], uid="u"))),
        ("update", "edit", "", lambda o: with_(o, ("spec", "replicas"), 9)),
        ("apply", "kubectl", "", lambda o: deployment(replicas=4)),
        ("update", "edit", "", lambda o: with_(o, ("spec", "replicas"), 1)),
    ]),
    ("many update managers fold into ancient-changes", APPS, [
        ("create", "creator", "", lambda o: deployment()),
        *[("update", f"m{i}", "", (lambda i: lambda o: with_(o, ("metadata", "labels", f"l{i}"), "v"))(i))
          for i in range(12)],
    ]),
]


def run(scenario, type_args) -> list[bytes]:
    obj, outputs = None, []
    for step, (operation, manager, subresource, change) in enumerate(scenario):
        now = (T0, T1, T2)[step % 3]
        new = change(copy.deepcopy(obj))
        if operation == "raw":
            obj = new
        elif operation == "apply":
            obj = apply.server_side_apply(obj, new, manager=manager, force=True, now=now, **type_args)
        else:
            old = None if operation == "create" else obj
            before = copy.deepcopy(old)
            apply.update_managed_fields(old, new, manager=manager, operation="Update", now=now,
                                        subresource=subresource, **type_args)
            assert old == before  # the shortcuts never change the live object
            obj = new
        obj["metadata"].setdefault("uid", "uid-1")
        outputs.append(orjson.dumps(obj))
    return outputs


@pytest.mark.parametrize("name,type_args,scenario", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_fast_paths_give_the_plain_paths_output_byte_for_byte(monkeypatch, name, type_args, scenario):
    monkeypatch.setattr(apply, "FAST_PATHS", False)
    monkeypatch.setattr(typed, "FAST_PATHS", False)
    plain = run(scenario, type_args)
    monkeypatch.setattr(apply, "FAST_PATHS", True)
    monkeypatch.setattr(typed, "FAST_PATHS", True)
    apply._decoded.clear()
    apply._encoded.clear()
    fieldpath._serialized.clear()
    typed._zero_needed.clear()
    assert run(scenario, type_args) == plain  # cold caches
    assert run(scenario, type_args) == plain  # warm caches


def test_a_cached_fields_v1_is_handed_out_as_a_copy():
    obj = pod()
    apply.update_managed_fields(None, obj, manager="m", operation="Update", now=T0, **POD)
    again = pod()
    apply.update_managed_fields(None, again, manager="m", operation="Update", now=T0, **POD)
    again["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"] = {}
    third = pod()
    apply.update_managed_fields(None, third, manager="m", operation="Update", now=T0, **POD)
    assert third["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


@pytest.mark.parametrize("text", ['{"a": [1, 2.5, -0, 1e5, "x\\u00e9", true, null]}', " [] ", '"s"',
                                  '{"a": 123456789012345678901234567890}', '{"a":1,"a":2}'])
def test_fast_json_decoding_matches_python_on_valid_documents(text):
    import json
    assert gojson.loads(text) == json.loads(text)


@pytest.mark.parametrize("text,message", [
    ('{"a": NaN}', "invalid character 'N' looking for beginning of value"),
    ('{"a": Infinity}', "invalid character 'I' looking for beginning of value"),
    ('[-Infinity]', "invalid character 'I' in numeric literal"),
    ('{"a": 1,}', "invalid character '}' looking for beginning of object key string"),
    ('01', "invalid character '1' after top-level value"),
    ('', "unexpected end of JSON input"),
])
def test_fast_json_decoding_still_refuses_what_go_refuses_with_gos_message(text, message):
    with pytest.raises(gojson.GoJSONError, match=message.replace("(", r"\(")):
        gojson.loads(text)


@pytest.mark.parametrize("document", [
    {"a": {"b": [1, 2.5, None, True, "x"]}, "n": 2**70},  # beyond 64 bits: the json module's copy
    {"metadata": {"name": "p"}, "spec": {"x": [{"y": 1.0}]}},
])
def test_merge_patch_copies_the_document_exactly_and_leaves_it_alone(document):
    from tinykube.api.patch import merge_patch
    before = copy.deepcopy(document)
    patched = merge_patch.apply(document, b'{"z": 1}')
    assert document == before and patched == dict(before, z=1)
    assert type(patched.get("spec", {}).get("x", [{}])[0].get("y", 1.0)) is float
