"""Pure decisions of the node safety net: which unreachable routes to install, the
masquerade rule, the default network configuration and the settings checks."""

from __future__ import annotations

import pytest

from tinykube.agent.network import ConfigError, NetworkSettings, SafetyError, default_network
from tinykube.agent.network.defaults import check_settings
from tinykube.agent.network.masquerade import render, table_name
from tinykube.agent.network.routes import plan_unreachable

CIDRS = ("10.42.0.0/16", "10.43.0.0/16")


@pytest.mark.parametrize("routes, add, covered", [
    ([], CIDRS, ()),
    ([{"type": "blackhole", "dst": "10.43.0.0/16"}], ("10.42.0.0/16",), ("10.43.0.0/16",)),
    ([{"type": "unreachable", "dst": "10.0.0.0/8"}], (), CIDRS),
    ([{"type": "prohibit", "dst": "10.42.0.0/24"}], CIDRS, ()),  # narrower: not enough
    ([{"dst": "10.42.0.0/24", "dev": "cni0"}], CIDRS, ()),  # a real route is no block
    ([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}], CIDRS, ()),
    ([{"type": "unreachable", "dst": "fd00::/8"}], CIDRS, ()),  # other family
])
def test_plan(routes, add, covered):
    plan = plan_unreachable(CIDRS, routes)
    assert (plan.add, plan.covered) == (add, covered)


def test_plan_warns_about_routes_inside_a_cidr_that_leave_the_host():
    plan = plan_unreachable(CIDRS, [{"dst": "10.43.5.0/24", "gateway": "192.0.2.9"},
                                    {"dst": "default", "gateway": "192.0.2.1"},
                                    {"dst": "10.0.0.0/8", "gateway": "192.0.2.1"}])
    assert plan.warnings == ("10.43.5.0/24 (inside 10.43.0.0/16) is routed via 192.0.2.9, off this host",)


def test_plan_normalises_and_handles_ipv6():
    plan = plan_unreachable(["10.42.0.1/16", "fd00:43::/112"], [])
    assert plan.add == ("10.42.0.0/16", "fd00:43::/112")


def test_masquerade_rule_exempts_the_cluster():
    script = render(table_name("tk-0"), "10.42.0.0/24", "10.42.0.0/16")
    assert "table ip tinykube_masq_tk_0" in script and "flush table" in script
    assert "ip saddr 10.42.0.0/24 ip daddr != { 10.42.0.0/16, 224.0.0.0/4 } masquerade" in script
    assert "ip6 saddr fd00::/64" in render("t", "fd00::/64", "fd00::/56")


def test_default_network():
    s = NetworkSettings(data_dir="/var/lib/tk", bridge="tk0")
    net = default_network(s)
    bridge, portmap = net["plugins"]
    assert net["cniVersion"] == "1.0.0" and net["name"] == "tinykube"
    assert bridge["bridge"] == "tk0" and bridge["isGateway"] and not bridge["ipMasq"]
    assert bridge["ipam"] == {"type": "host-local", "ranges": [[{"subnet": "10.42.0.0/24"}]],
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/var/lib/tk/network/ipam"}
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}
    assert s.cache_dir == "/var/lib/tk/network/results"
    assert s.user_conf_dir == "/var/lib/tk/network/net.d"


@pytest.mark.parametrize("overrides, error", [
    ({"pod_cidr": "10.99.0.0/24"}, ConfigError),  # outside the cluster CIDR
    ({"pod_cidr": "10.42.0.1/24"}, ConfigError),  # host bits set
    ({"service_cidr": "10.42.128.0/20"}, SafetyError),
    ({"bridge": "x" * 16}, ConfigError),
    ({"pod_cidr": "10.42.0.0/31"}, ConfigError),
])
def test_bad_settings(overrides, error):
    with pytest.raises(error):
        check_settings(NetworkSettings(data_dir="/d", **overrides))
