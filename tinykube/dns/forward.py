"""Forwarding of names outside the cluster to upstream resolvers (CoreDNS's `forward .
/etc/resolv.conf`).

The query's bytes go upstream unchanged but for the message ID (a fresh random one, so
answers cannot be confused or spoofed by guessing), over UDP for UDP clients and TCP for
TCP clients; an answer to another question is discarded; the answer comes back with the
client's ID and is cached for its TTL (at most 30 s, answercache.py). Upstreams are tried in order,
each for `timeout` seconds; when none answers the client gets SERVFAIL. Sockets are
created in the node's network namespace, so upstreams are reached as the node reaches
them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import struct

from tinykube.util import netns

from .answercache import AnswerCache, same_question

log = logging.getLogger(__name__)

SERVFAIL = 2


def parse_upstream(text: str) -> tuple[str, int]:
    """"1.2.3.4", "1.2.3.4:5353", "[::1]:53" or "::1" -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def resolv_conf_nameservers(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            out.append(fields[1])
    return out


class _UpstreamProtocol(asyncio.DatagramProtocol):
    def __init__(self, pending: dict[int, asyncio.Future]):
        self.pending = pending

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) >= 12:
            future = self.pending.get(int.from_bytes(data[:2], "big"))
            if future is not None and not future.done():
                future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("upstream: %s", exc)


class Forwarder:
    def __init__(self, upstreams: list[tuple[str, int]], *, netns_path: str = "", timeout: float = 2.0):
        self.upstreams, self.netns_path, self.timeout = upstreams, netns_path, timeout
        self._transports: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self._pending: dict[int, asyncio.Future] = {}
        self.cache = AnswerCache()
        self.stats = {"forwarded": 0, "failed": 0, "mismatched": 0}

    async def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    async def forward(self, query: bytes, *, tcp: bool = False) -> bytes:
        """The upstream's answer with the client's ID (from the cache while its TTL
        lasts), or SERVFAIL."""
        cached = self.cache.get(query)
        if cached is not None:
            return cached
        self.stats["forwarded"] += 1
        for upstream in self.upstreams:
            try:
                answer = await (self._tcp(upstream, query) if tcp else self._udp(upstream, query))
                if not same_question(query, answer):
                    self.stats["mismatched"] += 1  # a stray or spoofed packet: not an answer
                    continue
                self.cache.put(query, answer)
                return query[:2] + answer[2:]
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                log.debug("upstream %s:%d: %r", *upstream, exc)
        self.stats["failed"] += 1
        return servfail(query)

    async def _udp(self, upstream: tuple[str, int], query: bytes) -> bytes:
        transport = await self._transport(upstream)
        ident = self._new_id()
        future = self._pending[ident] = asyncio.get_running_loop().create_future()
        try:
            transport.sendto(ident.to_bytes(2, "big") + query[2:])
            return await asyncio.wait_for(future, self.timeout)
        finally:
            self._pending.pop(ident, None)

    async def _transport(self, upstream: tuple[str, int]) -> asyncio.DatagramTransport:
        transport = self._transports.get(upstream)
        if transport is None or transport.is_closing():
            sock = await netns.new_socket(self.netns_path, socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET,
                                          socket.SOCK_DGRAM)
            try:
                sock.connect(upstream)
            except OSError:
                sock.close()
                raise
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _UpstreamProtocol(self._pending), sock=sock)
            self._transports[upstream] = transport
        return transport

    def _new_id(self) -> int:
        while True:
            ident = secrets.randbelow(65536)
            if ident not in self._pending:
                return ident

    async def _tcp(self, upstream: tuple[str, int], query: bytes) -> bytes:
        reader, writer = await netns.open_connection(self.netns_path, *upstream, timeout=self.timeout)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), self.timeout))[0]
            return await asyncio.wait_for(reader.readexactly(size), self.timeout)
        finally:
            writer.close()


def servfail(query: bytes) -> bytes:
    """The query turned into a SERVFAIL answer (its question kept)."""
    flags = struct.unpack_from("!H", query, 2)[0]
    return query[:2] + struct.pack("!H", 0x8000 | (flags & 0x7900) | 0x80 | SERVFAIL) + query[4:]
