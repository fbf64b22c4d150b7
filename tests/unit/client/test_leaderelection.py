"""LeaderElector against the FakeApiClient, with short real durations."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.api import errors
from tinykube.client.fake import FakeApiClient
from tinykube.client.leaderelection import LEASE, LeaderElector, LeadershipLost

FAST = dict(lease_duration=1.0, renew_deadline=0.4, retry_period=0.05)


def elector(fake, identity: str, **options) -> LeaderElector:
    return LeaderElector(fake, name="ctrl", namespace="kube-system", identity=identity, **{**FAST, **options})


async def lease(fake) -> dict:
    return (await fake.get(LEASE, "ctrl", namespace="kube-system"))["spec"]


def test_durations_must_nest():
    with pytest.raises(ValueError):
        LeaderElector(FakeApiClient(), name="x", identity="a", lease_duration=10, renew_deadline=10)


async def test_first_candidate_creates_the_lease_second_waits():
    fake = FakeApiClient()
    a, b = elector(fake, "a"), elector(fake, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    spec = await lease(fake)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 1
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"]) == len("2006-01-02T15:04:05.000000Z")
    assert b.leader == "a"


async def test_renewal_keeps_acquire_time_and_a_stale_write_conflicts():
    fake = FakeApiClient()
    a, b = elector(fake, "a"), elector(fake, "b")
    await a.acquire()
    first = await lease(fake)
    await asyncio.sleep(0.01)
    assert await a.try_acquire_or_renew()
    renewed = await lease(fake)
    assert renewed["acquireTime"] == first["acquireTime"] and renewed["renewTime"] > first["renewTime"]
    # b read the lease, then a renewed: b's update carries an old resourceVersion
    b._lease = await fake.get(LEASE, "ctrl", namespace="kube-system")
    assert await a.try_acquire_or_renew()
    assert not await b._update(b._next_spec(renewed, "a"))


async def test_takeover_after_the_lease_expires_counts_a_transition():
    fake = FakeApiClient()
    a, b = elector(fake, "a"), elector(fake, "b")
    await a.acquire()  # a then stops renewing
    assert not await b.try_acquire_or_renew()
    await asyncio.wait_for(b.acquire(), 3)
    spec = await lease(fake)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1


async def test_release_lets_the_other_take_over_at_once():
    fake = FakeApiClient()
    a, b = elector(fake, "a", release_on_cancel=True), elector(fake, "b")
    async with a.leading():
        assert a.is_leader()
    assert not a.is_leader()
    assert (await lease(fake))["holderIdentity"] == ""
    assert await b.try_acquire_or_renew()  # no holder: taken at once, no waiting
    spec = await lease(fake)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1


async def test_losing_the_lease_cancels_the_block_and_raises():
    fake = FakeApiClient()
    a = elector(fake, "a")
    stopped = []

    async def work():
        async def broken(*args, **kwargs):
            raise errors.ServiceUnavailable("apiserver down")

        fake.update = broken  # renewals fail from now on
        fake.get = broken
        await asyncio.Event().wait()

    await asyncio.wait_for(a.run(work, lambda: stopped.append(True)), 3)
    assert stopped == [True] and not a.is_leader()


async def test_leading_block_raises_leadership_lost():
    fake = FakeApiClient()
    b = elector(fake, "b")

    async def broken(*args, **kwargs):
        raise errors.ServiceUnavailable("apiserver down")

    with pytest.raises(LeadershipLost):
        async with b.leading():
            fake.update = fake.get = broken
            await asyncio.wait_for(asyncio.Event().wait(), 3)
