"""Pod networking with the real CNI plugins (bridge, host-local, portmap, loopback),
as root, inside namespaces the test creates (nodens.py)."""

from __future__ import annotations

import ipaddress
import json
import os

import pytest

from tinykube.agent.network import NodeNetwork, PluginError, delete_netns

from .nodens import BUSYBOX, in_netns, run
from .pods import ipam_files, make_pod, ping

POD_CIDR = ipaddress.ip_network("10.42.0.0/24")


async def test_two_pods_reach_each_other_and_the_node(testnet, node, node_network):
    pods = [make_pod("a"), make_pod("b")]
    paths = [await testnet.pod_netns(node, p["metadata"]["name"]) for p in pods]
    a, b = [await node_network.setup_pod_network(path, pod) for path, pod in zip(paths, pods)]

    for status in (a, b):
        assert ipaddress.ip_address(status.ip) in POD_CIDR and status.interface == "eth0"
        assert status.gateways == ("10.42.0.1",)
    assert a.ip != b.ip
    assert ping(paths[0], b.ip) and ping(paths[1], a.ip)  # pod to pod by IP
    assert ping(node.netns_path, a.ip) and ping(node.netns_path, b.ip)  # node to pods
    assert ping(paths[0], "127.0.0.1")  # lo is up (loopback attachment)
    # Host ends of the veths live in the node namespace, never in the root one.
    host_ifs = [i["name"] for i in a.result["interfaces"] if not i.get("sandbox")]
    assert set(host_ifs) <= node.links()


async def test_teardown_releases_ip_and_veth_and_is_idempotent(testnet, node, node_network):
    settings = node_network.settings
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    status = await node_network.setup_pod_network(path, pod)
    veth = next(i["name"] for i in status.result["interfaces"] if i["name"].startswith("veth"))
    assert ipam_files(settings.data_dir, settings.network_name) == {status.ip}

    await node_network.teardown_pod_network(pod, netns_path=path)
    assert ipam_files(settings.data_dir, settings.network_name) == set()
    assert veth not in node.links()
    assert node_network.pod_network_status(pod["metadata"]["uid"]) is None

    await node_network.teardown_pod_network(pod, netns_path=path)  # DEL twice
    await delete_netns(path)
    await node_network.teardown_pod_network(pod, netns_path=path)  # netns gone


async def test_teardown_after_the_netns_is_gone_releases_the_ip(testnet, node, node_network):
    settings = node_network.settings
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    await node_network.setup_pod_network(path, pod)
    await delete_netns(path)  # the runtime removed the sandbox first
    await node_network.teardown_pod_network(pod, netns_path=path)
    assert ipam_files(settings.data_dir, settings.network_name) == set()


async def test_cache_survives_a_new_runtime_object(testnet, node, node_network):
    settings = node_network.settings
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    status = await node_network.setup_pod_network(path, pod)

    restarted = NodeNetwork(settings)  # as after an agent restart: same data dir
    await restarted.start()
    cached = restarted.pod_network_status(pod["metadata"]["uid"])
    assert cached is not None and cached.ips == status.ips and cached.netns == path
    again = await restarted.setup_pod_network(path, pod)  # idempotent, no new IP
    assert again.ips == status.ips
    assert ipam_files(settings.data_dir, settings.network_name) == {status.ip}

    await restarted.teardown_pod_network(sandbox_id=pod["metadata"]["uid"])  # from the cache only
    assert ipam_files(settings.data_dir, settings.network_name) == set()
    assert not ping(node.netns_path, status.ip)
    await restarted.stop(cleanup=False)


async def test_host_port_reaches_the_pod(testnet, node, node_network):
    pod = make_pod("web", host_ports={8080: 80})
    path = await testnet.pod_netns(node, "web")
    await node_network.setup_pod_network(path, pod)
    testnet.spawn(path, [BUSYBOX, "nc", "-ll", "-p", "80", "-e", BUSYBOX, "echo", "hello"])

    assert _fetch(node.netns_path, node.ip, 8080) == "hello"  # from the node itself
    assert _fetch(testnet.lan_path, node.ip, 8080) == "hello"  # from another machine

    await node_network.teardown_pod_network(pod, netns_path=path)
    rules = node.run(["iptables-save", "-t", "nat"]).stdout
    assert "8080" not in rules


def _fetch(netns_path: str, ip: str, port: int) -> str:
    from tests.waiting import wait_for

    def attempt():
        out = run(in_netns(netns_path, [BUSYBOX, "nc", "-w", "1", ip, str(port)]), check=False)
        return out.stdout.strip()
    return wait_for(attempt, timeout=5, what=f"{ip}:{port} to answer")


