"""Go-compatible JSON and formatting helpers for the patch code.

kube-apiserver is written in Go, and several of its patch errors are Go error strings
that kubectl prints verbatim: `encoding/json` syntax and type errors, `%v` renderings of
decoded maps, `%q` quoting. Field-manager identities and managedFields keys are Go
`encoding/json` output too (sorted map keys, HTML-safe escaping). This module reproduces
those renderings so our messages and managedFields are byte-identical.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from decimal import Decimal

from tinykube.api import errors

WHITESPACE = " \t\r\n"
_LITERALS = {"t": "true", "f": "false", "n": "null"}


class GoJSONError(ValueError):
    """A decode error carrying exactly the message Go's encoding/json would give."""


# --- decoding with encoding/json's error messages -------------------------------------


def loads(data: bytes | str):
    """Parse JSON; syntax errors carry Go's `encoding/json` messages."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else data
    try:
        # fast path: what Python's C parser accepts (bar NaN/Infinity) Go accepts too;
        # only a refused document needs the slow scanner, for Go's exact message
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        pass
    _check_valid(text)
    return json.loads(text)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _quote_char(c: str) -> str:
    # Go's scanner names the offending character like this (encoding/json quoteChar).
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"


def _syntax(c: str, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {_quote_char(c)} {context}")


EOF_ERROR = "unexpected end of JSON input"


class _Scanner:
    """A validating pass with Go's scanner states, so the first error matches Go's."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def peek_non_space(self) -> str | None:
        while self.i < len(self.s) and self.s[self.i] in WHITESPACE:
            self.i += 1
        return self.s[self.i] if self.i < len(self.s) else None

    def next_non_space(self) -> str:
        c = self.peek_non_space()
        if c is None:
            raise GoJSONError(EOF_ERROR)
        self.i += 1
        return c

    def value(self) -> None:
        c = self.next_non_space()
        if c == "{":
            self.obj()
        elif c == "[":
            self.arr()
        elif c == '"':
            self.string()
        elif c == "-" or c.isdigit() and c.isascii():
            self.number(c)
        elif c in _LITERALS:
            self.literal(_LITERALS[c])
        else:
            raise _syntax(c, "looking for beginning of value")

    def obj(self) -> None:
        c = self.next_non_space()
        if c == "}":
            return
        while True:
            if c != '"':
                raise _syntax(c, "looking for beginning of object key string")
            self.string()
            c = self.next_non_space()
            if c != ":":
                raise _syntax(c, "after object key")
            self.value()
            c = self.next_non_space()
            if c == "}":
                return
            if c != ",":
                raise _syntax(c, "after object key:value pair")
            c = self.next_non_space()

    def arr(self) -> None:
        c = self.peek_non_space()
        if c == "]":
            self.i += 1
            return
        while True:
            self.value()
            c = self.next_non_space()
            if c == "]":
                return
            if c != ",":
                raise _syntax(c, "after array element")

    def _char(self) -> str:
        if self.i >= len(self.s):
            raise GoJSONError(EOF_ERROR)
        c = self.s[self.i]
        self.i += 1
        return c

    def string(self) -> None:
        while True:
            c = self._char()
            if c == '"':
                return
            if c == "\\":
                e = self._char()
                if e == "u":
                    for _ in range(4):
                        h = self._char()
                        if h not in "0123456789abcdefABCDEF":
                            raise _syntax(h, "in \\u hexadecimal character escape")
                elif e not in '"\\/bfnrt':
                    raise _syntax(e, "in string escape code")
            elif ord(c) < 0x20:
                raise _syntax(c, "in string literal")

    def _digits(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isascii() and self.s[self.i].isdigit():
            self.i += 1

    def number(self, first: str) -> None:
        if first == "-":
            c = self._char()
            if not (c.isascii() and c.isdigit()):
                raise _syntax(c, "in numeric literal")
            first = c
        if first != "0":
            self._digits()
        if self.i < len(self.s) and self.s[self.i] == ".":
            self.i += 1
            c = self._char()
            if not (c.isascii() and c.isdigit()):
                raise _syntax(c, "after decimal point in numeric literal")
            self._digits()
        if self.i < len(self.s) and self.s[self.i] in "eE":
            self.i += 1
            c = self._char()
            if c in "+-":
                c = self._char()
            if not (c.isascii() and c.isdigit()):
                raise _syntax(c, "in exponent of numeric literal")
            self._digits()

    def literal(self, word: str) -> None:
        for expected in word[1:]:
            c = self._char()
            if c != expected:
                raise _syntax(c, f"in literal {word} (expecting {_quote_char(expected)})")


def _check_valid(text: str) -> None:
    scanner = _Scanner(text)
    scanner.value()
    c = scanner.peek_non_space()
    if c is not None:
        raise _syntax(c, "after top-level value")


def json_kind(value) -> str:
    """The JSON kind Go names in UnmarshalTypeError ("object", "array", "number", ...)."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def type_error(value, go_type: str) -> GoJSONError:
    return GoJSONError(f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}")


# --- fmt verbs ------------------------------------------------------------------------


def go_float(f: float, json_style: bool = False) -> str:
    """Go's shortest float text: fmt's %v (strconv 'g', -1), or encoding/json's if json_style."""
    if math.isinf(f) or math.isnan(f):
        return "+Inf" if f > 0 else "-Inf" if f < 0 else "NaN"
    if f == 0:
        return "0"
    digits, exp = _shortest_digits(abs(f))
    sign = "-" if f < 0 else ""
    if json_style:
        use_e = abs(f) < 1e-6 or abs(f) >= 1e21
    else:
        use_e = exp < -4 or exp >= 6  # shortest %g decides with precision 6
    if use_e:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e_digits = f"{abs(exp):02d}"
        if json_style and exp < 0 and e_digits.startswith("0"):
            e_digits = e_digits[1:]  # encoding/json cleans e-07 up to e-7
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{e_digits}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if exp + 1 >= len(digits):
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[:exp + 1]}.{digits[exp + 1:]}"


