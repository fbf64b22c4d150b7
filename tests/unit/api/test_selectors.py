"""Label and field selectors: parsing, canonical strings, matching and Kubernetes' errors.

Expected error texts are Kubernetes 1.32's, several taken from real kubectl output.
"""

import pytest

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.api.selectors import (
    FieldSelector,
    LabelSelector,
    Requirement,
    convert_field_label,
    escape_field_value,
    field_value,
    format_label_selector,
    label_selector_from_dict,
    label_selector_from_set,
    new_requirement,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
)

PODS = REGISTRY.by_plural("", "v1", "pods")
NODES = REGISTRY.by_plural("", "v1", "nodes")
NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
SERVICES = REGISTRY.by_plural("", "v1", "services")
SECRETS = REGISTRY.by_plural("", "v1", "secrets")
CONFIGMAPS = REGISTRY.by_plural("", "v1", "configmaps")
EVENTS = REGISTRY.by_plural("", "v1", "events")
EVENTS_V1 = REGISTRY.by_plural("events.k8s.io", "v1", "events")
REPLICASETS = REGISTRY.by_plural("apps", "v1", "replicasets")
DEPLOYMENTS = REGISTRY.by_plural("apps", "v1", "deployments")
JOBS = REGISTRY.by_plural("batch", "v1", "jobs")

QNAME_REGEX = ("(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
               "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
NAME_PART = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
             "with an alphanumeric character " + QNAME_REGEX)
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
               "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
               "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
OPERATORS = "in, notin, =, ==, !=, gt, lt"


# --- label selector strings ---------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    ("   ", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    ("a", "a"),
    ("!a", "!a"),
    ("a>1", "a>1"),
    ("a<10", "a<10"),
    ("a in (x)", "a in (x)"),
    ("a in (z,y,y)", "a in (y,z)"),
    ("a notin (x,y)", "a notin (x,y)"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("a in (,x)", "a in (,x)"),
    ("a in (x,)", "a in (,x)"),
    ("a=", "a="),
    ("a=,b", "a=,b"),
    ("  tier  in  ( front , back ) ,  env = prod ", "env=prod,tier in (back,front)"),
    ("z=1,a=2,m", "a=2,m,z=1"),
    ("in=in", "in=in"),
    ("a=notin", "a=notin"),
    ("example.com/app=web", "example.com/app=web"),
    ("a\tin\t(b)", "a in (b)"),
])
def test_parse_label_selector_canonical_string(text, canonical):
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize("text, message", [
    ("app:monolith", 'unable to parse requirement: <nil>: Invalid value: "app:monolith": ' + NAME_PART),
    ("a/b/c ?=? def",
     'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of alphanumeric '
     "characters, '-', '_' or '.', and must start and end with an alphanumeric character " + QNAME_REGEX
     + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("app.kubernetes_io/name=x",
     'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": prefix part a lowercase RFC '
     "1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with "
     "an alphanumeric character (e.g. 'example.com', regex used for validation is "
     r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("/a=b", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'),
    ("a/=b", 'unable to parse requirement: <nil>: Invalid value: "a/": name part must be non-empty; ' + NAME_PART),
    ("a" * 64, f'unable to parse requirement: <nil>: Invalid value: "{"a" * 64}": '
               "name part must be no more than 63 characters"),
    ("env IN (a)", f"unable to parse requirement: found 'IN', expected: {OPERATORS}"),
    ("type=app,versionv1.0.1)", f"unable to parse requirement: found ')', expected: {OPERATORS}"),
    ("e!!!!!ss", f"unable to parse requirement: found '!', expected: {OPERATORS}"),
    ("x (", f"unable to parse requirement: found '(', expected: {OPERATORS}"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
    ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("!a in (b)", "found 'in', expected: ',' or 'end of string'"),
    ("a=@", 'unable to parse requirement: values[0][a]: Invalid value: "@": ' + LABEL_VALUE),
    ("a<-1", 'unable to parse requirement: values[0][a]: Invalid value: "-1": ' + LABEL_VALUE),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a=" + "v" * 64, f'unable to parse requirement: values[0][a]: Invalid value: "{"v" * 64}": '
                      "must be no more than 63 characters"),
])
def test_parse_label_selector_errors(text, message):
    with pytest.raises(errors.BadRequest) as raised:
        parse_label_selector(text)
    assert raised.value.message == message
    assert raised.value.code == 400


@pytest.mark.parametrize("text, labels, expected", [
    ("", {}, True),
    ("", {"a": "b"}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a==b", {"a": "b"}, True),
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {"a": "c"}, True),
    ("a", {"a": ""}, True),
    ("a", {"b": "x"}, False),
    ("!a", {}, True),
    ("!a", {"a": "x"}, False),
    ("a in (x,y)", {"a": "y"}, True),
    ("a in (x,y)", {}, False),
    ("a notin (x,y)", {}, True),
    ("a notin (x,y)", {"a": "x"}, False),
    ("a in ()", {"a": ""}, True),
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("a>1", {"a": "2"}, True),
    ("a>1", {"a": "1"}, False),
    ("a>1", {"a": "x"}, False),
    ("a>1", {}, False),
    ("a<1", {"a": "-5"}, True),
    ("a<1", {"a": "1_0"}, False),
    ("a<1", {"a": " 0"}, False),
    ("a=b,c", {"a": "b", "c": "d"}, True),
    ("a=b,c", {"a": "b"}, False),
])
def test_label_selector_matches(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_label_selector_matches_none_labels():
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


@pytest.mark.parametrize("text, empty", [("", True), (" ", True), ("a", False), ("!a", False)])
def test_label_selector_empty(text, empty):
    assert parse_label_selector(text).empty is empty


@pytest.mark.parametrize("text, key, value", [
    ("a=b", "a", "b"),
    ("a==b", "a", "b"),
    ("a in (b)", "a", "b"),
    ("a in (b,c)", "a", None),
    ("a!=b", "a", None),
    ("a", "a", None),
    ("x=y", "a", None),
])
def test_label_selector_requires_exact_match(text, key, value):
    assert parse_label_selector(text).requires_exact_match(key) == value


# --- metav1.LabelSelector -----------------------------------------------------------------


@pytest.mark.parametrize("selector, canonical", [
    ({}, ""),
    ({"matchLabels": {}}, ""),
    ({"matchLabels": {"app": "web"}}, "app=web"),
    ({"matchLabels": {"z": "1", "a": "2"}}, "a=2,z=1"),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}, "tier in (a,b)"),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, "tier notin (a)"),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, "tier"),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, "!tier"),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "app", "operator": "Exists"}, {"key": "env", "operator": "In", "values": ["p"]}]},
     "app=web,app,env in (p)"),
])
def test_label_selector_from_dict_string(selector, canonical):
    assert str(label_selector_from_dict(selector)) == canonical


