"""The plain SPDY/3.1 upgrade (kubectl before 1.30, or KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false).

kubectl 1.27-1.29 run exec and attach, and kubectl up to 1.30 runs port-forward, over a
SPDY/3.1 connection made by an HTTP upgrade (`Upgrade: SPDY/3.1`, the protocol version
offered in `X-Stream-Protocol-Version` headers) instead of a WebSocket. The kubelet
answers 101 with the version it chose; then every request is a SPDY stream the client
opens, named by its `streamType` header.

- `accept_upgrade`: the 101 answer, and the upgraded connection's bytes from then on
  (aiohttp hands them to a payload parser of ours, as the API server's relay does).
- `SpdyChannels`: exec and attach over SPDY streams look like the channel WebSocket
  (`send_bytes` of [channel, data...], async iteration of messages) to ExecSession and the
  attach functions: stdin 0, stdout 1, stderr 2, error 3 (the v4 Status), resize 4; the
  client's FIN of stdin arrives as the v5 close message [255, 0]. Before anything runs it
  waits for the streams the request implies (the kubelet's waitForStreams: error always,
  stdin/stdout/stderr as asked, stderr not with a TTY, resize with one).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from tinykube.agent.streams import channels, spdy

SPDY_UPGRADE = "SPDY/3.1"
# what the kubelet serves over SPDY, best first (v1-v3 have no structured exit status)
EXEC_VERSIONS = ("v4.channel.k8s.io",)
PORTFORWARD_VERSIONS = ("portforward.k8s.io",)
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's streamCreationTimeout default
STREAM_CHANNELS = {"stdin": channels.STDIN, "stdout": channels.STDOUT, "stderr": channels.STDERR,
                   "error": channels.ERROR, "resize": channels.RESIZE}
CHANNEL_STREAMS = {channel: kind for kind, channel in STREAM_CHANNELS.items()}


def is_spdy_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == SPDY_UPGRADE.lower()


def offered_versions(request: web.Request) -> list[str]:
    """X-Stream-Protocol-Version, repeated or comma-separated."""
    return [v.strip() for header in request.headers.getall("X-Stream-Protocol-Version", [])
            for v in header.split(",") if v.strip()]


class _Incoming:
    """aiohttp's payload-parser interface: the upgraded connection's bytes go to `feed`."""

    def __init__(self, feed):
        self.feed, self.ended = feed, asyncio.get_running_loop().create_future()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.feed(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


@dataclass
class Upgraded:
    """The connection after the 101: `write(parts)` sends bytes, `ended` resolves at EOF."""

    response: web.StreamResponse
    transport: asyncio.Transport
    protocol: object
    incoming: _Incoming

    def write(self, parts: list) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the API server closed the connection")
        self.transport.writelines(parts)

    @property
    def writing_paused(self) -> bool:
        return self.protocol.writing_paused

    async def drain(self) -> None:
        if self.protocol.writing_paused:
            await self.protocol._drain_helper()  # what aiohttp's own writers await

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def accept_upgrade(request: web.Request, versions: tuple[str, ...], feed) -> Upgraded | None:
    """Answer the SPDY upgrade with the first of `versions` the client offered (None and
    nothing sent when it offered none: the caller answers 400); bytes received from then
    on are given to `feed(data)`."""
    offered = offered_versions(request)
    chosen = next((v for v in versions if v in offered), None)
    if chosen is None:
        return None
    response = web.StreamResponse(status=101, headers={
        "Connection": "Upgrade", "Upgrade": SPDY_UPGRADE, "X-Stream-Protocol-Version": chosen})
    response.force_close()
    await response.prepare(request)
    incoming = _Incoming(feed)
    request.protocol.set_parser(incoming)
    request.protocol.keep_alive(False)
    return Upgraded(response, request.transport, request.protocol, incoming)


def expected_streams(*, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:
    """The streams the kubelet waits for before it runs the command."""
    wanted = {"error"}
    if stdin:
        wanted.add("stdin")
    if stdout:
        wanted.add("stdout")
    if stderr and not tty:
        wanted.add("stderr")
    if tty:
        wanted.add("resize")
    return wanted


class _Message:
    """What ExecSession and attach read of an aiohttp WebSocket message."""

    class type:  # noqa: N801 - mirrors aiohttp's WSMessage.type.name
        name = "BINARY"

    def __init__(self, data: bytes):
        self.data = data


class SpdyChannels:
    """exec/attach channels over the SPDY streams of one upgraded connection (see above)."""

    def __init__(self):
        self.reader, self.writer = spdy.FrameReader(), spdy.FrameWriter()
        self.upgraded: Upgraded | None = None
        self.streams: dict[str, int] = {}      # streamType -> stream id
        self.by_id: dict[int, str] = {}
        self.inbound: asyncio.Queue = asyncio.Queue()  # messages for the session; None: the end
        self.created = asyncio.Event()
        self.wanted: set[str] = set()
        self.finished: set[str] = set()  # streams we ended (FIN)
        self.closed = False

    # --- bytes in ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except spdy.ProtocolError:
            self._end()
            return
        for frame in frames:
            self._on_frame(frame)

    def _on_frame(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            kind = frame.headers.get("streamtype", "")
            if kind not in STREAM_CHANNELS:
                self._send(self.writer.rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
                return
            self.streams[kind], self.by_id[frame.stream_id] = frame.stream_id, kind
            self._send(self.writer.syn_reply(frame.stream_id))
            if self.wanted <= set(self.streams):
                self.created.set()
        elif frame.kind == "data":
            kind = self.by_id.get(frame.stream_id)
            if kind in ("stdin", "resize") and frame.data:
                self.inbound.put_nowait(_Message(channels.encode(STREAM_CHANNELS[kind], frame.data)))
            if kind == "stdin" and frame.fin:
                self.inbound.put_nowait(_Message(bytes((channels.CLOSE, channels.STDIN))))
        elif frame.kind == spdy.PING:
            self._send(self.writer.ping(frame.ping_id))
        elif frame.kind == spdy.GOAWAY:
            self._end()

    def _end(self) -> None:
        self.inbound.put_nowait(None)
        self.created.set()

    async def wait_for_streams(self, wanted: set[str], timeout: float = STREAM_CREATION_TIMEOUT) -> bool:
        """True once every wanted stream was opened by the client."""
        self.wanted = wanted
        if wanted <= set(self.streams):
            return True
        try:
            await asyncio.wait_for(self.created.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return wanted <= set(self.streams)

    # --- what ExecSession and attach use of a WebSocket -----------------------------------------

    async def send_bytes(self, data: bytes) -> None:
        message = channels.decode(data)
        if message is None or self.closed:
            return
        kind = CHANNEL_STREAMS.get(message.channel, "")
        stream_id = self.streams.get(kind)
        if stream_id is None:
            return
        fin = message.channel == channels.ERROR  # the Status is the error stream's last word
        if fin:
            self.finished.add(kind)
        self._send(self.writer.data(stream_id, message.data, fin=fin))
        if self.upgraded is not None:
            await self.upgraded.drain()

    def __aiter__(self):
        return self

    async def __anext__(self) -> _Message:
        message = await self.inbound.get()
        if message is None:
            self.inbound.put_nowait(None)  # every later reader sees the end too
            raise StopAsyncIteration
        return message

    async def close(self) -> None:
        """FIN on every stream we write, then the connection goes."""
        if self.closed:
            return
        for kind in ("stdout", "stderr", "error"):
            if kind in self.streams and kind not in self.finished:
                self._send(self.writer.data(self.streams[kind], b"", fin=True))
        self.closed = True
        if self.upgraded is not None:
            self.upgraded.close()

    def _send(self, frame: bytes) -> None:
        if self.upgraded is not None and not self.closed:
            try:
                self.upgraded.write([frame])
            except ConnectionError:
                self.closed = True
