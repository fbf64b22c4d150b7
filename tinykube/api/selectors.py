"""Label and field selectors, parsed and matched the way the Kubernetes API server does.

Label selectors come in two shapes: the query-parameter string (`app=web,tier in (a,b)`,
k8s.io/apimachinery/pkg/labels) and metav1.LabelSelector (`matchLabels` +
`matchExpressions`). Both become a `LabelSelector`, whose `str()` is Kubernetes'
canonical form (requirements sorted by key, set values sorted), as shown in Scale
`status.selector` and `kubectl describe`.

Field selectors (`metadata.name=x,status.phase!=Running`, k8s.io/apimachinery/pkg/fields)
are parsed, then checked against the per-kind "field label conversion" that Kubernetes
registers: a kind accepts only the fields its API group lists, with that group's own
error text. Matching uses the per-kind set of selectable fields (the Go
`ToSelectableFields` functions), where a missing field reads as "".

Error texts reproduce Kubernetes 1.32 byte for byte, Go formatting quirks included
(`<nil>:` paths, `%q` quoting, the double space in `'MyName',  or`), because kubectl
prints them verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from tinykube.api import errors
from tinykube.api.conversion import events_v1_to_core_event
from tinykube.api.registry import ResourceType

# --- Go-compatible message helpers ---------------------------------------------------


def _go_quote(value: str) -> str:
    """Go's %q (strconv.Quote): printable characters kept, the rest escaped."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_string_slice(values: list[str] | None) -> str:
    """Go's %#v of a []string, as field.Invalid prints a slice BadValue."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _invalid(path: str, bad_value: str, detail: str) -> str:
    """field.Invalid(...).Error(): `path: Invalid value: <value>: detail`."""
    return f"{path}: Invalid value: {bad_value}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): de-duplicated, bracketed when plural."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


# --- label key and value syntax (k8s.io/apimachinery/pkg/util/validation, 1.32) ---------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(_QNAME_FMT)
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Go builds "(e.g. 'a', " + " or " + "'b', " ...: hence the double space.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    quoted = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {quoted}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _byte_len(value: str) -> int:
    # Go's len() counts bytes.
    return len(value.encode("utf-8"))


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def label_key_errors(key: str) -> list[str]:
    """validation.IsQualifiedName: the problems with a label key, [] when valid."""
    parts = key.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue: the problems with a label value, [] when valid."""
    errs = []
    if _byte_len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# --- requirements -----------------------------------------------------------------------

# selection.Operator values, as Kubernetes spells them.
IN = "in"
NOT_IN = "notin"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_OPERATOR_TEXT = {
    EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
    GREATER_THAN: ">", LESS_THAN: "<",
}
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): no spaces, no underscores, int64 range."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term of a label selector (labels.Requirement)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        has = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return has
        if self.operator == DOES_NOT_EXIST:
            return not has
        return has and self._compare(labels[self.key])

    def _compare(self, label_value: str) -> bool:
        # Gt/Lt: both sides must parse as int64, otherwise no match.
        have = _parse_int64(str(label_value))
        want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or want is None:
            return False
        return have > want if self.operator == GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        # Output normalises value order without changing the stored order.
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            values = f"({values})"
        return f"{self.key}{_OPERATOR_TEXT[self.operator]}{values}"


def new_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """labels.NewRequirement: validate and build, raising BadRequest like Kubernetes."""
    vals = list(values)
    problems = _requirement_errors(key, operator, vals)
    if problems:
        raise errors.BadRequest(_aggregate(problems))
    return Requirement(key, operator, tuple(vals))


def _requirement_errors(key: str, operator: str, vals: list[str]) -> list[str]:
    problems = []
    key_errs = label_key_errors(key)
    if key_errs:
        problems.append(_invalid("key", _go_quote(key), "; ".join(key_errs)))
    problems.extend(_operator_errors(operator, vals))
    for i, value in enumerate(vals):
        value_errs = label_value_errors(value)
        if value_errs:
            problems.append(_invalid(f"values[{i}][{key}]", _go_quote(value), "; ".join(value_errs)))
    return problems


_ALL_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN, EXISTS, DOES_NOT_EXIST)


