"""Informers against real watch streams of a `tinykube server`: order, resume after the
server ends a watch or the network breaks, relist on 410 with synthetic deletes,
field and label selectors.

The network is broken with a TCP proxy between the informer and the server (TLS goes
through it untouched); the compaction test has its own server that keeps 1 s of
history, so that a watch broken for a few seconds can only continue by relisting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import pytest

from tinykube.api import errors
from tinykube.client import ApiClient, Backoff, Informer, load_kubeconfig, node_name_index

from .conftest import start_server

pytestmark = pytest.mark.e2e

CM = ("v1", "ConfigMap")
POD = ("v1", "Pod")
NS = ("v1", "Namespace")


# --- helpers ---------------------------------------------------------------------------------


async def until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until condition() is true; fail at the deadline. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)


async def namespace(api: ApiClient, prefix: str) -> str:
    name = f"client-{prefix}-{uuid.uuid4().hex[:6]}"
    await api.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def cm(name: str, value: str = "0", labels: dict | None = None) -> dict:
    md: dict = {"name": name}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"v": value}}


class Recorder:
    def __init__(self, informer: Informer):
        self.events: list[tuple] = []
        informer.add_event_handler(on_add=self._add, on_update=self._update, on_delete=self._delete)

    def _add(self, obj):
        self.events.append(("add", obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    def _update(self, old, new):
        assert int(old["metadata"]["resourceVersion"]) < int(new["metadata"]["resourceVersion"])
        self.events.append(("update", new["metadata"]["name"], new["metadata"]["resourceVersion"]))

    def _delete(self, obj):
        self.events.append(("delete", obj["metadata"]["name"]))

    def named(self, name: str) -> list[str]:
        return [e[0] for e in self.events if e[1] == name]


class Proxy:
    """A TCP proxy to the server that can cut every connection and refuse new ones."""

    def __init__(self, port: int):
        self.target_port = port
        self.blocked = False
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.block()
        self._server.close()
        await self._server.wait_closed()

    def block(self) -> None:
        self.blocked = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def unblock(self) -> None:
        self.blocked = False

    async def _handle(self, reader, writer) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@pytest.fixture
async def api(server):
    async with ApiClient.from_kubeconfig(server.kubeconfig) as client:
        yield client


@pytest.fixture
async def running():
    """start(informer) runs it in a task that the test's end cancels."""
    tasks = []

    def start(informer: Informer) -> Informer:
        tasks.append(asyncio.create_task(informer.run()))
        return informer

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def proxied():
    """proxied(server) -> (Proxy, ApiClient that goes through it)."""
    made = []

    async def make(server):
        proxy = Proxy(server.port)
        await proxy.start()
        config = dataclasses.replace(load_kubeconfig(server.kubeconfig), server=f"https://127.0.0.1:{proxy.port}")
        client = ApiClient(config, request_timeout=5)
        made.append((proxy, client))
        return proxy, client

    yield make
    for proxy, client in made:
        await client.close()
        await proxy.stop()


def fast_backoff() -> Backoff:
    return Backoff(0.05, 0.2, jitter=0.5)


# --- tests -----------------------------------------------------------------------------------


async def test_list_then_watch_sees_every_change_in_order(api, running):
    n = await namespace(api, "order")
    await api.create(CM, cm("before"), namespace=n)
    informer = running(Informer(api, CM, namespace=n))
    rec = Recorder(informer)
    await asyncio.wait_for(informer.wait_synced(), 10)
    assert rec.events == [("add", "before", rec.events[0][2])]
    a = await api.create(CM, cm("a"), namespace=n)
    a1 = await api.patch(CM, "a", {"data": {"v": "1"}}, namespace=n)
    await api.delete(CM, "before", namespace=n)
    a2 = await api.patch(CM, "a", {"data": {"v": "2"}}, namespace=n)
    await api.delete(CM, "a", namespace=n)
    await until(lambda: len(rec.events) == 6, what="6 events")
    rv = lambda obj: obj["metadata"]["resourceVersion"]  # noqa: E731
    assert rec.events[1:] == [("add", "a", rv(a)), ("update", "a", rv(a1)), ("delete", "before"),
                              ("update", "a", rv(a2)), ("delete", "a")]
    assert len(informer.store) == 0


async def test_watch_ended_by_the_server_is_resumed_without_duplicates_or_gaps(api, running):
    n = await namespace(api, "resume")
    informer = running(Informer(api, CM, namespace=n, watch_timeout=1))
    rec = Recorder(informer)
    await informer.wait_synced()
    expected: list[tuple] = []
    i = 0
    # Keep writing while the server ends the informer's watch (timeoutSeconds=1) three times.
    while informer.stats["watches"] < 4:
        name = f"cm-{i % 3}"
        if i % 5 == 4:
            await api.delete(CM, name, namespace=n)
            expected.append(("delete", name))
        else:
            try:
                obj = await api.patch(CM, name, {"data": {"v": str(i)}}, namespace=n)
                expected.append(("update", name, obj["metadata"]["resourceVersion"]))
            except errors.NotFound:
                obj = await api.create(CM, cm(name, str(i)), namespace=n)
                expected.append(("add", name, obj["metadata"]["resourceVersion"]))
        i += 1
        await asyncio.sleep(0.05)  # pacing the writer across watch windows, not waiting for state
        assert i < 400, "the server never ended the watch"
    await until(lambda: len(rec.events) >= len(expected), what="every write seen")
    assert rec.events == expected
    assert informer.stats["relists"] == 0 and informer.stats["lists"] == 1
    assert informer.stats["events_bookmark"] >= 1  # sent before each timeout


