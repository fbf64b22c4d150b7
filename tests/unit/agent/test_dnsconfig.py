"""A pod's resolv.conf per dnsPolicy and dnsConfig, as the kubelet forms it."""

import pytest

from tinykube.agent import dnsconfig as d

NODE = "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example.\noptions timeout:2 rotate\n"
DNS = d.ClusterDNS(("10.43.0.10",), "cluster.local", NODE)
CLUSTER_SEARCH = "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example"


def pod(policy=None, *, host_network=False, dns_config=None, namespace="team"):
    spec = {"hostNetwork": host_network} if host_network else {}
    if policy:
        spec["dnsPolicy"] = policy
    if dns_config is not None:
        spec["dnsConfig"] = dns_config
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize("the_pod, expected", [
    (pod(), f"{CLUSTER_SEARCH}\nnameserver 10.43.0.10\noptions ndots:5\n"),
    (pod("ClusterFirst"), f"{CLUSTER_SEARCH}\nnameserver 10.43.0.10\noptions ndots:5\n"),
    # the host network with ClusterFirst: the node's settings
    (pod("ClusterFirst", host_network=True),
     "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 rotate\n"),
    (pod("ClusterFirstWithHostNet", host_network=True), f"{CLUSTER_SEARCH}\nnameserver 10.43.0.10\noptions ndots:5\n"),
    (pod("ClusterFirstWithHostNet"), f"{CLUSTER_SEARCH}\nnameserver 10.43.0.10\noptions ndots:5\n"),
    (pod("Default"),
     "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 rotate\n"),
    (pod("None", dns_config={"nameservers": ["1.1.1.1"], "searches": ["a.example"],
                             "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}),
     "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"),
    # dnsConfig merged: appended without duplicates, options by name (the pod's value wins)
    (pod(dns_config={"nameservers": ["1.1.1.1", "10.43.0.10"], "searches": ["svc.cluster.local", "x.example"],
                     "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}),
     f"{CLUSTER_SEARCH} x.example\nnameserver 10.43.0.10\nnameserver 1.1.1.1\noptions ndots:1 single-request\n"),
    (pod("Default", dns_config={"options": [{"name": "rotate"}, {"name": "timeout", "value": "5"}]}),
     "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:5 rotate\n"),
    (pod(namespace="kube-system"), "search kube-system.svc.cluster.local svc.cluster.local cluster.local "
                                   "corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n"),
])
def test_resolv_conf_per_policy(the_pod, expected):
    assert d.pod_resolv_conf(the_pod, DNS) == expected


def test_empty_result_is_the_nodes_resolv_conf():
    assert d.pod_resolv_conf(pod("None", dns_config={}), DNS) == NODE


def test_no_cluster_dns_falls_back_to_default_with_a_warning():
    warnings = []
    out = d.pod_resolv_conf(pod(), d.ClusterDNS((), "cluster.local", NODE), lambda *w: warnings.append(w))
    assert out.startswith("search corp.example lab.example\nnameserver 192.0.2.53")
    assert warnings == [("MissingClusterDNS", 'pod: "team/p". kubelet does not have ClusterDNS IP configured and '
                         'cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.')]


def test_nameserver_limit():
    warnings = []
    config = {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3"]}
    out = d.pod_resolv_conf(pod(dns_config=config), DNS, lambda *w: warnings.append(w))
    assert [line for line in out.splitlines() if line.startswith("nameserver")] == [
        "nameserver 10.43.0.10", "nameserver 1.1.1.1", "nameserver 1.1.1.2"]
    assert warnings == [("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, "
                         "the applied nameserver line is: 10.43.0.10 1.1.1.1 1.1.1.2")]


@pytest.mark.parametrize("searches, kept", [
    ([f"d{i}.example" for i in range(40)], 32),          # 32 paths at most
    ([("x" * 60 + ".") * 5 + "example"] + ["ok.example"], 1),  # a path over 253 characters is dropped
    ([f"{i:02d}" + "y" * 97 + ".example" for i in range(25)], 18),  # 2048 characters in all (107 + 1 each)
])
def test_search_limits(searches, kept):
    warnings = []
    config = d.pod_dns_config(pod("None", dns_config={"searches": searches}), DNS, lambda *w: warnings.append(w))
    assert len(config.searches) == kept
    assert len(" ".join(config.searches)) <= d.MAX_SEARCH_CHARS
    assert warnings and warnings[0][0] == "DNSConfigForming"
    assert warnings[0][1].startswith("Search Line limits were exceeded, some search paths have been omitted, "
                                     "the applied search line is: ")


def test_within_limits_no_warning():
    warnings = []
    d.pod_resolv_conf(pod(), DNS, lambda *w: warnings.append(w))
    assert warnings == []


@pytest.mark.parametrize("text, expected", [
    (NODE, d.ResolvConf(("192.0.2.53", "192.0.2.54"), ("corp.example", "lab.example"), ("timeout:2", "rotate"))),
    ("search a.example\nsearch b.example .\n# nameserver 9.9.9.9\nnameserver 1.1.1.1 ; comment\n"
     "options ndots:2\noptions ndots:3 edns0\n",
     d.ResolvConf(("1.1.1.1",), ("b.example",), ("ndots:3", "edns0"))),
    ("", d.ResolvConf()),
])
def test_parse_resolv_conf(text, expected):
    assert d.parse_resolv_conf(text) == expected


def test_node_resolv_conf_skips_a_loopback_stub(tmp_path):
    stub, real = tmp_path / "resolv.conf", tmp_path / "systemd.conf"
    stub.write_text("nameserver 127.0.0.53\n")
    real.write_text("nameserver 192.0.2.1\n")
    assert d.node_resolv_conf((str(stub), str(real))) == "nameserver 192.0.2.1\n"
    real.unlink()
    assert d.node_resolv_conf((str(stub), str(real))) == "nameserver 127.0.0.53\n"
    stub.write_text("nameserver 192.0.2.9\n")
    assert d.node_resolv_conf((str(stub), str(real))) == "nameserver 192.0.2.9\n"
