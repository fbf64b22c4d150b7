"""A cache of upstream answers (CoreDNS's `cache 30` in front of `forward`), pure but for
the clock it is given.

Keyed by the question (name lower-cased, type, class) and the query's DNSSEC-relevant
bits (EDNS present, DO, CD). An answer is kept for the smallest TTL of its records
(answer and authority sections; for NXDOMAIN/NODATA the SOA's), at most `max_ttl`
seconds, and served with every TTL lowered by its age; only NOERROR and NXDOMAIN
answers that fit 512 bytes (so any UDP client takes them whole) and are not truncated
are kept. TTLs are patched in place in the upstream's own bytes: records are walked,
never re-encoded, so rdata of any type (compressed names in MX, ...) stays intact.
"""

from __future__ import annotations

import struct
import time
from collections import OrderedDict

from .message import OPT, TC, FormatError, decode_name

MAX_CACHED_SIZE = 512
_HEADER = struct.Struct("!6H")


def question_key(data: bytes) -> bytes | None:
    """The lower-cased question plus EDNS/DO/CD bits, None unless exactly one question."""
    if len(data) < 12:
        return None
    _, flags, qd, _, _, ar = _HEADER.unpack_from(data)
    if qd != 1:
        return None
    try:
        _, end = decode_name(data, 12)
    except FormatError:
        return None
    if end + 4 > len(data) or data[12] & 0xC0:
        return None
    do = _opt_do(data, end + 4, ar)
    bits = bytes((bool(flags & 0x10), ar > 0, do))  # CD, EDNS, DO
    return data[12:end].lower() + data[end:end + 4] + bits


def _opt_do(data: bytes, offset: int, ar: int) -> bool:
    """The DO bit of an OPT record right after the question (where queries put it)."""
    if ar and len(data) >= offset + 11 and data[offset] == 0:
        rtype, _, ttl = struct.unpack_from("!HHI", data, offset + 1)
        return rtype == OPT and bool(ttl & 0x8000)
    return False


def ttl_fields(data: bytes) -> list[tuple[int, int, int]]:
    """(offset of the TTL, ttl, section) of every record but OPT; section 0/1/2 is
    answer/authority/additional. Raises FormatError on a malformed message."""
    _, _, qd, an, ns, ar = _HEADER.unpack_from(data)
    offset = 12
    for _ in range(qd):
        _, offset = decode_name(data, offset)
        offset += 4
    out = []
    for section, count in enumerate((an, ns, ar)):
        for _ in range(count):
            _, offset = decode_name(data, offset)
            if offset + 10 > len(data):
                raise FormatError("record runs past the end")
            rtype, _, ttl, rdlen = struct.unpack_from("!HHIH", data, offset)
            if rtype != OPT:
                out.append((offset + 4, ttl, section))
            offset += 10 + rdlen
            if offset > len(data):
                raise FormatError("rdata runs past the end")
    return out


class AnswerCache:
    def __init__(self, *, max_ttl: int = 30, size: int = 10_000, clock=time.monotonic):
        self.max_ttl, self.size, self.clock = max_ttl, size, clock
        self._entries: OrderedDict[bytes, tuple[float, float, bytes, list]] = OrderedDict()
        self.stats = {"hits": 0, "misses": 0}

    def get(self, query: bytes) -> bytes | None:
        """The cached answer for query (its ID, TTLs lowered by age), else None."""
        key = question_key(query)
        entry = self._entries.get(key) if key else None
        if entry is None:
            self.stats["misses"] += 1
            return None
        stored, expires, answer, fields = entry
        now = self.clock()
        if now >= expires:
            del self._entries[key]
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        age = int(now - stored)
        out = bytearray(answer)
        out[:2] = query[:2]
        for offset, ttl, _ in fields:
            struct.pack_into("!I", out, offset, max(0, ttl - age))
        return bytes(out)

    def put(self, query: bytes, answer: bytes) -> None:
        key = question_key(query)
        if key is None or len(answer) > MAX_CACHED_SIZE or len(answer) < 12:
            return
        flags = struct.unpack_from("!H", answer, 2)[0]
        if flags & TC or flags & 0xF not in (0, 3) or question_key(answer) is None:
            return
        try:
            fields = ttl_fields(answer)
        except (FormatError, struct.error):
            return
        ttls = [ttl for _, ttl, section in fields if section < 2]
        if not ttls:
            return  # nothing says how long it holds
        lifetime = min(min(ttls), self.max_ttl)
        if lifetime <= 0:
            return
        now = self.clock()
        self._entries[key] = (now, now + lifetime, answer, fields)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def same_question(query: bytes, answer: bytes) -> bool:
    """The answer is to this query's question (what a spoofed or stray packet is not)."""
    a, b = question_key(query), question_key(answer)
    return a is not None and b is not None and a[:-3] == b[:-3]
