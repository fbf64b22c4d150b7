"""Table tests of container environment resolution."""

import base64

import pytest

from tinykube.agent.env import EnvError, container_env, expand, field_value

POD = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                    "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "x"}},
       "spec": {"nodeName": "node-a", "serviceAccountName": "default",
                "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}]},
       "status": {"podIP": "10.42.0.7", "hostIP": "192.0.2.1", "podIPs": [{"ip": "10.42.0.7"}]}}
CM = {"settings": {"metadata": {"name": "settings", "namespace": "shop"},
                   "data": {"MODE": "fast", "LEVEL": "3", "bad-key!": "skipped"}}}
SECRET = {"creds": {"metadata": {"name": "creds", "namespace": "shop"},
                    "data": {"PASSWORD": base64.b64encode(b"s3cret").decode()}}}


@pytest.mark.parametrize("text,expected", [
    ("$(A)-$(B)", "1-2"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("$(A", "$(A"),
    ("no refs", "no refs"), ("$$$(A)", "$1"),
])
def test_expand(text, expected):
    assert expand(text, {"A": "1", "B": "2"}) == expected


def env_of(container, **kwargs):
    return dict(container_env(container, POD, configmaps=CM, secrets=SECRET, **kwargs))


def test_env_from_then_env_overrides_and_expands():
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                                            {"secretRef": {"name": "creds"}}],
                 "env": [{"name": "CFG_MODE", "value": "slow"},
                         {"name": "URL", "value": "http://$(CFG_MODE):$(PASSWORD)"}]}
    env = env_of(container)
    assert env["CFG_MODE"] == "slow" and env["CFG_LEVEL"] == "3" and env["PASSWORD"] == "s3cret"
    assert env["URL"] == "http://slow:s3cret"
    assert "CFG_bad-key!" not in env


def test_value_from_sources():
    container = {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}, "env": [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "MCPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
    ]}
    env = env_of(container)
    assert env == {"MODE": "fast", "PW": "s3cret", "POD": "web-1", "IP": "10.42.0.7", "APP": "web",
                   "MEM": "64", "CPU": "1", "MCPU": "500"}


def test_missing_references_fail_unless_optional():
    missing = {"name": "app", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}
    with pytest.raises(EnvError, match='configmap "nope" not found'):
        env_of(missing)
    missing_key = {"name": "app", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}
    with pytest.raises(EnvError, match="couldn't find key k"):
        env_of(missing_key)
    optional = {"name": "app", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
                "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}
    assert env_of(optional) == {}


def test_unset_cpu_limit_is_node_allocatable():
    container = {"name": "app", "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}
    assert env_of(container, node_allocatable={"cpu": "2"})["CPU"] == "2"


def test_labels_and_annotations_render_like_the_downward_api():
    assert field_value(POD, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_value(POD, "metadata.annotations['note']") == "x"
