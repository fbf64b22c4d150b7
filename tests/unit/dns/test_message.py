"""The DNS codec: round trips, compression, and malformed input that must never crash."""

import random
import struct

import pytest

from tinykube.dns import message as m


def _msg(*answers, questions=None, additional=()):
    return m.Message(id=0x1234, flags=m.QR | m.AA | m.RD, questions=questions or [m.Question("a.example", m.A)],
                     answers=list(answers), additional=list(additional))


@pytest.mark.parametrize("record", [
    m.Record("web.default.svc.cluster.local", m.A, 5, "10.43.0.20"),
    m.Record("web.default.svc.cluster.local", m.AAAA, 5, "fd00::1"),
    m.Record("ext.default.svc.cluster.local", m.CNAME, 5, "example.com"),
    m.Record("20.0.43.10.in-addr.arpa", m.PTR, 5, "web.default.svc.cluster.local"),
    m.Record("cluster.local", m.NS, 5, "ns.dns.cluster.local"),
    m.Record("_http._tcp.web.default.svc.cluster.local", m.SRV, 5, (0, 100, 80, "web.default.svc.cluster.local")),
    m.Record("cluster.local", m.SOA, 5, ("ns.dns.cluster.local", "hostmaster.cluster.local", 7, 7200, 1800, 86400, 5)),
    m.Record("dns-version.cluster.local", m.TXT, 5, ("1.1.0", "")),
    m.Record("x.example", 99, 5, b"\x01\x02raw"),
])
def test_record_round_trip(record):
    msg = _msg(record)
    assert m.decode(m.encode(msg)) == msg


def test_edns_opt_round_trip():
    msg = _msg(additional=[m.opt_record(4096)])
    decoded = m.decode(m.encode(msg))
    assert decoded.edns() == m.Record("", m.OPT, 0, b"", 4096)


def test_names_are_compressed_case_insensitively():
    msg = _msg(m.Record("A.EXAMPLE", m.A, 5, "1.2.3.4"), m.Record("b.a.example", m.A, 5, "1.2.3.5"))
    raw = m.encode(msg)
    assert raw.count(b"\x07example") == 1  # written once, then pointers
    assert b"\xc0\x0c" in raw  # the first answer's owner points at the question name
    # a pointer carries the case of the first spelling (the question's)
    assert [r.name for r in m.decode(raw).answers] == ["a.example", "b.a.example"]


def test_srv_target_is_not_compressed():
    raw = m.encode(_msg(m.Record("a.example", m.SRV, 5, (0, 1, 80, "a.example"))))
    assert raw.count(b"\x01a\x07example\x00") == 2


def test_truncation_keeps_question_and_opt():
    records = [m.Record("a.example", m.A, 5, f"10.0.{i // 256}.{i % 256}") for i in range(100)]
    raw = m.encode(_msg(*records, additional=[m.opt_record()]), max_size=512)
    decoded = m.decode(raw)
    assert len(raw) <= 512 and decoded.flags & m.TC
    assert decoded.answers == [] and decoded.edns() is not None and decoded.questions


@pytest.mark.parametrize("data, why", [
    (b"\x00" * 11, "shorter than a header"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x03abc", "name runs past the end"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", "does not point backwards"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x01a\xc0\x0c\x00\x01\x00\x01", "does not point backwards"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x80abc\x00\x00\x01\x00\x01", "unknown label type"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x01a\x00\x00\x01", "question runs past the end"),
    (struct.pack("!6H", 1, 0, 0, 1, 0, 0) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x03\x01\x02\x03",
     "bad address length"),
    (struct.pack("!6H", 1, 0, 0, 1, 0, 0) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x09\x01\x02\x03\x04",
     "rdata runs past the end"),
    (struct.pack("!6H", 1, 0, 0, 0, 0, 0) + b"junk", "trailing bytes"),
    (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", "name too long"),
])
def test_malformed_messages_raise_format_error(data, why):
    with pytest.raises(m.FormatError, match=why):
        m.decode(data)


def test_random_garbage_never_raises_anything_but_format_error():
    rng = random.Random(7)
    good = m.encode(_msg(m.Record("a.example", m.SRV, 5, (0, 1, 80, "b.example")), additional=[m.opt_record()]))
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            m.decode(bytes(data[:rng.randint(0, len(data))]))
        except m.FormatError:
            pass


@pytest.mark.parametrize("name, ip", [
    ("20.0.43.10.in-addr.arpa", "10.43.0.20"),
    ("20.0.43.10.IN-ADDR.ARPA", "10.43.0.20"),
    ("0.43.10.in-addr.arpa", None),
    ("020.0.43.10.in-addr.arpa", None),
    ("300.0.43.10.in-addr.arpa", None),
    (m.reverse_name("fd00::1"), "fd00::1"),
    ("1.0.0.ip6.arpa", None),
    ("example.com", None),
])
def test_reverse_names(name, ip):
    assert m.reverse_to_ip(name) == ip
