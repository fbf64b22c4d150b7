"""Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): parse and print.

`parse_quantity("100m") == Decimal("0.1")`; it raises ValueError with Kubernetes'
message for anything `resource.ParseQuantity` refuses.  `Quantity` keeps the format
(DecimalSI, BinarySI, DecimalExponent) so `str(q)` is Kubernetes' canonical form:
"1000m" -> "1", "0.5" -> "500m", "1.5Gi" -> "1536Mi", "1200000" -> "1200k".

Like upstream, values are rounded up (away from zero) to nano precision.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, InvalidOperation, localcontext

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_ERROR = f"quantities must match the regular expression '{SPLIT_RE}'"
NUMERIC_ERROR = "unable to parse numeric part of quantity"
SUFFIX_ERROR = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXP = {exp // 10: suffix for suffix, exp in _BINARY_SUFFIXES.items()}
_NUMBER_RE = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?")
_EXPONENT_RE = re.compile(r"^[eE][+-]?[0-9]+$")
_NANO = Decimal("1e-9")


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: str

    def __str__(self) -> str:
        return canonical(self.value, self.format)


def parse(text) -> Quantity:
    """A Quantity, or ValueError with Kubernetes' message."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(FORMAT_ERROR)
    return _parse_text(_json_number_text(text) if not isinstance(text, str) else str(text))


@functools.lru_cache(maxsize=4096)  # pure; pods of one template repeat the same few quantities
def _parse_text(text: str) -> Quantity:
    if not text:
        raise ValueError(FORMAT_ERROR)
    number, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    value = Decimal(number) * (Decimal(10) ** exponent if base == 10 else Decimal(2) ** exponent)
    return Quantity(_round_nano(value), _effective_format(value, fmt))


def parse_quantity(text) -> Decimal:
    """The numeric value of a quantity string ("100m", "1Gi", "1e3", "0.5")."""
    return parse(text).value


def _json_number_text(number) -> str:
    return str(number) if isinstance(number, int) else repr(number)


def _split(text: str) -> tuple[str, str]:
    match = _NUMBER_RE.match(text)
    sign, whole, frac = match.group(1), match.group(2), match.group(3)
    if not whole and not frac and frac is None:
        raise ValueError(FORMAT_ERROR)
    rest = text[match.end():]
    if not re.fullmatch("[eEinumkKMGTP]*[-+]?[0-9]*", rest):
        raise ValueError(FORMAT_ERROR)
    number = f"{sign}{whole or '0'}.{frac or '0'}"
    return number, rest


def _interpret(suffix: str) -> tuple[int, int, str]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if _EXPONENT_RE.match(suffix):
        return 10, int(suffix[1:]), DECIMAL_EXPONENT
    raise ValueError(SUFFIX_ERROR)


def _round_nano(value: Decimal) -> Decimal:
    if not value:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 400
        try:
            return value.quantize(_NANO, rounding=ROUND_UP).normalize()
        except InvalidOperation:  # astronomically large: nothing to round
            return value.normalize()


def _effective_format(value: Decimal, fmt: str) -> str:
    if fmt == BINARY_SI and 0 < value < 1:
        return DECIMAL_SI
    return fmt


# --- canonical printing --------------------------------------------------------------


def canonical(value: Decimal, fmt: str = DECIMAL_SI) -> str:
    """Quantity.String(): mantissa + suffix, exponent a multiple of 3 (or of 1024)."""
    if value == 0:
        return "0"
    if fmt == BINARY_SI and (-1024 < value < 1024 or value != value.to_integral_value()):
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        return _canonical_binary(int(value))
    mantissa, exponent = _decimal_mantissa(value)
    return str(mantissa) + _decimal_suffix(exponent, fmt)


def _decimal_mantissa(value: Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    return (-mantissa if sign else mantissa), exponent


def _decimal_suffix(exponent: int, fmt: str) -> str:
    if fmt == DECIMAL_SI and exponent in _DECIMAL_BY_EXP:
        return _DECIMAL_BY_EXP[exponent]
    return f"e{exponent}" if exponent else ""


def _canonical_binary(value: int) -> str:
    exponent = 0
    while value % 1024 == 0 and exponent < 6:
        value //= 1024
        exponent += 1
    return f"{value}{_BINARY_BY_EXP.get(exponent, '')}"


def canonical_string(text) -> str:
    """The canonical form of a quantity string; ValueError if it does not parse."""
    return str(parse(text))
