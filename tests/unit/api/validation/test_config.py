"""ConfigMaps and Secrets: keys, sizes, Secret types, immutability."""

import base64

import pytest

from tinykube.api.errors import FORBIDDEN, INVALID, REQUIRED, TOO_LONG

from . import changed, check_create, check_update, meta

KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
           "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config_map(**fields):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(), **fields}


def secret(**fields):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(), "type": "Opaque", **fields}


@pytest.mark.parametrize("obj, expected", [
    (config_map(data={"app.conf": "x", "KEY_2": "y"}, binaryData={"blob": b64("z")}), []),
    (config_map(data={"a/b": "x"}), [(INVALID, "data[a/b]", 'Invalid value: "a/b": ' + KEY_MSG)]),
    (config_map(data={"..x": "x"}), [(INVALID, "data[..x]", "Invalid value: \"..x\": must not start with '..'")]),
    (config_map(data={"k": "x"}, binaryData={"k": b64("y")}), [(INVALID, "data[k]",
                                                                'Invalid value: "k": duplicate of key present in binaryData')]),
    (config_map(binaryData={"bad key": b64("y")}), [(INVALID, "binaryData[bad key]", 'Invalid value: "bad key": ...')]),
    (config_map(binaryData={"k": "!!!"}), [(INVALID, "binaryData[k]", 'Invalid value: "!!!": illegal base64 data at input byte 0')]),
    (config_map(data={"k": "x" * (1024 * 1024 + 1)}), [(TOO_LONG, "", "Too long: must have at most 1048576 bytes")]),
    (config_map(data={"k": "x" * (1024 * 1024)}), []),
])
def test_config_map(obj, expected):
    check_create("ConfigMap", obj, expected)


@pytest.mark.parametrize("obj, expected", [
    (secret(data={"password": b64("s3cr3t")}), []),
    (secret(stringData={"password": "s3cr3t"}), []),
    (secret(data={"pass word": b64("x")}), [(INVALID, "data[pass word]", 'Invalid value: "pass word": ...')]),
    (secret(stringData={"a/b": "x"}), [(INVALID, "data[a/b]", 'Invalid value: "a/b": ...')]),
    (secret(data={"k": "not base64!"}), [(INVALID, "data[k]", 'Invalid value: "<secret contents redacted>": illegal base64 data...')]),
    (secret(data={"k": b64("x" * (1024 * 1024 + 1))}), [(TOO_LONG, "data", "Too long: must have at most 1048576 bytes")]),
    (secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")}), [(REQUIRED, "data[tls.key]", "")]),
    (secret(type="kubernetes.io/basic-auth", data={}), [(REQUIRED, "data[username]", ""), (REQUIRED, "data[password]", "")]),
    (secret(type="kubernetes.io/basic-auth", data={"username": b64("u")}), []),
    (secret(type="kubernetes.io/ssh-auth", data={}), [(REQUIRED, "data[ssh-privatekey]", "")]),
    (secret(type="kubernetes.io/dockerconfigjson", data={}), [(REQUIRED, "data[.dockerconfigjson]", "")]),
    (secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64('{"auths":{}}')}), []),
    (secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{nope")}),
     [(INVALID, "data[.dockerconfigjson]", 'Invalid value: "<secret contents redacted>": invalid character ...')]),
    (secret(type="kubernetes.io/service-account-token"),
     [(REQUIRED, "metadata.annotations[kubernetes.io/service-account.name]", "")]),
    (secret(type="example.com/custom", data={"k": b64("v")}), []),
])
def test_secret(obj, expected):
    check_create("Secret", obj, expected)


def test_secret_type_is_immutable():
    old = secret(data={"k": b64("v")})
    new = changed(old, lambda o: o.update(type="example.com/other"))
    check_update("Secret", new, old, [(INVALID, "type", 'Invalid value: "example.com/other": field is immutable')])


@pytest.mark.parametrize("kind, build, field", [
    ("ConfigMap", config_map, "data"),
    ("Secret", secret, "data"),
])
def test_immutable_objects_refuse_data_changes(kind, build, field):
    old = build(immutable=True, data={"k": b64("v")})
    same = changed(old, lambda o: o["metadata"].update(labels={"a": "b"}))
    check_update(kind, same, old, [])
    edited = changed(old, lambda o: o[field].update(k=b64("w")))
    check_update(kind, edited, old, [(FORBIDDEN, field, "Forbidden: field is immutable when `immutable` is set")])
    unlocked = changed(old, lambda o: o.update(immutable=False))
    check_update(kind, unlocked, old, [(FORBIDDEN, "immutable", "Forbidden: field is immutable when `immutable` is set")])


def test_mutable_config_map_may_change():
    old = config_map(data={"k": "v"})
    check_update("ConfigMap", changed(old, lambda o: o["data"].update(k="w")), old, [])
