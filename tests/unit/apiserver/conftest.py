"""Fixtures shared by the API server's unit tests."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.api.registry import REGISTRY
from tinykube.apiserver.resources import Resources, WriteContext
from tinykube.apiserver.watchcache import WatchCache
from tinykube.storage.sqlite import SqliteStore

NS = "ns"


@pytest.fixture
async def res(tmp_path):
    """Resources over a real SQLite store and watch cache, with namespace "ns" and its
    default ServiceAccount."""
    store = SqliteStore(str(tmp_path / "db.sqlite"))
    await store.start()
    cache = WatchCache(store, history_seconds=300)
    task = asyncio.create_task(cache.run())
    await cache.ready.wait()
    resources = Resources(store, cache)
    for plural, obj in (("namespaces", {"metadata": {"name": NS}}),
                        ("serviceaccounts", {"metadata": {"name": "default", "namespace": NS}})):
        rt = REGISTRY.by_plural("", "v1", plural)
        await resources.create(rt, NS if rt.namespaced else "", dict(obj, apiVersion="v1", kind=rt.kind),
                               WriteContext(field_manager="test"))
    yield resources
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.close()
