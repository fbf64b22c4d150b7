"""Events, core/v1 and events.k8s.io/v1 (ValidateEventCreate / ValidateEventUpdate).

Upstream's split is kept: a core/v1 Event only gets the "legacy" checks (no name syntax
beyond the generic path-segment rule); an events.k8s.io/v1 Event is converted to the
core shape (regarding -> involvedObject, note -> message, ...) and also gets the strict
checks.  Error paths use the core field names, as Kubernetes' do.
"""

from __future__ import annotations

from tinykube.api import registry
from tinykube.api.errors import Cause

from .fields import GoRepr, as_dict, as_str, go_repr, invalid, invalid_each, is_int, required
from .meta import validate_object_meta, validate_object_meta_update
from .names import dns1123_subdomain_errors, name_is_dns_subdomain, qualified_name_errors


def core_event_view(obj: dict, group: str) -> dict:
    """The core/v1 shape of an Event, whichever API version it came in."""
    if group != "events.k8s.io":
        return dict(obj, reportingController=obj.get("reportingComponent"))
    renamed = {"regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
               "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
               "deprecatedCount": "count"}
    return {renamed.get(k, k): v for k, v in obj.items()}


def validate_event(obj: dict, group: str) -> list[Cause]:
    event = core_event_view(obj, group)
    causes = _legacy_event(event, group)
    if group != "events.k8s.io":
        return causes
    causes += validate_object_meta(event.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    return causes + _strict_event(event)


def _legacy_event(event: dict, group: str) -> list[Cause]:
    namespace = as_str(as_dict(event.get("metadata")).get("namespace"))
    involved_ns = as_str(as_dict(event.get("involvedObject")).get("namespace"))
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    causes: list[Cause] = []
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and namespace != involved_ns):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        causes += _reporting(event, "reportingController" if group == "events.k8s.io" else "reportingComponent")
    causes += _involved_scope(as_dict(event.get("involvedObject")))
    return causes + invalid_each("namespace", namespace, dns1123_subdomain_errors(namespace))


def _reporting(event: dict, controller_field: str) -> list[Cause]:
    controller = as_str(event.get("reportingController"))
    causes = [] if controller else [required(controller_field)]
    causes += invalid_each(controller_field, controller, qualified_name_errors(controller))
    for name, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        value = as_str(event.get(name))
        if not value:
            causes.append(required(name))
        if len(value) > limit:
            causes.append(invalid(name, "", f"can have at most {limit} characters"))
    if len(as_str(event.get("message"))) > 1024:
        causes.append(invalid("message", "", "can have at most 1024 characters"))
    return causes


def _involved_scope(involved: dict) -> list[Cause]:
    rt = registry.REGISTRY.by_api_version(as_str(involved.get("apiVersion")), as_str(involved.get("kind")))
    if rt is None:
        return []
    kind, namespace = as_str(involved.get("kind")), as_str(involved.get("namespace"))
    if rt.namespaced and not namespace:
        return [required("involvedObject.namespace", f"required for kind {kind}")]
    if not rt.namespaced and namespace:
        return [invalid("involvedObject.namespace", namespace, f"not allowed for kind {kind}")]
    return []


def _strict_event(event: dict) -> list[Cause]:
    causes = _series(event)
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {as_str(event.get('type'))}"))
    for name in ("firstTimestamp", "lastTimestamp", "count"):
        if event.get(name):
            causes.append(invalid(name, "", "needs to be unset"))
    source = as_dict(event.get("source"))
    if as_str(source.get("component")) or as_str(source.get("host")):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes


def _series(event: dict) -> list[Cause]:
    series = event.get("series")
    if series is None:
        return []
    series = as_dict(series)
    causes = []
    if not is_int(series.get("count")) or series["count"] < 2:
        causes.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


def validate_event_update(new: dict, old: dict, group: str) -> list[Cause]:
    causes = _legacy_event(core_event_view(new, group), group)
    if group != "events.k8s.io":
        return causes
    new_view, old_view = core_event_view(new, group), core_event_view(old, group)
    causes += validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    if new_view.get("series") != old_view.get("series"):
        causes += _series(new_view)
    for name in ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
                 "type", "eventTime", "action", "related", "reportingController", "reportingInstance"):
        if new_view.get(name) != old_view.get(name):
            causes.append(invalid(name, _scalar(new_view.get(name)), "field is immutable"))
    return causes


def _scalar(value):
    return value if value is None or isinstance(value, (str, int)) else GoRepr(go_repr(value))
