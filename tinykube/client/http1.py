"""A small HTTP/1.1 client for the API's unary requests: keep-alive connections over
asyncio's TLS streams, one request at a time per connection.

Why not aiohttp's ClientSession for these: it costs ~250 us of client CPU per request
against ~70 us here, and every component sends a request per pod (the scheduler's
binding, the agent's status, a creator's POST). Watches and other long streams still use
aiohttp (rest.py `_open_stream`).

What it does: a request line, the headers, a Content-Length body; answers with
Content-Length or chunked bodies; Connection: close honoured. A connection taken from the
idle pool that the server closed meanwhile (EOF before any byte of the answer) is retried
once on a new connection, as Go's net/http does (errServerClosedIdle): the server never
read that request, so even a POST is safe to send again.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from urllib.parse import urlencode, urlsplit

MAX_IDLE = 64          # idle connections kept per client
MAX_HEADER_BYTES = 1 << 20


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as expected."""


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class Http1Client:
    def __init__(self, server: str, ssl_context: ssl.SSLContext | None, headers: dict[str, str]):
        url = urlsplit(server)
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.base_path = url.path.rstrip("/")
        self.ssl = ssl_context if url.scheme == "https" else None
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        if url.port:
            host_header += f":{url.port}"
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host_header, **headers}.items())
        self._idle: collections.deque[_Connection] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            if self._loop is asyncio.get_running_loop():
                conn.close()

    async def request(self, method: str, path: str, params: dict | None, body: bytes | None,
                      headers: dict | None) -> tuple[int, bytes, dict]:
        head = self._head(method, path, params, body, headers)
        conn, reused = await self._connection()
        try:
            answer = await _exchange(conn, head, body, reused)
            if answer is None:  # the server had closed this idle connection: a new one
                conn.close()
                conn, reused = await self._open(), False
                answer = await _exchange(conn, head, body, False)
        except BaseException:
            conn.close()
            raise
        status, payload, resp_headers, keep = answer
        if keep and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()
        return status, payload, resp_headers

    def _head(self, method: str, path: str, params: dict | None, body: bytes | None,
              headers: dict | None) -> bytes:
        target = self.base_path + path
        if params:
            target += "?" + urlencode(params)
        lines = [f"{method} {target} HTTP/1.1\r\n", self._fixed]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n" if body is not None else "\r\n")
        return "".join(lines).encode("latin-1")

    async def _connection(self) -> tuple[_Connection, bool]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections of another (finished) loop are of no use here
            self._idle.clear()
            self._loop = loop
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        return await self._open(), False

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None,
            limit=MAX_HEADER_BYTES)
        return _Connection(reader, writer)


async def _exchange(conn: _Connection, head: bytes, body: bytes | None,
                    reused: bool) -> tuple[int, bytes, dict, bool] | None:
    """Send one request, read its answer; None if a reused connection was found closed."""
    conn.writer.write(head + body if body else head)
    try:
        await conn.writer.drain()
        raw = await conn.reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
        if reused and not getattr(exc, "partial", b""):
            return None
        raise ConnectionError(f"connection closed before an answer: {exc!r}") from exc
    try:
        return await _answer(conn.reader, raw)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise ProtocolError(f"incomplete or malformed answer: {exc!r}") from exc


async def _answer(reader: asyncio.StreamReader, raw: bytes) -> tuple[int, bytes, dict, bool]:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    length, chunked, keep = None, False, parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        key, value = key.strip(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
        lower = key.lower()
        if lower == "content-length":
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lower == "connection":
            keep = value.lower() == "keep-alive" or (keep and value.lower() != "close")
    if chunked:
        payload = await _read_chunked(reader)
    elif length is not None:
        payload = await reader.readexactly(length)
    elif status in (204, 304) or 100 <= status < 200:
        payload = b""
    else:  # no length: the body runs to the end of the connection
        payload, keep = await reader.read(), False
    return status, payload, headers, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
