"""Decode Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf).

kubectl's typed clients (create configmap/secret/deployment/job/..., run, create token,
drain's evictions, auth can-i) send protobuf. We turn such a body into the dict the
same request would have carried as JSON; the rest of the server only sees JSON dicts.

The schemas are not typed or vendored here: every kubectl binary embeds the gzipped
FileDescriptorProtos of the k8s.io/api and apimachinery types it was built with (Go's
protobuf registry keeps them). `descriptors()` finds them, in this order:
  1. $TINYKUBE_K8S_DESCRIPTORS, a serialized FileDescriptorSet;
  2. a cache file, $XDG_CACHE_HOME (or ~/.cache)/tinykube/k8s-descriptors-<key>.pb, the
     key hashing the kubectl binary's path, size and mtime;
  3. the `kubectl` on PATH (or /usr/bin/kubectl), scanned once (~0.2 s), then cached.
All of it happens on the first protobuf request, never at server start. With no
kubectl, protobuf bodies get a 415 that says to send JSON.

The envelope: 4 magic bytes "k8s\\0", then a runtime.Unknown message whose typeMeta
names apiVersion/kind and whose raw holds the object's own protobuf bytes.
protobuf_json.py turns the decoded message into JSON the way Go would.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import re
import shutil
import tempfile
import threading
import zlib

import orjson

from tinykube.api import errors, protobuf_json, schema

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
ENV_DESCRIPTORS = "TINYKUBE_K8S_DESCRIPTORS"
DEFAULT_KUBECTL = "/usr/bin/kubectl"

NO_SCHEMAS = ("tinykube decodes protobuf request bodies with the Kubernetes schemas found in the "
              "kubectl binary, and {why}; send the body as JSON (Content-Type: application/json) "
              "instead")

# Go's compress/gzip header with no name and no mtime: how the Go protobuf registry
# stores each file descriptor in the binary.
_GZIP_HEADER = re.compile(re.escape(b"\x1f\x8b\x08\x00\x00\x00\x00\x00"))
_MAX_DESCRIPTOR = 4 << 20  # the biggest (core/v1) is ~0.5 MB uncompressed

# group -> proto package directory where it is not the group's first label
_GROUP_DIRS = {"": "core", "internal.apiserver.k8s.io": "apiserverinternal"}
META_PACKAGE = "k8s.io.apimachinery.pkg.apis.meta.v1"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"

_lock = threading.RLock()
_state: dict = {}  # "descriptors": FileDescriptorSet, "codec": _Codec


# --- finding the schemas -----------------------------------------------------------------


def descriptors():
    """The Kubernetes FileDescriptorSet (google.protobuf.descriptor_pb2), loaded once."""
    with _lock:
        if "descriptors" not in _state:
            _state["descriptors"] = _load_descriptors()
        return _state["descriptors"]


def reset() -> None:
    """Forget the loaded schemas (tests; a server never needs it)."""
    with _lock:
        _state.clear()


def _load_descriptors():
    descriptor_pb2 = _protobuf_module()
    path = os.environ.get(ENV_DESCRIPTORS)
    if path:
        try:
            with open(path, "rb") as f:
                return descriptor_pb2.FileDescriptorSet.FromString(f.read())
        except (OSError, _decode_error()) as exc:
            raise _unsupported(f"${ENV_DESCRIPTORS} ({path}) could not be read: {exc}") from None
    kubectl = find_kubectl()
    if kubectl is None:
        raise _unsupported("no kubectl was found on this machine")
    cache = cache_path(kubectl)
    cached = _read_cache(cache, descriptor_pb2)
    if cached is not None:
        return cached
    found = extract_descriptors(kubectl)
    if not found.file:
        raise _unsupported(f"{kubectl} holds no Kubernetes protobuf schemas")
    _write_atomic(cache, found.SerializeToString())
    return found


def _protobuf_module():
    try:
        from google.protobuf import descriptor_pb2
    except ImportError:  # the dependency is missing: JSON still works
        raise _unsupported("the Python 'protobuf' package is not installed") from None
    return descriptor_pb2


def _decode_error() -> type[Exception]:
    from google.protobuf.message import DecodeError

    return DecodeError


def _unsupported(why: str) -> errors.UnsupportedMediaType:
    return errors.UnsupportedMediaType(NO_SCHEMAS.format(why=why))


def find_kubectl() -> str | None:
    """The kubectl binary whose schemas we use: PATH first, then /usr/bin/kubectl."""
    found = shutil.which("kubectl")
    if found:
        return found
    return DEFAULT_KUBECTL if os.path.isfile(DEFAULT_KUBECTL) else None


def cache_path(kubectl: str) -> str:
    """Where the descriptors extracted from this kubectl binary are cached."""
    real = os.path.realpath(kubectl)
    st = os.stat(real)
    key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinykube", f"k8s-descriptors-{key}.pb")


def _read_cache(path: str, descriptor_pb2):
    try:
        with open(path, "rb") as f:
            found = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    except (OSError, _decode_error()):  # absent or damaged: extract again
        return None
    return found if found.file else None


def _write_atomic(path: str, data: bytes) -> None:
    """Best effort: a read-only home only costs a re-scan next start."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".k8s-descriptors-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # readers see the old file or the whole new one
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.warning("could not cache the Kubernetes protobuf schemas at %s: %s", path, exc)


