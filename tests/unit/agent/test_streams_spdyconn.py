"""exec/attach channels over SPDY streams (kubectl < 1.30), as tables over SPDY frames."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.agent.streams import channels, spdy
from tinykube.agent.streams.spdyconn import SpdyChannels, expected_streams


@pytest.mark.parametrize("flags, wanted", [
    ({"stdin": False, "stdout": True, "stderr": True, "tty": False}, {"error", "stdout", "stderr"}),
    ({"stdin": True, "stdout": True, "stderr": True, "tty": True}, {"error", "stdin", "stdout", "resize"}),
    ({"stdin": True, "stdout": False, "stderr": False, "tty": False}, {"error", "stdin"}),
])
def test_expected_streams_as_the_kubelet_waits_for_them(flags, wanted):
    assert expected_streams(**flags) == wanted


class FakeUpgraded:
    """The upgraded connection, writes kept (a fake)."""

    def __init__(self):
        self.sent = bytearray()
        self.closed = False

    def write(self, parts):
        self.sent += b"".join(bytes(p) for p in parts)

    async def drain(self):
        pass

    def close(self):
        self.closed = True


def client_frames(*frames: bytes) -> bytes:
    return b"".join(frames)


async def test_streams_become_channels_both_ways():
    conn, upgraded, client = SpdyChannels(), FakeUpgraded(), spdy.FrameWriter()
    conn.upgraded = upgraded
    waiting = asyncio.ensure_future(conn.wait_for_streams({"error", "stdin", "stdout", "resize"}))
    conn.feed(client_frames(client.syn_stream(1, {"streamType": "error"}), client.syn_stream(3, {"streamType": "stdin"}),
                            client.syn_stream(5, {"streamType": "stdout"})))
    await asyncio.sleep(0)
    assert not waiting.done()  # resize still missing
    conn.feed(client.syn_stream(7, {"streamType": "resize"}))
    assert await asyncio.wait_for(waiting, 1)
    replies = [f for f in spdy.FrameReader().feed(bytes(upgraded.sent)) if f.kind == spdy.SYN_REPLY]
    assert [f.stream_id for f in replies] == [1, 3, 5, 7]
    # client -> session: stdin data, a resize, stdin's FIN as the v5 close message
    conn.feed(client.data(3, b"ls\n") + client.data(7, b'{"Width":120,"Height":40}') + client.data(3, b"", fin=True))
    got = [m.data async for m in _take(conn, 3)]
    assert got == [b"\x00ls\n", b'\x04{"Width":120,"Height":40}', bytes((channels.CLOSE, channels.STDIN))]
    # session -> client: stdout as stream 5, the Status on the error stream with FIN
    upgraded.sent.clear()
    await conn.send_bytes(channels.encode(channels.STDOUT, b"hi\n"))
    await conn.send_bytes(channels.status_message(channels.exit_status(["true"], 0)))
    await conn.close()
    frames = spdy.FrameReader().feed(bytes(upgraded.sent))
    assert [(f.stream_id, f.data, f.fin) for f in frames] == [
        (5, b"hi\n", False), (1, b'{"metadata": {}, "status": "Success"}', True), (5, b"", True)]
    assert upgraded.closed


async def test_an_unknown_stream_type_is_refused():
    conn, upgraded = SpdyChannels(), FakeUpgraded()
    conn.upgraded = upgraded
    conn.feed(spdy.FrameWriter().syn_stream(1, {"streamType": "bogus"}))
    (frame,) = spdy.FrameReader().feed(bytes(upgraded.sent))
    assert (frame.kind, frame.stream_id, frame.status) == (spdy.RST_STREAM, 1, spdy.RST_PROTOCOL_ERROR)


async def _take(conn, n):
    for _ in range(n):
        yield await asyncio.wait_for(conn.__anext__(), 1)
