"""imagePullSecrets lookup (the kubelet's credential keyring) and WWW-Authenticate parsing."""

import base64
import json

import pytest

from tinykube.agent.images.auth import (Challenge, Credentials, docker_configs_from_secrets,
                                        lookup_credentials, parse_www_authenticate)


def entry(user: str, password: str = "pw") -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


CONFIG = {"auths": {
    "https://index.docker.io/v1/": entry("hub"),
    "registry.example.com": entry("example"),
    "registry.example.com/team": entry("team"),
    "*.corp.example": entry("wildcard"),
    "http://127.0.0.1:5000": entry("local"),
    "ghcr.io": {"username": "plain", "password": "fields"},
}}


@pytest.mark.parametrize("image,users", [
    ("docker.io/library/busybox", ["hub"]),
    ("docker.io/bitnami/nginx", ["hub"]),
    ("registry.example.com/team/app", ["team", "example"]),  # most specific first
    ("registry.example.com/other/app", ["example"]),
    ("eu.corp.example/app", ["wildcard"]),
    ("a.b.corp.example/app", []),                            # a glob matches one label
    ("127.0.0.1:5000/app", ["local"]),
    ("127.0.0.1:5001/app", []),                              # the port must match
    ("ghcr.io/org/app", ["plain"]),
    ("quay.io/org/app", []),
])
def test_lookup(image, users):
    assert [c.username for c in lookup_credentials([CONFIG], image)] == users


def test_auth_field_wins_and_password_is_decoded():
    config = {"auths": {"r.io": {"username": "ignored", "password": "x", **entry("real", "p:w")}}}
    assert lookup_credentials([config], "r.io/a") == [Credentials("real", "p:w")]


def test_every_secret_contributes_in_order():
    one, two = {"auths": {"r.io": entry("one")}}, {"auths": {"r.io": entry("two")}}
    assert [c.username for c in lookup_credentials([one, two], "r.io/x")] == ["one", "two"]


def test_secrets_of_both_docker_types_are_decoded():
    def secret(kind, key, doc):
        return {"type": kind, "data": {key: base64.b64encode(json.dumps(doc).encode()).decode()}}

    secrets = [secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", CONFIG),
               secret("kubernetes.io/dockercfg", ".dockercfg", {"legacy.io": entry("old")}),
               secret("Opaque", ".dockerconfigjson", CONFIG)]  # not a pull secret
    configs = docker_configs_from_secrets(secrets)
    assert len(configs) == 2
    assert [c.username for c in lookup_credentials(configs, "legacy.io/x")] == ["old"]


def test_credentials_never_show_the_password():
    assert "pw" not in repr(Credentials("u", "pw"))


@pytest.mark.parametrize("header,challenge", [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/busybox:pull"',
     Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                          "scope": "repository:library/busybox:pull"})),
    ('Basic realm="Registry Realm"', Challenge("basic", {"realm": "Registry Realm"})),
    ('Bearer realm="http://x/token", scope="repository:a:pull,push" ,error="insufficient_scope"',
     Challenge("bearer", {"realm": "http://x/token", "scope": "repository:a:pull,push",
                          "error": "insufficient_scope"})),
    ('Bearer realm=unquoted,service="a \\"q\\""', Challenge("bearer", {"realm": "unquoted", "service": 'a "q"'})),
    ("", None),
])
def test_parse_www_authenticate(header, challenge):
    assert parse_www_authenticate(header) == challenge
