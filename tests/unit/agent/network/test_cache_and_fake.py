"""The attachment cache on disk, and the recording fake the agent's tests use."""

from __future__ import annotations

import pytest

from tinykube.agent.network import Attachment, FakeNodeNetwork, NetworkError
from tinykube.agent.network.cache import CachedAttachment, ResultCache


async def test_cache_round_trip(tmp_path):
    cache = ResultCache(str(tmp_path / "results"))
    att = Attachment("c1", "eth0", "/run/netns/p", (("K", "V"),), {"portMappings": [1]})
    entry = CachedAttachment("net", att, {"name": "net"}, {"ips": []})
    await cache.write(entry)
    back = cache.read("net", "c1", "eth0")
    assert back == entry and back.attachment.capability_args == {"portMappings": [1]}
    (tmp_path / "results" / "stray").write_text('{"kind": "someone-else"}')
    assert cache.entries() == [entry]  # files that are not ours are never acted on
    await cache.delete("net", "c1", "eth0")
    await cache.delete("net", "c1", "eth0")
    assert cache.read("net", "c1", "eth0") is None and cache.entries() == []


def _pod(name):
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}}


async def test_fake_network_hands_out_and_reclaims_ips():
    net = FakeNodeNetwork("10.42.0.0/24")
    a = await net.setup_pod_network("/run/netns/a", _pod("a"))
    b = await net.setup_pod_network("/run/netns/b", _pod("b"))
    assert (a.ip, b.ip, a.gateways) == ("10.42.0.2", "10.42.0.3", ("10.42.0.1",))
    assert await net.setup_pod_network("/run/netns/a", _pod("a")) == a  # idempotent
    await net.check_pod_network("/run/netns/a", _pod("a"))
    assert await net.gc(["uid-a"]) == ["uid-b"]
    await net.teardown_pod_network(_pod("a"))
    assert net.pod_network_status("uid-a") is None
    assert ("setup", "uid-a") in net.calls and ("teardown", "uid-b") in net.calls


async def test_fake_network_fails_on_demand():
    net = FakeNodeNetwork()
    net.fail["setup"] = NetworkError("bridge: boom")
    with pytest.raises(NetworkError, match="boom"):
        await net.setup_pod_network("/p", _pod("a"))
    await net.setup_pod_network("/p", _pod("a"))  # only the next call fails
