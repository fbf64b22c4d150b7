"""Lifecycle hooks: messages, the preStop grace arithmetic, and kill ordering (with the
recording FakeRunc)."""

import pytest

from tinykube.agent import hooks
from tinykube.agent.probes.handlers import Target
from tinykube.agent.runtime.execsync import ExecResult
from tinykube.agent.runtime.fake import FakeRunc

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}
APP = {"name": "app"}


async def running_fake(id="c1"):
    runc = FakeRunc()
    await runc.create(id, "/b", log_path="/l")
    await runc.start(id)
    return runc


@pytest.mark.parametrize("grace,elapsed,left", [(30, 0.4, 30), (30, 10.9, 20), (30, 29, 2), (30, 45, 2), (5, 4, 2)])
def test_prestop_counts_against_the_grace_period(grace, elapsed, left):
    assert hooks.prestop_remaining(grace, elapsed) == left


async def test_exec_hook_success_and_failure_message():
    runc = await running_fake()
    assert await hooks.run_hook({"exec": {"command": ["true"]}}, pod=POD, container=APP, instance_id="c1",
                                runtime=runc, target=Target("", "10.0.0.1")) == ""
    runc.exec_results["sh -c exit 3"] = ExecResult(3, b"out\n", b"oops")
    message = await hooks.run_hook({"exec": {"command": ["sh", "-c", "exit 3"]}}, pod=POD, container=APP,
                                   instance_id="c1", runtime=runc, target=Target("", "10.0.0.1"))
    assert message == ('Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_default(u1)" '
                       "failed - error: command 'sh -c exit 3' exited with 3: oops, message: \"out\\noops\"")


async def test_http_hook_failure_names_the_path():
    message = await hooks.run_hook({"httpGet": {"path": "/stop", "port": 1}}, pod=POD, container=APP,
                                   instance_id="c1", runtime=FakeRunc(), target=Target("", "127.0.0.1"))
    assert message.startswith('HTTP lifecycle hook (/stop) for Container "app" in Pod "web_default(u1)" failed - '
                              'error: Get "http://127.0.0.1:1/stop": dial tcp 127.0.0.1:1: connect: connection refused')


async def test_sleep_hook_and_unknown_handler():
    assert await hooks.run_hook({"sleep": {"seconds": 0}}, pod=POD, container=APP, instance_id="c1",
                                runtime=FakeRunc(), target=Target("", "")) == ""
    assert "invalid handler" in await hooks.run_hook({}, pod=POD, container=APP, instance_id="c1",
                                                     runtime=FakeRunc(), target=Target("", ""))


async def test_kill_runs_prestop_before_the_stop_signal():
    runc = await running_fake()
    order = []

    async def pre_stop():
        order.append(("preStop", [c[0] for c in runc.calls]))

    await hooks.kill_container(runc, "c1", grace=10, pre_stop=pre_stop)
    assert order == [("preStop", ["create", "start"])]
    assert runc.calls[-1] == ("stop", "c1", 10, "SIGTERM")


async def test_a_prestop_overrunning_the_grace_period_gets_two_more_seconds():
    runc = await running_fake()
    clock = iter([100.0, 160.0])

    async def slow():
        pass  # the clock says it took 60 s

    await hooks.kill_container(runc, "c1", grace=30, pre_stop=slow, clock=lambda: next(clock))
    assert runc.calls[-1] == ("stop", "c1", 2, "SIGTERM")


async def test_no_prestop_with_zero_grace():
    runc = await running_fake()
    ran = []

    async def pre_stop():
        ran.append(1)

    await hooks.kill_container(runc, "c1", grace=0, pre_stop=pre_stop)
    assert ran == [] and runc.calls[-1] == ("stop", "c1", 0, "SIGTERM")