@pytest.mark.parametrize("selector, labels, expected", [
    ({}, {"a": "b"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}, {"env": "b"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}, {}, True),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": "a"}, False),
])
def test_label_selector_from_dict_matches(selector, labels, expected):
    assert label_selector_from_dict(selector).matches(labels) is expected


def test_none_label_selector_matches_nothing():
    nothing = label_selector_from_dict(None)
    assert not nothing.matches({})
    assert not nothing.empty
    assert nothing.matches_nothing
    assert str(nothing) == ""


@pytest.mark.parametrize("selector, message", [
    ({"matchExpressions": [{"key": "a", "operator": "Foo"}]}, '"Foo" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]},
     'values: Invalid value: []string{"x", "y"}: values set must be empty for exists and does not exist'),
    ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b": ' + NAME_PART),
    ({"matchLabels": {"a": "b c"}}, 'values[0][a]: Invalid value: "b c": ' + LABEL_VALUE),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["@", "#"]}]},
     '[values[0][a]: Invalid value: "@": ' + LABEL_VALUE + ', values[1][a]: Invalid value: "#": '
     + LABEL_VALUE + "]"),
])
def test_label_selector_from_dict_errors(selector, message):
    with pytest.raises(errors.BadRequest) as raised:
        label_selector_from_dict(selector)
    assert raised.value.message == message


@pytest.mark.parametrize("selector, text", [
    (None, "<none>"),
    ({}, "<none>"),
    ({"matchLabels": {"app": "web"}}, "app=web"),
    ({"matchExpressions": [{"key": "a", "operator": "Bad"}]}, "<error>"),
])
def test_format_label_selector(selector, text):
    assert format_label_selector(selector) == text


def test_label_selector_from_set():
    selector = label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2"})
    assert label_selector_from_set(None).empty


@pytest.mark.parametrize("key, op, values, message", [
    ("a", "=", ["x", "y"],
     'values: Invalid value: []string{"x", "y"}: exact-match compatibility requires one single value'),
    ("a", "gt", ["1", "2"],
     "values: Invalid value: []string{\"1\", \"2\"}: for 'Gt', 'Lt' operators, exactly one value is required"),
    ("a", "bogus", [], 'operator: Unsupported value: "bogus": supported values: "in", "notin", "=", "==", "!=", '
                      '"gt", "lt", "exists", "!"'),
])
def test_new_requirement_errors(key, op, values, message):
    with pytest.raises(errors.BadRequest) as raised:
        new_requirement(key, op, values)
    assert raised.value.message == message


def test_requirement_string_sorts_values_but_keeps_order():
    requirement = Requirement("a", "in", ("b", "a"))
    assert str(requirement) == "a in (a,b)"
    assert requirement.values == ("b", "a")


