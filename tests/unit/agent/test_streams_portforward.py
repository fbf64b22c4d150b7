"""Port-forward's fast path, the pure and socket-level parts: the WebSocket header the
agent writes itself, and the pod connection that hands chunks over as received."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tinykube.agent.streams.portforward import PodConnection, websocket_header


@pytest.mark.parametrize("length, header", [
    (0, b"\x82\x00"), (125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"), (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f" + (65536).to_bytes(8, "big")), (1 << 20, b"\x82\x7f" + (1 << 20).to_bytes(8, "big")),
])
def test_websocket_header_is_rfc6455s(length, header):
    assert websocket_header(length) == header


async def test_pod_connection_reads_writes_half_closes_and_pauses():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(PodConnection, sock=ours)
    conn.HIGH_WATER = 1000
    theirs.sendall(b"x" * 5000)
    async with asyncio.timeout(5):
        while conn.queued <= conn.HIGH_WATER:
            await asyncio.sleep(0.01)
    assert conn.reading_paused  # nobody reads: the pod is not read any further
    got = b""
    while len(got) < 5000:
        got += await asyncio.wait_for(conn.read(), 5)
    assert got == b"x" * 5000 and not conn.reading_paused  # read below the mark: resumed
    conn.write(b"to the pod")
    await conn.drain()
    conn.write_eof()
    assert theirs.recv(100) == b"to the pod" and theirs.recv(100) == b""  # our FIN
    theirs.sendall(b"late")  # half-closed: the pod may still answer
    theirs.close()
    rest = b""
    while chunk := await asyncio.wait_for(conn.read(), 5):
        rest += chunk
    assert rest == b"late"
    conn.close()
