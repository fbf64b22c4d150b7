"""Port-forward's fast path, the pure and socket-level parts: the WebSocket header the
agent writes itself, and the pod connection that hands chunks over as views of its buffer."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tinykube.agent.streams.portforward import PodConnection, websocket_header
from tinykube.util.buffers import next_buffer


@pytest.mark.parametrize("length, header", [
    (0, b"\x82\x00"), (125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"), (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f" + (65536).to_bytes(8, "big")), (1 << 20, b"\x82\x7f" + (1 << 20).to_bytes(8, "big")),
])
def test_websocket_header_is_rfc6455s(length, header):
    assert websocket_header(length) == header


async def test_pod_connection_delivers_views_writes_and_half_closes():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(PodConnection, sock=ours)
    theirs.sendall(b"x" * 5000)
    got, kinds = [], set()

    def sink(view):
        kinds.add(type(view))
        got.append(bytes(view))  # a view of the read buffer: used up before returning

    delivery = asyncio.ensure_future(conn.deliver(sink))
    async with asyncio.timeout(5):
        while sum(map(len, got)) < 5000:
            await asyncio.sleep(0.01)
    assert b"".join(got) == b"x" * 5000 and kinds == {memoryview}
    conn.write(b"to the pod")
    await conn.drain()
    conn.write_eof()
    assert theirs.recv(100) == b"to the pod" and theirs.recv(100) == b""  # our FIN
    theirs.sendall(b"late")  # half-closed: the pod may still answer
    theirs.close()
    await asyncio.wait_for(delivery, 5)  # the pod's EOF ends the delivery
    assert b"".join(got) == b"x" * 5000 + b"late"
    conn.close()


async def test_pod_connection_waits_for_a_sink_and_pauses():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    _, conn = await asyncio.get_running_loop().create_connection(PodConnection, sock=ours)
    theirs.sendall(b"early")
    await asyncio.sleep(0.05)
    assert conn.reading_paused  # nothing read before there is a sink
    got = []
    delivery = asyncio.ensure_future(conn.deliver(lambda view: got.append(bytes(view))))
    async with asyncio.timeout(5):
        while not got:
            await asyncio.sleep(0.01)
    conn.pause_reading()
    theirs.sendall(b"later")
    await asyncio.sleep(0.05)
    assert got == [b"early"]
    conn.resume_reading()
    async with asyncio.timeout(5):
        while len(got) < 2:
            await asyncio.sleep(0.01)
    assert got == [b"early", b"later"]
    theirs.close()
    await asyncio.wait_for(delivery, 5)
    conn.close()


def test_a_buffer_still_shown_by_a_view_is_not_reused():
    class Owner:
        buffer = bytearray(16)

    owner = Owner()
    first = id(owner.buffer)  # (a reference kept here would count as a holder)
    owner.buffer = next_buffer(owner.buffer, 5, 64)
    assert id(owner.buffer) == first
    kept = memoryview(owner.buffer)[:4]  # what a transport that had to wait would hold
    owner.buffer = next_buffer(owner.buffer, 5, 64)
    assert id(owner.buffer) != first and kept.obj is not owner.buffer and len(owner.buffer) == 16
    second = id(owner.buffer)
    del kept
    owner.buffer = next_buffer(owner.buffer, 5, 64)
    assert id(owner.buffer) == second


@pytest.mark.parametrize("size, last_read, grown", [(16, 16, 32), (32, 32, 64), (64, 64, 64), (16, 15, 16)])
def test_a_buffer_a_read_filled_doubles_up_to_the_maximum(size, last_read, grown):
    assert len(next_buffer(bytearray(size), last_read, 64)) == grown
