"""Cron schedule tables: parsing (robfig/cron standard syntax) and next activation times."""

from __future__ import annotations

import datetime

import pytest

from tinykube.controllers import cron

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
    ("* * * foo *", None, "failed to parse int from foo"),
    ("@fortnightly", None, "unrecognized descriptor: @fortnightly"),
    ("", None, "empty spec string"),
    ("* * * * *", "Mars/Olympus", "unknown time zone Mars/Olympus"),
])
def test_errors(spec, zone, message):
    with pytest.raises(cron.CronError) as err:
        cron.parse(spec, zone)
    assert str(err.value) == message
