"""The container monitor: CRI log lines, exit records, and the whole monitor protocol run
against a fake runc (a shell script whose "container" is a background process), so it
needs neither root nor runc."""

import asyncio
import json
import os
import signal
import stat
import textwrap

import pytest

from tinykube.agent.runtime import Runc, StartError, State
from tinykube.agent.runtime.monitor import (MAX_LINE, CriLog, decode_status, exit_record, json_string,
                                            oom_kills, reason_for, rfc3339_nano)

T0 = 1_475_713_029_669_794_202  # 2016-10-06T00:17:09.669794202Z


@pytest.mark.parametrize("ns,text", [
    (T0, "2016-10-06T00:17:09.669794202Z"),
    (1_475_713_029_669_000_000, "2016-10-06T00:17:09.669Z"),   # trailing zeros trimmed
    (1_475_713_029_000_000_000, "2016-10-06T00:17:09Z"),       # no fraction at all
    (1_475_713_029_000_000_010, "2016-10-06T00:17:09.00000001Z"),
])
def test_rfc3339_nano_is_gos(ns, text):
    assert rfc3339_nano(ns) == text


def log_lines(tmp_path, feed):
    log = CriLog(str(tmp_path / "c.log"), clock=lambda: T0)
    feed(log)
    log.close()
    return (tmp_path / "c.log").read_text().splitlines()


def test_complete_lines_are_full_and_the_rest_waits(tmp_path):
    def feed(log):
        log.feed(b"stdout", b"hello\nwor")
        log.feed(b"stderr", b"oops\r\n")
        log.feed(b"stdout", b"ld\n\n")
    assert log_lines(tmp_path, feed) == [
        "2016-10-06T00:17:09.669794202Z stdout F hello",
        "2016-10-06T00:17:09.669794202Z stderr F oops",      # \r\n loses the \r too
        "2016-10-06T00:17:09.669794202Z stdout F world",
        "2016-10-06T00:17:09.669794202Z stdout F ",           # an empty line stays a line
    ]


def test_a_last_line_without_newline_is_partial(tmp_path):
    def feed(log):
        log.feed(b"stdout", b"no newline")
        log.end(b"stdout")
        log.end(b"stderr")
    assert log_lines(tmp_path, feed) == ["2016-10-06T00:17:09.669794202Z stdout P no newline"]


def test_long_lines_are_split_into_partial_pieces(tmp_path):
    def feed(log):
        log.feed(b"stdout", b"a" * (MAX_LINE + 10))           # one piece goes out at once
        log.feed(b"stdout", b"b" * 5 + b"\n" + b"c" * (2 * MAX_LINE) + b"\n")
    lines = log_lines(tmp_path, feed)
    tags = [(line.split(" ")[2], len(line.split(" ", 3)[3])) for line in lines]
    assert tags == [("P", MAX_LINE), ("F", 15), ("P", MAX_LINE), ("F", MAX_LINE)]


def test_reopen_writes_to_a_fresh_file_after_rotation(tmp_path):
    log = CriLog(str(tmp_path / "c.log"), clock=lambda: T0)
    log.feed(b"stdout", b"one\n")
    os.rename(tmp_path / "c.log", tmp_path / "c.log.1")
    log.reopen()
    log.feed(b"stdout", b"two\n")
    log.close()
    assert (tmp_path / "c.log.1").read_text().endswith("F one\n")
    assert (tmp_path / "c.log").read_text().endswith("F two\n")


