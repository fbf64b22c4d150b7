"""Kubernetes protobuf messages -> the JSON dicts Go's encoding/json gives the same objects.

The schemas are the FileDescriptorProtos kubectl embeds (see protobuf.py). They were made
by go-to-protobuf and still carry its gogoproto options, which say how each proto field
maps onto the Go struct. Every rule below is derived from them (or from the OpenAPI
definitions in schema.py), never typed by hand:

* Pointer fields. gogo's marshaller writes a non-pointer scalar field always (even ""/0/
  false) and a pointer field only when it is set. A non-pointer field carries
  `(gogoproto.nullable) = false`; a scalar field without it is a Go pointer (`*int32`,
  `*bool`, `*string`, ...). So a zero scalar on the wire is kept only for pointer fields
  (`replicas: 0`, `suspend: false`, `storageClassName: ""` mean something), and so is one
  the OpenAPI definition lists as required (no `omitempty` in Go: PriorityClass.value,
  ServicePort.port); other zeros are dropped, as `omitempty` would drop them.
  `pointer_fields()` lists the pointer table.
* Message fields are written when the Go struct is a value (always) or a set pointer;
  Go's JSON emits both (omitempty never drops a struct), so a message on the wire is
  always emitted, `{}` included. Absent repeated fields and maps are omitted.
* JSON names are the proto names, except where the Go tags disagree (`Expression` ->
  `expression`, `uID` -> `uid`) and where a Go struct is embedded with `json:",inline"`
  (Volume.volumeSource, Probe.handler, ...): both are read off the OpenAPI definition.
* Types with their own JSON form: meta.v1 Time / MicroTime / Duration, resource.Quantity,
  intstr.IntOrString, runtime.RawExtension, meta.v1.FieldsV1, and the named slice types
  (`ExtraValue`, `Verbs`: a message of one repeated `items` field, JSON is the list).
* bytes become base64 strings and int64 stays a JSON number, as in Go.

The one knowing difference from Go: a zero `creationTimestamp` is omitted, where Go
writes `null`; the server sets it anyway.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from tinykube.api import schema

# gogoproto extension numbers (github.com/gogo/protobuf/gogoproto/gogo.proto)
GOGO_NULLABLE = 65001  # FieldOptions: false on Go value (non-pointer) fields
GOGO_CUSTOMNAME = 65004  # FieldOptions: the Go field name
GOGO_STRINGER = 67008  # MessageOptions: false on types with a hand-written String()
GOGO_FILE = "github.com/gogo/protobuf/gogoproto/gogo.proto"

META = "k8s.io.apimachinery.pkg.apis.meta.v1."
TIME, MICRO_TIME, DURATION, FIELDS_V1 = META + "Time", META + "MicroTime", META + "Duration", META + "FieldsV1"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
MAGIC = b"k8s\x00"

# FieldDescriptor constants, spelled out so this module imports without protobuf
TYPE_MESSAGE, TYPE_BYTES, LABEL_REPEATED = 11, 12, 3
SCALAR, BYTES, MESSAGE = "scalar", "bytes", "message"


class ConversionError(ValueError):
    """The message holds something its JSON form cannot (a bad time, non-JSON raw bytes)."""


# --- what the gogoproto options say --------------------------------------------------


@dataclass(frozen=True)
class GoStruct:
    """The Go facts about one proto message, from its gogoproto options."""

    value_fields: frozenset[int]  # numbers of fields that are Go values, not pointers
    go_names: dict[int, str]  # field number -> Go field name (customname)
    named_slice: bool  # `type X []T`: JSON is the list itself
    has_gogo: bool  # the file carried gogo options at all


def go_structs(files) -> dict[str, GoStruct]:
    """{message full name: GoStruct} for every message of the FileDescriptorProtos."""
    out: dict[str, GoStruct] = {}
    for fdp in files:
        has_gogo = any(dep.endswith(GOGO_FILE) for dep in fdp.dependency)  # maybe .../vendor/...
        for msg in fdp.message_type:
            _collect(out, fdp.package, msg, has_gogo)
    return out


def _collect(out: dict, prefix: str, msg, has_gogo: bool) -> None:
    name = f"{prefix}.{msg.name}"
    values, go_names = set(), {}
    for f in msg.field:
        opts = wire_fields(f.options.SerializeToString())
        if opts.get(GOGO_NULLABLE) == 0:
            values.add(f.number)
        if isinstance(opts.get(GOGO_CUSTOMNAME), bytes):
            go_names[f.number] = opts[GOGO_CUSTOMNAME].decode()
    named_slice = (wire_fields(msg.options.SerializeToString()).get(GOGO_STRINGER) == 0
                   and [(f.name, f.label) for f in msg.field] == [("items", LABEL_REPEATED)])
    out[name] = GoStruct(frozenset(values), go_names, named_slice, has_gogo)
    for nested in msg.nested_type:
        _collect(out, name, nested, has_gogo)


def wire_fields(data: bytes) -> dict[int, int | bytes]:
    """The top-level fields of an encoded message ({number: varint or bytes}); options
    hold gogo's extensions only as unknown fields, since gogo.proto is not loaded."""
    out: dict[int, int | bytes] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            out[number], i = _varint(data, i)
        elif wire_type == 2:
            size, i = _varint(data, i)
            out[number], i = data[i:i + size], i + size
        elif wire_type in (1, 5):  # fixed64 / fixed32: skipped, gogo options never use them
            i += 8 if wire_type == 1 else 4
        else:
            break
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


