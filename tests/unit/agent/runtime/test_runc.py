"""Runc's pure helpers (runc's error words -> typed errors, signal names, merging runc's
state with the monitor's records) and the recording FakeRunc."""

import pytest

from tinykube.agent.runtime import (ContainerNotFound, ContainerNotRunning, ExitStatus, RuncError,
                                    StartError, State)
from tinykube.agent.runtime.fake import FakeRunc
from tinykube.agent.runtime.runc import _error, _merge, _runc_message, _signal_name

ARGV = ("/usr/sbin/runc", "--root", "/r", "kill", "c1", "SIGTERM")


@pytest.mark.parametrize("stderr,kind,message", [
    ('time="2026-11-24T14:27:45Z" level=error msg="container does not exist"\n', ContainerNotFound,
     "container does not exist"),
    ('time="2026-11-24T14:27:45Z" level=error msg="container not running"\n', ContainerNotRunning,
     "container not running"),
    ('time="x" level=error msg="exec: \\"x\\": not found in $PATH"\n', RuncError, 'exec: "x": not found in $PATH'),
    ("plain words\n", RuncError, "plain words"),
    ("", RuncError, "kill c1 SIGTERM failed"),
])
def test_runc_errors_are_typed(stderr, kind, message):
    err = _error(ARGV, stderr)
    assert type(err) is kind and str(err) == message and err.command == ARGV


def test_runc_message_takes_the_last_line():
    assert _runc_message('level=warning msg="a"\nlevel=error msg="b"\n') == "b"


@pytest.mark.parametrize("signal,name", [("SIGTERM", "SIGTERM"), ("TERM", "SIGTERM"), (9, "SIGKILL"),
                                         (15, "SIGTERM"), ("9", "9"), ("SIGQUIT", "SIGQUIT")])
def test_signal_name(signal, name):
    assert _signal_name(signal) == name


def test_merge():
    state = {"status": "running", "pid": 42, "created": "2026-01-01T00:00:00Z", "annotations": {"a": "b"}}
    status = _merge("c1", state, None, 1_000_000_000, True)
    assert (status.state, status.pid, status.started_at, status.annotations) == (
        State.RUNNING, 42, "1970-01-01T00:00:01Z", {"a": "b"})
    exit = ExitStatus(0, "Completed")
    assert _merge("c1", {}, exit, 0, False).state is State.STOPPED
    assert _merge("c1", {"status": "weird"}, None, 0, False).state is State.UNKNOWN
    assert _merge("c1", {}, None, 0, False).state is State.UNKNOWN


async def test_fake_runc_records_and_simulates():
    runc = FakeRunc()
    pid = await runc.create("c1", "/b", log_path="/l")
    assert (await runc.status("c1")).state is State.CREATED
    await runc.start("c1")
    assert (await runc.status("c1")).state is State.RUNNING
    runc.finish("c1", 0)
    assert (await runc.wait("c1", 1)).reason == "Completed"
    with pytest.raises(ContainerNotRunning):
        await runc.kill("c1")
    runc.fail_create["c2"] = "boom"
    with pytest.raises(StartError, match="boom"):
        await runc.create("c2", "/b", log_path="/l")
    await runc.create("c3", "/b", log_path="/l")
    await runc.start("c3")
    runc.containers["c3"].ignores.add("SIGTERM")
    assert (await runc.stop("c3", grace=1)).exit_code == 137
    await runc.remove("c1")
    assert runc.ids() == ["c3"] and pid > 0
    assert [c[0] for c in runc.calls] == ["create", "start", "kill", "create", "create", "start", "stop", "remove"]
