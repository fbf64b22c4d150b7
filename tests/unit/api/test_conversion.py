"""core/v1 Event <-> events.k8s.io/v1 Event: field mapping, serialised shape, round trips."""

import copy

import pytest

from tinykube.api.conversion import (
    core_event_to_events_v1,
    events_v1_to_core_event,
    normalize_core_event,
    normalize_events_v1_event,
)

META = {"name": "web.17a", "namespace": "default", "uid": "e1", "resourceVersion": "42",
        "creationTimestamp": "2024-05-01T10:00:00Z"}
REF = {"kind": "Pod", "namespace": "default", "name": "web", "uid": "p1", "apiVersion": "v1",
       "resourceVersion": "7", "fieldPath": "spec.containers{web}"}

# A kubelet-style (old API) event, as core/v1 serialises it.
OLD_STYLE_CORE = {
    "kind": "Event", "apiVersion": "v1", "metadata": META,
    "involvedObject": REF, "reason": "Pulled", "message": 'Container image "nginx" already present',
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:05:00Z", "count": 3,
    "type": "Normal", "eventTime": None, "reportingComponent": "", "reportingInstance": "",
}
OLD_STYLE_EVENTS = {
    "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": META,
    "eventTime": None, "reason": "Pulled", "regarding": REF, "note": 'Container image "nginx" already present',
    "type": "Normal", "deprecatedSource": {"component": "kubelet", "host": "node-1"},
    "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z", "deprecatedLastTimestamp": "2024-05-01T10:05:00Z",
    "deprecatedCount": 3,
}

# A new-API event (events.k8s.io/v1 recorder), as events.k8s.io/v1 serialises it.
NEW_STYLE_EVENTS = {
    "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": META,
    "eventTime": "2024-05-01T10:00:00.123456Z",
    "series": {"count": 4, "lastObservedTime": "2024-05-01T10:09:00.000001Z"},
    "reportingController": "default-scheduler", "reportingInstance": "default-scheduler-cp-1",
    "action": "Binding", "reason": "Scheduled", "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
    "related": {"kind": "Node", "name": "node-1"},
    "note": "Successfully assigned default/web to node-1", "type": "Normal",
    "deprecatedSource": {}, "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None,
}
NEW_STYLE_CORE = {
    "kind": "Event", "apiVersion": "v1", "metadata": META,
    "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
    "reason": "Scheduled", "message": "Successfully assigned default/web to node-1", "source": {},
    "firstTimestamp": None, "lastTimestamp": None, "type": "Normal",
    "eventTime": "2024-05-01T10:00:00.123456Z",
    "series": {"count": 4, "lastObservedTime": "2024-05-01T10:09:00.000001Z"},
    "action": "Binding", "related": {"kind": "Node", "name": "node-1"},
    "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-cp-1",
}


@pytest.mark.parametrize("core, events", [
    (OLD_STYLE_CORE, OLD_STYLE_EVENTS),
    (NEW_STYLE_CORE, NEW_STYLE_EVENTS),
])
def test_core_to_events_v1(core, events):
    assert core_event_to_events_v1(core) == events


@pytest.mark.parametrize("core, events", [
    (OLD_STYLE_CORE, OLD_STYLE_EVENTS),
    (NEW_STYLE_CORE, NEW_STYLE_EVENTS),
])
def test_events_v1_to_core(core, events):
    assert events_v1_to_core_event(events) == core


