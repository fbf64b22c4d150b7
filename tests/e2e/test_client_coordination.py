"""Leader election through a real Lease, and Events that `kubectl describe` shows."""

from __future__ import annotations

import asyncio
import time

import pytest

from .conftest import namespace

from tinykube.client import ApiClient, EventRecorder, LeaderElector

pytestmark = pytest.mark.e2e

LEASE = ("coordination.k8s.io/v1", "Lease")
CM = ("v1", "ConfigMap")
# Fast but in the same proportions as client-go's 15/10/2 s.
FAST = dict(lease_duration=1.0, renew_deadline=0.6, retry_period=0.1)


class Candidate:
    """An elector running `run(on_started_leading, on_stopped_leading)` in a task."""

    def __init__(self, api: ApiClient, n: str, identity: str, **options):
        self.elector = LeaderElector(api, name="controller-manager", namespace=n, identity=identity,
                                     **{**FAST, **options})
        self.started = self.stopped = 0
        self.task = asyncio.create_task(self.elector.run(self._lead, self._stop))

    async def _lead(self) -> None:
        self.started += 1
        await asyncio.Event().wait()  # lead until cancelled

    def _stop(self) -> None:
        self.stopped += 1

    async def cancel(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def leaders_until(candidates, condition, timeout: float = 10.0) -> list[Candidate]:
    """Poll (with a deadline) until condition(leaders); never more than one leader meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        leaders = [c for c in candidates if c.elector.is_leader()]
        assert len(leaders) <= 1, "two candidates lead at once"
        if condition(leaders):
            return leaders
        assert time.monotonic() < deadline, "leadership did not settle"
        await asyncio.sleep(0.02)


async def test_exactly_one_leads_and_the_other_takes_over(api):
    n = await namespace(api, "election")
    a, b = Candidate(api, n, "a"), Candidate(api, n, "b")
    try:
        [first] = await leaders_until([a, b], lambda leaders: len(leaders) == 1)
        other = b if first is a else a
        lease = await api.get(LEASE, "controller-manager", namespace=n)
        assert lease["spec"]["holderIdentity"] == first.elector.identity
        assert lease["spec"]["leaseDurationSeconds"] == 1 and lease["spec"]["leaseTransitions"] == 0
        # the leader keeps renewing: still the leader well past one lease duration
        renewed = lease["spec"]["renewTime"]
        await until_lease(api, n, lambda spec: spec["renewTime"] != renewed)
        assert first.elector.is_leader() and not other.elector.is_leader() and first.started == 1
        await first.cancel()  # stops renewing without releasing: the lease must expire first
        assert first.stopped == 1
        await leaders_until([a, b], lambda leaders: leaders == [other])
        spec = (await api.get(LEASE, "controller-manager", namespace=n))["spec"]
        assert spec["holderIdentity"] == other.elector.identity and spec["leaseTransitions"] == 1
        assert other.started == 1
    finally:
        await a.cancel()
        await b.cancel()


async def test_release_on_cancel_hands_over_at_once(api):
    n = await namespace(api, "release")
    slow = dict(lease_duration=30.0, renew_deadline=20.0, retry_period=0.1)
    a = Candidate(api, n, "a", release_on_cancel=True, **slow)
    b = None
    try:
        await leaders_until([a], lambda leaders: leaders == [a])
        b = Candidate(api, n, "b", **slow)
        started = time.monotonic()
        await a.cancel()
        assert (await api.get(LEASE, "controller-manager", namespace=n))["spec"]["holderIdentity"] in ("", "b")
        await leaders_until([a, b], lambda leaders: leaders == [b])
        assert time.monotonic() - started < 5  # far less than the 30 s lease
    finally:
        await a.cancel()
        if b is not None:
            await b.cancel()


async def until_lease(api: ApiClient, n: str, condition, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        spec = (await api.get(LEASE, "controller-manager", namespace=n))["spec"]
        if condition(spec):
            return spec
        assert time.monotonic() < deadline, "the lease did not change"
        await asyncio.sleep(0.05)


async def test_recorder_aggregates_repeats_and_kubectl_describe_shows_them(server, api):
    n = await namespace(api, "events")
    target = await api.create(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
                                   "data": {"k": "v"}}, namespace=n)
    recorder = EventRecorder(api, component="tinykube-test", host="test-host")
    writer = asyncio.create_task(recorder.run())
    try:
        for _ in range(3):
            recorder.record(target, "Warning", "FailedSync", "could not sync: the cache is stale")
        recorder.record(target, "Normal", "Synced", "synced fine")
        await asyncio.wait_for(recorder.flush(), 10)
    finally:
        writer.cancel()
    selector = f"involvedObject.name=app,involvedObject.kind=ConfigMap,involvedObject.uid={target['metadata']['uid']}"
    events = {e["reason"]: e for e in (await api.list(("v1", "Event"), namespace=n, field_selector=selector)).items}
    assert events["FailedSync"]["count"] == 3 and events["Synced"]["count"] == 1
    assert events["FailedSync"]["source"] == {"component": "tinykube-test", "host": "test-host"}
    assert recorder.stats["created"] == 2 and recorder.stats["aggregated"] == 2
    out = server.kubectl("describe", "configmap", "app", "-n", n).stdout
    assert "Events:" in out
    failed = next(line for line in out.splitlines() if "FailedSync" in line)
    assert "Warning" in failed and "(x3 over" in failed and "tinykube-test" in failed
    assert "could not sync: the cache is stale" in failed
    assert any("Synced" in line and "synced fine" in line for line in out.splitlines())
