"""Container log rotation: the plan (table) and the rotation on real files."""

import gzip
import os

import time

import pytest

from tinykube.agent.logrotate import Plan, plan, rotate

NOW = 1795536000.0
STAMP = "0.log." + time.strftime("%Y%m%d-%H%M%S", time.gmtime(NOW))


def names(p: Plan):
    base = lambda paths: tuple(os.path.basename(x) for x in paths)  # noqa: E731
    return base(p.remove), base(p.compress), os.path.basename(p.rename_to)


@pytest.mark.parametrize("size,siblings,max_files,expected", [
    (10, ["0.log"], 5, ((), (), "")),                                           # small: nothing
    (101, ["0.log"], 5, ((), (), STAMP)),
    (101, ["0.log", "0.log.a"], 5, ((), ("0.log.a",), STAMP)),
    (101, ["0.log", "0.log.a.gz", "0.log.b"], 5, ((), ("0.log.b",), STAMP)),
    (101, ["0.log", "0.log.a.gz", "0.log.b.gz", "0.log.c.gz", "0.log.d"], 5,
     (("0.log.a.gz",), ("0.log.d",), STAMP)),                                   # 5 files at most after
    (101, ["0.log", "0.log.a"], 2, (("0.log.a",), (), STAMP)),
    (101, ["0.log", "0.log.x.tmp", "1.log"], 5, (("0.log.x.tmp",), (), STAMP)),  # leftovers; other files kept
    (101, ["0.log", STAMP], 5, ((), (), "")),                                   # same second: next time
])
def test_plan(size, siblings, max_files, expected):
    p = plan("/logs/app/0.log", size=size, siblings=siblings, max_size=100, max_files=max_files, now=NOW)
    assert names(p) == expected


def test_rotate_keeps_every_line_and_bounds_the_files(tmp_path):
    current = tmp_path / "0.log"
    reopened = []
    written = []
    for round in range(6):
        line = f"2026-11-24T00:00:00Z stdout F line {round}\n" * 20
        with open(current, "a") as f:
            f.write(line)
        written.append(line)
        assert rotate(str(current), max_size=100, max_files=3, reopen=lambda: reopened.append(1),
                      now=NOW + round)
    files = sorted(os.listdir(tmp_path))
    # max 3 with the current one, which the monitor makes anew: two rotated, the older gzipped
    assert len(files) == 2 and "0.log" not in files
    assert files[0].endswith(".gz") and not files[1].endswith(".gz")
    with gzip.open(tmp_path / files[0], "rt") as f:
        assert f.read() == written[-2]
    assert (tmp_path / files[1]).read_text() == written[-1]
    assert len(reopened) == 6


def test_rotate_puts_the_file_back_when_the_writer_cannot_reopen(tmp_path):
    current = tmp_path / "0.log"
    current.write_text("x" * 200)

    def broken():
        raise OSError("monitor gone")

    with pytest.raises(OSError):
        rotate(str(current), max_size=100, max_files=5, reopen=broken, now=NOW)
    assert os.listdir(tmp_path) == ["0.log"]


def test_no_file_no_rotation(tmp_path):
    assert rotate(str(tmp_path / "0.log"), max_size=1, max_files=5, reopen=lambda: None) is False