async def test_check_passes_when_healthy_and_fails_when_broken(testnet, node, node_network):
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    await node_network.setup_pod_network(path, pod)
    await node_network.check_pod_network(path, pod)

    run(in_netns(path, ["ip", "link", "delete", "eth0"]))
    with pytest.raises(PluginError) as err:
        await node_network.check_pod_network(path, pod)
    assert err.value.plugin == "bridge" and "eth0" in str(err.value)
    await node_network.teardown_pod_network(pod, netns_path=path)


async def test_plugin_error_surfaces_its_message_and_setup_is_undone(testnet, node):
    settings = testnet.settings(node)
    # host-local refuses a range that starts outside its subnet.
    ipam = {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/24", "rangeStart": "10.99.0.5"}]]}
    network = await _start_with_user_conflist(testnet, node, settings, {
        "cniVersion": "1.0.0", "name": "bad",
        "plugins": [{"type": "bridge", "bridge": f"{testnet.prefix}x", "ipam": ipam}]})
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    with pytest.raises(PluginError) as err:
        await network.setup_pod_network(path, pod)
    assert err.value.plugin == "bridge" and "RangeStart 10.99.0.5 not in network" in err.value.msg
    assert "RangeStart" in str(err.value)  # the text an event would carry
    # The undo DEL fails too (same broken config): the attachment stays cached,
    # marked unfinished, so that a later DEL or gc can still clean it up ...
    [left] = network.runtime.cache.entries()
    assert left.result is None and left.attachment.ifname == "eth0"
    await network.stop()

    # ... which succeeds once the configuration is fixed (DEL falls back to it).
    fixed = dict(ipam, ranges=[[{"subnet": "10.88.0.0/24"}]], dataDir=f"{settings.data_dir}/i")
    network = await _start_with_user_conflist(testnet, node, settings, {
        "cniVersion": "1.0.0", "name": "bad",
        "plugins": [{"type": "bridge", "bridge": f"{testnet.prefix}x", "ipam": fixed}]})
    assert await network.gc([]) == [pod["metadata"]["uid"]]
    assert network.runtime.cache.entries() == []
    await network.stop()


async def test_user_conflist_replaces_the_default(testnet, node):
    settings = testnet.settings(node)
    ipam = {"type": "host-local", "ranges": [[{"subnet": "10.42.7.0/24"}]],
            "dataDir": f"{settings.data_dir}/mine-ipam"}
    network = await _start_with_user_conflist(testnet, node, settings, {
        "cniVersion": "1.0.0", "name": "mine",
        "plugins": [{"type": "bridge", "bridge": f"{testnet.prefix}u", "isGateway": True,
                     "ipam": ipam}]})
    assert network.network.name == "mine"
    pod = make_pod("a")
    path = await testnet.pod_netns(node, "a")
    status = await network.setup_pod_network(path, pod)
    assert status.ip.startswith("10.42.7.") and ping(node.netns_path, status.ip)
    await network.teardown_pod_network(pod, netns_path=path)
    assert os.listdir(f"{settings.data_dir}/mine-ipam/mine") == ["lock"] or \
        not any(n.startswith("10.") for n in os.listdir(f"{settings.data_dir}/mine-ipam/mine"))
    await network.stop()


async def _start_with_user_conflist(testnet, node, settings, conflist: dict) -> NodeNetwork:
    conf_dir = os.path.join(settings.data_dir, "user-net.d")
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "50-user.conflist"), "w") as f:
        json.dump(conflist, f)
    network = NodeNetwork(testnet.settings(node, data_dir=settings.data_dir, conf_dir=conf_dir))
    await network.start()
    return network


async def test_gc_deletes_attachments_of_vanished_sandboxes(testnet, node, node_network):
    settings = node_network.settings
    keep, drop = make_pod("keep"), make_pod("drop")
    for pod in (keep, drop):
        await node_network.setup_pod_network(await testnet.pod_netns(node, pod["metadata"]["name"]), pod)
    removed = await node_network.gc([keep["metadata"]["uid"]])
    assert removed == [drop["metadata"]["uid"]]
    kept = node_network.pod_network_status(keep["metadata"]["uid"])
    assert ipam_files(settings.data_dir, settings.network_name) == {kept.ip}


async def test_setup_in_a_new_netns_replaces_the_old_attachment(testnet, node, node_network):
    settings = node_network.settings
    pod = make_pod("a")
    old_path = await testnet.pod_netns(node, "old")
    old = await node_network.setup_pod_network(old_path, pod)
    new_path = await testnet.pod_netns(node, "new")  # the sandbox was recreated
    new = await node_network.setup_pod_network(new_path, pod)
    assert new.netns == new_path and ping(node.netns_path, new.ip)
    assert ipam_files(settings.data_dir, settings.network_name) == {new.ip}
    old_veth = next(i["name"] for i in old.result["interfaces"] if i["name"].startswith("veth"))
    assert old_veth not in node.links()  # DEL ran in the old namespace
    await node_network.teardown_pod_network(pod, netns_path=new_path)
