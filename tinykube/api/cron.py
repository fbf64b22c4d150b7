"""Cron schedules: the one parser and evaluator (robfig/cron v3 ParseStandard).

CronJob validation asks `schedule_error(spec)` (None, or the parser's error text such as
"expected exactly 5 fields, found 4: [* * * *]" or "end of range (60) above maximum (59): 60")
and `time_zone_error(name)` (Go's time.LoadLocation); the CronJob controller asks
`parse(spec, time_zone)` for a Schedule and `Schedule.next(t)` for the first activation
strictly after t.

Syntax: five fields (minute hour day-of-month month day-of-week) with `*`, `?`, ranges `a-b`,
steps `/n`, lists `a,b` (empty list items are skipped), names JAN..DEC and SUN..SAT (any case,
7 is not Sunday), the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly,
`@every <Go duration>`, and a leading `TZ=<zone>` / `CRON_TZ=<zone>` (which validation refuses
on new objects in favour of spec.timeZone; when present it wins over the time_zone argument).
Activations are computed in the schedule's zone (UTC when none) as robfig does: when both day
fields are restricted a day matches either of them, else both.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass

MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
BOUNDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, MONTHS), (0, 6, DAYS))
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
MAX_YEARS = 5  # robfig gives up looking this far ahead: the schedule never fires
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_TOKEN = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_TZ_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    values: frozenset[int]
    star: bool  # "*" or "?" without a step: matters for the day-of-month / day-of-week rule


@dataclass(frozen=True)
class Schedule:
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field
    zone: datetime.tzinfo
    every: float | None = None  # @every: a constant delay in seconds instead of fields

    def next(self, t: datetime.datetime) -> datetime.datetime | None:
        """The first activation after t (aware), or None if there is none within 5 years."""
        if self.every is not None:
            return t.replace(microsecond=0) + datetime.timedelta(seconds=max(1.0, self.every))
        local = t.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0) + datetime.timedelta(minutes=1)
        limit = local.year + MAX_YEARS
        while local.year <= limit:
            if local.month not in self.month.values:
                local = _first_of_next_month(local)
            elif not self._day_matches(local):
                local = (local + datetime.timedelta(days=1)).replace(hour=0, minute=0)
            elif local.hour not in self.hour.values:
                local = (local + datetime.timedelta(hours=1)).replace(minute=0)
            elif local.minute not in self.minute.values:
                local += datetime.timedelta(minutes=1)
            else:
                return local.replace(tzinfo=self.zone).astimezone(datetime.timezone.utc)
        return None

    def _day_matches(self, local: datetime.datetime) -> bool:
        dom = local.day in self.dom.values
        dow = (local.isoweekday() % 7) in self.dow.values
        return dom and dow if self.dom.star or self.dow.star else dom or dow


def _first_of_next_month(d: datetime.datetime) -> datetime.datetime:
    return datetime.datetime(d.year + (d.month == 12), d.month % 12 + 1, 1)


# --- parsing -----------------------------------------------------------------------------------


def schedule_error(spec: str) -> str | None:
    """None for a valid schedule, else the parser's error text (what validation quotes)."""
    try:
        parse(spec)
    except CronError as err:
        return str(err)
    return None


def parse(spec: str, time_zone: str | None = None) -> Schedule:
    """The Schedule for spec, in the spec's TZ=/CRON_TZ= zone, else time_zone, else UTC."""
    spec = spec or ""
    if not spec:
        raise CronError("empty spec string")
    zone_name = time_zone or ""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        zone_name, spec = _split_time_zone(spec)
    zone = load_zone(zone_name)
    if spec.startswith("@every "):
        return _every(spec, zone)
    if spec.startswith("@"):
        if spec not in DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    return Schedule(*(_field(text, *bounds) for text, bounds in zip(fields, BOUNDS)), zone=zone)


def _split_time_zone(spec: str) -> tuple[str, str]:
    space = spec.find(" ")
    if space == -1:
        raise CronError(f"invalid timezone specification: {spec}")
    name = spec[spec.index("=") + 1:space]
    error = time_zone_error(name)
    if error:
        raise CronError(f"provided bad location {name}: {error}")
    return name, spec[space:].strip()


def _every(spec: str, zone: datetime.tzinfo) -> Schedule:
    try:
        seconds = parse_duration(spec[len("@every "):])
    except CronError as err:
        raise CronError(f"failed to parse duration {spec}: {err}") from None
    everything = Field(frozenset(), True)
    return Schedule(everything, everything, everything, everything, everything, zone=zone, every=seconds)


def _field(text: str, low: int, high: int, names: dict | None) -> Field:
    values: set[int] = set()
    star = False
    for expr in (part for part in text.split(",") if part):  # robfig splits with FieldsFunc
        got, is_star = _range(expr, low, high, names)
        values |= got
        star = star or is_star
    return Field(frozenset(values), star)


def _range(expr: str, low: int, high: int, names: dict | None) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    star = low_and_high[0] in ("*", "?")
    if star:
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) > 2:
            raise CronError(f"too many hyphens: {expr}")
        end = _int_or_name(low_and_high[1], names) if len(low_and_high) == 2 else start
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        if len(low_and_high) == 1:
            end = high  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    _check_range(expr, start, end, step, low, high)
    return set(range(start, end + 1, step)), star


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


# --- durations and zones (Go's time package) ---------------------------------------------------


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration in seconds; CronError with Go's error text."""
    body = text[1:] if text[:1] in ("+", "-") else text
    sign = -1.0 if text[:1] == "-" else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise CronError(f'time: invalid duration "{text}"')
    pos, seconds = 0, 0.0
    while pos < len(body):
        number, unit = _DURATION_TOKEN.match(body, pos).groups()
        if number in ("", "."):
            raise CronError(f'time: invalid duration "{text}"')
        if not unit:
            raise CronError(f'time: missing unit in duration "{text}"')
        if unit not in _UNIT_SECONDS:
            raise CronError(f'time: unknown unit "{unit}" in duration "{text}"')
        seconds += float(number) * _UNIT_SECONDS[unit]
        pos += len(number) + len(unit)
    return sign * seconds


def duration_error(text: str) -> str | None:
    """Go's time.ParseDuration error text, or None."""
    try:
        parse_duration(text)
    except CronError as err:
        return str(err)
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


def load_zone(name: str) -> datetime.tzinfo:
    """The zone for a name time_zone_error accepts; "" and "Local" are UTC (the controller's own zone)."""
    error = time_zone_error(name)
    if error:
        raise CronError(error)
    if name in ("", "UTC", "Local"):
        return datetime.timezone.utc
    return zoneinfo.ZoneInfo(name)