def extract_descriptors(binary: str):
    """Scan a Go binary for the gzipped FileDescriptorProtos of the k8s.io packages."""
    descriptor_pb2 = _protobuf_module()
    found = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()
    with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for m in _GZIP_HEADER.finditer(data):
            fdp = _descriptor_at(data, m.start(), descriptor_pb2)
            if fdp is not None and fdp.name not in seen:
                seen.add(fdp.name)
                found.file.append(fdp)
    return found


def _descriptor_at(data, start: int, descriptor_pb2):
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data[start:start + _MAX_DESCRIPTOR], _MAX_DESCRIPTOR)
    except zlib.error:
        return None
    if not inflater.eof:
        return None
    try:
        fdp = descriptor_pb2.FileDescriptorProto.FromString(out)
    except _decode_error():  # some other gzip stream
        return None
    if fdp.name.endswith(".proto") and fdp.package.startswith("k8s.io."):
        return fdp
    return None


# --- the message classes -------------------------------------------------------------


class _Codec:
    """A descriptor pool built from the descriptors, its message classes and a Converter."""

    def __init__(self, fds):
        from google.protobuf import message_factory

        self._factory = message_factory
        self.pool = _build_pool(fds.file)
        self.structs = protobuf_json.go_structs(fds.file)
        self.converter = protobuf_json.Converter(self.structs, nested=decode_request)
        self._classes: dict[str, type] = {}
        self._names: dict[tuple[str, str], str | None] = {}
        self.unknown = self.message_class(UNKNOWN)

    def message_class(self, full_name: str):
        cls = self._classes.get(full_name)
        if cls is None:
            desc = self.pool.FindMessageTypeByName(full_name)
            cls = self._classes[full_name] = self._factory.GetMessageClass(desc)
        return cls

    def message_name(self, api_version: str, kind: str) -> str | None:
        key = (api_version, kind)
        if key not in self._names:
            self._names[key] = self._find_message(api_version, kind)
        return self._names[key]

    def _find_message(self, api_version: str, kind: str) -> str | None:
        for candidate in _candidates(api_version, kind):
            try:
                self.pool.FindMessageTypeByName(candidate)
            except KeyError:
                continue
            return candidate
        return None


def _candidates(api_version: str, kind: str) -> list[str]:
    """Proto message names that may hold (apiVersion, kind), best first."""
    group, _, version = api_version.rpartition("/")
    out = []
    definition = schema.definition_name(group, version, kind)
    if definition and definition.startswith("io.k8s."):  # the OpenAPI index knows the GVK
        out.append("k8s.io." + definition[len("io.k8s."):])
    directory = _GROUP_DIRS.get(group, group.split(".")[0])
    if group == "metrics.k8s.io":
        out.append(f"k8s.io.metrics.pkg.apis.metrics.{version}.{kind}")
    out.append(f"k8s.io.api.{directory}.{version}.{kind}")
    # DeleteOptions & co. are registered in every group version but live in meta/v1
    out.append(f"{META_PACKAGE}.{kind}")
    return out


def _build_pool(files):
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    by_name = {_unvendored(f.name): f for f in files}
    added: set[str] = set()
    visiting: set[str] = set()

    def add(name: str) -> None:
        if name in added or name in visiting:
            return
        visiting.add(name)
        fdp = by_name.get(name)
        if fdp is None:
            _add_well_known(pool, name, added)
            return
        for dep in fdp.dependency:
            add(_unvendored(dep))
        _add_file(pool, fdp, added)

    for name in by_name:
        add(name)
    return pool