# --- JSON names from the OpenAPI definitions -----------------------------------------


@dataclass(frozen=True)
class Definition:
    """What a type's OpenAPI definition says about its JSON form."""

    props: frozenset[str]  # JSON property names
    required: frozenset[str]  # no omitempty in Go: a zero value is still written


def definition(full_name: str) -> Definition | None:
    """The OpenAPI facts of a proto message, or None when no definition is found.

    "k8s.io.api.core.v1.Volume" -> definition "io.k8s.api.core.v1.Volume". Versions the
    served OpenAPI lacks (apps/v1beta2, ...) borrow the same type of another version.
    """
    defs = schema.definitions()
    name = "io.k8s." + full_name[len("k8s.io."):] if full_name.startswith("k8s.io.") else full_name
    d = defs.get(name) or _same_type_elsewhere(name)
    if d is None or not d.get("properties"):
        return None
    return Definition(frozenset(d["properties"]), frozenset(d.get("required", ())))


def _same_type_elsewhere(name: str) -> dict | None:
    prefix, _, short = name.rpartition(".")
    group = prefix.rpartition(".")[0] + "."
    candidates = _by_short_name().get(short, ())
    best = [c for c in candidates if c.startswith(group)] or list(candidates)
    return schema.definitions()[best[0]] if best else None


_SHORT_NAMES: dict[str, list[str]] = {}


def _by_short_name() -> dict[str, list[str]]:
    if not _SHORT_NAMES:
        for name in sorted(schema.definitions()):
            _SHORT_NAMES.setdefault(name.rpartition(".")[2], []).append(name)
    return _SHORT_NAMES


# --- conversion ------------------------------------------------------------------------


@dataclass
class FieldPlan:
    name: str  # JSON name; "" for an inlined (embedded) struct
    kind: str  # SCALAR, BYTES or MESSAGE (of the element / map value)
    repeated: bool = False
    is_map: bool = False
    keep_zero: bool = False  # a Go pointer (a zero was set on purpose) or a field without omitempty


@dataclass
class MessagePlan:
    fields: dict[int, FieldPlan] = field(default_factory=dict)
    named_slice: bool = False