async def test_network_break_is_resumed_from_the_last_resource_version(server, api, running, proxied):
    n = await namespace(api, "network")
    proxy, through_proxy = await proxied(server)
    informer = running(Informer(through_proxy, CM, namespace=n, backoff=fast_backoff()))
    rec = Recorder(informer)
    await informer.wait_synced()
    await api.create(CM, cm("a"), namespace=n)
    await until(lambda: rec.named("a") == ["add"])
    proxy.block()
    changed = await api.patch(CM, "a", {"data": {"v": "while-broken"}}, namespace=n)
    await until(lambda: informer.stats["errors"] >= 2, what="retries while the network is down")
    proxy.unblock()
    await until(lambda: rec.named("a") == ["add", "update"], what="the change made while broken")
    assert rec.events[-1] == ("update", "a", changed["metadata"]["resourceVersion"])
    assert informer.stats["lists"] == 1 and informer.stats["relists"] == 0


async def test_field_and_label_selector_informers(api, running):
    n = await namespace(api, "selectors")
    pods = running(Informer(api, POD, namespace=n, field_selector="spec.nodeName=node-a",
                            indexers={"node": node_name_index}))
    pod_events = Recorder(pods)
    labelled = running(Informer(api, CM, namespace=n, label_selector="app=web"))
    cm_events = Recorder(labelled)
    await asyncio.gather(pods.wait_synced(), labelled.wait_synced())
    for name, node in (("on-a", "node-a"), ("on-b", "node-b"), ("unbound", ""), ("on-a-2", "node-a")):
        spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
        if node:
            spec["nodeName"] = node
        await api.create(POD, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec},
                         namespace=n)
    await api.delete(POD, "on-a-2", namespace=n, grace_period_seconds=0)
    await api.create(CM, cm("web", labels={"app": "web"}), namespace=n)
    await api.create(CM, cm("db", labels={"app": "db"}), namespace=n)
    await api.patch(CM, "web", {"metadata": {"labels": {"app": "other"}}}, namespace=n)  # stops matching
    await until(lambda: len(pod_events.events) == 3 and len(cm_events.events) == 2)
    assert [e[:2] for e in pod_events.events] == [("add", "on-a"), ("add", "on-a-2"), ("delete", "on-a-2")]
    assert [p["metadata"]["name"] for p in pods.store.by_index("node", "node-a")] == ["on-a"]
    assert [e[:2] for e in cm_events.events] == [("add", "web"), ("delete", "web")]
    assert len(labelled.store) == 0


@pytest.fixture(scope="module")
def compacting_server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "--compaction-interval", "1", "--watch-history", "1")
    yield srv
    srv.stop()


async def test_expired_watch_relists_and_the_cache_converges(compacting_server, running, proxied):
    async with ApiClient.from_kubeconfig(compacting_server.kubeconfig) as api:
        n = await namespace(api, "relist")
        for name in ("keep", "change", "gone", "gone-too"):
            await api.create(CM, cm(name), namespace=n)
        proxy, through_proxy = await proxied(compacting_server)
        informer = running(Informer(through_proxy, CM, namespace=n, backoff=fast_backoff()))
        rec = Recorder(informer)
        await informer.wait_synced()
        assert sorted(e[1] for e in rec.events) == ["change", "gone", "gone-too", "keep"]
        rec.events.clear()
        proxy.block()
        stale_rv = informer.last_sync_resource_version
        await api.delete(CM, "gone", namespace=n)
        await api.delete(CM, "gone-too", namespace=n)
        changed = await api.patch(CM, "change", {"data": {"v": "1"}}, namespace=n)
        added = await api.create(CM, cm("new"), namespace=n)
        await until_expired(api, n, stale_rv)
        proxy.unblock()
        await until(lambda: informer.stats["relists"] >= 1 and len(rec.events) == 4, timeout=15,
                    what="relist and its synthetic events")
        assert sorted(rec.events) == sorted([
            ("delete", "gone"), ("delete", "gone-too"),
            ("update", "change", changed["metadata"]["resourceVersion"]),
            ("add", "new", added["metadata"]["resourceVersion"])])
        assert sorted(informer.store.keys()) == [f"{n}/change", f"{n}/keep", f"{n}/new"]
        assert informer.stats["lists"] == 2


async def until_expired(api: ApiClient, n: str, rv: str, timeout: float = 15.0) -> None:
    """Poll until a watch from rv is answered 410 Expired (history and compaction passed it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with api.watch(CM, namespace=n, resource_version=rv, timeout_seconds=1) as stream:
                async for _ in stream:
                    break  # still served from history
        except errors.Expired as exc:
            assert "too old resource version" in exc.message and exc.code == 410
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"a watch from {rv} never expired")