def _add_file(pool, fdp, added: set[str]) -> None:
    from google.protobuf import descriptor_pb2

    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(fdp)
    copy.name = _unvendored(fdp.name)
    # gogo.proto is not embedded: only options (kept as unknown fields) refer to it
    deps = [_unvendored(d) for d in fdp.dependency if _unvendored(d) in added]
    del copy.dependency[:]
    copy.dependency.extend(deps)
    del copy.public_dependency[:]
    del copy.weak_dependency[:]
    try:
        pool.AddSerializedFile(copy.SerializeToString())
    except Exception as exc:  # one odd file must not cost the others
        log.warning("skipping protobuf schema %s: %s", fdp.name, exc)
        return
    added.add(copy.name)


def _unvendored(name: str) -> str:
    """Older kubectls name their files k8s.io/kubernetes/vendor/k8s.io/... but import
    them by the plain k8s.io/... name."""
    return name.rpartition("/vendor/")[2]


def _add_well_known(pool, name: str, added: set[str]) -> None:
    """google/protobuf/*.proto, should a schema import one: from protobuf's own pool."""
    if not name.startswith("google/protobuf/"):
        return
    from google.protobuf import descriptor_pool

    try:
        serialized = descriptor_pool.Default().FindFileByName(name).serialized_pb
        pool.AddSerializedFile(serialized)
    except Exception:
        return
    added.add(name)


def _codec() -> _Codec:
    with _lock:
        codec = _state.get("codec")
        if codec is None:
            codec = _state["codec"] = _Codec(descriptors())
        return codec


# --- decoding ---------------------------------------------------------------------------


def is_protobuf(content_type: str) -> bool:
    """Whether a Content-Type (parameters stripped) names the Kubernetes protobuf form."""
    return content_type.strip().lower() == MEDIA_TYPE


def decode_request(body: bytes) -> dict:
    """The JSON dict a Kubernetes protobuf body stands for, apiVersion and kind included.

    Raises errors.BadRequest for malformed bodies and errors.UnsupportedMediaType when
    no schema is at hand (no kubectl) or the kind is not a built-in one.
    """
    if not body.startswith(MAGIC):
        raise errors.BadRequest("error decoding protobuf: the body does not start with the "
                                "Kubernetes protobuf prefix 'k8s\\x00'")
    codec = _codec()
    envelope = _parse(codec.unknown, body[len(MAGIC):], "runtime.Unknown")
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    if not kind or not api_version:
        raise errors.BadRequest("error decoding protobuf: the object has no apiVersion/kind")
    if envelope.contentEncoding:
        raise errors.BadRequest(f"error decoding protobuf: unsupported content encoding "
                                f"{envelope.contentEncoding!r}")
    obj = _object(codec, envelope, api_version, kind)
    return {"kind": kind, "apiVersion": api_version, **obj}


def _object(codec: _Codec, envelope, api_version: str, kind: str) -> dict:
    if "json" in envelope.contentType:  # a JSON object in a protobuf envelope
        try:
            obj = orjson.loads(envelope.raw)
        except orjson.JSONDecodeError as exc:
            raise errors.BadRequest(f"error decoding JSON in protobuf envelope: {exc}") from None
        return obj if isinstance(obj, dict) else {}
    name = codec.message_name(api_version, kind)
    if name is None:
        raise errors.UnsupportedMediaType(
            f"tinykube cannot decode {kind} ({api_version}) from protobuf: it is not a "
            f"built-in Kubernetes kind of this kubectl's schemas; send JSON "
            f"(Content-Type: application/json) instead")
    msg = _parse(codec.message_class(name), envelope.raw, f"{kind} ({api_version})")
    try:
        obj = codec.converter.convert(msg)
    except (protobuf_json.ConversionError, UnicodeDecodeError, ValueError) as exc:
        raise errors.BadRequest(f"error decoding protobuf {kind}: {exc}") from None
    return obj if isinstance(obj, dict) else {}


def _parse(cls, data: bytes, what: str):
    try:
        return cls.FromString(data)
    except Exception as exc:  # DecodeError, or anything the parser raises on garbage
        raise errors.BadRequest(f"error decoding protobuf {what}: {exc or 'malformed bytes'}") from None


def pointer_fields() -> list[str]:
    """The derived table of scalar fields that are Go pointers (zero values kept)."""
    codec = _codec()
    return protobuf_json.pointer_fields(codec.structs, codec.pool)