class Converter:
    """Turns decoded messages into JSON dicts; per-type plans are built on first use."""

    def __init__(self, structs: dict[str, GoStruct],
                 definitions: Callable[[str], Definition | None] = definition,
                 nested: Callable[[bytes], dict] | None = None):
        self._structs = structs
        self._definitions = definitions
        self.nested = nested  # decodes a "k8s\0" envelope met inside a RawExtension
        self._plans: dict[str, MessagePlan] = {}

    def convert(self, msg) -> Any:
        """The JSON value of a message: a dict, or a special type's string/int/list/None."""
        full_name = msg.DESCRIPTOR.full_name
        special = _SPECIAL.get(full_name)
        if special is not None:
            return special(self, msg)
        plan = self._plans.get(full_name) or self._plan(msg.DESCRIPTOR)
        if plan.named_slice:
            return list(msg.items)
        out: dict = {}
        for fd, value in msg.ListFields():
            f = plan.fields.get(fd.number)
            if f is not None:
                self._emit(out, f, value)
        return out

    def _emit(self, out: dict, f: FieldPlan, value) -> None:
        if f.is_map:
            out[f.name] = {_text(k): self._value(f.kind, v) for k, v in value.items()}
        elif f.repeated:
            out[f.name] = [self._value(f.kind, v) for v in value]
        elif f.kind == MESSAGE:
            converted = self.convert(value)
            if converted is None:
                return
            if f.name:
                out[f.name] = converted
            else:  # embedded with json:",inline"; the outer struct's own fields win
                for k, v in converted.items():
                    out.setdefault(k, v)
        elif value or f.keep_zero:
            out[f.name] = self._value(f.kind, value)

    def _value(self, kind: str, value) -> Any:
        if kind == MESSAGE:
            return self.convert(value)
        if kind == BYTES:
            return _b64(value)
        return _text(value)

    # plans

    def _plan(self, desc) -> MessagePlan:
        struct = self._structs.get(desc.full_name) or GoStruct(frozenset(), {}, False, False)
        known = self._definitions(desc.full_name)
        plan = MessagePlan(named_slice=struct.named_slice)
        for fd in desc.fields:
            plan.fields[fd.number] = self._field_plan(fd, struct, known)
        self._plans[desc.full_name] = plan
        return plan

    def _field_plan(self, fd, struct: GoStruct, known: Definition | None) -> FieldPlan:
        name = self._json_name(fd, struct, known.props if known else None)
        msg_type = fd.message_type
        if msg_type is not None and msg_type.GetOptions().map_entry:
            return FieldPlan(name, _kind(msg_type.fields_by_name["value"]), is_map=True)
        pointer = fd.number not in struct.value_fields
        return FieldPlan(
            name=name, kind=_kind(fd), repeated=_repeated(fd),
            # without gogo options pointer-ness is unknown: keeping zeros keeps the meaning
            keep_zero=not struct.has_gogo or pointer or (known is not None and name in known.required))

    def _json_name(self, fd, struct: GoStruct, props: set[str] | None) -> str:
        """The JSON name, or "" for a struct embedded with json:",inline"."""
        name = fd.name
        if not props:
            # no OpenAPI definition (EphemeralContainerCommon, VolumeSource, ...): such
            # types are inlined by their parent, whose definition says so; their own
            # fields keep the proto names, which are the JSON names
            return name
        if name in props:
            return name
        folded = [p for p in props if p.lower() == name.lower()]
        if folded:  # proto name from the Go field name, JSON from the tag: Expression/expression
            return folded[0]
        msg_type = fd.message_type
        if (msg_type is not None and not _repeated(fd) and msg_type.full_name not in _SPECIAL
                and (not struct.has_gogo or struct.go_names.get(fd.number) == msg_type.name)):
            # an embedded struct (Go names the field after its type) that is no JSON
            # property: its fields are inline. A newer kubectl's new field is not.
            return ""
        return name


def _repeated(fd) -> bool:
    flag = getattr(fd, "is_repeated", None)  # protobuf >= 6; `label` is gone in 7
    return flag if flag is not None else fd.label == LABEL_REPEATED


def _kind(fd) -> str:
    if fd.type == TYPE_MESSAGE:
        return MESSAGE
    return BYTES if fd.type == TYPE_BYTES else SCALAR


