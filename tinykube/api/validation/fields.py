"""Field errors built the way Kubernetes prints them (k8s.io/apimachinery .../validation/field).

Every constructor returns a `Cause` whose message is the full `ErrorBody` Kubernetes
puts in `details.causes[].message` and in the top-level message, e.g.
`Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain ...`.  The one exception is
REQUIRED: by the contract of `tinykube.api.errors`, its message holds only the detail
(`errors.invalid()` prepends "Required value").

Bad values are rendered like Go's fmt does for the value Kubernetes passes: strings
with `%q`, numbers and booleans with `%v`, nil as `"null"`, maps and slices of strings
with `%#v` (`map[string]string{"a":"b"}`, `[]string{"x"}`), and `GoRepr` for anything
already rendered (structs, Stringers).

Paths are plain strings built with `child`, `at` and `key`:
`key(at(child("spec", "containers"), 0), "x")` == `"spec.containers[0][x]"`.
"""

from __future__ import annotations

import json

from tinykube.api.errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    Cause,
)

# errors.py has no constant for it; Kubernetes' reason string.
NOT_FOUND = "FieldValueNotFound"


class GoRepr(str):
    """A bad value already rendered the way Go prints it; used verbatim."""


# --- paths ---------------------------------------------------------------------------


def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def at(path: str, index: int) -> str:
    return f"{path}[{index}]"


def key(path: str, name: str) -> str:
    return f"{path}[{name}]"


# --- Go value formatting -------------------------------------------------------------


def go_quote(text: str) -> str:
    """Go's strconv.Quote / %q: double quotes, escapes, printable unicode kept."""
    out = ['"']
    for ch in text:
        out.append(_quote_char(ch))
    out.append('"')
    return "".join(out)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r",
            "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def _quote_char(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def go_value(value) -> str:
    """How field.Error renders a bad value (see the module docstring)."""
    if isinstance(value, GoRepr):
        return str(value)
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_repr(value)


def go_repr(value) -> str:
    """%#v of the common shapes: map[string]string, []string, []int32; JSON otherwise."""
    if isinstance(value, GoRepr):
        return str(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        items = ", ".join(f"{go_quote(str(k))}:{go_quote(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + items + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return "[]int32{" + ", ".join(str(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def go_string_map(value: dict | None) -> str:
    """%#v of a map[string]string field that may be nil."""
    return "map[string]string(nil)" if value is None else go_repr(value)


# --- constructors --------------------------------------------------------------------


def _body(kind: str, value, detail: str) -> str:
    text = f"{kind}: {go_value(value)}"
    return f"{text}: {detail}" if detail else text


def required(path: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, path, detail)


def invalid(path: str, value, detail: str) -> Cause:
    return Cause(INVALID, path, _body("Invalid value", value, detail))


def not_supported(path: str, value, valid: list[str] | tuple[str, ...]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return Cause(NOT_SUPPORTED, path, _body("Unsupported value", value, detail))


def duplicate(path: str, value) -> Cause:
    return Cause(DUPLICATE, path, _body("Duplicate value", value, ""))


def not_found(path: str, value) -> Cause:
    return Cause(NOT_FOUND, path, _body("Not found", value, ""))


def forbidden(path: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, path, f"Forbidden: {detail}" if detail else "Forbidden")


def too_long(path: str, max_length: int) -> Cause:
    return Cause(TOO_LONG, path, f"Too long: must have at most {max_length} bytes")


def too_many(path: str, actual: int, maximum: int) -> Cause:
    return Cause(TOO_MANY, path, f"Too many: {actual}: must have at most {maximum} items")


def invalid_each(path: str, value, messages: list[str]) -> list[Cause]:
    """One INVALID cause per message, as the `for _, msg := range IsX(v)` idiom does."""
    return [invalid(path, value, msg) for msg in messages]


def nonnegative(path: str, value) -> list[Cause]:
    """ValidateNonnegativeField; absent (None) values pass."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def immutable(path: str, new, old, shown=None) -> list[Cause]:
    """ValidateImmutableField: INVALID "field is immutable" with the new value shown."""
    if new == old:
        return []
    return [invalid(path, new if shown is None else shown, "field is immutable")]


def dedupe(causes: list[Cause]) -> list[Cause]:
    """Drop repeats (Kubernetes dedupes its aggregated message the same way)."""
    seen: set = set()
    out = []
    for cause in causes:
        if cause not in seen:
            seen.add(cause)
            out.append(cause)
    return out


# --- typed access to plain dicts -----------------------------------------------------


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def as_str(value) -> str:
    return value if isinstance(value, str) else ""


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
