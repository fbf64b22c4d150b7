"""ConfigMaps and Secrets: keys, 1 MiB of data, Secret types, `immutable`.

`data` of a Secret and `binaryData` of a ConfigMap arrive base64-encoded in JSON; their
decoded size counts, and undecodable values are reported INVALID (Kubernetes refuses
them while decoding the request, with a 400).  A Secret's `stringData` is merged into
`data` first, as the v1 -> internal conversion does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from tinykube.api.errors import Cause

from .fields import as_dict, as_str, forbidden, invalid, invalid_each, key, required, too_long
from .meta import validate_object_meta, validate_object_meta_update
from .names import config_map_key_errors, name_is_dns_subdomain

MAX_SIZE = 1024 * 1024
REDACTED = "<secret contents redacted>"
IMMUTABLE_MSG = "field is immutable when `immutable` is set"
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def decode_base64(value) -> tuple[bytes | None, str]:
    """(bytes, "") or (None, Go's decoding error text)."""
    text = as_str(value).replace("\r", "").replace("\n", "")
    try:
        if not _B64_RE.match(text):
            raise binascii.Error
        return base64.b64decode(text, validate=True), ""
    except (binascii.Error, ValueError):
        return None, f"illegal base64 data at input byte {_bad_offset(text)}"


def _bad_offset(text: str) -> int:
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
            return i
    return len(text) - len(text) % 4 if len(text) % 4 else max(len(text) - 4, 0)


# --- ConfigMap -----------------------------------------------------------------------


def validate_config_map(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    size = 0
    for name, value in data.items():
        causes += invalid_each(key("data", name), name, config_map_key_errors(name))
        if name in binary:
            causes.append(invalid(key("data", name), name, "duplicate of key present in binaryData"))
        size += len(as_str(value).encode())
    for name, value in binary.items():
        causes += invalid_each(key("binaryData", name), name, config_map_key_errors(name))
        decoded, error = decode_base64(value)
        causes += [invalid(key("binaryData", name), as_str(value), error)] if error else []
        size += len(decoded or b"")
    if size > MAX_SIZE:
        causes.append(too_long("", MAX_SIZE))
    return causes


def validate_config_map_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            causes.append(forbidden("immutable", IMMUTABLE_MSG))
        for name in ("data", "binaryData"):
            if as_dict(new.get(name)) != as_dict(old.get(name)):
                causes.append(forbidden(name, IMMUTABLE_MSG))
    return causes + validate_config_map(new)


# --- Secret --------------------------------------------------------------------------


def secret_data(obj: dict) -> tuple[dict, list[Cause]]:
    """The decoded data with stringData merged in, and decoding errors."""
    data: dict = {}
    causes: list[Cause] = []
    for name, value in as_dict(obj.get("data")).items():
        decoded, error = decode_base64(value)
        if error:
            causes.append(invalid(key("data", name), REDACTED, error))
        data[name] = decoded or b""
    for name, value in as_dict(obj.get("stringData")).items():
        data[name] = as_str(value).encode()
    return data, causes


def validate_secret(obj: dict) -> list[Cause]:
    meta = as_dict(obj.get("metadata"))
    causes = validate_object_meta(meta, namespaced=True, name_fn=name_is_dns_subdomain)
    data, decode_causes = secret_data(obj)
    causes += decode_causes
    for name in data:
        causes += invalid_each(key("data", name), name, config_map_key_errors(name))
    if sum(len(v) for v in data.values()) > MAX_SIZE:
        causes.append(too_long("data", MAX_SIZE))
    return causes + _type_rules(as_str(obj.get("type")) or "Opaque", data, as_dict(meta.get("annotations")))


def _type_rules(kind: str, data: dict, annotations: dict) -> list[Cause]:
    if kind == "kubernetes.io/service-account-token":
        name = "kubernetes.io/service-account.name"
        return [] if as_str(annotations.get(name)) else [required(key("metadata.annotations", name))]
    if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        return _json_key(data, ".dockercfg" if kind.endswith("dockercfg") else ".dockerconfigjson")
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        return [required(key("data", "username")), required(key("data", "password"))]
    if kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        return [required(key("data", "ssh-privatekey"))]
    if kind == "kubernetes.io/tls":
        return [required(key("data", name)) for name in ("tls.crt", "tls.key") if name not in data]
    return []


def _json_key(data: dict, name: str) -> list[Cause]:
    if name not in data:
        return [required(key("data", name))]
    error = _json_object_error(data[name])
    return [invalid(key("data", name), REDACTED, error)] if error else []


def _json_object_error(raw: bytes) -> str:
    """Go's json.Unmarshal(raw, &map[string]interface{}{}) error text, approximately."""
    text = raw.decode(errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character '{text[err.pos]}' looking for beginning of value"
    kinds = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}
    if value is None or isinstance(value, dict):
        return ""
    return f"json: cannot unmarshal {kinds[type(value)]} into Go value of type map[string]interface {{}}"


def validate_secret_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    new_type, old_type = as_str(new.get("type")) or "Opaque", as_str(old.get("type")) or "Opaque"
    if new_type != old_type:
        causes.append(invalid("type", new_type, "field is immutable"))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            causes.append(forbidden("immutable", IMMUTABLE_MSG))
        if secret_data(new)[0] != secret_data(old)[0]:
            causes.append(forbidden("data", IMMUTABLE_MSG))
    return causes + validate_secret(new)
