"""The cache of upstream answers: TTLs, what is kept, and in-place TTL patching."""

import struct

import pytest

from tinykube.dns import message as m
from tinykube.dns.answercache import AnswerCache, question_key, same_question, ttl_fields

MX = 15


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def query(name="www.example.com", qtype=m.A, *, ident=1, do=False, edns=False, cd=False):
    additional = [m.Record("", m.OPT, 0x8000 if do else 0, b"", 1232)] if (edns or do) else []
    return m.encode(m.Message(id=ident, flags=m.RD | (0x10 if cd else 0), questions=[m.Question(name, qtype)],
                              additional=additional))


def answer(q: bytes, *records, rcode=m.NOERROR, authority=(), flags=0):
    msg = m.decode(q)
    return m.encode(m.Message(id=0x7777, flags=m.QR | m.RA | rcode | flags, questions=msg.questions,
                              answers=list(records), authority=list(authority)))


def mx_with_pointer(q: bytes) -> bytes:
    """An MX answer whose exchange name is a compression pointer to the question."""
    base = bytearray(answer(q))
    struct.pack_into("!H", base, 6, 1)  # ANCOUNT
    rdata = struct.pack("!H", 10) + b"\xc0\x0c"
    base += b"\xc0\x0c" + struct.pack("!HHIH", MX, 1, 300, len(rdata)) + rdata
    return bytes(base)


@pytest.fixture
def clock():
    return FakeClock()


def test_hit_has_the_query_id_and_aged_ttls(clock):
    cache = AnswerCache(clock=clock)
    q = query()
    cache.put(q, answer(q, m.Record("www.example.com", m.A, 20, "192.0.2.1")))
    clock.now += 7.5
    hit = m.decode(cache.get(query(ident=99)))
    assert hit.id == 99 and [(r.data, r.ttl) for r in hit.answers] == [("192.0.2.1", 13)]
    assert cache.get(query("WWW.Example.com", ident=3)) is not None  # names are case-insensitive
    clock.now += 13
    assert cache.get(q) is None  # expired with its TTL


def test_lifetime_capped_at_max_ttl(clock):
    cache = AnswerCache(max_ttl=30, clock=clock)
    q = query()
    cache.put(q, answer(q, m.Record("www.example.com", m.A, 3600, "192.0.2.1")))
    clock.now += 29
    assert m.decode(cache.get(q)).answers[0].ttl == 3600 - 29
    clock.now += 1
    assert cache.get(q) is None


def test_nxdomain_kept_for_the_soa_ttl(clock):
    cache = AnswerCache(clock=clock)
    q = query("nope.example.com")
    soa = m.Record("example.com", m.SOA, 10, ("ns.example.com", "h.example.com", 1, 2, 3, 4, 60))
    cache.put(q, answer(q, rcode=m.NXDOMAIN, authority=[soa]))
    clock.now += 9
    assert m.decode(cache.get(q)).rcode == m.NXDOMAIN
    clock.now += 1
    assert cache.get(q) is None


@pytest.mark.parametrize("make", [
    lambda q: answer(q, m.Record("www.example.com", m.A, 20, "192.0.2.1"), rcode=m.SERVFAIL),
    lambda q: answer(q, m.Record("www.example.com", m.A, 20, "192.0.2.1"), flags=m.TC),
    lambda q: answer(q, *[m.Record("www.example.com", m.A, 20, f"192.0.2.{i}") for i in range(40)]),  # > 512
    lambda q: answer(q),  # no record says how long
    lambda q: answer(q, m.Record("www.example.com", m.A, 0, "192.0.2.1")),
    lambda q: b"\x00\x01garbage",
    lambda q: answer(q)[:14],
])
def test_not_kept(clock, make):
    cache = AnswerCache(clock=clock)
    q = query()
    cache.put(q, make(q))
    assert cache.get(q) is None


def test_dnssec_bits_are_part_of_the_key(clock):
    cache = AnswerCache(clock=clock)
    plain = query()
    cache.put(plain, answer(plain, m.Record("www.example.com", m.A, 20, "192.0.2.1")))
    assert cache.get(query(do=True)) is None and cache.get(query(cd=True)) is None
    assert cache.get(query(edns=True)) is None and cache.get(plain) is not None


def test_ttls_patched_in_place_with_compressed_rdata(clock):
    cache = AnswerCache(clock=clock)
    q = query("example.com", MX)
    cache.put(q, mx_with_pointer(q))
    clock.now += 5
    hit = cache.get(q)
    assert [ttl for _, ttl, _ in ttl_fields(hit)] == [295]  # the record's TTL lowered by the age
    assert hit[-4:] == b"\x00\x0a\xc0\x0c"  # the MX rdata untouched: still a pointer to the question
    assert len(hit) == len(mx_with_pointer(q))


def test_size_bound_evicts_the_oldest(clock):
    cache = AnswerCache(size=2, clock=clock)
    for name in ("a.example", "b.example", "c.example"):
        q = query(name)
        cache.put(q, answer(q, m.Record(name, m.A, 20, "192.0.2.1")))
    assert cache.get(query("a.example")) is None and cache.get(query("c.example")) is not None


def test_same_question():
    q = query()
    assert same_question(q, answer(q))
    assert same_question(q, answer(query("WWW.EXAMPLE.COM")))
    assert not same_question(q, answer(query("other.example.com")))
    assert not same_question(q, answer(query(qtype=m.AAAA)))
    assert question_key(b"short") is None
