"""DnsListener and Forwarder over loopback sockets: UDP and TCP answers, forwarding with
a fresh ID, SERVFAIL when upstreams are silent, and NodeDns fed by informers (fake API)."""

import asyncio
import socket
import struct

import pytest

from tinykube.client import FakeApiClient
from tinykube.dns import message as m
from tinykube.dns.cluster import ClusterData
from tinykube.dns.forward import Forwarder, parse_upstream
from tinykube.dns.handler import QueryHandler
from tinykube.dns.resolver import Resolver
from tinykube.dns.server import DnsConfig, DnsListener, NodeDns, upstreams_for

from .fixtures import cluster, service


class Upstream(asyncio.DatagramProtocol):
    """A stub upstream on loopback: answers A 192.0.2.1 unless told to stay silent."""

    def __init__(self, silent=False):
        self.silent, self.ids = silent, []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        query = m.decode(data)
        self.ids.append(query.id)
        if not self.silent:
            answer = m.Message(id=query.id, flags=m.QR | m.RA, questions=query.questions,
                               answers=[m.Record(query.questions[0].name, m.A, 60, "192.0.2.1")])
            self.transport.sendto(m.encode(answer), addr)


async def _upstream(silent=False):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: Upstream(silent), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")


async def _listener(data: ClusterData, upstreams, timeout=2.0):
    listener = DnsListener(QueryHandler(Resolver(data)), Forwarder(upstreams, timeout=timeout))
    await listener.start("", "127.0.0.1", 0)
    return listener, listener._udp.get_extra_info("sockname")[1]


async def _udp_query(port, name, ident=0x4242):
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, m.encode(m.Message(id=ident, flags=m.RD, questions=[m.Question(name, m.A)])))
    try:
        return m.decode(await asyncio.wait_for(loop.sock_recv(sock, 4096), 5))
    finally:
        sock.close()


async def test_udp_tcp_and_forwarding():
    transport, upstream, address = await _upstream()
    listener, port = await _listener(cluster(), [address])
    try:
        answer = await _udp_query(port, "web.default.svc.cluster.local")
        assert answer.id == 0x4242 and [r.data for r in answer.answers] == ["10.43.0.20"]
        for name in ("a.example.com", "b.example.com", "c.example.com", "A.example.COM"):
            forwarded = await _udp_query(port, name, ident=7)
            assert forwarded.id == 7 and [r.data for r in forwarded.answers] == ["192.0.2.1"]
        assert len(upstream.ids) == 3  # the repeated name came from the cache
        assert any(i != 7 for i in upstream.ids)  # fresh random IDs upstream
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for ident in (1, 2):  # two queries on one connection
            query = m.encode(m.Message(id=ident, flags=m.RD, questions=[m.Question("web.default.svc.cluster.local", m.A)]))
            writer.write(struct.pack("!H", len(query)) + query)
        for ident in (1, 2):
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            assert m.decode(await reader.readexactly(size)).id == ident
        writer.close()
    finally:
        await listener.close()
        transport.close()


async def test_silent_upstreams_give_servfail():
    transport, upstream, address = await _upstream(silent=True)
    listener, port = await _listener(cluster(), [address, address], timeout=0.2)
    try:
        answer = await _udp_query(port, "example.com")
        assert answer.rcode == m.SERVFAIL and len(upstream.ids) == 2  # each upstream tried
    finally:
        await listener.close()
        transport.close()


async def test_node_dns_answers_from_informers(monkeypatch):
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
               {"apiVersion": "v1", "kind": "Service", **service("web")}]
    client = FakeApiClient(objects)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dns = NodeDns(client, DnsConfig(cluster_dns="127.0.0.1", interface="", port=port, upstreams=("192.0.2.53",)))
    task = asyncio.create_task(dns.run())
    try:
        await asyncio.wait_for(dns.ready.wait(), 5)
        answer = await _udp_query(port, "web.default.svc.cluster.local")
        assert [r.data for r in answer.answers] == ["10.43.0.20"]
        await client.delete(("v1", "Service"), "web", namespace="default")
        for _ in range(100):
            if (await _udp_query(port, "web.default.svc.cluster.local")).rcode == m.NXDOMAIN:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the deleted Service kept answering")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.1", ("10.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[fd00::1]:54", ("fd00::1", 54)), ("fd00::1", ("fd00::1", 53)),
])
def test_parse_upstream(text, expected):
    assert parse_upstream(text) == expected


def test_upstreams_from_resolv_conf_never_loop_to_ourselves(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search x\nnameserver 10.43.0.10\nnameserver 192.0.2.53\n")
    assert upstreams_for(DnsConfig(resolv_conf=str(conf))) == [("192.0.2.53", 53)]
    assert upstreams_for(DnsConfig(resolv_conf=str(conf), upstreams=("127.0.0.1:5353",))) == [("127.0.0.1", 5353)]
