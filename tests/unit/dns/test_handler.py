"""The hot path: bytes in, bytes out, from cached answers; malformed input never crashes."""

import random
import struct

import pytest

from tinykube.dns import message as m
from tinykube.dns.handler import FORWARD, TCP_MAX, QueryHandler
from tinykube.dns.resolver import Resolver

from .fixtures import cluster, endpoint_slice, service


@pytest.fixture
def handler():
    return QueryHandler(Resolver(cluster()))


def query(name, qtype=m.A, *, ident=0xBEEF, flags=m.RD, edns=None):
    additional = [m.opt_record(edns)] if edns else []
    return m.encode(m.Message(id=ident, flags=flags, questions=[m.Question(name, qtype)], additional=additional))


def test_answer_echoes_id_flags_and_question_case(handler):
    for _ in range(2):  # a miss, then the cached answer
        response = m.decode(handler.handle(query("Web.DEFAULT.svc.cluster.local")))
        assert response.id == 0xBEEF
        assert response.flags & (m.QR | m.AA | m.RD | m.RA) == m.QR | m.AA | m.RD | m.RA
        assert response.questions == [m.Question("Web.DEFAULT.svc.cluster.local", m.A)]
        assert [(r.name, r.data, r.ttl) for r in response.answers] == [("Web.DEFAULT.svc.cluster.local", "10.43.0.20", 5)]
    assert handler.stats["hits"] == 1


def test_nxdomain_carries_the_soa(handler):
    response = m.decode(handler.handle(query("nope.default.svc.cluster.local", flags=0)))
    assert response.rcode == m.NXDOMAIN and not response.flags & m.RD
    assert [r.rtype for r in response.authority] == [m.SOA]


def test_edns_queries_get_an_opt_record(handler):
    response = m.decode(handler.handle(query("web.default.svc.cluster.local", edns=4096)))
    assert response.edns() == m.opt_record(1232) and response.answers


def test_cache_follows_the_cluster(handler):
    handler.handle(query("web.default.svc.cluster.local"))
    handler.resolver.data.upsert("Service", service("web", cluster_ip="10.43.7.7"))
    response = m.decode(handler.handle(query("web.default.svc.cluster.local")))
    assert [r.data for r in response.answers] == ["10.43.7.7"]


def test_large_answers_truncate_on_udp_and_fit_on_tcp(handler):
    data = handler.resolver.data
    data.upsert("Service", service("big", cluster_ip="None"))
    data.upsert("EndpointSlice", endpoint_slice("big", [(f"10.42.{i // 200}.{i % 200 + 1}", None, True)
                                                        for i in range(100)]))
    name = "big.default.svc.cluster.local"
    small = m.decode(handler.handle(query(name)))
    assert small.flags & m.TC and small.answers == [] and small.questions
    edns = handler.handle(query(name, edns=4096))
    assert len(edns) <= 1232 and m.decode(edns).flags & m.TC
    full = m.decode(handler.handle(query(name), TCP_MAX))
    assert not full.flags & m.TC and len(full.answers) == 100


def test_outside_names_are_forwarded(handler):
    assert handler.handle(query("example.com")) is FORWARD
    assert handler.handle(query("example.com", edns=1232)) is FORWARD


@pytest.mark.parametrize("data", [
    b"",
    b"\x12\x34",
    m.encode(m.Message(id=1, flags=m.QR, questions=[m.Question("web.default.svc.cluster.local", m.A)])),
])
def test_short_packets_and_responses_are_dropped(handler, data):
    assert handler.handle(data) is None


@pytest.mark.parametrize("data, rcode", [
    (struct.pack("!6H", 7, m.RD, 1, 0, 0, 0) + b"\x03web\x00\x00", m.FORMERR),  # truncated question
    (struct.pack("!6H", 7, m.RD, 0, 0, 0, 0), m.FORMERR),  # no question
    (struct.pack("!6H", 7, m.RD, 2, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01" * 2, m.FORMERR),
    (struct.pack("!6H", 7, m.RD | (2 << 11), 1, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01", m.NOTIMP),  # STATUS
    (struct.pack("!6H", 7, m.RD, 1, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01garbage", m.FORMERR),
])
def test_malformed_queries_get_formerr(handler, data, rcode):
    response = handler.handle(data)
    assert struct.unpack_from("!H", response)[0] == 7
    assert m.decode(response).rcode == rcode and m.decode(response).flags & m.QR


def test_compressed_question_takes_the_slow_path(handler):
    # a question name that points at itself is malformed; one into the header's zero
    # bytes is the root name, legal, and not the cluster's
    looping = struct.pack("!6H", 9, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    assert m.decode(handler.handle(looping)).rcode == m.FORMERR
    root = struct.pack("!6H", 9, 0, 1, 0, 0, 0) + b"\xc0\x02\x00\x01\x00\x01"
    assert handler.handle(root) is FORWARD


def test_fuzzed_queries_never_raise(handler):
    rng = random.Random(11)
    seeds = [query("web.default.svc.cluster.local", edns=4096), query("_pg._tcp.db.default.svc.cluster.local", m.SRV),
             query("example.com")]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out = handler.handle(bytes(data[:rng.randint(0, len(data))]))
        assert out is None or out is FORWARD or isinstance(out, bytes)
        if isinstance(out, bytes):
            m.decode(out)  # every answer we send is well-formed
