"""Informer logic against the in-memory FakeApiClient: list, watch, resume, relist."""

from __future__ import annotations

import asyncio
import time

import pytest

from tinykube.api import errors
from tinykube.client.fake import FakeApiClient
from tinykube.client.factory import InformerFactory
from tinykube.client.informer import Informer
from tinykube.client.ratelimit import Backoff
from tinykube.client.status import TransportError
from tinykube.client.store import node_name_index

CM = ("v1", "ConfigMap")
POD = ("v1", "Pod")


def cm(name: str, value: str = "1", ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"v": value}}


async def until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.001)


class Recorder:
    """Handlers that write down what they saw: ("add", name, rv), ..."""

    def __init__(self, informer: Informer):
        self.events: list[tuple] = []
        informer.add_event_handler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"], o["metadata"]["resourceVersion"])),
            on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"],
                                                           new["metadata"]["resourceVersion"])),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])))

    def kinds(self) -> list[tuple]:
        return [e[:2] for e in self.events]


@pytest.fixture
async def running():
    tasks = []

    def start(informer: Informer) -> Informer:
        tasks.append(asyncio.create_task(informer.run()))
        return informer

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def fast_backoff() -> Backoff:
    return Backoff(0.001, 0.01, jitter=0.0)


async def test_list_then_watch_in_order(running):
    fake = FakeApiClient([cm("a"), cm("b")])
    informer = Informer(fake, CM, backoff=fast_backoff())
    rec = Recorder(informer)
    running(informer)
    await asyncio.wait_for(informer.wait_synced(), 1)
    assert rec.kinds() == [("add", "a"), ("add", "b")] and informer.has_synced()
    await fake.create(CM, cm("c"))
    updated = await fake.patch(CM, "a", {"data": {"v": "2"}}, namespace="default")
    await fake.delete(CM, "b", namespace="default")
    await until(lambda: len(rec.events) == 5)
    assert rec.kinds()[2:] == [("add", "c"), ("update", "a"), ("delete", "b")]
    assert informer.store.get("default/a")["data"] == {"v": "2"}
    assert informer.last_sync_resource_version >= updated["metadata"]["resourceVersion"]
    assert sorted(informer.store.keys()) == ["default/a", "default/c"]


async def test_watch_ended_by_the_server_resumes_without_duplicates(running):
    fake = FakeApiClient([cm("a")])
    informer = Informer(fake, CM, backoff=fast_backoff())
    rec = Recorder(informer)
    running(informer)
    await informer.wait_synced()
    for i in range(5):
        await fake.patch(CM, "a", {"data": {"v": str(i)}}, namespace="default")
        fake.end_watches()
        await until(lambda: len(rec.events) == i + 2)
    assert [e[0] for e in rec.events] == ["add"] + ["update"] * 5
    rvs = [int(e[2]) for e in rec.events]
    assert rvs == sorted(set(rvs))  # no duplicates, in order
    assert informer.stats["watches"] >= 5 and informer.stats["lists"] == 1


async def test_expired_watch_relists_with_synthetic_events(running):
    fake = FakeApiClient([cm("keep"), cm("change"), cm("gone"), cm("recreated")])
    informer = Informer(fake, CM, backoff=fast_backoff())
    rec = Recorder(informer)
    running(informer)
    await informer.wait_synced()
    old_uid = informer.store.get("default/recreated")["metadata"]["uid"]
    rec.events.clear()
    # None of these awaits suspends: the informer sees nothing until the watch ends.
    await fake.patch(CM, "change", {"data": {"v": "2"}}, namespace="default")
    await fake.delete(CM, "gone", namespace="default")
    await fake.delete(CM, "recreated", namespace="default")
    await fake.create(CM, cm("recreated"))
    await fake.create(CM, cm("new"))
    fake.compact()
    fake.end_watches()
    await until(lambda: informer.stats["relists"] == 1 and len(rec.events) >= 5)
    assert sorted(rec.kinds()) == sorted([("update", "change"), ("delete", "recreated"), ("add", "recreated"),
                                          ("add", "new"), ("delete", "gone")])
    assert rec.kinds().index(("delete", "recreated")) < rec.kinds().index(("add", "recreated"))
    assert sorted(informer.store.keys()) == ["default/change", "default/keep", "default/new", "default/recreated"]
    assert informer.store.get("default/recreated")["metadata"]["uid"] != old_uid


async def test_lists_ask_for_the_resource_version_client_go_asks_for(running):
    """"0" first (any version: the API server answers from its cache, whole), "" after a
    410 (the latest, a consistent read)."""
    fake = FakeApiClient([cm("a")])
    asked = []
    real_list = fake.list

    async def recording_list(*args, **kwargs):
        asked.append(kwargs.get("resource_version"))
        return await real_list(*args, **kwargs)
    fake.list = recording_list
    informer = Informer(fake, CM, backoff=fast_backoff())
    running(informer)
    await informer.wait_synced()
    assert asked == ["0"]
    await fake.create(CM, cm("b"))  # does not suspend: the watch has not seen it yet
    fake.compact()
    fake.end_watches()
    await until(lambda: informer.stats["relists"] == 1 and len(asked) == 2)
    assert asked[1] == ""
    await until(lambda: sorted(informer.store.keys()) == ["default/a", "default/b"])


async def test_failures_are_retried_with_backoff_and_handlers_errors_do_not_stop_it(running):
    fake = FakeApiClient([cm("a")])
    fake.fail_next("list", "configmaps", errors.ServiceUnavailable("down"))
    fake.fail_next("watch", "configmaps", TransportError("reset"))
    informer = Informer(fake, CM, backoff=fast_backoff())
    informer.add_event_handler(on_add=lambda o: 1 / 0)  # a broken handler
    rec = Recorder(informer)
    running(informer)
    await asyncio.wait_for(informer.wait_synced(), 1)
    await fake.create(CM, cm("b"))
    await until(lambda: rec.kinds() == [("add", "a"), ("add", "b")])
    assert informer.stats["errors"] == 2 and informer.stats["handler_errors"] == 2


async def test_handler_added_after_sync_gets_the_cached_objects():
    fake = FakeApiClient([cm("a"), cm("b")])
    informer = Informer(fake, CM)
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced()
        rec = Recorder(informer)
        assert rec.kinds() == [("add", "a"), ("add", "b")]
    finally:
        task.cancel()


async def test_async_handlers_and_custom_index(running):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"nodeName": "n1"}}
    fake = FakeApiClient([pod])
    informer = Informer(fake, POD, indexers={"node": node_name_index}, field_selector="spec.nodeName=n1")
    seen = []

    async def on_add(obj):
        await asyncio.sleep(0)
        seen.append(obj["metadata"]["name"])

    informer.add_event_handler(on_add=on_add)
    running(informer)
    await informer.wait_synced()
    assert seen == ["p"] and [p["metadata"]["name"] for p in informer.store.by_index("node", "n1")] == ["p"]


async def test_factory_shares_one_informer_per_resource():
    fake = FakeApiClient([cm("a")])
    factory = InformerFactory(fake, watch_timeout=30)
    first = factory.informer(CM)
    assert factory.informer(("v1", "ConfigMap")) is first
    assert factory.informer(CM, label_selector="x=y") is not first
    task = asyncio.create_task(factory.run())
    try:
        await asyncio.wait_for(factory.wait_synced(), 1)
        late = factory.informer(POD)  # asked for while running: started at once
        await asyncio.wait_for(late.wait_synced(), 1)
        assert len(first.store) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