@pytest.mark.parametrize("text", ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x01", "ünïcødé"])
def test_json_string(text):
    assert json.loads(json_string(text)) == text


def test_exit_record_is_json():
    record = json.loads(exit_record(exit_code=137, signal=9, reason="OOMKilled", message='a "b"',
                                    finished_ns=T0, oom_killed=True, pid=42))
    assert record == {"exitCode": 137, "signal": 9, "reason": "OOMKilled", "message": 'a "b"',
                      "finishedAt": "2016-10-06T00:17:09.669794202Z", "finishedAtNs": T0,
                      "oomKilled": True, "pid": 42}


@pytest.mark.parametrize("status,expected", [(0, (0, 0)), (3 << 8, (3, 0)), (9, (137, 9)), (15, (143, 15))])
def test_decode_status(status, expected):
    assert decode_status(status) == expected


@pytest.mark.parametrize("code,oom,reason", [(0, False, "Completed"), (1, False, "Error"), (137, True, "OOMKilled"),
                                             (0, True, "OOMKilled")])
def test_reason_for(code, oom, reason):
    assert reason_for(code, oom) == reason


def test_oom_kills_from_v1_or_v2_files(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert oom_kills(str(tmp_path / "v1")) == 3
    assert oom_kills(str(tmp_path / "v2")) == 1
    assert oom_kills(str(tmp_path / "missing")) == 0


# --- the protocol, with a fake runc -------------------------------------------------------

FAKE_RUNC = textwrap.dedent("""\
    #!/bin/sh
    # A fake runc. "create" leaves a background process behind (the "container"), which
    # runs $bundle/script once "start" has touched $bundle/started (runc's exec fifo).
    root=.
    while [ $# -gt 0 ]; do
      case "$1" in --root) root=$2; shift 2;; --log|--log-format) shift 2;; *) break;; esac
    done
    verb=$1; shift
    case $verb in
    create)
      while [ $# -gt 1 ]; do
        case "$1" in --bundle) bundle=$2; shift 2;; --pid-file) pidfile=$2; shift 2;; *) shift;; esac
      done
      if [ -f "$bundle/fail" ]; then echo "runc create failed: $(cat "$bundle/fail")" >&2; exit 1; fi
      mkdir -p "$root" && echo "$bundle" > "$root/$1"
      if [ -f "$bundle/racy" ]; then  # the "container" ends, and is reaped, before runc exits
        (exit 5) & pid=$!; wait $pid; echo $pid > "$pidfile"; exit 0
      fi
      (until [ -e "$bundle/started" ]; do sleep 0.01; done; exec sh "$bundle/script") &
      echo $! > "$pidfile"
      exit 0;;
    start) touch "$(cat "$root/$1")/started"; exit 0;;
    delete) exit 0;;
    *) echo 'time="2026-01-01T00:00:00Z" level=error msg="container does not exist"' >&2; exit 1;;
    esac
    """)



async def until(predicate, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def fake_runc(tmp_path):
    path = tmp_path / "runc"
    path.write_text(FAKE_RUNC)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    yield Runc(tmp_path / "state", binary=str(path))
    for pid in monitors_of(str(path)):  # a failed test must not leave its monitors behind
        os.kill(pid, signal.SIGKILL)


def monitors_of(runc_path: str) -> list[int]:
    """PIDs of the monitors started with this fake runc (their argv names it)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if runc_path.encode() in argv:
            found.append(int(entry))
    return found


def bundle(tmp_path, script: str, fail: str = ""):
    directory = tmp_path / "bundle"
    directory.mkdir()
    (directory / "script").write_text(script)
    if fail:
        (directory / "fail").write_text(fail)
    return directory


async def test_the_monitor_logs_reaps_and_records_the_exit(tmp_path, fake_runc):
    b = bundle(tmp_path, "echo out; echo err >&2; exit 7\n")
    pid = await fake_runc.create("c1", b, log_path=tmp_path / "logs" / "c1.log")
    await fake_runc.start("c1")
    exit = await fake_runc.wait("c1", timeout=10)

    assert pid > 0 and (exit.exit_code, exit.reason, exit.signal, exit.oom_killed) == (7, "Error", 0, False)
    messages = [line.split(" ", 1)[1] for line in (tmp_path / "logs" / "c1.log").read_text().splitlines()]
    assert sorted(messages) == ["stderr F err", "stdout F out"]
    await until(lambda: not fake_runc.monitor_alive("c1"))  # it exits right after exit.json
    status = await fake_runc.status("c1")
    assert status.state is State.STOPPED and status.exit == exit and status.started_at_ns > 0
    assert fake_runc.ids() == ["c1"]
    await fake_runc.remove("c1")
    assert fake_runc.ids() == []


async def test_a_failed_create_is_a_start_error_and_is_recorded(tmp_path, fake_runc):
    b = bundle(tmp_path, "exit 0\n", fail='exec: "nope": executable file not found in $PATH')
    with pytest.raises(StartError, match='runc create failed: exec: "nope": executable file not found'):
        await fake_runc.create("c2", b, log_path=tmp_path / "c2.log")
    exit = fake_runc.exit_status("c2")
    assert (exit.exit_code, exit.reason) == (128, "StartError") and "nope" in exit.message


async def test_an_id_is_created_once(tmp_path, fake_runc):
    b = bundle(tmp_path, "exit 0\n")
    await fake_runc.create("c3", b, log_path=tmp_path / "c3.log")
    with pytest.raises(StartError, match="already exists"):
        await fake_runc.create("c3", b, log_path=tmp_path / "c3.log")
    await fake_runc.start("c3")
    assert (await fake_runc.wait("c3", timeout=10)).exit_code == 0


async def test_an_init_that_never_became_our_child_is_reported_lost(tmp_path, fake_runc):
    b = bundle(tmp_path, "exit 0\n")
    (b / "racy").write_text("")
    await fake_runc.create("c4", b, log_path=tmp_path / "c4.log")
    exit = await fake_runc.wait("c4", timeout=10)
    assert (exit.exit_code, exit.reason) == (255, "Unknown") and "before the monitor" in exit.message


def test_create_returns_under_uvloop_and_the_monitor_keeps_no_inherited_fds(tmp_path, fake_runc):
    """uvloop leaves its subprocess socketpairs open in children: the monitor closes
    whatever it inherited, and the agent reads the monitor's report from a pipe of its own."""
    uvloop = pytest.importorskip("uvloop")
    b = bundle(tmp_path, "sleep 0.3\n")

    async def scenario():
        await fake_runc.create("c5", b, log_path=tmp_path / "c5.log")
        pid = int((fake_runc.monitor_dir("c5") / "monitor.pid").read_text())
        links = list(fd_links(pid))
        await fake_runc.start("c5")
        assert (await fake_runc.wait("c5", 5)).exit_code == 0
        return links

    loop = uvloop.new_event_loop()
    try:
        links = loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()
    assert not [link for link in links if link.startswith("socket:")], links


def fd_links(pid: int):
    """What a live process's descriptors point to (ones closed meanwhile are skipped)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            yield os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