def _shortest_digits(f: float) -> tuple[str, int]:
    """(shortest round-trip significant digits, decimal exponent of the first digit)."""
    sign, digit_tuple, exponent = Decimal(repr(f)).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped, exponent + len(stripped) - 1


def go_v(value) -> str:
    """fmt's %v of a decoded JSON value (map[string]interface{} and friends)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_v(v) for v in value) + "]"
    return str(value)


def go_sharp_v(value) -> str:
    """fmt's %#v of a decoded JSON value."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{go_quote(k)}:{go_sharp_v(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp_v(v) for v in value) + "}"
    return str(value)


def go_type_name(value) -> str:
    """fmt's %T of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "[]interface {}"


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                  "\\": "\\\\", '"': '\\"'}


def go_quote(s: str) -> str:
    """strconv.Quote / fmt's %q."""
    out = ['"']
    for ch in s:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# --- encoding as encoding/json does ---------------------------------------------------

_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
                 "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


# The characters go_json_string changes; most strings (field names, keys) hold none.
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029]')


def go_json_string(s: str) -> str:
    if _NEEDS_ESCAPE.search(s) is None:
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        esc = _JSON_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(value, sort_keys: bool = True) -> str:
    """Compact encoding/json output: HTML-safe strings, Go float format, sorted map keys."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value, json_style=True)
    if isinstance(value, str):
        return go_json_string(value)
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else list(value)
        return "{" + ",".join(f"{go_json_string(k)}:{go_json(value[k], sort_keys)}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v, sort_keys) for v in value) + "]"
    raise TypeError(f"not JSON data: {type(value).__name__}")


def unix_seconds(timestamp: str | None) -> int:
    """Seconds since the epoch of an RFC 3339 time as metav1.Time stores it (0 if unset)."""
    if not timestamp:
        return 0
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


# --- errors that are plain Go errors on the server -------------------------------------


class UnknownError(errors.ApiError):
    """A Go error that is not a Status: kube-apiserver answers 500 with no reason."""

    def __init__(self, message: str):
        errors.ApiError.__init__(self, message, {}, 500, "")

    def to_status(self) -> dict:
        status = errors.ApiError.to_status(self)
        status.pop("reason", None)  # StatusReasonUnknown is "" and omitted
        return status
