"""Cron schedules as the CronJob controller reads them (robfig/cron v3's standard parser).

`parse(spec, time_zone=None)` returns a Schedule or raises CronError. Five fields
(minute hour day-of-month month day-of-week) with `*`, `?`, ranges `a-b`, steps `/n`,
lists `a,b`, names JAN..DEC and SUN..SAT (any case, 7 is not Sunday), the descriptors
@yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <duration>`, and
a leading `CRON_TZ=<zone>` / `TZ=<zone>` (else spec.timeZone, else UTC), resolved with
zoneinfo. `Schedule.next(t)` is the first activation strictly after t, computed in the
schedule's zone as robfig does: when both day fields are restricted a day matches
either of them, else both.
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
_DURATION = re.compile(r"(\d+(?:\.\d*)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_YEARS = 5  # robfig gives up looking this far ahead: the schedule never fires


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
    every: float = 0.0  # @every: a constant delay instead of fields

    def next(self, t: datetime.datetime) -> datetime.datetime | None:
        """The first activation after t (aware), or None if there is none within 5 years."""
        if self.every:
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


def load_zone(name: str) -> datetime.tzinfo:
    if name in ("", "UTC"):
        return datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name}") from exc


def parse(spec: str, time_zone: str | None = None) -> Schedule:
    spec = (spec or "").strip()
    if not spec:
        raise CronError("empty spec string")
    zone_name = time_zone or ""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, spec = spec.partition(" ")
        zone_name, spec = head.partition("=")[2], spec.strip()
    zone = load_zone(zone_name)
    if spec.startswith("@every "):
        return _every(spec[len("@every "):], zone)
    if spec.startswith("@"):
        if spec not in DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    return Schedule(*(_field(text, *bounds) for text, bounds in zip(fields, BOUNDS)), zone=zone)


def _every(text: str, zone: datetime.tzinfo) -> Schedule:
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise CronError(f"failed to parse duration @every {text}")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    everything = Field(frozenset(), True)
    return Schedule(everything, everything, everything, everything, everything, zone=zone, every=seconds)


def _field(text: str, low: int, high: int, names: dict | None) -> Field:
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        got, is_star = _range(expr, low, high, names)
        values |= got
        star = star or is_star
    return Field(frozenset(values), star)


def _range(expr: str, low: int, high: int, names: dict | None) -> tuple[set[int], bool]:
    range_part, _, step_part = expr.partition("/")
    star = range_part in ("*", "?")
    if star:
        start, end = low, high
    else:
        first, dash, last = range_part.partition("-")
        start = _number(first, names)
        end = _number(last, names) if dash else start
    step = 1
    if step_part:
        step = _number(step_part, None)
        if not star and "-" not in range_part:
            end = high  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step <= 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _number(text: str, names: dict | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"[0-9]+", text or ""):
        raise CronError(f"failed to parse int from {text}")
    return int(text)
