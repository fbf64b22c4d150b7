"""The watch handler's stream: events already queued go out without a loop round each."""

import asyncio
import types

from tinykube.apiserver.handlers import WatchStream
from tinykube.apiserver.watchcache import ADDED, Entry, Watcher


class FakeResponse:
    def __init__(self):
        self.lines: list[bytes] = []

    def enable_chunked_encoding(self):
        pass

    async def prepare(self, request):
        pass

    async def write(self, data: bytes):
        self.lines.append(data)


async def test_a_queued_backlog_is_sent_without_one_loop_round_per_event():
    watcher = Watcher("/registry/core/configmaps/", lambda obj: True, capacity=10_000)
    for i in range(2000):
        watcher.queue.append((ADDED, Entry(f"/registry/core/configmaps/ns/c{i}", i + 1,
                                           {"metadata": {"name": f"c{i}", "resourceVersion": str(i + 1)}})))
    watcher.close()  # closed after its backlog: the stream ends once everything is sent
    stream = WatchStream(types.SimpleNamespace(query={}), types.SimpleNamespace(stored_as=None), watcher,
                         bookmarks=False, table=False, initial_events_end=False)
    stream.response = FakeResponse()
    rounds = 0

    async def ticker():  # counts event loop rounds, as other requests would take them
        nonlocal rounds
        while True:
            rounds += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await asyncio.wait_for(stream.serve(timeout=30), 10)
    ticking.cancel()
    assert len(stream.response.lines) == 2000
    assert b'"name":"c1999"' in stream.response.lines[-1]
    assert rounds < 50  # one round per event before: a busy server starved its watchers
