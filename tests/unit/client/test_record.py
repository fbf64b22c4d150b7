"""EventRecorder: event shape, aggregation of repeats, never raising into the caller."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.api import errors
from tinykube.client.clock import FakeClock
from tinykube.client.fake import FakeApiClient
from tinykube.client.record import EventRecorder

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u-n"}}


@pytest.fixture
async def recorder():
    fake = FakeApiClient()
    clock = FakeClock()
    rec = EventRecorder(fake, component="scheduler", host="h1", aggregate_window=600, clock=clock,
                        retry_sleep=0)
    task = asyncio.create_task(rec.run())
    yield rec, fake, clock
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def events(fake: FakeApiClient) -> list[dict]:
    return (await fake.list(("v1", "Event"))).items


async def test_event_shape(recorder):
    rec, fake, clock = recorder
    rec.record(POD, "Normal", "Scheduled", "Successfully assigned prod/web to n1")
    await rec.flush()
    [event] = await events(fake)
    assert event["metadata"]["namespace"] == "prod" and event["metadata"]["name"].startswith("web.")
    assert event["involvedObject"] == {"kind": "Pod", "namespace": "prod", "name": "web", "uid": "u-1",
                                       "apiVersion": "v1", "resourceVersion": "7"}
    assert event["source"] == {"component": "scheduler", "host": "h1"}
    assert event["reportingComponent"] == "scheduler" and event["reportingInstance"] == "h1"
    assert event["count"] == 1 and event["firstTimestamp"] == event["lastTimestamp"] == "2024-01-01T00:00:00Z"
    assert event["type"] == "Normal" and event["reason"] == "Scheduled"


async def test_repeats_are_aggregated_by_patch(recorder):
    rec, fake, clock = recorder
    for _ in range(3):
        rec.record(POD, "Warning", "BackOff", "Back-off restarting failed container")
        clock.advance(10)
    rec.record(POD, "Warning", "BackOff", "another message")  # not a repeat
    await rec.flush()
    by_message = {e["message"]: e for e in await events(fake)}
    repeated = by_message["Back-off restarting failed container"]
    assert repeated["count"] == 3
    assert repeated["firstTimestamp"] == "2024-01-01T00:00:00Z"
    assert repeated["lastTimestamp"] == "2024-01-01T00:00:20Z"
    assert by_message["another message"]["count"] == 1
    assert [a.verb for a in fake.writes()] == ["create", "patch", "patch", "create"]


async def test_cluster_scoped_objects_get_events_in_default(recorder):
    rec, fake, clock = recorder
    rec.record(NODE, "Normal", "NodeReady", "Node n1 status is now: NodeReady")
    await rec.flush()
    [event] = await events(fake)
    assert event["metadata"]["namespace"] == "default" and "namespace" not in event["involvedObject"]


async def test_a_repeat_after_the_window_or_of_a_deleted_event_is_new(recorder):
    rec, fake, clock = recorder
    rec.record(POD, "Normal", "Pulled", "pulled")
    await rec.flush()
    clock.advance(601)
    rec.record(POD, "Normal", "Pulled", "pulled")
    await rec.flush()
    assert [e["count"] for e in await events(fake)] == [1, 1]
    for event in await events(fake):
        await fake.delete(("v1", "Event"), event["metadata"]["name"], namespace="prod")
    rec.record(POD, "Normal", "Pulled", "pulled")  # its Event is gone: patch fails, create
    await rec.flush()
    assert [e["count"] for e in await events(fake)] == [1]


async def test_never_raises_and_retries_retryable_failures(recorder):
    rec, fake, clock = recorder
    rec.record(POD, "Bogus", "X", "y")  # bad type: dropped, counted
    rec.record({"metadata": {}}, "Normal", "X", "y")  # no kind/name: dropped
    fake.fail_next("create", "events", errors.ServiceUnavailable("busy"))
    rec.record(POD, "Normal", "Created", "c")
    await rec.flush()
    fake.fail_next("create", "events", errors.Forbidden("no"))
    rec.record(POD, "Normal", "Started", "s")
    await rec.flush()
    assert [e["reason"] for e in await events(fake)] == ["Created"]
    assert rec.stats["dropped"] == 2 and rec.stats["retries"] == 1 and rec.stats["failed"] == 1


async def test_full_queue_drops_instead_of_blocking():
    rec = EventRecorder(FakeApiClient(), component="c", max_queued=2)
    for i in range(5):
        rec.record(POD, "Normal", "R", str(i))  # no writer running: the queue fills
    assert rec.stats["dropped"] == 3


async def test_writes_are_rate_limited_and_a_burst_past_the_queue_is_dropped():
    fake, clock = FakeApiClient(), FakeClock()
    rec = EventRecorder(fake, component="scheduler", clock=clock, qps=2, burst=3, max_queued=4)
    task = asyncio.create_task(rec.run())
    try:
        for i in range(10):
            rec.record({**POD, "metadata": {**POD["metadata"], "name": f"p{i}"}}, "Normal", "Scheduled", "m")
        for _ in range(20):
            await asyncio.sleep(0)
        # recorded before the writer ran: 4 queued, 6 dropped; the burst of 3 is written at
        # once, the 4th waits for a token
        assert rec.stats["dropped"] == 6
        assert len(await events(fake)) == 3
        clock.advance(0.5)  # one token at 2 per second
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(await events(fake)) == 4
        clock.advance(2.0)
        await asyncio.wait_for(rec.flush(), 1)
        assert [e["involvedObject"]["name"] for e in await events(fake)] == [f"p{i}" for i in range(4)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