def _operator_errors(operator: str, vals: list[str]) -> list[str]:
    values = _go_string_slice(vals)
    if operator in (IN, NOT_IN):
        return [] if vals else [_invalid("values", values, "for 'in', 'notin' operators, values set can't be empty")]
    if operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        ok = len(vals) == 1
        return [] if ok else [_invalid("values", values, "exact-match compatibility requires one single value")]
    if operator in (EXISTS, DOES_NOT_EXIST):
        detail = "values set must be empty for exists and does not exist"
        return [_invalid("values", values, detail)] if vals else []
    if operator in (GREATER_THAN, LESS_THAN):
        found = []
        if len(vals) != 1:
            found.append(_invalid("values", values, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, value in enumerate(vals):
            if _parse_int64(value) is None:
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                found.append(_invalid(f"values[{i}]", _go_quote(value), detail))
        return found
    supported = ", ".join(_go_quote(o) for o in _ALL_OPERATORS)
    return [f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}"]


# --- label selectors --------------------------------------------------------------------


class LabelSelector:
    """An AND of requirements; or the special "nothing" selector that matches no labels."""

    __slots__ = ("requirements", "_nothing")

    def __init__(self, requirements: Iterable[Requirement] = (), nothing: bool = False):
        # Kubernetes keeps requirements sorted by key (stable for equal keys).
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (labels.Selector.Empty)."""
        return not self._nothing and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: dict | None) -> bool:
        if self._nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value the selector pins `key` to (=, == or a one-value in), else None."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector(<nothing>)" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self._nothing, self.requirements) == (other._nothing, other.requirements)

    def __hash__(self) -> int:
        return hash((self._nothing, self.requirements))


def label_selector_from_set(labels: dict | None) -> LabelSelector:
    """labels.SelectorFromSet: `k=v` for every pair; an empty or missing set selects everything."""
    return LabelSelector(Requirement(k, EQUALS, (v,)) for k, v in (labels or {}).items())


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(selector: dict | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, {} selects everything."""
    if selector is None:
        return LabelSelector.nothing()
    # Malformed shapes are validation's to report; here they select by what is usable.
    match_labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    expressions = selector.get("matchExpressions") if isinstance(selector, dict) else None
    match_labels = match_labels if isinstance(match_labels, dict) else {}
    requirements = [new_requirement(str(k), EQUALS, [str(v)]) for k, v in match_labels.items()]
    for expr in expressions if isinstance(expressions, list) else []:
        expr = expr if isinstance(expr, dict) else {}
        operator = str(expr.get("operator") or "")
        op = _EXPRESSION_OPERATORS.get(operator)
        if op is None:
            raise errors.BadRequest(f"{_go_quote(operator)} is not a valid label selector operator")
        values = expr.get("values") if isinstance(expr.get("values"), list) else []
        requirements.append(new_requirement(str(expr.get("key") or ""), op, [str(v) for v in values]))
    return LabelSelector(requirements)


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector, as kubectl describe prints it: "<none>" or "<error>"."""
    try:
        text = str(label_selector_from_dict(selector))
    except errors.ApiError:
        return "<error>"
    return text or "<none>"


# --- the label selector string syntax: lexer --------------------------------------------

_EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(13)
_TOKENS = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN, "<": _LT,
    "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """All tokens up to and including end-of-string (labels.Lexer)."""
    items = []
    pos = 0
    while True:
        # A NUL byte ends the input, as the Go lexer's read() returns 0 at the end.
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text) or text[pos] == "\0":
            items.append((_EOS, ""))
            return items
        if text[pos] in _SPECIAL:
            tok, lit, pos = _scan_special(text, pos)
        else:
            tok, lit, pos = _scan_identifier(text, pos)
        items.append((tok, lit))


def _scan_special(text: str, pos: int) -> tuple[int, str, int]:
    # Longest run of special characters that is still a known operator.
    best = None
    end = pos
    while end < len(text) and text[end] in _SPECIAL:
        candidate = text[pos:end + 1]
        if candidate in _TOKENS:
            best = (_TOKENS[candidate], candidate, end + 1)
        elif best is not None:
            break
        end += 1
    assert best is not None  # every single special character is a token
    return best


def _scan_identifier(text: str, pos: int) -> tuple[int, str, int]:
    end = pos
    while end < len(text) and text[end] not in _SPECIAL and text[end] not in _WHITESPACE and text[end] != "\0":
        end += 1
    literal = text[pos:end]
    return _TOKENS.get(literal, _ID), literal, end


# --- the label selector string syntax: parser -------------------------------------------


class _SyntaxError(Exception):
    pass


class _Parser:
    """labels.Parser: recursive descent over the scanned tokens."""

    def __init__(self, text: str):
        self.items = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        return self._as_context(self.items[self.pos], values)

    def consume(self, values: bool = True) -> tuple[int, str]:
        item = self.items[self.pos]
        self.pos += 1
        return self._as_context(item, values)

    @staticmethod
    def _as_context(item: tuple[int, str], values: bool) -> tuple[int, str]:
        # Where a value may appear, "in" and "notin" are plain identifiers.
        tok, lit = item
        if values and tok in (_IN, _NOTIN):
            return _ID, lit
        return tok, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok == _EOS:
                return requirements
            if tok not in (_ID, _NOT):
                raise _SyntaxError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.parse_requirement())
            except _SyntaxError as e:
                raise _SyntaxError(f"unable to parse requirement: {e}") from None
            tok, lit = self.consume()
            if tok == _EOS:
                return requirements
            if tok != _COMMA:
                raise _SyntaxError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.lookahead()
            if tok not in (_ID, _NOT):
                raise _SyntaxError(f"found '{lit}', expected: identifier after ','")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return self._build(key, operator, [])
        operator = self.parse_operator()
        if operator in (IN, NOT_IN):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        # The parser collects values in a set: sorted and de-duplicated.
        return self._build(key, operator, sorted(set(values)))

    @staticmethod
    def _build(key: str, operator: str, values: list[str]) -> Requirement:
        problems = _requirement_errors(key, operator, values)
        if problems:
            raise _SyntaxError(_aggregate(problems))
        return Requirement(key, operator, tuple(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise _SyntaxError(f"found '{lit}', expected: identifier")
        key_errs = label_key_errors(lit)
        if key_errs:
            # The parser validates with a nil field path, which Go prints as "<nil>".
            raise _SyntaxError(_invalid("<nil>", _go_quote(lit), "; ".join(key_errs)))
        if self.lookahead()[0] in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(values=False)
        operator = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN,
                    _NOTIN: NOT_IN, _NEQ: NOT_EQUALS}.get(tok)
        if operator is None:
            raise _SyntaxError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
        return operator

    def parse_values(self) -> list[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise _SyntaxError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            self.consume()  # the ')' that ended the list
            return values
        if tok == _CLOSE:  # "()" is the set holding the empty string
            self.consume()
            return [""]
        raise _SyntaxError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.append(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _SyntaxError(f"found '{lit2}', expected: ',' or ')'")
            if tok != _COMMA:
                raise _SyntaxError(f"found '{lit}', expected: ',', or identifier")
            # A comma next to "(", ")" or another comma stands for an empty value.
            if not values:
                values.append("")
            tok2, _ = self.lookahead()
            if tok2 == _CLOSE:
                values.append("")
                return values
            if tok2 == _COMMA:
                values.append("")

    def parse_exact_value(self) -> list[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return [""]
        tok, lit = self.consume()
        if tok == _ID:
            return [lit]
        raise _SyntaxError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: the `labelSelector` query parameter. "" selects everything."""
    try:
        return LabelSelector(_Parser(text).parse())
    except _SyntaxError as e:
        raise errors.BadRequest(str(e)) from None


# --- field selectors --------------------------------------------------------------------


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape \\ , and = for use in a field selector."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    """fields.UnescapeValue, with Kubernetes' error texts."""
    out = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise errors.BadRequest(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go formats the rune with %v, i.e. as its number.
            raise errors.BadRequest(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped; the escapes stay in the terms."""
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator occurrence splits; "!=" and "==" win over "=" at one position.
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@dataclass(frozen=True)
class FieldTerm:
    """`field=value` (equal) or `field!=value`; "==" parses to the same term as "="."""

    field: str
    value: str
    equal: bool = True

    def matches(self, fields: dict[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) == self.equal

    def __str__(self) -> str:
        return f"{self.field}{'=' if self.equal else '!='}{escape_field_value(self.value)}"


class FieldSelector:
    """An AND of field terms, already converted to the stored kind's field names."""

    __slots__ = ("terms", "rt")

    def __init__(self, terms: Iterable[FieldTerm] = (), rt: ResourceType | None = None):
        self.terms: tuple[FieldTerm, ...] = tuple(terms)
        self.rt = rt

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: dict) -> bool:
        if not self.terms:
            return True
        fields = selectable_fields(self.rt, obj)
        return all(t.matches(fields) for t in self.terms)

    def requires_exact_match(self, field: str) -> str | None:
        """The value an `=` term pins `field` to, else None (fields.Selector.RequiresExactMatch)."""
        for t in self.terms:
            if t.field == field and t.equal:
                return t.value
        return None

    def exact_name(self) -> str | None:
        return self.requires_exact_match("metadata.name")

    def exact_namespace(self) -> str | None:
        return self.requires_exact_match("metadata.namespace")

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"


def parse_field_selector(text: str, rt: ResourceType | None = None) -> FieldSelector:
    """fields.ParseSelector, then the kind's field label conversion when `rt` is given."""
    terms = []
    # Kubernetes sorts the raw terms; it decides which bad term is reported first.
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = split
        terms.append(FieldTerm(lhs, _unescape_field_value(rhs), op != "!="))
    if rt is not None:
        terms = [FieldTerm(convert_field_label(rt, t.field), t.value, t.equal) for t in terms]
    return FieldSelector(terms, rt)


# --- per-kind field label conversion (Scheme.AddFieldLabelConversionFunc) ----------------

_NOT_SUPPORTED = "field label not supported: {label}"
_DEFAULT_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

_POD_LABELS = frozenset({
    "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
    "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
    "status.podIP", "status.podIPs", "status.nominatedNodeName",
})
_EVENT_LABELS = frozenset({
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name",
})
# events.k8s.io/v1 names map onto the field set of the stored core/v1 Event.
_EVENTS_V1_RENAMES = {
    "reason": "reason", "type": "type", "source": "source",
    "metadata.namespace": "metadata.namespace", "metadata.name": "metadata.name",
    "reportingController": "reportingComponent",
    **{f"regarding.{f}": f"involvedObject.{f}" for f in
       ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
}


@dataclass(frozen=True)
class _FieldLabels:
    allowed: frozenset
    renames: dict
    error: str


# Kinds whose API group registers a conversion func; every other kind gets the generic
# one (metadata.name and metadata.namespace only).
_FIELD_LABELS: dict[tuple[str, str], _FieldLabels] = {
    ("", "Pod"): _FieldLabels(_POD_LABELS, {"spec.host": "spec.nodeName"}, _NOT_SUPPORTED),
    ("", "Node"): _FieldLabels(frozenset({"metadata.name", "spec.unschedulable"}), {}, _NOT_SUPPORTED),
    ("", "Namespace"): _FieldLabels(frozenset({"metadata.name", "status.phase"}), {}, _NOT_SUPPORTED),
    ("", "Secret"): _FieldLabels(frozenset({"metadata.name", "metadata.namespace", "type"}), {}, _NOT_SUPPORTED),
    ("", "Service"): _FieldLabels(
        frozenset({"metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"}), {}, _NOT_SUPPORTED),
    ("", "Event"): _FieldLabels(_EVENT_LABELS, {}, _NOT_SUPPORTED),
    ("events.k8s.io", "Event"): _FieldLabels(frozenset(), _EVENTS_V1_RENAMES, _NOT_SUPPORTED),
    ("batch", "Job"): _FieldLabels(
        frozenset({"metadata.name", "metadata.namespace", "status.successful"}), {},
        'field label "{label}" not supported for batchv1.Job'),
    # apps/v1 registers no conversion for ReplicaSet, so Kubernetes rejects status.replicas
    # even though its storage could match it (kubernetes/kubernetes#135136).
    ("apps", "ReplicaSet"): _FieldLabels(
        _DEFAULT_FIELDS, {}, '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'),
}
_GENERIC = _FieldLabels(
    _DEFAULT_FIELDS, {}, '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"')


def convert_field_label(rt: ResourceType, label: str) -> str:
    """The stored field name for `label` on this kind, or BadRequest with Kubernetes' text."""
    rules = _FIELD_LABELS.get((rt.group, rt.kind))
    if rules is None:
        # A kind we have no table for: trust the registry's list, as a conversion func would.
        rules = _FieldLabels(frozenset(rt.field_selectors) | _DEFAULT_FIELDS, {}, _NOT_SUPPORTED) \
            if rt.field_selectors else _GENERIC
    if label in rules.renames:
        return rules.renames[label]
    if label in rules.allowed:
        return label
    raise errors.BadRequest(rules.error.format(label=label))


# --- selectable fields (the per-kind ToSelectableFields) ---------------------------------


def field_value(obj: dict, path: str) -> str:
    """The value at a dotted path as a field selector sees it: "" when missing or not a
    scalar, booleans as "true"/"false", numbers in decimal."""
    node: object = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    return _scalar_text(node)


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return ""


def selectable_fields(rt: ResourceType | None, obj: dict) -> dict[str, str]:
    """The field set Kubernetes matches a field selector against, for this kind."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name", "") or ""}
    if rt is None or rt.namespaced:
        fields["metadata.namespace"] = meta.get("namespace", "") or ""
    kind_fields = _KIND_FIELDS.get((rt.group, rt.kind)) if rt is not None else None
    if kind_fields is not None:
        fields.update(kind_fields(obj))
    elif rt is not None:
        fields.update({f: field_value(obj, f) for f in rt.field_selectors})
    return fields


def _pod_fields(pod: dict) -> dict[str, str]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    pod_ips = status.get("podIPs") or []
    # status.podIP is the first of podIPs (the v1 podIP field only mirrors it).
    pod_ip = (pod_ips[0] or {}).get("ip", "") if pod_ips else status.get("podIP", "")
    return {
        "spec.nodeName": spec.get("nodeName", "") or "",
        "spec.restartPolicy": spec.get("restartPolicy", "") or "",
        "spec.schedulerName": spec.get("schedulerName", "") or "",
        "spec.serviceAccountName": spec.get("serviceAccountName", "") or "",
        "spec.hostNetwork": _scalar_text(bool(spec.get("hostNetwork", False))),
        "status.phase": status.get("phase", "") or "",
        "status.podIP": pod_ip or "",
        "status.nominatedNodeName": status.get("nominatedNodeName", "") or "",
    }


def _event_fields(event: dict) -> dict[str, str]:
    if event.get("apiVersion") == "events.k8s.io/v1":
        event = events_v1_to_core_event(event)
    ref = event.get("involvedObject") or {}
    reporting = event.get("reportingComponent", "") or ""
    fields = {f"involvedObject.{k}": ref.get(k, "") or "" for k in
              ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    fields.update({
        "reason": event.get("reason", "") or "",
        "reportingComponent": reporting,
        # "source" is the old source.component, or the reporting controller for new events.
        "source": ((event.get("source") or {}).get("component") or "") or reporting,
        "type": event.get("type", "") or "",
    })
    return fields


def _paths(*paths: str) -> Callable[[dict], dict[str, str]]:
    return lambda obj: {p: field_value(obj, p) for p in paths}


def _count(name: str, path: str) -> Callable[[dict], dict[str, str]]:
    # An int32 status counter: a missing one reads as "0".
    return lambda obj: {name: field_value(obj, path) or "0"}


def _flag(name: str, path: str) -> Callable[[dict], dict[str, str]]:
    # A bool field: a missing one reads as "false".
    return lambda obj: {name: field_value(obj, path) or "false"}


_KIND_FIELDS: dict[tuple[str, str], Callable[[dict], dict[str, str]]] = {
    ("", "Pod"): _pod_fields,
    ("", "Node"): _flag("spec.unschedulable", "spec.unschedulable"),
    ("", "Namespace"): _paths("status.phase"),
    ("", "Secret"): _paths("type"),
    ("", "Service"): _paths("spec.clusterIP", "spec.type"),
    ("", "Event"): _event_fields,
    ("events.k8s.io", "Event"): _event_fields,
    ("apps", "ReplicaSet"): _count("status.replicas", "status.replicas"),
    ("batch", "Job"): _count("status.successful", "status.succeeded"),
}
