"""The per-pod probe workers, with the recording FakeRunc for exec probes."""

import asyncio

from tinykube.agent.probes import ProbeManager, Target
from tinykube.agent.runtime.execsync import ExecResult
from tinykube.agent.runtime.fake import FakeRunc


async def setup(container):
    runc = FakeRunc()
    await runc.create("c1", "/b", log_path="/l")
    await runc.start("c1")
    events, changes = [], asyncio.Event()
    manager = ProbeManager(runtime=runc, target=lambda: Target("", "127.0.0.1"), on_change=changes.set,
                           record_event=lambda t, r, m, c: events.append((t, r, m, c["name"])))
    return runc, manager, events, changes


def probe(command, **fields):
    return {"exec": {"command": command}, "periodSeconds": 1, **fields}


async def wait_for(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_failing_liveness_asks_for_a_kill_with_events():
    container = {"name": "app", "livenessProbe": probe(["check"], failureThreshold=1)}
    runc, manager, events, changes = await setup(container)
    runc.exec_results["check"] = ExecResult(1, b"sick")
    first = manager.ensure("c1", container, started_at=0)
    assert (first.started, first.ready, first.kill_reason) == (True, True, "")
    await asyncio.wait_for(changes.wait(), 2)
    assert manager.ensure("c1", container, started_at=0).kill_reason == "Liveness"
    assert events == [("Warning", "Unhealthy", "Liveness probe failed: sick", "app")]
    manager.stop_all()


async def test_startup_gates_readiness_then_readiness_flips():
    container = {"name": "app", "startupProbe": probe(["up"]), "readinessProbe": probe(["ready"])}
    runc, manager, events, changes = await setup(container)
    runc.exec_results["up"] = ExecResult(1)
    v = manager.ensure("c1", container, started_at=0)
    assert (v.started, v.ready) == (False, False)
    await wait_for(lambda: any(c[0] == "exec_sync" and c[2] == ("up",) for c in runc.calls))
    assert not any(c[0] == "exec_sync" and c[2] == ("ready",) for c in runc.calls)  # held back
    runc.exec_results["up"] = ExecResult(0)
    await wait_for(lambda: manager.ensure("c1", container, started_at=0).ready, timeout=4)
    assert manager.ensure("c1", container, started_at=0).started
    manager.stop_all()


async def test_unsupported_grpc_probe_is_reported_and_never_run():
    container = {"name": "app", "livenessProbe": {"grpc": {"port": 9090}}}
    runc, manager, events, _ = await setup(container)
    v = manager.ensure("c1", container, started_at=0)
    assert v.kill_reason == "" and manager.instances["c1"].tasks == []
    assert events[0][:2] == ("Warning", "UnsupportedField") and "grpc probes are not supported" in events[0][2]


async def test_retain_stops_the_workers_of_gone_instances():
    container = {"name": "app", "readinessProbe": probe(["ready"])}
    runc, manager, _, _ = await setup(container)
    manager.ensure("c1", container, started_at=0)
    task = manager.instances["c1"].tasks[0]
    manager.retain(["other"])
    await asyncio.sleep(0)
    assert task.cancelled() or task.done()
    assert manager.instances == {}
