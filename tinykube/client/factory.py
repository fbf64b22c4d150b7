"""InformerFactory: client-go's SharedInformerFactory.

One Informer per (resource, label selector, field selector), shared by every controller
that asks for it, so N controllers watching pods cost one list and one watch. Ask for
informers (and add their handlers) before `run()`; one asked for while running starts
at once (its handlers then see the cached objects as adds, see Informer).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tinykube.client import rest
from tinykube.client.informer import Informer
from tinykube.client.store import IndexFunc


class InformerFactory:
    def __init__(self, client: rest.ApiClient, *, namespace: str = "", **options: Any):
        self.client = client
        self.namespace = namespace
        self.options = options  # passed to every Informer (watch_timeout, backoff, ...)
        self._informers: dict[tuple, Informer] = {}
        self._tasks: dict[tuple, asyncio.Task] = {}
        self._running = False

    def informer(self, resource: rest.Resource, *, label_selector: str = "", field_selector: str = "",
                 indexers: dict[str, IndexFunc] | None = None) -> Informer:
        rt = rest.resolve(resource)
        key = (rt.group, rt.version, rt.plural, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, rt, namespace=self.namespace, label_selector=label_selector,
                                field_selector=field_selector, **self.options)
            self._informers[key] = informer
            if self._running:
                self._start(key)
        for name, func in (indexers or {}).items():
            informer.store.add_indexer(name, func)
        return informer

    def _start(self, key: tuple) -> None:
        informer = self._informers[key]
        self._tasks[key] = asyncio.create_task(informer.run(), name=f"informer {informer.name}")

    async def run(self) -> None:
        """Run every informer (also those asked for later) until cancelled."""
        self._running = True
        for key in self._informers:
            self._start(key)
        try:
            await asyncio.Event().wait()
        finally:
            self._running = False
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._tasks.clear()

    async def wait_synced(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in self._informers.values()))
