"""SPDY/3.1 framing, as much of it as `kubectl port-forward` speaks (moby/spdystream).

kubectl 1.32 tunnels SPDY inside a WebSocket (subprotocol SPDY/3.1+portforward.k8s.io)
and falls back to a plain SPDY upgrade; either way the bytes are SPDY/3 frames:

  control frame: 1|version(15) type(16) | flags(8) length(24) | payload
  data frame:    0|stream id(31)        | flags(8) length(24) | payload

Header blocks are zlib streams over the whole connection (one per direction) primed
with the SPDY/3 dictionary, each block flushed with Z_SYNC_FLUSH. spdystream does no
flow control (WINDOW_UPDATE is ignored), so neither do we. `FrameReader` is pure: bytes
in, frames out; `FrameWriter` turns frames into bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5

# The SPDY/3 header compression dictionary (protocol data, from the SPDY/3 draft).
DICTIONARY = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put"
    b"\x00\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset"
    b"\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\raccept-ranges"
    b"\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\rauthorization\x00\x00\x00\rcache-control"
    b"\x00\x00\x00\nconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encoding"
    b"\x00\x00\x00\x10content-language\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location"
    b"\x00\x00\x00\x0bcontent-md5\x00\x00\x00\rcontent-range\x00\x00\x00\x0ccontent-type"
    b"\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect\x00\x00\x00\x07expires"
    b"\x00\x00\x00\x04from\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since"
    b"\x00\x00\x00\rif-none-match\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-since"
    b"\x00\x00\x00\rlast-modified\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards"
    b"\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization"
    b"\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server"
    b"\x00\x00\x00\x02te\x00\x00\x00\x07trailer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade"
    b"\x00\x00\x00\nuser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning"
    b"\x00\x00\x00\x10www-authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status"
    b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url"
    b"\x00\x00\x00\x06public\x00\x00\x00\nset-cookie\x00\x00\x00\nkeep-alive\x00\x00\x00\x06origin"
    b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    b"403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    b"Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    b"chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    b"text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
MAX_DATA = 0xFFFFFF


def data_header(stream_id: int, length: int, *, fin: bool = False) -> bytes:
    """The 8 bytes before a data frame's payload (length <= MAX_DATA)."""
    return struct.pack(">II", stream_id, ((FLAG_FIN if fin else 0) << 24) | length)


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Frame:
    """One frame. kind: "data" or a control type number; headers lower-cased names."""

    kind: object
    stream_id: int = 0
    flags: int = 0
    data: bytes = b""
    headers: dict = field(default_factory=dict)
    status: int = 0   # RST_STREAM / GOAWAY status
    ping_id: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


def encode_header_block(headers: dict[str, str]) -> bytes:
    """The uncompressed name/value block: count, then length-prefixed names and values."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), str(value).encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(block: bytes) -> dict[str, str]:
    try:
        (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", block, pos)
            headers[name] = block[pos + 4:pos + 4 + v].decode()  # "\0" joins repeated values
            pos += 4 + v
        return headers
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None


class FrameReader:
    """Feed bytes, take complete frames. One per connection (the zlib stream is shared)."""

    def __init__(self):
        self.buffer = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if len(self.buffer) < 8 + length:
                break
            head, payload = bytes(self.buffer[:8]), bytes(self.buffer[8:8 + length])
            del self.buffer[:8 + length]
            frames.append(self._frame(head, payload))
        return frames

    def _frame(self, head: bytes, payload: bytes) -> Frame:
        word, flags = struct.unpack(">I", head[:4])[0], head[4]
        if not word & 0x80000000:
            return Frame("data", stream_id=word & 0x7FFFFFFF, flags=flags, data=payload)
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        return self._control(kind, flags, payload)

    def _control(self, kind: int, flags: int, p: bytes) -> Frame:
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", p)[0] & 0x7FFFFFFF
            return Frame(kind, stream_id, flags, headers=self._headers(p[10:]))
        if kind in (SYN_REPLY, HEADERS):
            stream_id = struct.unpack_from(">I", p)[0] & 0x7FFFFFFF
            return Frame(kind, stream_id, flags, headers=self._headers(p[4:]))
        if kind in (RST_STREAM, GOAWAY):
            first, status = struct.unpack_from(">II", p)
            return Frame(kind, first & 0x7FFFFFFF, flags, status=status)
        if kind == PING:
            return Frame(kind, flags=flags, ping_id=struct.unpack_from(">I", p)[0])
        return Frame(kind, flags=flags, data=p)  # SETTINGS, WINDOW_UPDATE: ignored

    def _headers(self, compressed: bytes) -> dict:
        try:
            return decode_header_block(self.inflate.decompress(compressed))
        except zlib.error as exc:
            raise ProtocolError(f"bad header compression: {exc}") from None


class FrameWriter:
    """Frames to bytes; one per connection (the deflate stream is shared)."""

    def __init__(self):
        self.deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def _block(self, headers: dict) -> bytes:
        raw = encode_header_block(headers)
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_reply(self, stream_id: int, headers: dict | None = None, *, fin: bool = False) -> bytes:
        payload = struct.pack(">I", stream_id) + self._block(headers or {})
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, payload)

    def syn_stream(self, stream_id: int, headers: dict, *, fin: bool = False) -> bytes:
        payload = struct.pack(">IIH", stream_id, 0, 0) + self._block(headers)
        return self._control(SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))

    @staticmethod
    def data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        out = []
        for start in range(0, max(len(data), 1), MAX_DATA):
            chunk = data[start:start + MAX_DATA]
            last = start + MAX_DATA >= len(data)
            flags = FLAG_FIN if fin and last else 0
            out.append(struct.pack(">II", stream_id, (flags << 24) | len(chunk)) + chunk)
        return b"".join(out)
