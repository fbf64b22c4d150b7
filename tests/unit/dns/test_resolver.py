"""The cluster's names, answered as CoreDNS's kubernetes plugin answers them."""

import pytest

from tinykube.dns import message as m
from tinykube.dns.resolver import Resolver

from .fixtures import cluster, endpoint_slice, service

Z = "cluster.local"
OK, NX = m.NOERROR, m.NXDOMAIN


@pytest.fixture
def resolver():
    return Resolver(cluster())


def _short(answer):
    """(rcode, [(name, type name, data)], has SOA in authority)"""
    return (answer.rcode, [(r.name, m.TYPE_NAMES[r.rtype], r.data) for r in answer.answers],
            [r.rtype for r in answer.authority] == [m.SOA])


@pytest.mark.parametrize("qname, qtype, expected", [
    # ClusterIP Services
    ("web.default.svc.cluster.local", m.A, (OK, [("web.default.svc.cluster.local", "A", "10.43.0.20")], False)),
    ("WEB.Default.SVC.cluster.local.", m.A, (OK, [("web.default.svc.cluster.local", "A", "10.43.0.20")], False)),
    ("web.default.svc.cluster.local", m.AAAA, (OK, [], True)),  # NODATA
    ("web.default.svc.cluster.local", m.TXT, (OK, [], True)),
    ("v6.default.svc.cluster.local", m.AAAA, (OK, [("v6.default.svc.cluster.local", "AAAA", "fd00::20")], False)),
    ("kube-dns.kube-system.svc.cluster.local", m.A,
     (OK, [("kube-dns.kube-system.svc.cluster.local", "A", "10.43.0.10")], False)),
    # headless: the ready endpoints only
    ("db.default.svc.cluster.local", m.A, (OK, [("db.default.svc.cluster.local", "A", "10.42.0.5"),
                                               ("db.default.svc.cluster.local", "A", "10.42.0.6")], False)),
    ("empty.default.svc.cluster.local", m.A, (NX, [], True)),
    ("db-0.db.default.svc.cluster.local", m.A, (OK, [("db-0.db.default.svc.cluster.local", "A", "10.42.0.5")], False)),
    ("10-42-0-6.db.default.svc.cluster.local", m.A,
     (OK, [("10-42-0-6.db.default.svc.cluster.local", "A", "10.42.0.6")], False)),
    ("db-2.db.default.svc.cluster.local", m.A, (NX, [], True)),  # not ready
    # SRV
    ("_http._tcp.web.default.svc.cluster.local", m.SRV,
     (OK, [("_http._tcp.web.default.svc.cluster.local", "SRV", (0, 100, 80, "web.default.svc.cluster.local"))], False)),
    ("_http._tcp.web.default.svc.cluster.local", m.A,
     (OK, [("_http._tcp.web.default.svc.cluster.local", "A", "10.43.0.20")], False)),
    ("_dns._udp.kube-dns.kube-system.svc.cluster.local", m.SRV,
     (OK, [("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV",
            (0, 100, 53, "kube-dns.kube-system.svc.cluster.local"))], False)),
    ("_dns._tcp.kube-dns.kube-system.svc.cluster.local", m.SRV, (NX, [], True)),
    ("_tcp.web.default.svc.cluster.local", m.SRV, (OK, [], True)),  # an empty non-terminal
    ("_udp.web.default.svc.cluster.local", m.SRV, (NX, [], True)),
    ("_pg._tcp.db.default.svc.cluster.local", m.SRV,
     (OK, [("_pg._tcp.db.default.svc.cluster.local", "SRV", (0, 50, 5432, "db-0.db.default.svc.cluster.local")),
           ("_pg._tcp.db.default.svc.cluster.local", "SRV", (0, 50, 5432, "10-42-0-6.db.default.svc.cluster.local"))],
      False)),
    ("kube-dns.kube-system.svc.cluster.local", m.SRV,
     (OK, [("kube-dns.kube-system.svc.cluster.local", "SRV", (0, 50, 53, "kube-dns.kube-system.svc.cluster.local"))] * 2,
      False)),
    # ExternalName
    ("ext.default.svc.cluster.local", m.A, (OK, [("ext.default.svc.cluster.local", "CNAME", "example.com")], False)),
    ("ext.default.svc.cluster.local", m.CNAME, (OK, [("ext.default.svc.cluster.local", "CNAME", "example.com")], False)),
    ("alias.default.svc.cluster.local", m.A, (OK, [("alias.default.svc.cluster.local", "CNAME",
                                                    "web.default.svc.cluster.local"),
                                                   ("web.default.svc.cluster.local", "A", "10.43.0.20")], False)),
    # pods ("pods insecure")
    ("10-42-0-77.default.pod.cluster.local", m.A,
     (OK, [("10-42-0-77.default.pod.cluster.local", "A", "10.42.0.77")], False)),
    ("fd00--5.default.pod.cluster.local", m.AAAA, (OK, [("fd00--5.default.pod.cluster.local", "AAAA", "fd00::5")], False)),
    ("10-42-0-77.nons.pod.cluster.local", m.A, (NX, [], True)),
    ("10-42-0-777.default.pod.cluster.local", m.A, (NX, [], True)),
    # what does not exist, and empty non-terminals
    ("nope.default.svc.cluster.local", m.A, (NX, [], True)),
    ("web.nons.svc.cluster.local", m.A, (NX, [], True)),
    ("default.svc.cluster.local", m.A, (OK, [], True)),
    ("svc.cluster.local", m.A, (OK, [], True)),
    ("nons.svc.cluster.local", m.A, (NX, [], True)),
    ("x.web.default.svc.cluster.local", m.A, (NX, [], True)),
    ("a.b.web.default.svc.cluster.local", m.A, (NX, [], True)),
    ("google.com.default.svc.cluster.local", m.A, (NX, [], True)),  # a search-path expansion
    ("something.cluster.local", m.A, (NX, [], True)),
    # the zone itself
    ("cluster.local", m.SOA, (OK, [(Z, "SOA", ("ns.dns.cluster.local", "hostmaster.cluster.local", 1000,
                                              7200, 1800, 86400, 5))], False)),
    ("cluster.local", m.NS, (OK, [(Z, "NS", "ns.dns.cluster.local")], False)),
    ("cluster.local", m.A, (OK, [], True)),
    ("ns.dns.cluster.local", m.A, (OK, [("ns.dns.cluster.local", "A", "10.43.0.10")], False)),
    ("dns-version.cluster.local", m.TXT, (OK, [("dns-version.cluster.local", "TXT", ("1.1.0",))], False)),
    # PTR
    ("20.0.43.10.in-addr.arpa", m.PTR, (OK, [("20.0.43.10.in-addr.arpa", "PTR", "web.default.svc.cluster.local")],
                                        False)),
    ("5.0.42.10.in-addr.arpa", m.PTR, (OK, [("5.0.42.10.in-addr.arpa", "PTR", "db-0.db.default.svc.cluster.local")],
                                       False)),
    (m.reverse_name("fd00::20"), m.PTR, (OK, [(m.reverse_name("fd00::20"), "PTR", "v6.default.svc.cluster.local")],
                                         False)),
])
def test_cluster_names(resolver, qname, qtype, expected):
    assert _short(resolver.resolve(qname, qtype)) == expected