def _text(value):
    """proto2 strings are not checked for UTF-8, and upb hands bad ones over as bytes; Go
    keeps them and its JSON encoder writes U+FFFD for each bad byte, so do we."""
    return value.decode("utf-8", "replace") if type(value) is bytes else value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# --- types with their own JSON form ---------------------------------------------------


def _time(_conv, msg) -> str | None:
    # metav1.Time writes nothing for the zero time and reads back seconds only
    if not (msg.HasField("seconds") or msg.HasField("nanos")):
        return None
    return _utc(msg.seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(_conv, msg) -> str | None:
    if not (msg.HasField("seconds") or msg.HasField("nanos")):
        return None
    return _utc(msg.seconds).strftime("%Y-%m-%dT%H:%M:%S.") + f"{msg.nanos // 1000:06d}Z"


def _utc(seconds: int) -> datetime.datetime:
    try:
        when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ConversionError(f"time out of range: {seconds} seconds") from None
    if when.year < 1000:  # strftime would not zero-pad the year
        raise ConversionError(f"time out of range: {seconds} seconds")
    return when


def _duration(_conv, msg) -> str:
    return go_duration(msg.duration)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): "1h0m0s", "1.5s", "100ms", "0s"."""
    if ns == 0:
        return "0s"
    u = abs(ns)
    if u < 1_000:
        text = f"{u}ns"
    elif u < 1_000_000:
        text = _fixed(u, 3) + "\u00b5s"
    elif u < 1_000_000_000:
        text = _fixed(u, 6) + "ms"
    else:
        seconds, frac = divmod(u, 1_000_000_000)
        text = f"{seconds % 60}{_fraction(frac, 9)}s"
        minutes = seconds // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            if minutes // 60:
                text = f"{minutes // 60}h{text}"
    return "-" + text if ns < 0 else text


def _fixed(u: int, prec: int) -> str:
    whole, frac = divmod(u, 10 ** prec)
    return f"{whole}{_fraction(frac, prec)}"


def _fraction(frac: int, prec: int) -> str:
    digits = f"{frac:0{prec}d}".rstrip("0")
    return "." + digits if digits else ""


def _quantity(_conv, msg) -> str:
    return msg.string or "0"  # the zero Quantity prints as "0"


def _int_or_string(_conv, msg) -> int | str:
    return msg.strVal if msg.type == 1 else msg.intVal


def _raw_extension(conv, msg) -> Any:
    return _embedded_json(conv, msg.raw) if msg.raw else None


def _fields_v1(conv, msg) -> Any:
    return _embedded_json(conv, msg.Raw) if msg.Raw else None


def _embedded_json(conv, raw: bytes) -> Any:
    if raw.startswith(MAGIC):  # an object nested in protobuf form
        if conv.nested is not None:
            return conv.nested(raw)
        raise ConversionError("nested protobuf object cannot be decoded here")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConversionError(f"embedded object is not JSON: {exc}") from None


_SPECIAL: dict[str, Callable[[Converter, Any], Any]] = {
    TIME: _time,
    MICRO_TIME: _micro_time,
    DURATION: _duration,
    QUANTITY: _quantity,
    INT_OR_STRING: _int_or_string,
    RAW_EXTENSION: _raw_extension,
    FIELDS_V1: _fields_v1,
}


def pointer_fields(structs: dict[str, GoStruct], pool) -> list[str]:
    """The table of scalar fields that are Go pointers ("Msg.field"), whose zero values
    are kept: derived from the descriptors, for inspection and tests."""
    out = []
    for full_name, struct in sorted(structs.items()):
        if not struct.has_gogo:
            continue
        try:
            desc = pool.FindMessageTypeByName(full_name)
        except KeyError:
            continue
        if desc.GetOptions().map_entry:
            continue
        for fd in desc.fields:
            if (fd.type != TYPE_MESSAGE and not _repeated(fd)
                    and fd.number not in struct.value_fields):
                out.append(f"{full_name}.{fd.name}")
    return out
