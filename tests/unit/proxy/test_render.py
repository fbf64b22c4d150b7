"""render(): Services + EndpointSlices -> nftables text, as tables and goldens."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.proxy import render as r
from tinykube.proxy.nft import RecordingHost
from tinykube.proxy.proxier import Proxier


def svc(name, ip="10.43.0.20", type_="ClusterIP", node_port=0, annotations=None, **spec) -> dict:
    port = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    md = {"name": name, "namespace": "default", "annotations": annotations or {}}
    return {"metadata": md, "spec": {"type": type_, "clusterIP": ip, "ports": [port], **spec}}


def eps(name, *endpoints, protocol="TCP") -> dict:
    """endpoints: (ip, ready, serving, terminating, node)"""
    return {"metadata": {"name": f"{name}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": protocol}],
            "endpoints": [{"addresses": [ip], "nodeName": node,
                           "conditions": {"ready": ready, "serving": serving, "terminating": term}}
                          for ip, ready, serving, term, node in endpoints]}


def body(text: str) -> str:
    """The table without its fixed base chains."""
    lines = text.splitlines()
    return "\n".join(lines[1 + len(r._BASE):])


GOLDEN_CLUSTER_IP = """\
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.43.0.20 . tcp . 80 : goto svc-SUSTUHLJ-default/web/tcp/http }
  }
  map service-nodeports {
    type inet_proto . inet_service : verdict
  }
  map no-endpoint-services {
    type ipv4_addr . inet_proto . inet_service : verdict
  }
  map no-endpoint-nodeports {
    type inet_proto . inet_service : verdict
  }
  map single-endpoint {
    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
  }
  set single-endpoint-hairpin {
    type ipv4_addr . ipv4_addr . inet_proto . inet_service
  }
  chain sep-M7GX5OZP-default/web/tcp/http__10.42.0.5/8080 {
    ip saddr 10.42.0.5 jump mark-for-masquerade
    meta l4proto tcp dnat to 10.42.0.5:8080
  }
  chain sep-KBGO4RQO-default/web/tcp/http__10.42.0.6/8080 {
    ip saddr 10.42.0.6 jump mark-for-masquerade
    meta l4proto tcp dnat to 10.42.0.6:8080
  }
  chain svc-SUSTUHLJ-default/web/tcp/http {
    ip daddr 10.43.0.20 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
    numgen random mod 2 vmap { 0 : goto sep-M7GX5OZP-default/web/tcp/http__10.42.0.5/8080, \
1 : goto sep-KBGO4RQO-default/web/tcp/http__10.42.0.6/8080 }
  }
}"""


def dnat_targets(text: str) -> list[str]:
    """The endpoint IPs the table DNATs to: endpoint chains and single-endpoint elements."""
    chains = [line.split()[-1].split(":")[0] for line in text.splitlines() if " dnat to 10." in line]
    single = text.split("map single-endpoint {")[1].split("}")[0]
    return chains + [element.split(" : ")[1].split(" . ")[0] for element in single.split("= {")[1:]]


GOLDEN_SINGLE_ENDPOINT = """\
  map single-endpoint {
    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
    elements = { 10.43.0.21 . udp . 80 : 10.42.0.6 . 8080,
      10.43.0.20 . tcp . 80 : 10.42.0.5 . 8080 }
  }
  set single-endpoint-hairpin {
    type ipv4_addr . ipv4_addr . inet_proto . inet_service
    elements = { 10.42.0.6 . 10.43.0.21 . udp . 80,
      10.42.0.5 . 10.43.0.20 . tcp . 80 }
  }
}"""


def test_golden_single_endpoint_cluster_ips_are_map_elements_not_chains():
    udp = svc("dns", ip="10.43.0.21")
    udp["spec"]["ports"][0]["protocol"] = "UDP"
    text = r.render([svc("web"), udp], [eps("web", ("10.42.0.5", True, True, False, "n1")),
                                         eps("dns", ("10.42.0.6", True, True, False, "n1"), protocol="UDP")],
                    "n1", cluster_cidr="10.42.0.0/16")
    assert "chain svc-" not in text and "chain sep-" not in text and "goto svc-" not in text
    assert text.endswith(GOLDEN_SINGLE_ENDPOINT + "\n")
    shared = text.split("  chain single-endpoint {\n")[1].split("  }")[0]
    assert shared.splitlines()[0] == "    ip saddr != 10.42.0.0/16 jump mark-for-masquerade"


@pytest.mark.parametrize("extra", [
    {"sessionAffinity": "ClientIP"}, {"type": "NodePort"}, {"externalIPs": ["198.18.0.9"]},
])
def test_single_endpoint_with_affinity_node_port_or_external_ips_keeps_its_chains(extra):
    service = svc("web", **extra)
    if extra.get("type") == "NodePort":
        service["spec"]["ports"][0]["nodePort"] = 30001
    text = r.render([service], [eps("web", ("10.42.0.5", True, True, False, "n1"))], "n1")
    assert "chain svc-" in text and dnat_targets(text) == ["10.42.0.5"]


def test_golden_cluster_ip_with_two_ready_endpoints():
    text = r.render([svc("web")], [eps("web", ("10.42.0.6", True, True, False, "n2"),
                                        ("10.42.0.5", True, True, False, "n1"),
                                        ("10.42.0.7", False, False, False, "n1"))], "n1")
    assert text.startswith("table ip tinykube {\n")
    assert body(text) == GOLDEN_CLUSTER_IP


def test_no_endpoints_rejects_both_cluster_ip_and_node_port():
    text = r.render([svc("web", type_="NodePort", node_port=30001)], [], "n1")
    assert "elements = { 10.43.0.20 . tcp . 80 : goto reject-chain }" in text
    assert "elements = { tcp . 30001 : goto reject-chain }" in text
    assert dnat_targets(text) == []


@pytest.mark.parametrize("endpoints, used", [
    ([("10.42.0.5", True, True, False, "n1"), ("10.42.0.6", False, True, True, "n1")], ["10.42.0.5"]),
    ([("10.42.0.5", False, False, False, "n1"), ("10.42.0.6", False, True, True, "n1")], ["10.42.0.6"]),
    ([("10.42.0.5", False, False, False, "n1"), ("10.42.0.6", False, False, True, "n1")], []),
])
def test_ready_endpoints_or_serving_terminating_ones_when_none_is_ready(endpoints, used):
    text = r.render([svc("web")], [eps("web", *endpoints)], "n1")
    assert dnat_targets(text) == used


def test_node_port_cluster_policy_masquerades_and_local_policy_keeps_local_endpoints():
    slices = [eps("web", ("10.42.0.5", True, True, False, "n1"), ("10.42.0.6", True, True, False, "n2"))]
    cluster = r.render([svc("web", type_="NodePort", node_port=30001, externalTrafficPolicy="Cluster")], slices, "n1")
    assert "tcp . 30001 : goto ext-SUSTUHLJ-default/web/tcp/http" in cluster
    assert "  chain ext-SUSTUHLJ-default/web/tcp/http {\n    jump mark-for-masquerade\n" \
           "    goto svc-SUSTUHLJ-default/web/tcp/http\n  }" in cluster
    local = r.render([svc("web", type_="NodePort", node_port=30001, externalTrafficPolicy="Local")], slices, "n1")
    ext = local.split("chain ext-")[1].split("}")[0]
    assert "ip saddr 10.42.0.0/16 goto svc-" in ext and "fib saddr type local goto svc-" in ext
    assert "10.42.0.5" in ext and "10.42.0.6" not in ext and "numgen" not in ext
    elsewhere = r.render([svc("web", type_="NodePort", node_port=30001, externalTrafficPolicy="Local")], slices, "n3")
    assert 'drop comment "no local endpoints"' in elsewhere


def test_session_affinity_sets_with_timeout():
    text = r.render([svc("web", sessionAffinity="ClientIP",
                         sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})],
                    [eps("web", ("10.42.0.5", True, True, False, "n1"), ("10.42.0.6", True, True, False, "n1"))], "n1")
    assert text.count("flags dynamic,timeout; timeout 60s;") == 2
    assert text.count("update @affinity-") == 2
    assert text.count("ip saddr @affinity-") == 2


@pytest.mark.parametrize("service", [
    svc("kube-dns", annotations={"tinykube.io/node-local-dns": "true"}),
    svc("headless", ip="None"),
    svc("ext", ip="", type_="ExternalName", externalName="example.com"),
])
def test_services_without_rules(service):
    text = r.render([service], [eps(service["metadata"]["name"], ("10.42.0.5", True, True, False, "n1"))], "n1")
    assert "elements" not in text and "chain svc-" not in text


def test_udp_and_load_balancer_ingress():
    lb = svc("lb", type_="LoadBalancer", node_port=30005, externalTrafficPolicy="Cluster")
    lb["spec"]["ports"][0]["protocol"] = "UDP"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "198.18.0.2"}]}}
    text = r.render([lb], [eps("lb", ("10.42.0.5", True, True, False, "n1"), protocol="UDP")], "n1")
    assert "198.18.0.2 . udp . 80 : goto ext-" in text and "udp . 30005 : goto ext-" in text
    assert "meta l4proto udp dnat to 10.42.0.5:8080" in text


def test_transaction_deletes_what_is_gone_and_keeps_the_rest():
    two_eps = ("10.42.0.6", True, True, False, "n1"), ("10.42.0.7", True, True, False, "n1")
    one = r.render([svc("a"), svc("b", ip="10.43.0.21")], [eps("a", ("10.42.0.5", True, True, False, "n1")),
                                                           eps("b", *two_eps)], "n1")
    two = r.render([svc("a")], [eps("a", ("10.42.0.5", True, True, False, "n1"))], "n1")
    script = r.transaction(two, "tinykube", one)
    deleted = [line for line in script.splitlines() if line.startswith("delete chain")]
    assert len(deleted) == 3 and all("default/b/" in line for line in deleted)  # svc- and 2 sep-
    assert script.index("flush map ip tinykube service-ips") < script.index("delete chain")
    assert r.transaction(two, "tinykube", None).startswith("table ip tinykube {}\ndelete table ip tinykube\n")


async def test_proxier_applies_only_when_the_text_changes():
    class FakeInformer:
        def __init__(self, items):
            self.store = type("S", (), {"list": lambda s: items, "get": lambda s, k: None})()

    host = RecordingHost()
    proxier = Proxier(None, node_name="n1", host=host)
    proxier.services, proxier.slices, proxier.nodes = FakeInformer([svc("a")]), FakeInformer([]), FakeInformer([])
    assert await proxier.sync_once() and await proxier.sync_once() is False
    assert len(host.scripts) == 1 and "delete table ip tinykube" in host.scripts[0]
    await asyncio.sleep(0)


def test_partial_sync_touches_only_what_changed():
    two = (("10.42.0.6", True, True, False, "n1"), ("10.42.0.7", True, True, False, "n1"))
    before = r.render_table([svc("a"), svc("b", ip="10.43.0.21"), svc("c", ip="10.43.0.22")],
                            [eps("a", ("10.42.0.5", True, True, False, "n1")), eps("b", *two),
                             eps("c", ("10.42.0.8", True, True, False, "n1"))], "n1")
    after = r.render_table([svc("a"), svc("c", ip="10.43.0.22")],  # b gone, a moved to another pod
                           [eps("a", ("10.42.0.9", True, True, False, "n1")),
                            eps("c", ("10.42.0.8", True, True, False, "n1"))], "n1")
    lines = r.update(after, before, "tinykube").splitlines()
    assert lines == [
        "delete element ip tinykube service-ips { 10.43.0.21 . tcp . 80 }",
        "delete element ip tinykube single-endpoint { 10.43.0.20 . tcp . 80 }",
        "delete element ip tinykube single-endpoint-hairpin { 10.42.0.5 . 10.43.0.20 . tcp . 80 }",
        "add element ip tinykube single-endpoint { 10.43.0.20 . tcp . 80 : 10.42.0.9 . 8080 }",
        "add element ip tinykube single-endpoint-hairpin { 10.42.0.9 . 10.43.0.20 . tcp . 80 }",
        *[f"flush chain ip tinykube {c}" for c in sorted(before.chains)],
        *[f"delete chain ip tinykube {c}" for c in sorted(before.chains)],
    ]  # c, unchanged, is not mentioned
    assert r.update(after, after, "tinykube") is None


def test_partial_sync_rewrites_a_changed_chain_before_adding_what_refers_to_it():
    one = r.render_table([svc("a")], [eps("a", ("10.42.0.5", True, True, False, "n1"))], "n1")
    three = r.render_table([svc("a")], [eps("a", *[(f"10.42.0.{i}", True, True, False, "n1") for i in (5, 6, 7)])],
                           "n1")
    script = r.update(three, one, "tinykube")
    assert script.startswith("table ip tinykube {\n  chain sep-")
    assert script.index("chain svc-") < script.index("add element ip tinykube service-ips { 10.43.0.20 . tcp . 80 : goto svc-")
    assert "flush chain" not in script  # all new
    back = r.update(one, three, "tinykube")
    assert back.index("delete element ip tinykube service-ips") < back.index("delete chain")


def test_partial_sync_refuses_what_only_a_full_sync_can_do():
    base = r.render_table([svc("a")], [], "n1")
    with pytest.raises(ValueError):
        r.update(r.render_table([svc("a")], [], "n1", cluster_cidr="10.99.0.0/16"), base, "t")


async def test_proxier_syncs_partially_after_a_full_sync_and_fully_when_it_is_due():
    class FakeInformer:
        def __init__(self, items):
            self.items = items
            self.store = type("S", (), {"list": lambda s: self.items, "get": lambda s, k: None})()

    host = RecordingHost()
    proxier = Proxier(None, node_name="n1", host=host)
    proxier.services, proxier.slices, proxier.nodes = FakeInformer([svc("a")]), FakeInformer([]), FakeInformer([])
    assert await proxier.sync_once()
    proxier.services.items = [svc("a"), svc("b", ip="10.43.0.21")]
    assert await proxier.sync_once()
    assert host.scripts[-1] == "add element ip tinykube no-endpoint-services { 10.43.0.21 . tcp . 80 : goto reject-chain }\n"
    proxier.full_sync_period = 0
    proxier.services.items = [svc("a")]
    assert await proxier.sync_once() and "flush table ip tinykube" in host.scripts[-1]
    assert (proxier.syncs, proxier.full_syncs) == (3, 2)
