"""DNS messages (RFC 1035, EDNS0 of RFC 6891) decoded and encoded: pure functions.

Only what a cluster DNS server needs: the header, questions, and the record types it
answers with (A, AAAA, CNAME, PTR, NS, SOA, SRV, TXT, OPT); any other type keeps its
rdata as raw bytes so a message still round-trips. Names are text without the trailing
dot ("" is the root). Decoding follows compression pointers (backwards only, so a
malicious loop is impossible) and raises FormatError for anything malformed; encoding
compresses names (case-insensitively, RFC 1035 4.1.4) and truncates to a size limit by
dropping whole sections and setting TC, as servers do.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

A, NS, CNAME, SOA, PTR, TXT, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 16, 28, 33, 41, 255
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TYPE_NAMES = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", TXT: "TXT", AAAA: "AAAA",
              SRV: "SRV", OPT: "OPT", ANY: "ANY"}

QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
MAX_NAME = 255
MAX_LABEL = 63
_HEADER = struct.Struct("!6H")
_RR_FIXED = struct.Struct("!HHIH")


class FormatError(ValueError):
    """The bytes are not a well-formed DNS message (answered with FORMERR or dropped)."""


@dataclass(frozen=True)
class Question:
    name: str
    qtype: int
    qclass: int = CLASS_IN


@dataclass(frozen=True)
class Record:
    """One resource record. data by type: A/AAAA an address string; CNAME/PTR/NS a name;
    SRV (priority, weight, port, target); SOA (mname, rname, serial, refresh, retry,
    expire, minimum); TXT a tuple of strings; anything else (and OPT) raw bytes."""

    name: str
    rtype: int
    ttl: int
    data: object
    rclass: int = CLASS_IN


@dataclass
class Message:
    id: int = 0
    flags: int = 0
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    def edns(self) -> Record | None:
        return next((r for r in self.additional if r.rtype == OPT), None)


# --- decoding ---------------------------------------------------------------------------

def decode(data: bytes) -> Message:
    if len(data) < 12:
        raise FormatError("shorter than a header")
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    msg, offset = Message(id=ident, flags=flags), 12
    for _ in range(qd):
        name, offset = decode_name(data, offset)
        if offset + 4 > len(data):
            raise FormatError("question runs past the end")
        qtype, qclass = struct.unpack_from("!HH", data, offset)
        msg.questions.append(Question(name, qtype, qclass))
        offset += 4
    for section, count in ((msg.answers, an), (msg.authority, ns), (msg.additional, ar)):
        for _ in range(count):
            record, offset = _decode_record(data, offset)
            section.append(record)
    if offset != len(data):
        raise FormatError("trailing bytes after the last record")
    return msg


def decode_name(data: bytes, offset: int) -> tuple[str, int]:
    """(name, offset just past it in the original position)."""
    labels: list[str] = []
    end, total, lowest = None, 0, offset
    while True:
        if offset >= len(data):
            raise FormatError("name runs past the end")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise FormatError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= lowest:  # only strictly backwards: no loops
                raise FormatError("compression pointer does not point backwards")
            end = offset + 2 if end is None else end
            offset = lowest = target
            continue
        if length & 0xC0:
            raise FormatError("unknown label type")
        offset += 1
        if length == 0:
            return ".".join(labels), (offset if end is None else end)
        total += length + 1
        if total > MAX_NAME - 1 or offset + length > len(data):
            raise FormatError("name too long or truncated")
        labels.append(data[offset:offset + length].decode("latin-1"))
        offset += length


def _decode_record(data: bytes, offset: int) -> tuple[Record, int]:
    name, offset = decode_name(data, offset)
    if offset + 10 > len(data):
        raise FormatError("record header runs past the end")
    rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, offset)
    offset += 10
    if offset + rdlen > len(data):
        raise FormatError("rdata runs past the end")
    rdata = _decode_rdata(data, offset, rdlen, rtype)
    return Record(name, rtype, ttl, rdata, rclass), offset + rdlen


def _decode_rdata(data: bytes, offset: int, rdlen: int, rtype: int) -> object:
    raw = data[offset:offset + rdlen]
    if rtype == A and rdlen == 4:
        return str(ipaddress.IPv4Address(raw))
    if rtype == AAAA and rdlen == 16:
        return str(ipaddress.IPv6Address(raw))
    if rtype in (A, AAAA):
        raise FormatError("bad address length")
    if rtype in (CNAME, PTR, NS):
        return _whole_name(data, offset, rdlen)
    if rtype == SRV:
        if rdlen < 7:
            raise FormatError("short SRV")
        return (*struct.unpack_from("!HHH", data, offset), _whole_name(data, offset + 6, rdlen - 6))
    if rtype == SOA:
        mname, pos = decode_name(data, offset)
        rname, pos = decode_name(data, pos)
        if pos + 20 != offset + rdlen:
            raise FormatError("bad SOA length")
        return (mname, rname, *struct.unpack_from("!5I", data, pos))
    if rtype == TXT:
        return _decode_txt(raw)
    return bytes(raw)


def _whole_name(data: bytes, offset: int, rdlen: int) -> str:
    name, end = decode_name(data, offset)
    if end != offset + rdlen:
        raise FormatError("name does not fill its rdata")
    return name


def _decode_txt(raw: bytes) -> tuple[str, ...]:
    out, pos = [], 0
    while pos < len(raw):
        n = raw[pos]
        if pos + 1 + n > len(raw):
            raise FormatError("TXT string runs past the end")
        out.append(raw[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    return tuple(out)


# --- encoding ---------------------------------------------------------------------------

class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.names: dict[str, int] = {}  # lower-case suffix -> offset, for compression

    def name(self, name: str, compress: bool = True) -> None:
        labels = name.split(".") if name else []
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if compress and suffix in self.names:
                self.buf += struct.pack("!H", 0xC000 | self.names[suffix])
                return
            if len(self.buf) < 0x3FFF:
                self.names.setdefault(suffix, len(self.buf))
            raw = labels[i].encode("latin-1")
            if not 0 < len(raw) <= MAX_LABEL:
                raise ValueError(f"bad label in {name!r}")
            self.buf += bytes((len(raw),)) + raw
        self.buf += b"\0"

    def record(self, r: Record) -> None:
        self.name(r.name)
        self.buf += struct.pack("!HHI", r.rtype, r.rclass, r.ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        self._rdata(r)
        struct.pack_into("!H", self.buf, at, len(self.buf) - at - 2)

    def _rdata(self, r: Record) -> None:
        if r.rtype == A:
            self.buf += ipaddress.IPv4Address(r.data).packed
        elif r.rtype == AAAA:
            self.buf += ipaddress.IPv6Address(r.data).packed
        elif r.rtype in (CNAME, PTR, NS):
            self.name(r.data)
        elif r.rtype == SRV:
            priority, weight, port, target = r.data
            self.buf += struct.pack("!HHH", priority, weight, port)
            self.name(target, compress=False)  # RFC 2782: no compression of the target
        elif r.rtype == SOA:
            self.name(r.data[0])
            self.name(r.data[1])
            self.buf += struct.pack("!5I", *r.data[2:])
        elif r.rtype == TXT:
            for s in r.data:
                raw = s.encode("latin-1")[:255]
                self.buf += bytes((len(raw),)) + raw
        else:
            self.buf += bytes(r.data)


def encode(msg: Message, *, max_size: int = 65535) -> bytes:
    """The message's bytes; past max_size, answer/authority/additional are dropped (the
    OPT record kept) and TC set, so the client retries over TCP."""
    full = _encode(msg, msg.answers, msg.authority, msg.additional, msg.flags)
    if len(full) <= max_size:
        return full
    opt = [r for r in msg.additional if r.rtype == OPT]
    return _encode(msg, [], [], opt, msg.flags | TC)


def _encode(msg: Message, answers, authority, additional, flags: int) -> bytes:
    w = _Writer()
    w.buf += _HEADER.pack(msg.id, flags, len(msg.questions), len(answers), len(authority), len(additional))
    for q in msg.questions:
        w.name(q.name)
        w.buf += struct.pack("!HH", q.qtype, q.qclass)
    for r in (*answers, *authority, *additional):
        w.record(r)
    return bytes(w.buf)


def opt_record(udp_size: int = 1232) -> Record:
    """An EDNS0 OPT pseudo-record: class is the UDP payload size, no options."""
    return Record("", OPT, 0, b"", udp_size)


def reverse_name(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address."""
    return ipaddress.ip_address(ip).reverse_pointer


def reverse_to_ip(name: str) -> str | None:
    """The address a PTR name stands for, None when it is not a whole address."""
    name = name.lower()
    if name.endswith(".in-addr.arpa"):
        parts = name[:-len(".in-addr.arpa")].split(".")
        if len(parts) == 4 and all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts):
            try:
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
            except ValueError:
                return None
    if name.endswith(".ip6.arpa"):
        nibbles = name[:-len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(n) == 1 and n in "0123456789abcdef" for n in nibbles):
            hexits = "".join(reversed(nibbles))
            return str(ipaddress.IPv6Address(int(hexits, 16)))
    return None
