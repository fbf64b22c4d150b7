"""Port-forward: the portforward.k8s.io protocol over SPDY streams, as the kubelet serves it.

For every local connection kubectl opens two SPDY streams with the same `requestID`
header: an error stream (the client only reads it) and a data stream, both carrying
`port`. Once both arrived we connect to 127.0.0.1:port inside the pod's network
namespace and copy both ways; the pod closing its side ends the data stream (FIN), the
client's FIN half-closes the pod connection. A failure is written on the error stream
("error forwarding port 80 to pod web, uid ...: ...") before it is closed. PINGs are
echoed (kubectl pings every 10 s). The session is fed the tunnel's bytes and writes its
frames through `write(parts)`, given by the transport (the WebSocket tunnel).

The download direction is the one that carries bulk: the pod's bytes are read into a
buffer and written out as a data frame from the read callback itself (PodConnection);
see docs/streaming.md for what that saves.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tinykube.agent.streams import spdy
from tinykube.util.buffers import next_buffer

log = logging.getLogger(__name__)


@dataclass
class Stream:
    id: int
    kind: str
    port: int
    request_id: str
    inbound: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes; b"" = FIN


class PortForwardSession:
    def __init__(self, *, write, writing_paused, drain, connect, pod_name: str, pod_uid: str):
        """`write(parts)` sends one WebSocket message made of the byte strings `parts`
        (synchronously, so frames never interleave; views of a buffer are used up before it
        returns); `writing_paused()` says the connection's buffer is full and `drain()`
        waits for it to empty. `connect(port)` opens a PodConnection to the port in the pod."""
        self.write, self.writing_paused, self.drain, self.connect = write, writing_paused, drain, connect
        self.pod_name, self.pod_uid = pod_name, pod_uid
        self.reader, self.writer = spdy.FrameReader(), spdy.FrameWriter()
        self.streams: dict[int, Stream] = {}
        self.pending: dict[str, dict[str, Stream]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.done = False

    def send(self, frame: bytes) -> None:
        self.write([frame])

    def pod_data(self, stream_id: int, chunk: memoryview, conn: "PodConnection") -> None:
        """A chunk the pod sent: one data frame, its header and the chunk in one message
        without gluing them (no copy). A full connection pauses reading from the pod."""
        try:
            self.write([spdy.data_header(stream_id, len(chunk)), chunk])
        except ConnectionError:  # the API server went away: so does the pod connection
            conn.close()
            return
        if self.writing_paused() and not conn.reading_paused:
            conn.pause_reading()
            self._spawn(self._resume_after_drain(conn))

    async def _resume_after_drain(self, conn: "PodConnection") -> None:
        try:
            await self.drain()
        except ConnectionError:
            return
        conn.resume_reading()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def feed(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            self.on_frame(frame)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def on_frame(self, frame: spdy.Frame) -> None:
        if frame.kind == "data":
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                if frame.data:
                    stream.inbound.put_nowait(frame.data)
                if frame.fin:
                    stream.inbound.put_nowait(b"")
        elif frame.kind == spdy.SYN_STREAM:
            self.on_syn_stream(frame)
        elif frame.kind == spdy.PING:
            self.send(self.writer.ping(frame.ping_id))
        elif frame.kind == spdy.RST_STREAM:
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream.inbound.put_nowait(None)
        elif frame.kind == spdy.GOAWAY:
            self.done = True

    def on_syn_stream(self, frame: spdy.Frame) -> None:
        h = frame.headers
        kind, request_id = h.get("streamtype", ""), h.get("requestid", str(frame.stream_id))
        try:
            port = int(h.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("data", "error"):
            self.send(self.writer.rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        stream = Stream(frame.stream_id, kind, port, request_id)
        self.streams[stream.id] = stream
        self.send(self.writer.syn_reply(stream.id))
        pair = self.pending.setdefault(request_id, {})
        pair[kind] = stream
        if len(pair) == 2:
            del self.pending[request_id]
            self._spawn(self.forward(pair["data"], pair["error"]))

    async def forward(self, data: Stream, error: Stream) -> None:
        try:
            await self._forward(data)
        except Exception as exc:  # reported to the client on its error stream
            message = f"error forwarding port {data.port} to pod {self.pod_name}, uid {self.pod_uid}: {exc}"
            log.info("%s", message)
            self.send(self.writer.data(error.id, message.encode()))
        finally:
            try:
                self.send(self.writer.data(data.id, b"", fin=True))
                self.send(self.writer.data(error.id, b"", fin=True))
            except ConnectionError:
                pass
            self.streams.pop(data.id, None)
            self.streams.pop(error.id, None)

    async def _forward(self, data: Stream) -> None:
        if not 0 < data.port < 65536:
            raise ValueError(f"invalid port {data.port}")
        conn = await self.connect(data.port)
        to_pod = asyncio.ensure_future(_client_to_pod(data, conn))
        try:
            await conn.deliver(lambda chunk: self.pod_data(data.id, chunk, conn))
        finally:
            to_pod.cancel()
            await asyncio.gather(to_pod, return_exceptions=True)
            conn.close()


def websocket_header(length: int) -> bytes:
    """The header of an unmasked, final, binary WebSocket frame (RFC 6455 5.2): what a
    server sends."""
    if length < 126:
        return bytes((0x82, length))
    if length < 65536:
        return bytes((0x82, 126)) + length.to_bytes(2, "big")
    return bytes((0x82, 127)) + length.to_bytes(8, "big")


class PodConnection(asyncio.BufferedProtocol):
    """The connection into the pod. Its bytes are read straight into one buffer and each
    chunk is handed, as a view, to a sink that frames and writes it before returning (no
    copy, no task switch per chunk); reading waits until `deliver(sink)` is called."""

    FIRST_BUFFER, MAX_BUFFER = 64 << 10, 1 << 20  # a read is one data frame: up to 1 MiB

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.buffer, self.last_read = bytearray(self.FIRST_BUFFER), 0
        self.sink = None
        self.reading_paused = False
        self.ended = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()

    # the protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.pause_reading()  # until there is a sink

    def get_buffer(self, sizehint: int) -> bytearray:
        self.buffer = next_buffer(self.buffer, self.last_read, self.MAX_BUFFER)
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.last_read = nbytes
        self.sink(memoryview(self.buffer)[:nbytes])

    def eof_received(self) -> bool:
        self._end()
        return True  # half-closed: the client may still send

    def connection_lost(self, exc) -> None:
        self._end()
        self.writable.set()

    def _end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # reading
    async def deliver(self, sink) -> None:
        """Hand every chunk the pod sends to `sink(view)`, until the pod's EOF."""
        self.sink = sink
        self.resume_reading()
        await asyncio.shield(self.ended)

    def pause_reading(self) -> None:
        if not self.reading_paused and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()

    # writing
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


async def _client_to_pod(stream: Stream, writer: PodConnection) -> None:
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
