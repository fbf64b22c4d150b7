"""One typed tree of API errors, each mapping one-to-one onto a Kubernetes `Status`.

Raise these anywhere below the HTTP layer; the API server turns them into the
response `{"kind": "Status", "status": "Failure", "code", "reason", "message", ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cause:
    """One field-level problem, as in Status.details.causes."""

    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueDuplicate, ...
    field: str  # e.g. "spec.containers[0].name"
    message: str

    def to_dict(self) -> dict:
        return {"reason": self.type, "message": _cause_text(self), "field": self.field}


# Cause types, as Kubernetes names them (k8s.io/apimachinery/pkg/util/validation/field).
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
DUPLICATE = "FieldValueDuplicate"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
UNKNOWN_FIELD = "FieldValueUnknown"  # strict field validation


@dataclass
class ApiError(Exception):
    """Base of every API error. Subclasses fix code and reason."""

    message: str
    details: dict = field(default_factory=dict)
    code: int = 500
    reason: str = "InternalError"
    headers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _details(kind: str = "", name: str = "", group: str = "") -> dict:
    details: dict = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    return details


def _make(code: int, reason: str):
    def __init__(self, message: str, details: dict | None = None, headers: dict | None = None):
        ApiError.__init__(self, message, details or {}, code, reason, headers or {})

    return __init__


class BadRequest(ApiError):
    __init__ = _make(400, "BadRequest")


class Unauthorized(ApiError):
    __init__ = _make(401, "Unauthorized")


class Forbidden(ApiError):
    __init__ = _make(403, "Forbidden")


class NotFound(ApiError):
    __init__ = _make(404, "NotFound")


class MethodNotAllowed(ApiError):
    __init__ = _make(405, "MethodNotAllowed")


class NotAcceptable(ApiError):
    __init__ = _make(406, "NotAcceptable")


class AlreadyExists(ApiError):
    __init__ = _make(409, "AlreadyExists")


class Conflict(ApiError):
    __init__ = _make(409, "Conflict")


class Gone(ApiError):
    __init__ = _make(410, "Gone")


class Expired(ApiError):
    """410 with reason Expired: a resourceVersion or continue token that was compacted."""

    __init__ = _make(410, "Expired")


class RequestEntityTooLarge(ApiError):
    __init__ = _make(413, "RequestEntityTooLarge")


class UnsupportedMediaType(ApiError):
    __init__ = _make(415, "UnsupportedMediaType")


class Invalid(ApiError):
    __init__ = _make(422, "Invalid")


class TooManyRequests(ApiError):
    __init__ = _make(429, "TooManyRequests")


class InternalError(ApiError):
    __init__ = _make(500, "InternalError")


class ServiceUnavailable(ApiError):
    __init__ = _make(503, "ServiceUnavailable")


# --- constructors with Kubernetes' exact messages -------------------------------------


def not_found(resource: str, name: str, group: str = "") -> NotFound:
    qualified = f"{resource}.{group}" if group else resource
    return NotFound(f'{qualified} "{name}" not found', _details(resource, name, group))


def already_exists(resource: str, name: str, group: str = "") -> AlreadyExists:
    qualified = f"{resource}.{group}" if group else resource
    return AlreadyExists(f'{qualified} "{name}" already exists', _details(resource, name, group))


def conflict(resource: str, name: str, reason_text: str, group: str = "") -> Conflict:
    qualified = f"{resource}.{group}" if group else resource
    message = f'Operation cannot be fulfilled on {qualified} "{name}": {reason_text}'
    return Conflict(message, _details(resource, name, group))


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> Invalid:
    """422 Invalid with Kubernetes' message: `Kind "name" is invalid: [a, b]`."""
    qualified = f"{kind}.{group}" if group else kind
    parts = [f"{c.field}: {_cause_text(c)}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(kind, name, group)
    details["causes"] = [c.to_dict() for c in causes]
    return Invalid(f'{qualified} "{name}" is invalid: {joined}', details)


def _cause_text(cause: Cause) -> str:
    if cause.type == REQUIRED:
        return "Required value" + (f": {cause.message}" if cause.message else "")
    return cause.message


def too_old_resource_version(requested: int, oldest: int) -> Expired:
    return Expired(f"too old resource version: {requested} ({oldest})")
