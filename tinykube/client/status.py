"""The API's failure answers, turned back into tinykube.api.errors classes.

The server sends a `Status` for every failure (and as the object of a watch ERROR event);
the client raises the same class the server raised, found by reason first (409 is
Conflict or AlreadyExists, 410 is Gone or Expired) and by code for reasons it does not
know. A failure below HTTP (refused connection, reset, timeout) is a TransportError:
it has no Status, and callers usually retry it with back-off.
"""

from __future__ import annotations

from tinykube.api import errors
from tinykube.util import jsonutil

_BY_REASON: dict[str, type[errors.ApiError]] = {}
_BY_CODE: dict[int, type[errors.ApiError]] = {}


def _index() -> None:
    for cls in errors.ApiError.__subclasses__():
        if cls.__module__ != errors.__name__:  # others' subclasses have their own __init__
            continue
        probe = cls("")
        _BY_REASON[probe.reason] = cls
        _BY_CODE.setdefault(probe.code, cls)
    _BY_CODE[409] = errors.Conflict
    _BY_CODE[410] = errors.Gone


_index()


class TransportError(ConnectionError):
    """The request got no HTTP answer (connection refused or reset, TLS failure, timeout)."""


def error_from_status(status: dict, code: int = 0, headers: dict | None = None) -> errors.ApiError:
    """The typed error a Status body (from a response or a watch ERROR event) stands for."""
    code = int(status.get("code") or code or 500)
    reason = status.get("reason") or ""
    message = status.get("message") or f"the server responded with status {code}"
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:  # a code we have no class for: keep what the server said
        return errors.ApiError(message, status.get("details") or {}, code, reason or "Unknown",
                               dict(headers or {}))
    exc = cls(message, status.get("details") or {}, dict(headers or {}))
    exc.code = code  # e.g. 504 Timeout maps to no class of its own
    return exc


def error_from_response(code: int, body: bytes, headers: dict) -> errors.ApiError:
    """The error for a non-2xx answer, whether or not its body is a Status."""
    try:
        status = jsonutil.loads(body) if body else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body.decode(errors="replace").strip()[:500] if body else ""
        status = {"code": code, "message": text or f"the server responded with status {code}"}
    return error_from_status(status, code, headers)


def retry_after(exc: errors.ApiError) -> float | None:
    """Seconds the server asked us to wait (Retry-After), if it did."""
    value = exc.headers.get("Retry-After") if exc.headers else None
    if value is None:
        value = (exc.details or {}).get("retryAfterSeconds")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def is_retryable(exc: BaseException) -> bool:
    """Errors worth trying again after a pause: overload, server trouble, no connection."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, errors.ApiError) and (exc.code == 429 or exc.code >= 500)
