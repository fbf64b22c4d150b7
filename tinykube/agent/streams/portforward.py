"""Port-forward: the portforward.k8s.io protocol over SPDY streams, as the kubelet serves it.

For every local connection kubectl opens two SPDY streams with the same `requestID`
header: an error stream (the client only reads it) and a data stream, both carrying
`port`. Once both arrived we connect to 127.0.0.1:port inside the pod's network
namespace and copy both ways; the pod closing its side ends the data stream (FIN), the
client's FIN half-closes the pod connection. A failure is written on the error stream
("error forwarding port 80 to pod web, uid ...: ...") before it is closed. PINGs are
echoed (kubectl pings every 10 s). The session reads bytes from `receive()` and writes
frames through `send(bytes)`; both are given by the transport (WebSocket tunnel).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field

from tinykube.agent.streams import spdy

log = logging.getLogger(__name__)
READ_SIZE = 256 * 1024   # the pod's bytes are read and framed this much at a time
SMALL = 16 * 1024        # a smaller chunk is sent in one message with its frame header


@dataclass
class Stream:
    id: int
    kind: str
    port: int
    request_id: str
    inbound: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes; b"" = FIN


class PortForwardSession:
    def __init__(self, *, send, connect, pod_name: str, pod_uid: str, write_message=None, drain=None):
        """`connect(port)` opens (reader, writer) to the port in the pod. `write_message`
        (a list of byte strings forming one WebSocket message, written at once) and
        `drain` (awaited after it), when given, carry the data frames: the fast path."""
        self.send_raw, self.connect = send, connect
        self.write_message, self.drain = write_message, drain
        self.pod_name, self.pod_uid = pod_name, pod_uid
        self.reader, self.writer = spdy.FrameReader(), spdy.FrameWriter()
        self.streams: dict[int, Stream] = {}
        self.pending: dict[str, dict[str, Stream]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.lock = asyncio.Lock()
        self.done = False

    async def send(self, make) -> None:
        """Encode and send under one lock: the header compressor's state is ordered."""
        async with self.lock:
            await self.send_raw(make(self.writer))

    async def send_data(self, stream_id: int, chunk: bytes) -> None:
        """A data frame as two sends, its 8-byte header and the chunk itself: the tunnel is
        a byte stream (client-go reads WebSocket messages back to back), and a large chunk
        is not copied to glue the header on. Small ones are glued: one message is cheaper."""
        header = spdy.data_header(stream_id, len(chunk))
        if self.write_message is not None:
            self.write_message([header, chunk])  # synchronous: frames cannot interleave
            await self.drain()
            return
        async with self.lock:
            if len(chunk) < SMALL:
                await self.send_raw(header + chunk)
            else:
                await self.send_raw(header)
                await self.send_raw(chunk)

    async def feed(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            await self.on_frame(frame)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def on_frame(self, frame: spdy.Frame) -> None:
        if frame.kind == "data":
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                if frame.data:
                    stream.inbound.put_nowait(frame.data)
                if frame.fin:
                    stream.inbound.put_nowait(b"")
        elif frame.kind == spdy.SYN_STREAM:
            await self.on_syn_stream(frame)
        elif frame.kind == spdy.PING:
            await self.send(lambda w: w.ping(frame.ping_id))
        elif frame.kind == spdy.RST_STREAM:
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream.inbound.put_nowait(None)
        elif frame.kind == spdy.GOAWAY:
            self.done = True

    async def on_syn_stream(self, frame: spdy.Frame) -> None:
        h = frame.headers
        kind, request_id = h.get("streamtype", ""), h.get("requestid", str(frame.stream_id))
        try:
            port = int(h.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("data", "error"):
            await self.send(lambda w: w.rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        stream = Stream(frame.stream_id, kind, port, request_id)
        self.streams[stream.id] = stream
        await self.send(lambda w: w.syn_reply(stream.id))
        pair = self.pending.setdefault(request_id, {})
        pair[kind] = stream
        if len(pair) == 2:
            del self.pending[request_id]
            task = asyncio.ensure_future(self.forward(pair["data"], pair["error"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def forward(self, data: Stream, error: Stream) -> None:
        try:
            await self._forward(data)
        except Exception as exc:  # reported to the client on its error stream
            message = f"error forwarding port {data.port} to pod {self.pod_name}, uid {self.pod_uid}: {exc}"
            log.info("%s", message)
            await self.send(lambda w: w.data(error.id, message.encode()))
        finally:
            await self.send(lambda w: w.data(data.id, b"", fin=True))
            await self.send(lambda w: w.data(error.id, b"", fin=True))
            self.streams.pop(data.id, None)
            self.streams.pop(error.id, None)

    async def _forward(self, data: Stream) -> None:
        if not 0 < data.port < 65536:
            raise ValueError(f"invalid port {data.port}")
        reader, writer = await self.connect(data.port)
        to_pod = asyncio.ensure_future(_client_to_pod(data, writer))
        try:
            while chunk := await reader.read(READ_SIZE):
                await self.send_data(data.id, chunk)
        finally:
            to_pod.cancel()
            await asyncio.gather(to_pod, return_exceptions=True)
            writer.close()


def websocket_header(length: int) -> bytes:
    """The header of an unmasked, final, binary WebSocket frame (RFC 6455 5.2): what a
    server sends."""
    if length < 126:
        return bytes((0x82, length))
    if length < 65536:
        return bytes((0x82, 126)) + length.to_bytes(2, "big")
    return bytes((0x82, 127)) + length.to_bytes(8, "big")


class PodConnection(asyncio.Protocol):
    """The connection into the pod, as (reader, writer) in one: a received chunk is handed
    over as it is, never copied through a StreamReader's buffer (two copies per chunk
    saved, a third of the agent's work per forwarded byte); reading from the pod pauses
    while more than HIGH_WATER bytes wait for the client."""

    HIGH_WATER = 1 << 20

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.queued, self.ended, self.reading_paused = 0, False, False
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()

    # the protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        self.readable.set()
        if self.queued > self.HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.ended = True
        self.readable.set()
        return True  # half-closed: the client may still send

    def connection_lost(self, exc) -> None:
        self.ended = True
        self.readable.set()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # the reader
    async def read(self, n: int = -1) -> bytes:
        """The next chunk as received (n is not a limit); b"" at the end."""
        while not self.chunks:
            if self.ended:
                return b""
            self.readable.clear()
            await self.readable.wait()
        chunk = self.chunks.popleft()
        self.queued -= len(chunk)
        if self.reading_paused and self.queued <= self.HIGH_WATER // 2 and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk

    # the writer
    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("the pod closed the connection")
        await self.writable.wait()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self.transport.is_closing():
            self.transport.write_eof()

    def close(self) -> None:
        self.transport.close()


async def _client_to_pod(stream: Stream, writer: asyncio.StreamWriter) -> None:
    while True:
        chunk = await stream.inbound.get()
        if chunk is None:  # reset
            writer.close()
            return
        if not chunk:  # FIN: the client sends no more
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(chunk)
        await writer.drain()
