"""Probes and lifecycle handlers (validateProbe, validateHandler, validateLifecycle).

Exactly one handler per probe or hook; probe numbers >= 0 (Kubernetes defaults the zero
values); liveness and startup probes need successThreshold 1; a preStop/postStart sleep
must fit in terminationGracePeriodSeconds (zero-second sleeps are off by default in 1.32).
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .containers import port_num_or_name
from .fields import (
    as_dict, as_list, as_str, child, forbidden, invalid, invalid_each, is_int, nonnegative, not_supported, required,
)
from .names import http_header_name_errors


def validate_probe(probe, grace, path: str, kind: str) -> list[Cause]:
    """kind is "liveness", "readiness" or "startup"."""
    if probe is None:
        return []
    probe = as_dict(probe)
    causes = validate_handler(probe, grace, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        causes += nonnegative(child(path, name), probe.get(name))
    grace_period = probe.get("terminationGracePeriodSeconds")
    if is_int(grace_period) and grace_period <= 0:
        causes.append(invalid(child(path, "terminationGracePeriodSeconds"), grace_period, "must be greater than 0"))
    return causes + _probe_kind_rules(probe, path, kind)


def _probe_kind_rules(probe: dict, path: str, kind: str) -> list[Cause]:
    if kind == "readiness":
        grace_period = probe.get("terminationGracePeriodSeconds")
        if grace_period is not None:
            return [invalid(child(path, "terminationGracePeriodSeconds"), grace_period,
                            "must not be set for readinessProbes")]
        return []
    threshold = probe.get("successThreshold", 1)
    return [] if threshold == 1 else [invalid(child(path, "successThreshold"), threshold, "must be 1")]


def validate_handler(handler: dict, grace, path: str, kinds: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    count = 0
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        if kind not in kinds or handler.get(kind) is None:
            continue
        if count:
            causes.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        causes += _ACTIONS[kind](as_dict(handler[kind]), child(path, kind), grace)
    if not count:
        causes.append(required(path, "must specify a handler type"))
    return causes


def _exec(action: dict, path: str, grace) -> list[Cause]:
    return [] if as_list(action.get("command")) else [required(child(path, "command"))]


def _http_get(action: dict, path: str, grace) -> list[Cause]:
    causes = [required(child(path, "path"))] if action.get("path") == "" else []
    causes += port_num_or_name(action.get("port"), child(path, "port"))
    scheme = action.get("scheme")
    if scheme is not None and scheme not in ("HTTP", "HTTPS"):
        causes.append(not_supported(child(path, "scheme"), as_str(scheme), ("HTTP", "HTTPS")))
    for header in map(as_dict, as_list(action.get("httpHeaders"))):
        name = as_str(header.get("name"))
        causes += invalid_each(child(path, "httpHeaders"), name, http_header_name_errors(name))
    return causes


def _tcp_socket(action: dict, path: str, grace) -> list[Cause]:
    return port_num_or_name(action.get("port"), child(path, "port"))


def _grpc(action: dict, path: str, grace) -> list[Cause]:
    port = action.get("port")
    return port_num_or_name(port if is_int(port) else 0, child(path, "port"))


def _sleep(action: dict, path: str, grace) -> list[Cause]:
    seconds = action.get("seconds") if is_int(action.get("seconds")) else 0
    if is_int(grace) and (seconds <= 0 or seconds > grace):
        return [invalid(path, seconds, f"must be greater than 0 and less than terminationGracePeriodSeconds "
                                       f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate "
                                       "for zero sleep.")]
    return []


_ACTIONS = {"exec": _exec, "httpGet": _http_get, "tcpSocket": _tcp_socket, "grpc": _grpc, "sleep": _sleep}


def validate_lifecycle(lifecycle: dict, grace, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            causes += validate_handler(as_dict(lifecycle[hook]), grace, child(path, hook),
                                       ("exec", "httpGet", "tcpSocket", "sleep"))
    return causes