@pytest.mark.parametrize("qname, qtype", [
    ("example.com", m.A),
    ("cluster.local.example.com", m.A),
    ("99.99.99.10.in-addr.arpa", m.PTR),  # unknown reverse names fall through upstream
    ("20.0.43.10.in-addr.arpa", m.A),
])
def test_other_names_are_forwarded(resolver, qname, qtype):
    assert resolver.resolve(qname, qtype) is None


def test_srv_answers_carry_target_addresses(resolver):
    answer = resolver.resolve("_pg._tcp.db.default.svc.cluster.local", m.SRV)
    assert [(r.name, r.data) for r in answer.additional] == [("db-0.db.default.svc.cluster.local", "10.42.0.5"),
                                                             ("10-42-0-6.db.default.svc.cluster.local", "10.42.0.6")]


def test_other_classes_are_refused_in_the_zone(resolver):
    assert resolver.resolve("web.default.svc.cluster.local", m.A, qclass=3).rcode == m.REFUSED


def test_answers_follow_informer_events():
    data = cluster()
    resolver = Resolver(data, zone="example.internal", ttl=30)
    generation = data.generation
    data.upsert("Service", service("new", cluster_ip="10.43.9.9"))
    assert data.generation > generation
    answer = resolver.resolve("new.default.svc.example.internal", m.A)
    assert [(r.data, r.ttl) for r in answer.answers] == [("10.43.9.9", 30)]
    data.upsert("EndpointSlice", endpoint_slice("db", [("10.42.1.1", None, True)], name="db-second"))
    assert {r.data for r in resolver.resolve("db.default.svc.example.internal", m.A).answers} == {
        "10.42.0.5", "10.42.0.6", "10.42.1.1"}
    data.remove("EndpointSlice", endpoint_slice("db", [], name="db-abc"))
    data.remove("Service", service("new"))
    assert resolver.resolve("new.default.svc.example.internal", m.A).rcode == m.NXDOMAIN
    assert [r.data for r in resolver.resolve("db.default.svc.example.internal", m.A).answers] == ["10.42.1.1"]
    assert resolver.resolve("1.1.42.10.in-addr.arpa", m.PTR).answers[0].data == "10-42-1-1.db.default.svc.example.internal"


def test_publish_not_ready_addresses_lists_every_endpoint():
    data = cluster()
    data.upsert("Service", service("db", cluster_ip="None", publishNotReadyAddresses=True))
    assert len(Resolver(data).resolve("db.default.svc.cluster.local", m.A).answers) == 3