def test_label_selector_equality():
    assert parse_label_selector("b,a=1") == parse_label_selector("a=1, b")
    assert LabelSelector.everything() != LabelSelector.nothing()


# --- field selectors ----------------------------------------------------------------------


@pytest.mark.parametrize("rt, text, canonical", [
    (PODS, "", ""),
    (PODS, ",", ""),
    (PODS, "metadata.name=foo", "metadata.name=foo"),
    (PODS, "metadata.name==foo", "metadata.name=foo"),
    (PODS, "status.phase!=Running,spec.nodeName=n1", "spec.nodeName=n1,status.phase!=Running"),
    (PODS, "spec.host=n1", "spec.nodeName=n1"),
    (PODS, "status.podIPs=1.2.3.4", "status.podIPs=1.2.3.4"),
    (PODS, r"metadata.name=a\,b\=c\\d", r"metadata.name=a\,b\=c\\d"),
    (PODS, "metadata.name=", "metadata.name="),
    (NODES, "spec.unschedulable=true", "spec.unschedulable=true"),
    (NAMESPACES, "status.phase=Active", "status.phase=Active"),
    (SECRETS, "type=Opaque", "type=Opaque"),
    (SERVICES, "spec.type=ClusterIP,spec.clusterIP=None", "spec.clusterIP=None,spec.type=ClusterIP"),
    (EVENTS, "involvedObject.kind=Pod,source=kubelet,reportingComponent=x",
     "involvedObject.kind=Pod,reportingComponent=x,source=kubelet"),
    (EVENTS_V1, "regarding.name=p,reportingController=k,type=Normal",
     "involvedObject.name=p,reportingComponent=k,type=Normal"),
    (JOBS, "status.successful=1", "status.successful=1"),
    (CONFIGMAPS, "metadata.namespace=default", "metadata.namespace=default"),
    (DEPLOYMENTS, "metadata.name=web", "metadata.name=web"),
])
def test_parse_field_selector(rt, text, canonical):
    assert str(parse_field_selector(text, rt)) == canonical


