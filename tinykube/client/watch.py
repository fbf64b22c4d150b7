"""One watch request's stream of events, as an async iterator of (type, object).

The server writes one JSON object per line: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
"object": {...}}. ERROR events carry a Status and are raised as the matching
tinykube.api.errors class (most often Expired: the resourceVersion is too old, relist).
The iteration ends when the server closes the watch (its timeout, or it dropped a slow
watcher): the caller resumes from `resource_version`, the last one seen (bookmarks
included). A broken connection raises TransportError.

Lines are split here rather than with the HTTP library's readline, which refuses lines
over 128 KiB; a Kubernetes object may be up to 1.5 MiB.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, NamedTuple

import aiohttp

from tinykube.client.status import TransportError, error_from_status
from tinykube.util import jsonutil

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"


class WatchEvent(NamedTuple):
    type: str
    object: dict


class WatchStream:
    """An open (or about to open) watch. Use `async with` or close() to end it early."""

    def __init__(self, open_response: Callable[[], Awaitable[aiohttp.ClientResponse]],
                 resource_version: str = ""):
        self._open = open_response
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
        self._closed = False
        self.resource_version = resource_version  # last seen, to resume from

    async def __aenter__(self) -> WatchStream:
        await self._ensure_open()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        await self._ensure_open()
        line = await self._next_line()
        if line is None:
            await self.close()
            raise StopAsyncIteration
        return await self._decode(line)

    async def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()  # drop the connection: the server ends the watch
            self._response = None

    async def _ensure_open(self) -> None:
        if self._response is None and not self._closed:
            self._response = await self._open()

    async def _decode(self, line: bytes) -> WatchEvent:
        try:
            event = jsonutil.loads(line)
            type_, obj = event["type"], event["object"]
        except (ValueError, KeyError, TypeError) as exc:
            await self.close()
            raise TransportError(f"malformed watch event: {line[:200]!r}") from exc
        if type_ == ERROR:
            await self.close()
            raise error_from_status(obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        return WatchEvent(type_, obj)

    async def _next_line(self) -> bytes | None:
        """The next non-empty line, or None at the end of the stream."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                if line.strip():
                    return line
                continue
            chunk = await self._read()
            if not chunk:  # end of stream: a last line without its newline still counts
                rest = bytes(self._buffer).strip()
                self._buffer.clear()
                return rest or None
            self._buffer += chunk

    async def _read(self) -> bytes:
        if self._response is None:
            return b""
        try:
            return await self._response.content.readany()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            await self.close()
            raise TransportError(f"watch stream broken: {exc!r}") from exc
