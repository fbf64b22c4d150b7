"""Object metadata chores of the generic registry: names, timestamps, comparisons.

Pure helpers shared by the read and write paths of resources.py.
"""

from __future__ import annotations

import base64
import datetime
import secrets
import time
import uuid

from tinykube.api import errors
from tinykube.api.registry import ResourceType
from tinykube.util import jsonutil

# Kubernetes' alphabet for generateName suffixes: no vowels, no confusable characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LEN = 5
MAX_GENERATE_NAME_PREFIX = 253 - GENERATED_SUFFIX_LEN


_last_second: list = [0, ""]


def now_rfc3339() -> str:
    """The current time at Kubernetes' precision (seconds), formatted once per second."""
    second = int(time.time())
    if _last_second[0] != second:
        stamp = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
        _last_second[:] = [second, stamp.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return _last_second[1]


def rfc3339_after(seconds: int) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str) -> str:
    suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(GENERATED_SUFFIX_LEN))
    return prefix[:MAX_GENERATE_NAME_PREFIX] + suffix


def new_uid() -> str:
    return str(uuid.uuid4())


def metadata(obj: dict) -> dict:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    elif not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    return meta


def strip_for_storage(obj: dict) -> bytes:
    """The stored form: resourceVersion is the store revision, never stored itself."""
    meta = obj.get("metadata", {})
    rv = meta.pop("resourceVersion", None)
    try:
        return jsonutil.dumps(obj)
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv


def same_object(a: dict, b: dict) -> bool:
    """Equal apart from resourceVersion and managedFields (a no-op write is skipped)."""
    return _comparable(a) == _comparable(b)


def _comparable(obj: dict) -> dict:
    meta = {k: v for k, v in obj.get("metadata", {}).items()
            if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": meta}


def check_kind(rt: ResourceType, obj: dict) -> None:
    """Fill apiVersion/kind, or refuse a body of another kind (400, like Kubernetes)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != rt.api_version:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})")
    if kind and kind != rt.kind:
        raise errors.BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind


def check_namespace(rt: ResourceType, obj: dict, namespace: str) -> None:
    meta = metadata(obj)
    if not rt.namespaced:
        meta.pop("namespace", None)
        return
    given = meta.get("namespace")
    if given and given != namespace:
        raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on the request")
    meta["namespace"] = namespace


def check_name(obj: dict, name: str) -> None:
    given = metadata(obj).get("name")
    if given and given != name:
        raise errors.BadRequest(f"the name of the object ({given}) does not match the name on the URL ({name})")
    metadata(obj)["name"] = name


def parse_resource_version(value: str | None, *, what: str = "resourceVersion") -> int | None:
    if value in (None, ""):
        return None
    try:
        rv = int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid {what} "{value}"') from None
    if rv < 0:
        raise errors.BadRequest(f'invalid {what} "{value}"')
    return rv


# --- continue tokens: (revision, last key), opaque to clients, like Kubernetes' ------------


def encode_continue(revision: int, start_after: str) -> str:
    raw = jsonutil.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = jsonutil.loads(base64.urlsafe_b64decode(padded))
        return int(data["rv"]), str(data["start"])
    except Exception:
        raise errors.BadRequest("continue key is not valid: incorrect encoded start resourceVersion") from None
