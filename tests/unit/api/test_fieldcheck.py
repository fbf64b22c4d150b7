"""Server-side field validation: unknown and duplicate fields, reported with the
paths and messages kube-apiserver uses for fieldValidation=Strict and Warn."""

from __future__ import annotations

from tinykube.api import errors, fieldcheck


def pod(**spec) -> dict:
    container = {"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {"any/key": "v"}},
        "spec": {"containers": [container], **spec},
    }


def unknown(obj: dict, group: str = "", version: str = "v1", kind: str = "") -> list[str]:
    return fieldcheck.unknown_fields(group, version, kind or obj["kind"], obj)


def test_fieldcheck_valid_pod_has_no_unknown_fields():
    obj = pod(nodeSelector={"disk": "ssd"}, restartPolicy="Always")
    obj["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "500m", "memory": 1024}, "requests": {"cpu": 1}}
    obj["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 3}
    obj["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert unknown(obj) == []


def test_fieldcheck_nested_unknowns_with_array_indices():
    obj = pod(foo=1)
    obj["spec"]["containers"].append({"name": "d", "image": "x", "imagePullPolice": "Always"})
    obj["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"port": 80, "bogus": True}}
    obj["spec"]["containers"][0]["ports"][0]["hostPortt"] = 1
    obj["extra"] = {}
    assert unknown(obj) == [
        "spec.containers[0].ports[0].hostPortt",
        "spec.containers[0].livenessProbe.httpGet.bogus",
        "spec.containers[1].imagePullPolice",
        "spec.foo",
        "extra",
    ]


def test_fieldcheck_maps_are_open():
    obj = pod()
    obj["metadata"]["labels"].update({"anything": "goes", "a.b/c": "d"})
    obj["spec"]["nodeSelector"] = {"whatever": "x"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}, "binaryData": {}}
    assert unknown(obj) == [] and unknown(cm) == []
    cm["dataa"] = {}
    assert unknown(cm) == ["dataa"]


def test_fieldcheck_unknown_field_value_is_not_descended():
    obj = pod(typo={"deep": {"deeper": 1}})
    assert unknown(obj) == ["spec.typo"]


def test_fieldcheck_raw_and_scalar_union_leaves_are_open():
    obj = pod()
    obj["metadata"]["managedFields"] = [{"manager": "m", "fieldsV1": {"f:spec": {"f:anything": {}}}}]
    assert unknown(obj) == []
    revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": 1, "data": {"free": {"form": 1}}}
    assert unknown(revision, "apps") == []


def test_fieldcheck_wrong_json_type_is_not_an_unknown_field():
    obj = pod()
    obj["spec"]["containers"][0]["ports"] = "not-a-list"
    obj["metadata"]["labels"] = ["not", "a", "map"]
    assert unknown(obj) == []


def test_fieldcheck_deployment_template_and_selector():
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}, "matchExpression": []},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "i", "cmd": ["x"]}]}},
        },
    }
    assert unknown(deploy, "apps") == ["spec.selector.matchExpression", "spec.template.spec.containers[0].cmd"]


def test_fieldcheck_sorted_keys_and_unknown_kind():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "zeta": 1, "alpha": 2, "metadata": {"name": "c"}}
    assert unknown(obj) == ["zeta", "alpha"]
    assert fieldcheck.unknown_fields("", "v1", "ConfigMap", obj, sort_keys=True) == ["alpha", "zeta"]
    assert fieldcheck.unknown_fields("example.com", "v1", "Widget", {"anything": 1}) == []


def test_fieldcheck_preserve_unknown_fields_is_open():
    node = {"type": "object", "properties": {
        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "closed": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    out: list[str] = []
    fieldcheck._walk(node, {"open": {"x": {"y": 1}}, "closed": {"a": "1", "b": 2}}, "", out, False)
    assert out == ["closed.b"]


def test_fieldcheck_events_v1_and_lease():
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}, "note": "n",
             "regarding": {"kind": "Pod", "nam": "x"}, "eventTime": "2024-01-01T00:00:00.000000Z"}
    assert unknown(event, "events.k8s.io") == ["regarding.nam"]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "a", "ttl": 1}}
    assert unknown(lease, "coordination.k8s.io") == ["spec.ttl"]


def test_fieldcheck_duplicate_fields():
    body = b'{"kind":"Pod","spec":{"replicas":1,"replicas":2,"replicas":3},"items":[{"x":1,"x":2}],"kind":"Pod"}'
    assert fieldcheck.duplicate_fields(body) == ["kind", "spec.replicas", "items[0].x"]
    assert fieldcheck.duplicate_fields('{"a": 1}') == []
    assert fieldcheck.duplicate_fields(b"not json") == []


def test_fieldcheck_strict_error():
    err = fieldcheck.strict_error(["spec.containers[0].imagePullPolice"])
    assert isinstance(err, errors.BadRequest) and err.code == 400 and err.reason == "BadRequest"
    assert err.message == 'strict decoding error: unknown field "spec.containers[0].imagePullPolice"'
    status = err.to_status()
    assert status["status"] == "Failure" and "details" not in status
    both = fieldcheck.strict_error(["spec.foo", "bar"], duplicates=["spec.replicas"], kind="Pod", version="v1")
    assert both.message == ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
                            'unknown field "spec.foo", unknown field "bar", duplicate field "spec.replicas"')


def test_fieldcheck_warning_header_values():
    assert fieldcheck.warning_header_values(["spec.foo"]) == ['299 - "unknown field \\"spec.foo\\""']
    assert fieldcheck.warning_header_values([], duplicates=["a"]) == ['299 - "duplicate field \\"a\\""']
    assert fieldcheck.warning_header('a "b" \\c') == '299 - "a \\"b\\" \\\\c"'
