"""The per-pod probe workers, with the recording FakeRunc for exec probes."""

import asyncio
import socket

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


async def test_a_probe_without_handler_is_reported_and_never_run():
    container = {"name": "app", "livenessProbe": {"periodSeconds": 1}}
    runc, manager, events, _ = await setup(container)
    v = manager.ensure("c1", container, started_at=0)
    assert v.kill_reason == "" and manager.instances["c1"].tasks == []
    assert events[0][:2] == ("Warning", "UnsupportedField") and "probes are not supported" in events[0][2]


async def test_grpc_liveness_runs_and_fails_with_the_kubelets_words():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    container = {"name": "app", "livenessProbe": {"grpc": {"port": port}, "periodSeconds": 1, "failureThreshold": 1}}
    runc, manager, events, changes = await setup(container)
    assert manager.ensure("c1", container, started_at=0).kill_reason == ""
    await asyncio.wait_for(changes.wait(), 3)
    assert manager.ensure("c1", container, started_at=0).kill_reason == "Liveness"
    assert events == [("Warning", "Unhealthy", f'Liveness probe failed: timeout: failed to connect service '
                       f'"127.0.0.1:{port}" within 1s: context deadline exceeded', "app")]
    manager.stop_all()


async def pod_worker(manager, container, changes, stop):
    """What pods.py does: ensure() again whenever a published result changes."""
    while not stop.is_set():
        await changes.wait()
        changes.clear()
        manager.ensure("c1", container, started_at=0)


def exec_times(runc, command):
    return [c for c in runc.calls if c[0] == "exec_sync" and c[2] == (command,)]


async def test_startup_success_triggers_readiness_at_once():
    # readiness periodSeconds 10: without the trigger its first real run would come 10 s
    # after its (skipped, not yet started) first tick
    container = {"name": "app", "startupProbe": {"exec": {"command": ["up"]}, "periodSeconds": 1},
                 "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 10}}
    runc, manager, events, changes = await setup(container)
    runc.exec_results["up"] = ExecResult(1)
    stop = asyncio.Event()
    worker = asyncio.create_task(pod_worker(manager, container, changes, stop))
    manager.ensure("c1", container, started_at=0)
    await wait_for(lambda: len(exec_times(runc, "up")) == 1)
    await asyncio.sleep(0.05)  # the readiness worker has had its first tick, without probing
    assert exec_times(runc, "ready") == []
    runc.exec_results["up"] = ExecResult(0)  # the next startup run (at 1 s) succeeds
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_for(lambda: manager.ensure("c1", container, started_at=0).ready, timeout=3)
    took = loop.time() - started
    assert took < 2, took
    assert len(exec_times(runc, "ready")) == 1  # ran once, on the trigger
    stop.set()
    changes.set()
    await worker
    manager.stop_all()


async def test_the_trigger_fires_on_the_change_only():
    # readiness keeps failing: repeated ensure() calls (every pod sync) must not run it again
    container = {"name": "app", "readinessProbe": {"exec": {"command": ["ready"]}, "periodSeconds": 10}}
    runc, manager, events, changes = await setup(container)
    runc.exec_results["ready"] = ExecResult(1)
    manager.ensure("c1", container, started_at=0)
    await wait_for(lambda: len(exec_times(runc, "ready")) == 1)
    for _ in range(5):
        manager.ensure("c1", container, started_at=0)
        await asyncio.sleep(0.02)
    assert len(exec_times(runc, "ready")) == 1
    manager.trigger("c1", "Readiness")  # an explicit trigger still runs it
    await wait_for(lambda: len(exec_times(runc, "ready")) == 2)
    manager.stop_all()


async def test_retain_stops_the_workers_of_gone_instances():
    container = {"name": "app", "readinessProbe": probe(["ready"])}
    runc, manager, _, _ = await setup(container)
    manager.ensure("c1", container, started_at=0)
    task = manager.instances["c1"].tasks[0]
    manager.retain(["other"])
    await asyncio.sleep(0)
    assert task.cancelled() or task.done()
    assert manager.instances == {}
