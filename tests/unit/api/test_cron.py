"""Cron schedule tables: parsing (robfig/cron standard syntax), its error texts as validation
quotes them, and next activation times as the CronJob controller uses them."""

from __future__ import annotations

import datetime

import pytest

from tinykube.api import cron
from tinykube.api.cron import duration_error, schedule_error, time_zone_error

UTC = datetime.timezone.utc


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("spec, zone, after, expected", [
    ("* * * * *", None, at(2024, 1, 1, 12, 0, 30), at(2024, 1, 1, 12, 1)),
    ("*/15 9-17 * * MON-FRI", None, at(2024, 1, 5, 17, 50), at(2024, 1, 8, 9, 0)),  # Friday evening -> Monday
    ("5,35 */6 * * *", None, at(2024, 1, 1, 6, 10), at(2024, 1, 1, 6, 35)),
    ("0 0 29 2 *", None, at(2023, 3, 1), at(2024, 2, 29)),  # leap day
    ("0 0 1 * 1", None, at(2024, 1, 5), at(2024, 1, 8)),  # both day fields restricted: either matches
    ("0 0 */2 * 1", None, at(2024, 1, 2), at(2024, 1, 3)),  # a step clears the star: either matches
    ("0 0 * * 1", None, at(2024, 1, 2), at(2024, 1, 8)),
    ("30 4 1 jan,jul *", None, at(2024, 2, 1), at(2024, 7, 1, 4, 30)),
    ("10/20 * * * *", None, at(2024, 1, 1, 0, 31), at(2024, 1, 1, 0, 50)),  # N/step is N-max/step
    ("@hourly", None, at(2024, 1, 1, 0, 0), at(2024, 1, 1, 1, 0)),
    ("@daily", None, at(2024, 1, 1, 0, 0), at(2024, 1, 2)),
    ("@weekly", None, at(2024, 1, 1), at(2024, 1, 7)),
    ("@monthly", None, at(2024, 1, 31), at(2024, 2, 1)),
    ("@yearly", None, at(2024, 1, 1), at(2025, 1, 1)),
    ("@every 1h30m", None, at(2024, 1, 1, 10), at(2024, 1, 1, 11, 30)),
    ("@every 0s", None, at(2024, 1, 1, 10, 0, 0, 500), at(2024, 1, 1, 10, 0, 1)),  # robfig's minimum delay is 1s
    ("1,,2 * * * *", None, at(2024, 1, 1, 10, 1), at(2024, 1, 1, 10, 2)),  # empty list items are skipped
    ("0 9 * * *", "America/New_York", at(2024, 1, 5, 17, 50), at(2024, 1, 6, 14, 0)),
    ("0 9 * * *", "America/New_York", at(2024, 7, 5, 17, 50), at(2024, 7, 6, 13, 0)),  # summer time
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", None, at(2024, 1, 5, 17, 50), at(2024, 1, 6, 0, 0)),
    ("0 0 30 2 *", None, at(2024, 1, 1), None),  # never
])
def test_next(spec, zone, after, expected):
    assert cron.parse(spec, zone).next(after) == expected


@pytest.mark.parametrize("spec, zone, message", [
    ("* * * *", None, "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", None, "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", None, "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", None, "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", None, "step of range should be a positive number: */0"),
    ("* * * foo *", None, 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'),
    ("TZ=Nowhere/Land 0 * * * *", "UTC", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"),
    ("@fortnightly", None, "unrecognized descriptor: @fortnightly"),
    ("", None, "empty spec string"),
    ("* * * * *", "Mars/Olympus", "unknown time zone Mars/Olympus"),
])
def test_errors(spec, zone, message):
    with pytest.raises(cron.CronError) as err:
        cron.parse(spec, zone)
    assert str(err.value) == message


@pytest.mark.parametrize("schedule, error", [
    ("*/5 * * * *", None), ("0 0 1 JAN,jul *", None), ("0 9-17 * * MON-FRI", None), ("? ? ? ? ?", None),
    ("@hourly", None), ("@annually", None), ("@midnight", None), ("@every 1h30m", None), ("0 0 * * 0", None),
    ("TZ=Europe/Paris 0 0 * * *", None), ("1,,2 * * * *", None),
    ("", "empty spec string"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every 5x", 'failed to parse duration @every 5x: time: unknown unit "x" in duration "5x"'),
    ("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"'),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("0 5-2 * * *", "beginning of range (5) beyond end of range (2): 5-2"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("0 0 * FOO *", 'failed to parse int from FOO: strconv.Atoi: parsing "FOO": invalid syntax'),
    ("TZ=Nowhere/Land 0 * * * *", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"),
    ("TZ=UTC", "invalid timezone specification: TZ=UTC"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
])
def test_schedule_parser(schedule, error):
    assert schedule_error(schedule) == error


def test_duration_and_zone_helpers():
    assert duration_error("1.5h") is None
    assert duration_error("") == 'time: invalid duration ""'
    assert time_zone_error("America/New_York") is None
    assert time_zone_error("../etc/passwd") == "unknown time zone ../etc/passwd"
