"""The node-level safety net and namespace helpers, for real, inside test namespaces:
unreachable routes for the cluster and Service CIDRs, pinned network namespaces,
and the harness's own promise that nothing reaches the machine's root namespace."""

from __future__ import annotations

import os

from tinykube.agent.network import NodeNetwork, create_netns, delete_netns, is_netns
from tinykube.agent.network.routes import ROUTE_PROTO

from .nodens import LAN, NETNS_DIR, root_links, run
from .pods import make_pod, ping


def _route_get(node, ip: str) -> str:
    out = node.run(["ip", "route", "get", ip], check=False)
    return (out.stdout + out.stderr).strip()


async def test_unreachable_routes_keep_cluster_traffic_on_the_node(testnet, node):
    # Give the node a default route (into the test's own isolated LAN) so that,
    # without the safety routes, cluster and Service addresses would "leave".
    node.run(["ip", "route", "add", "default", "via", str(LAN[1])])
    assert "via" in _route_get(node, "10.43.0.10")

    network = NodeNetwork(testnet.settings(node))
    await network.start()
    assert network.routes.add == ("10.42.0.0/16", "10.43.0.0/16")
    for ip in ("10.43.0.10", "10.42.9.9"):  # a Service IP, another node's pod IP
        assert "no route to host" in _route_get(node, ip).lower()  # EHOSTUNREACH
    routes = node.run(["ip", "route", "show", "proto", str(ROUTE_PROTO)]).stdout
    assert "unreachable 10.42.0.0/16" in routes and "unreachable 10.43.0.0/16" in routes

    pod = make_pod("a")  # the node's own pod CIDR still wins by prefix length
    path = await testnet.pod_netns(node, "a")
    status = await network.setup_pod_network(path, pod)
    assert ping(node.netns_path, status.ip)
    assert not ping(path, "10.43.0.10")  # the pod's Service traffic stops at its node

    await network.teardown_pod_network(pod, netns_path=path)
    await network.stop()
    assert "via" in _route_get(node, "10.42.9.9")  # removed on stop
    assert node.run(["ip", "route", "show", "proto", str(ROUTE_PROTO)]).stdout.strip() == ""


async def test_a_cidr_already_blocked_is_left_alone(testnet, node):
    node.run(["ip", "route", "add", "blackhole", "10.43.0.0/16"])  # the administrator's
    network = NodeNetwork(testnet.settings(node))
    await network.start()
    assert network.routes.covered == ("10.43.0.0/16",) and network.routes.add == ("10.42.0.0/16",)
    await network.stop()
    assert "blackhole 10.43.0.0/16" in node.run(["ip", "route"]).stdout


async def test_routes_from_an_earlier_run_are_adopted_and_removed(testnet, node):
    first = NodeNetwork(testnet.settings(node))
    await first.start()  # then "dies" without stop()
    second = NodeNetwork(testnet.settings(node))
    await second.start()
    assert second.routes.add == () and len(second.routes.covered) == 2
    await second.stop()
    assert node.run(["ip", "route", "show", "proto", str(ROUTE_PROTO)]).stdout.strip() == ""


async def test_create_and_delete_netns(testnet):
    path = os.path.join(NETNS_DIR, f"{testnet.prefix}-solo")
    await create_netns(path)
    assert is_netns(path)
    links = run(["nsenter", f"--net={path}", "ip", "-o", "link"]).stdout
    assert links.count(":") >= 2 and "lo" in links and len(links.splitlines()) == 1  # fresh: only lo
    await delete_netns(path)
    assert not os.path.exists(path) and not is_netns(path)
    await delete_netns(path)  # idempotent


async def test_harness_nodes_have_no_way_off_the_machine(testnet, node):
    assert node.run(["ip", "route", "show", "default"]).stdout.strip() == ""
    assert node.links() == {"lo", "eth0"}
    assert not any(testnet.prefix in name for name in root_links())


async def test_pod_traffic_leaving_the_cluster_is_masqueraded(testnet, node):
    # The LAN namespace has no route back to pod addresses: its ping replies reach
    # the pod only if the node rewrote the source to its own address.
    node.run(["ip", "route", "add", "default", "via", str(LAN[1])])
    network = NodeNetwork(testnet.settings(node))
    await network.start()
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    await network.setup_pod_network(path, pod)
    assert ping(path, str(LAN[1]))
    assert "masquerade" in node.run(["nft", "list", "ruleset"]).stdout
    await network.teardown_pod_network(pod, netns_path=path)
    await network.stop()
    assert "tinykube_masq" not in node.run(["nft", "list", "tables"]).stdout
