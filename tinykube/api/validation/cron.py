"""Cron schedules as CronJob validation parses them (robfig/cron v3 ParseStandard).

`schedule_error(spec)` returns None for a valid schedule, else the parser's error text,
e.g. "expected exactly 5 fields, found 4: [* * * *]" or
"end of range (60) above maximum (59): 60".  Five fields (minute hour day-of-month
month day-of-week), names (JAN..DEC, SUN..SAT, any case), ranges, steps, "*" and "?",
the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly and
"@every <duration>", and a leading TZ=/CRON_TZ= (which CronJob validation then refuses
in favour of spec.timeZone).  `time_zone_error(name)` mirrors Go's time.LoadLocation.
"""

from __future__ import annotations

import re
import zoneinfo

MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
FIELDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, MONTHS), (0, 6, DAYS))
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION_UNITS = ("ns", "us", "µs", "μs", "ms", "s", "m", "h")
_DURATION_TOKEN = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_TZ_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


class CronError(ValueError):
    pass


def schedule_error(spec: str) -> str | None:
    try:
        _parse(spec)
    except CronError as err:
        return str(err)
    return None


def _parse(spec: str) -> None:
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = _strip_time_zone(spec)
    if spec.startswith("@"):
        return _descriptor(spec)
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, bounds in zip(fields, FIELDS):
        for expr in (part for part in text.split(",") if part):
            _range(expr, *bounds)
    return None


def _strip_time_zone(spec: str) -> str:
    space = spec.find(" ")
    if space == -1:
        raise CronError(f"invalid timezone specification: {spec}")
    name = spec[spec.index("=") + 1:space]
    error = time_zone_error(name)
    if error:
        raise CronError(f"provided bad location {name}: {error}")
    return spec[space:].strip()


def _descriptor(spec: str) -> None:
    if spec in DESCRIPTORS:
        return None
    if spec.startswith("@every "):
        error = duration_error(spec[len("@every "):])
        if error:
            raise CronError(f"failed to parse duration {spec}: {error}")
        return None
    raise CronError(f"unrecognized descriptor: {spec}")


def _range(expr: str, low: int, high: int, names: dict | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) > 2:
            raise CronError(f"too many hyphens: {expr}")
        end = _int_or_name(low_and_high[1], names) if len(low_and_high) == 2 else start
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    step = _must_parse_int(range_and_step[1]) if len(range_and_step) == 2 else 1
    if len(range_and_step) == 2 and len(low_and_high) == 1:
        end = high
    _check_range(expr, start, end, step, low, high)


def _check_range(expr: str, start: int, end: int, step: int, low: int, high: int) -> None:
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")


def _int_or_name(expr: str, names: dict | None) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _must_parse_int(expr)


def _must_parse_int(expr: str) -> int:
    if not _INT_RE.match(expr):
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    number = int(expr)
    if not -(2 ** 63) <= number < 2 ** 63:
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": value out of range')
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {expr}")
    return number


def duration_error(text: str) -> str | None:
    """Go's time.ParseDuration error text, or None."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return None
    if not body:
        return f'time: invalid duration "{text}"'
    pos = 0
    while pos < len(body):
        number, unit = _DURATION_TOKEN.match(body, pos).groups()
        if number in ("", "."):
            return f'time: invalid duration "{text}"'
        if not unit:
            return f'time: missing unit in duration "{text}"'
        if unit not in _DURATION_UNITS:
            return f'time: unknown unit "{unit}" in duration "{text}"'
        pos += len(number) + len(unit)
    return None


def time_zone_error(name: str) -> str | None:
    """None if Go's time.LoadLocation would accept the name, else its error text."""
    if name in ("", "UTC", "Local"):
        return None
    if any(p in (".", "..") or p.startswith("-") or not _TZ_PART.match(p) for p in name.split("/")):
        return f"unknown time zone {name}"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name}"
    return None
