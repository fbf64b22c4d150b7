"""Query bytes in, response bytes out: the server's hot path, with no I/O.

`QueryHandler.handle(data, max_size)` answers a query from a cache of encoded answers
keyed by (lower-case question name, type, class); a miss asks the Resolver once and
stores the encoded result until the cluster data changes (its generation moves on).
The response echoes the question exactly as the client wrote it (case included, for
clients that randomise case): the cached bytes are the sections after the question,
whose compression pointers to the name point at offset 12, where that question sits.

Returns the response bytes, FORWARD for a query to send upstream, or None for a packet
to drop (too short to answer, or itself a response). Malformed queries get FORMERR,
other opcodes NOTIMP; nothing raises.
"""

from __future__ import annotations

import logging
import struct

from .message import (AA, FORMERR, NOTIMP, OPT, QR, RA, RD, TC, FormatError, Message,
                      Question, decode, decode_name, encode, opt_record)
from .resolver import Resolver

log = logging.getLogger(__name__)

FORWARD = object()
UDP_DEFAULT = 512  # without EDNS (RFC 1035)
UDP_MAX = 1232  # the DNS Flag Day 2020 size: no IP fragmentation
TCP_MAX = 65535
MAX_CACHE = 100_000
_HEADER = struct.Struct("!6H")
_OPT_RR = struct.Struct("!BHHIH")  # root name, type, class (payload size), ttl, rdlen
_OUR_OPT = _OPT_RR.pack(0, OPT, UDP_MAX, 0, 0)


class Entry:
    __slots__ = ("flags", "counts", "body")

    def __init__(self, flags: int, counts: tuple[int, int, int], body: bytes):
        self.flags, self.counts, self.body = flags, counts, body


class QueryHandler:
    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self.cache: dict[bytes, Entry | object] = {}
        self.generation = -1
        self.stats = {"queries": 0, "hits": 0, "forwarded": 0, "formerr": 0, "dropped": 0, "truncated": 0}

    def handle(self, data: bytes, max_size: int | None = None):
        """max_size None: UDP (512, or the client's EDNS size up to 1232); else TCP's."""
        self.stats["queries"] += 1
        try:
            return self._handle(data, max_size)
        except Exception:  # a bug must cost one answer, never the server
            log.exception("answering a DNS query")
            return _error(data, 2)

    def _handle(self, data: bytes, max_size: int | None):
        if len(data) < 12:
            self.stats["dropped"] += 1
            return None
        ident, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
        if flags & QR:
            self.stats["dropped"] += 1
            return None
        if flags & 0x7800:
            return _error(data, NOTIMP)
        qend = _question_end(data) if qd == 1 and an == 0 and ns == 0 and ar <= 1 else -1
        if qend < 0:
            return self._slow(data, max_size)
        edns_size = 0
        if ar:
            edns_size = _edns_size(data, qend)
            if edns_size < 0:
                return self._slow(data, max_size)
        elif qend != len(data):
            return self._slow(data, max_size)
        question = data[12:qend]
        name_end = qend - 4
        key = data[12:name_end].lower() + data[name_end:qend]
        if self.generation != self.resolver.data.generation:
            self.cache.clear()
            self.generation = self.resolver.data.generation
        entry = self.cache.get(key)
        if entry is None:
            entry = self._resolve(data, name_end)
            if entry is None:
                return _error(data, FORMERR)
            if len(self.cache) >= MAX_CACHE:
                self.cache.clear()
            self.cache[key] = entry
        else:
            self.stats["hits"] += 1
        if entry is FORWARD:
            self.stats["forwarded"] += 1
            return FORWARD
        limit = max_size or (max(UDP_DEFAULT, min(edns_size, UDP_MAX)) if edns_size else UDP_DEFAULT)
        return self._respond(ident, flags, question, entry, bool(ar), limit)

    def _respond(self, ident: int, qflags: int, question: bytes, entry: Entry, edns: bool, limit: int) -> bytes:
        flags = entry.flags | (qflags & RD)
        an, ns, ar = entry.counts
        tail = _OUR_OPT if edns else b""
        size = 12 + len(question) + len(entry.body) + len(tail)
        if size > limit:
            self.stats["truncated"] += 1
            return _HEADER.pack(ident, flags | TC, 1, 0, 0, int(edns)) + question + tail
        return _HEADER.pack(ident, flags, 1, an, ns, ar + int(edns)) + question + entry.body + tail

    def _resolve(self, data: bytes, name_end: int):
        try:
            name, _ = decode_name(data, 12)
        except FormatError:
            return None
        q = Question(name, *struct.unpack_from("!HH", data, name_end))
        answer = self.resolver.resolve(q.name, q.qtype, q.qclass)
        if answer is None:
            return FORWARD
        lower = Question(q.name.lower(), q.qtype, q.qclass)
        out = Message(id=0, flags=QR | AA | RA | answer.rcode, questions=[lower],
                      answers=list(answer.answers), authority=list(answer.authority),
                      additional=list(answer.additional))
        raw = encode(out)
        qlen = name_end + 4 - 12
        return Entry(out.flags, (len(out.answers), len(out.authority), len(out.additional)), raw[12 + qlen:])

    def _slow(self, data: bytes, max_size: int | None):
        """Anything the fast path does not parse: decode fully; answer or FORMERR."""
        try:
            msg = decode(data)
        except FormatError:
            self.stats["formerr"] += 1
            return _error(data, FORMERR)
        if len(msg.questions) != 1 or msg.answers or msg.authority:
            self.stats["formerr"] += 1
            return _error(data, FORMERR)
        q = msg.questions[0]
        answer = self.resolver.resolve(q.name, q.qtype, q.qclass)
        if answer is None:
            self.stats["forwarded"] += 1
            return FORWARD
        opt = msg.edns()
        extra = [opt_record()] if opt else []
        limit = max_size or (max(UDP_DEFAULT, min(opt.rclass, UDP_MAX)) if opt else UDP_DEFAULT)
        out = Message(id=msg.id, flags=QR | AA | RA | (msg.flags & RD) | answer.rcode, questions=[q],
                      answers=list(answer.answers), authority=list(answer.authority),
                      additional=list(answer.additional) + extra)
        return encode(out, max_size=limit)


def _question_end(data: bytes) -> int:
    """Offset just past the single question (name, type, class), -1 if the name uses
    compression or is malformed (the slow path then decides)."""
    pos, n = 12, len(data)
    while pos < n:
        length = data[pos]
        if length == 0:
            end = pos + 5
            return end if end <= n and pos - 12 < 255 else -1
        if length > 63:
            return -1
        pos += length + 1
    return -1


def _edns_size(data: bytes, offset: int) -> int:
    """The UDP payload size of the OPT record that must fill the rest of the packet."""
    if len(data) - offset < 11:
        return -1
    root, rtype, size, _ttl, rdlen = _OPT_RR.unpack_from(data, offset)
    if root != 0 or rtype != OPT or offset + 11 + rdlen != len(data):
        return -1
    return size


def _error(data: bytes, rcode: int) -> bytes | None:
    """A header-only answer (with the question when it can be read) carrying rcode."""
    if len(data) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    flags = QR | (flags & (RD | 0x7800)) | RA | rcode
    try:
        questions = decode(data).questions
    except (FormatError, ValueError):
        questions = []
    return encode(Message(id=ident, flags=flags, questions=questions if len(questions) == 1 else []))