@pytest.mark.parametrize("rt, text, message", [
    (PODS, "spec.foo=bar", "field label not supported: spec.foo"),
    (PODS, "metadata.name = foo", "field label not supported: metadata.name "),
    (NODES, "metadata.namespace=", "field label not supported: metadata.namespace"),
    (NAMESPACES, "metadata.namespace=", "field label not supported: metadata.namespace"),
    (EVENTS_V1, "involvedObject.name=x", "field label not supported: involvedObject.name"),
    (JOBS, "status.succeeded=1", 'field label "status.succeeded" not supported for batchv1.Job'),
    (REPLICASETS, "status.replicas=0",
     '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    (CONFIGMAPS, "data.x=1", '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    (PODS, "b.x=1,a.y=2", "field label not supported: a.y"),  # terms are checked in sorted order
    (PODS, "x", "invalid selector: 'x'; can't understand 'x'"),
    (PODS, "a=b,x", "invalid selector: 'a=b,x'; can't understand 'x'"),
    (PODS, "metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    (PODS, "metadata.name=a,,b", "invalid selector: 'metadata.name=a,,b'; can't understand 'b'"),
    (PODS, r"metadata.name=a\q", r"invalid field selector: invalid escape sequence: \q"),
    (PODS, "metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_parse_field_selector_errors(rt, text, message):
    with pytest.raises(errors.BadRequest) as raised:
        parse_field_selector(text, rt)
    assert raised.value.message == message


def test_parse_field_selector_without_kind_accepts_any_field():
    assert str(parse_field_selector("spec.anything=1")) == "spec.anything=1"


@pytest.mark.parametrize("text, name, namespace", [
    ("metadata.name=web", "web", None),
    ("metadata.namespace=ns,metadata.name=web", "web", "ns"),
    ("metadata.name==web", "web", None),
    ("metadata.name!=web", None, None),
    ("", None, None),
])
def test_exact_name_and_namespace(text, name, namespace):
    selector = parse_field_selector(text, PODS)
    assert selector.exact_name() == name
    assert selector.exact_namespace() == namespace


def pod(**status_and_spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
            "spec": status_and_spec.get("spec", {}), "status": status_and_spec.get("status", {})}


@pytest.mark.parametrize("rt, text, obj, expected", [
    (PODS, "metadata.name=p", pod(), True),
    (PODS, "metadata.name=q", pod(), False),
    (PODS, "metadata.namespace=ns", pod(), True),
    (PODS, "spec.nodeName=", pod(), True),
    (PODS, "spec.nodeName=n1", pod(spec={"nodeName": "n1"}), True),
    (PODS, "spec.host=n1", pod(spec={"nodeName": "n1"}), True),
    (PODS, "spec.hostNetwork=false", pod(), True),
    (PODS, "spec.hostNetwork=true", pod(spec={"hostNetwork": True}), True),
    (PODS, "status.phase!=Running", pod(status={"phase": "Pending"}), True),
    (PODS, "status.phase!=Running", pod(status={"phase": "Running"}), False),
    (PODS, "status.podIP=10.0.0.1", pod(status={"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}), True),
    (PODS, "status.podIP=10.0.0.1", pod(status={"podIP": "10.0.0.1"}), True),
    (PODS, "status.podIPs=", pod(status={"podIPs": [{"ip": "10.0.0.1"}]}), True),  # never in the field set
    (PODS, "spec.nodeName=n1,status.phase=Running", pod(spec={"nodeName": "n1"}, status={"phase": "Running"}), True),
    (NODES, "spec.unschedulable=false", {"metadata": {"name": "n"}, "spec": {}}, True),
    (NODES, "spec.unschedulable=true", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, True),
    (NAMESPACES, "status.phase=Active", {"metadata": {"name": "x"}, "status": {"phase": "Active"}}, True),
    (SECRETS, "type=kubernetes.io/tls", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}, True),
    (JOBS, "status.successful=0", {"metadata": {"name": "j"}, "status": {}}, True),
    (JOBS, "status.successful=2", {"metadata": {"name": "j"}, "status": {"succeeded": 2}}, True),
    (CONFIGMAPS, "metadata.name=a", {"metadata": {"name": "a"}}, True),
    (PODS, r"metadata.name=a\,b", {"metadata": {"name": "a,b"}}, True),
])
def test_field_selector_matches(rt, text, obj, expected):
    assert parse_field_selector(text, rt).matches(obj) is expected


EVENT = {
    "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
    "involvedObject": {"kind": "Pod", "name": "web", "namespace": "ns", "uid": "u1"},
    "reason": "Pulled", "type": "Normal", "source": {"component": "kubelet", "host": "n1"},
}
NEW_EVENT = {
    "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e2", "namespace": "ns"},
    "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Scheduled",
    "reportingComponent": "default-scheduler", "source": {},
}


@pytest.mark.parametrize("rt, text, obj, expected", [
    (EVENTS, "involvedObject.name=web,involvedObject.kind=Pod", EVENT, True),
    (EVENTS, "involvedObject.uid=u1", EVENT, True),
    (EVENTS, "source=kubelet", EVENT, True),
    (EVENTS, "source=default-scheduler", NEW_EVENT, True),  # falls back to reportingComponent
    (EVENTS, "reportingComponent=default-scheduler", NEW_EVENT, True),
    (EVENTS, "reportingComponent=", EVENT, True),
    (EVENTS, "type!=Warning", EVENT, True),
    (EVENTS_V1, "regarding.name=web,reportingController=default-scheduler", NEW_EVENT, True),
    (EVENTS_V1, "regarding.name=web", {**EVENT, "apiVersion": "events.k8s.io/v1",
                                       "regarding": EVENT["involvedObject"]}, True),
])
def test_event_field_selector_matches(rt, text, obj, expected):
    assert parse_field_selector(text, rt).matches(obj) is expected


def test_cluster_scoped_field_set_has_no_namespace():
    fields = selectable_fields(NODES, {"metadata": {"name": "n"}})
    assert fields == {"metadata.name": "n", "spec.unschedulable": "false"}


def test_empty_field_selector_matches_everything():
    assert FieldSelector().matches({})
    assert FieldSelector().empty
    assert not parse_field_selector("metadata.name=a", PODS).empty


@pytest.mark.parametrize("obj, path, value", [
    ({"a": {"b": "c"}}, "a.b", "c"),
    ({"a": {}}, "a.b", ""),
    ({}, "a.b", ""),
    ({"a": True}, "a", "true"),
    ({"a": False}, "a", "false"),
    ({"a": 3}, "a", "3"),
    ({"a": None}, "a", ""),
    ({"a": ["x"]}, "a", ""),
    ({"a": {"b": 1}}, "a", ""),
])
def test_field_value(obj, path, value):
    assert field_value(obj, path) == value


@pytest.mark.parametrize("raw, escaped", [("a", "a"), ("a,b", r"a\,b"), ("a=b", r"a\=b"), ("a\\b", r"a\\b")])
def test_escape_field_value(raw, escaped):
    assert escape_field_value(raw) == escaped
    assert parse_field_selector(f"metadata.name={escaped}").terms[0].value == raw


def test_convert_field_label_renames():
    assert convert_field_label(PODS, "spec.host") == "spec.nodeName"
    assert convert_field_label(EVENTS_V1, "regarding.fieldPath") == "involvedObject.fieldPath"