@pytest.mark.parametrize("core_field, events_field, value", [
    ("involvedObject", "regarding", {"kind": "Node", "name": "n"}),
    ("message", "note", "hello"),
    ("source", "deprecatedSource", {"component": "c", "host": "h"}),
    ("firstTimestamp", "deprecatedFirstTimestamp", "2024-01-01T00:00:00Z"),
    ("lastTimestamp", "deprecatedLastTimestamp", "2024-01-01T00:00:01Z"),
    ("count", "deprecatedCount", 7),
    ("reportingComponent", "reportingController", "ctrl"),
    ("reportingInstance", "reportingInstance", "ctrl-1"),
    ("reason", "reason", "Why"),
    ("type", "type", "Warning"),
    ("action", "action", "Act"),
    ("eventTime", "eventTime", "2024-01-01T00:00:00.000001Z"),
    ("related", "related", {"kind": "Pod", "name": "p"}),
    ("series", "series", {"count": 2, "lastObservedTime": "2024-01-01T00:00:02.000000Z"}),
])
def test_each_field_maps_both_ways(core_field, events_field, value):
    events = core_event_to_events_v1({"metadata": {"name": "e"}, core_field: value})
    assert events[events_field] == value
    assert events_v1_to_core_event({"metadata": {"name": "e"}, events_field: value})[core_field] == value


def test_empty_core_event_serialises_go_zero_values():
    assert normalize_core_event({}) == {
        "kind": "Event", "apiVersion": "v1", "metadata": {}, "involvedObject": {}, "source": {},
        "firstTimestamp": None, "lastTimestamp": None, "eventTime": None,
        "reportingComponent": "", "reportingInstance": "",
    }


def test_empty_events_v1_event_serialises_go_zero_values():
    assert normalize_events_v1_event({}) == {
        "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {}, "eventTime": None,
        "regarding": {}, "deprecatedSource": {}, "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None,
    }


@pytest.mark.parametrize("core_in, key, expected", [
    ({"count": 0}, "deprecatedCount", None),
    ({"reason": ""}, "reason", None),
    ({"reportingComponent": ""}, "reportingController", None),
    ({"involvedObject": {"kind": "Pod", "name": "", "uid": ""}}, "regarding", {"kind": "Pod"}),
    ({"source": {"component": "", "host": "h"}}, "deprecatedSource", {"host": "h"}),
    ({"series": {}}, "series", {"count": 0, "lastObservedTime": None}),  # events.k8s.io series has no omitempty
    ({"firstTimestamp": ""}, "deprecatedFirstTimestamp", None),
])
def test_omitempty_rules_in_events_v1(core_in, key, expected):
    events = core_event_to_events_v1(core_in)
    if expected is None:
        assert events.get(key) is None
    else:
        assert events[key] == expected


def test_core_series_omits_zero_count():
    assert events_v1_to_core_event({"series": {"count": 0, "lastObservedTime": None}})["series"] == {
        "lastObservedTime": None}


def test_unknown_fields_dropped():
    assert "bogus" not in core_event_to_events_v1({"bogus": 1})
    # A core/v1 field name in an events.k8s.io/v1 object means nothing there.
    assert events_v1_to_core_event({"involvedObject": {"kind": "Pod"}})["involvedObject"] == {}


@pytest.mark.parametrize("core", [OLD_STYLE_CORE, NEW_STYLE_CORE, {"metadata": {"name": "x"}},
                                  {"involvedObject": {"kind": "Pod", "extra": "dropped"}, "count": 0}])
def test_round_trip_from_core(core):
    assert events_v1_to_core_event(core_event_to_events_v1(core)) == normalize_core_event(core)


@pytest.mark.parametrize("events", [OLD_STYLE_EVENTS, NEW_STYLE_EVENTS, {"metadata": {"name": "x"}},
                                    {"series": {"count": 0}, "note": ""}])
def test_round_trip_from_events_v1(events):
    assert core_event_to_events_v1(events_v1_to_core_event(events)) == normalize_events_v1_event(events)


def test_conversion_does_not_alias_or_mutate_input():
    source = copy.deepcopy(NEW_STYLE_CORE)
    out = core_event_to_events_v1(source)
    assert source == NEW_STYLE_CORE
    out["metadata"]["name"] = "changed"
    out["regarding"]["name"] = "changed"
    out["series"]["count"] = 99
    assert source == NEW_STYLE_CORE


def test_normalizing_is_idempotent():
    once = normalize_core_event(OLD_STYLE_CORE)
    assert normalize_core_event(once) == once
    once = normalize_events_v1_event(NEW_STYLE_EVENTS)
    assert normalize_events_v1_event(once) == once
