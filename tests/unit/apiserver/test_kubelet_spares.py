"""The API server's spare connection to a kubelet API (kubelet.KubeletClient): dialed
after an upgraded request, taken by the next one, dialed anew when it died or expired.
A plain-TCP fake kubelet API on 127.0.0.1 counts the connections it accepts."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.apiserver import kubelet as kubelets


class PlainKubeletClient(kubelets.KubeletClient):
    ssl = None  # the fake kubelet API speaks plain TCP


class Conn(asyncio.Protocol):
    def __init__(self):
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class FakeKubelet:
    def __init__(self):
        self.accepted: list[asyncio.StreamWriter] = []
        self.server = None

    async def __aenter__(self):
        async def accept(reader, writer):
            self.accepted.append(writer)
        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self.accepted:
            w.close()
        self.server.close()

    async def wait_accepted(self, n: int) -> None:
        async def poll():
            while len(self.accepted) < n:
                await asyncio.sleep(0.005)
        await asyncio.wait_for(poll(), 5)


async def spare_ready(client, port) -> None:
    await asyncio.wait_for(asyncio.shield(client._spares[("127.0.0.1", port)]), 5)


def run(coro):
    return asyncio.run(coro)


def test_the_next_connect_takes_the_spare_without_dialing():
    async def scenario():
        async with FakeKubelet() as fake:
            client = PlainKubeletClient("/nonexistent")
            first, reused = await client.connect("127.0.0.1", fake.port, Conn)
            assert not reused
            client.prepare_spare("127.0.0.1", fake.port, Conn)
            await spare_ready(client, fake.port)
            second, reused = await client.connect("127.0.0.1", fake.port, Conn)
            assert reused and second is not first
            assert len(fake.accepted) == 2  # the first and the spare: no dial for the second
            await client.close()
    run(scenario())


def test_a_spare_the_kubelet_closed_is_replaced_by_a_new_connection():
    async def scenario():
        async with FakeKubelet() as fake:
            client = PlainKubeletClient("/nonexistent")
            client.prepare_spare("127.0.0.1", fake.port, Conn)
            await spare_ready(client, fake.port)
            await fake.wait_accepted(1)
            spare = client._spares[("127.0.0.1", fake.port)].result()[1]
            fake.accepted[0].close()
            await asyncio.wait_for(spare.lost, 5)
            conn, reused = await client.connect("127.0.0.1", fake.port, Conn)
            assert not reused and conn is not spare
            await fake.wait_accepted(2)
            await client.close()
    run(scenario())


def test_an_unused_spare_is_closed_after_spare_seconds(monkeypatch):
    monkeypatch.setattr(kubelets, "SPARE_SECONDS", 0.05)

    async def scenario():
        async with FakeKubelet() as fake:
            client = PlainKubeletClient("/nonexistent")
            client.prepare_spare("127.0.0.1", fake.port, Conn)
            await spare_ready(client, fake.port)
            spare = client._spares[("127.0.0.1", fake.port)].result()[1]
            await asyncio.wait_for(spare.lost, 5)
            assert ("127.0.0.1", fake.port) not in client._spares
            _, reused = await client.connect("127.0.0.1", fake.port, Conn)
            assert not reused
            await client.close()
    run(scenario())


def test_an_unreachable_kubelet_is_an_oserror():
    async def scenario():
        client = PlainKubeletClient("/nonexistent")
        with pytest.raises(OSError):
            await client.connect("127.0.0.1", 1, Conn)
    run(scenario())
