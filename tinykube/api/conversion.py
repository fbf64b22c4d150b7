"""events.k8s.io/v1 Event <-> core/v1 Event: two shapes of the same stored object.

Kubernetes stores one Event and serves it in both versions (pkg/apis/events/v1/conversion.go):

    core/v1             events.k8s.io/v1
    involvedObject      regarding
    message             note
    source              deprecatedSource        (component and host)
    firstTimestamp      deprecatedFirstTimestamp
    lastTimestamp       deprecatedLastTimestamp
    count               deprecatedCount
    reportingComponent  reportingController
    reason, type, action, related, series, eventTime, reportingInstance: same name

Each shape is also given exactly as Go serialises it, since that is what a client reads:
fields tagged omitempty vanish when empty, while non-pointer structs and the fields
without omitempty always appear (core/v1's `reportingComponent: ""`, `source: {}`, zero
timestamps as `null`; events.k8s.io/v1's `eventTime: null`, `regarding: {}`,
`deprecatedSource: {}`). Fields neither version knows are dropped, as decoding would.
"""

from __future__ import annotations

import copy
from typing import Callable

CORE_API_VERSION = "v1"
EVENTS_API_VERSION = "events.k8s.io/v1"

_REF_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


# --- how each kind of field serialises ------------------------------------------------------


def _ref(value) -> dict:
    """ObjectReference: every field is omitempty."""
    value = value if isinstance(value, dict) else {}
    return {k: value[k] for k in _REF_FIELDS if value.get(k)}


def _source(value) -> dict:
    value = value if isinstance(value, dict) else {}
    return {k: value[k] for k in ("component", "host") if value.get(k)}


def _time(value):
    # metav1.Time / MicroTime: the zero time serialises as null, omitempty or not.
    return value or None


def _core_series(value) -> dict:
    out = {}
    if value.get("count"):
        out["count"] = value["count"]
    out["lastObservedTime"] = _time(value.get("lastObservedTime"))
    return out


def _events_series(value) -> dict:
    # events.k8s.io/v1 EventSeries has no omitempty: both fields always appear.
    return {"count": value.get("count") or 0, "lastObservedTime": _time(value.get("lastObservedTime"))}


# Field rules: ALWAYS writes the (normalised) value; OMITEMPTY skips empty values;
# POINTER skips only a missing or null value.
_ALWAYS, _OMITEMPTY, _POINTER = "always", "omitempty", "pointer"
_Rule = tuple[str, str, Callable]

_identity: Callable = lambda v: v  # noqa: E731

_CORE_FIELDS: tuple[_Rule, ...] = (  # core/v1 Event, in Go struct order
    ("involvedObject", _ALWAYS, _ref),
    ("reason", _OMITEMPTY, _identity),
    ("message", _OMITEMPTY, _identity),
    ("source", _ALWAYS, _source),
    ("firstTimestamp", _ALWAYS, _time),
    ("lastTimestamp", _ALWAYS, _time),
    ("count", _OMITEMPTY, _identity),
    ("type", _OMITEMPTY, _identity),
    ("eventTime", _ALWAYS, _time),
    ("series", _POINTER, _core_series),
    ("action", _OMITEMPTY, _identity),
    ("related", _POINTER, _ref),
    ("reportingComponent", _ALWAYS, lambda v: v or ""),
    ("reportingInstance", _ALWAYS, lambda v: v or ""),
)

_EVENTS_FIELDS: tuple[_Rule, ...] = (  # events.k8s.io/v1 Event, in Go struct order
    ("eventTime", _ALWAYS, _time),
    ("series", _POINTER, _events_series),
    ("reportingController", _OMITEMPTY, _identity),
    ("reportingInstance", _OMITEMPTY, _identity),
    ("action", _OMITEMPTY, _identity),
    ("reason", _OMITEMPTY, _identity),
    ("regarding", _ALWAYS, _ref),
    ("related", _POINTER, _ref),
    ("note", _OMITEMPTY, _identity),
    ("type", _OMITEMPTY, _identity),
    ("deprecatedSource", _ALWAYS, _source),
    ("deprecatedFirstTimestamp", _ALWAYS, _time),
    ("deprecatedLastTimestamp", _ALWAYS, _time),
    ("deprecatedCount", _OMITEMPTY, _identity),
)

# core/v1 name -> events.k8s.io/v1 name, for the fields that were renamed.
_RENAMES = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_SHARED = ("eventTime", "series", "action", "reason", "related", "type", "reportingInstance")


def _serialise(fields: dict, api_version: str, rules: tuple[_Rule, ...]) -> dict:
    out = {"kind": "Event", "apiVersion": api_version,
           "metadata": copy.deepcopy(fields.get("metadata") or {})}
    for name, rule, convert in rules:
        value = fields.get(name)
        if rule == _ALWAYS:
            out[name] = convert(copy.deepcopy(value))
        elif rule == _POINTER and isinstance(value, dict):
            out[name] = convert(copy.deepcopy(value))
        elif rule == _OMITEMPTY and value:
            out[name] = copy.deepcopy(value)
    return out


def normalize_core_event(obj: dict) -> dict:
    """A core/v1 Event exactly as Kubernetes serialises it (a new dict)."""
    return _serialise(obj, CORE_API_VERSION, _CORE_FIELDS)


def normalize_events_v1_event(obj: dict) -> dict:
    """An events.k8s.io/v1 Event exactly as Kubernetes serialises it (a new dict)."""
    return _serialise(obj, EVENTS_API_VERSION, _EVENTS_FIELDS)


def core_event_to_events_v1(obj: dict) -> dict:
    """The events.k8s.io/v1 view of a core/v1 Event (a new dict)."""
    fields = {"metadata": obj.get("metadata")}
    fields.update({new: obj.get(old) for old, new in _RENAMES.items()})
    fields.update({name: obj.get(name) for name in _SHARED})
    return normalize_events_v1_event(fields)


def events_v1_to_core_event(obj: dict) -> dict:
    """The core/v1 view of an events.k8s.io/v1 Event (a new dict)."""
    fields = {"metadata": obj.get("metadata")}
    fields.update({old: obj.get(new) for old, new in _RENAMES.items()})
    fields.update({name: obj.get(name) for name in _SHARED})
    return normalize_core_event(fields)
