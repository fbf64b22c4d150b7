"""CNIRuntime against fake plugin executables: ordering, chaining, the cache, DEL and
CHECK semantics, errors and timeouts (CNI spec sections 2 and 3). No root needed."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tinykube.agent.network import (Attachment, CheckUnsupported, CNIRuntime, ConfigError,
                                    NetworkError, PluginError, PluginNotFound, PluginTimeout)
from tinykube.agent.network.conflist import parse

from .fakeplugin import calls, install


@pytest.fixture
def plugins(tmp_path):
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("first", "second", "third"):
        install(str(directory), name)
    return str(directory)


@pytest.fixture
def runtime(tmp_path, plugins):
    return CNIRuntime(cache_dir=str(tmp_path / "cache"), plugin_dirs=(plugins,), timeout=10)


def network(*plugins, version="1.0.0", name="net", **extra):
    return parse(dict({"cniVersion": version, "name": name, "plugins": list(plugins)}, **extra))


ATTACHMENT = Attachment(container_id="c1", ifname="eth0", netns="/run/netns/x",
                        args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")),
                        capability_args={"portMappings": [{"hostPort": 80, "containerPort": 8080,
                                                           "protocol": "tcp"}]})
THREE = network({"type": "first", "fake": {"ip": "10.1.0.5/24"}},
                {"type": "second", "capabilities": {"portMappings": True}},
                {"type": "third", "capabilities": {"bandwidth": True}})


async def test_add_runs_plugins_in_order_and_chains_results(runtime, plugins):
    result = await runtime.add(THREE, ATTACHMENT)
    log = calls(plugins)
    assert [(c["plugin"], c["cmd"]) for c in log] == [("first", "ADD"), ("second", "ADD"), ("third", "ADD")]
    assert "prevResult" not in log[0]["conf"]
    assert log[1]["conf"]["prevResult"]["interfaces"][0]["by"] == "first"
    assert log[2]["conf"]["prevResult"] == {**log[1]["conf"]["prevResult"],
                                            "interfaces": log[2]["conf"]["prevResult"]["interfaces"]}
    assert [i["by"] for i in result["interfaces"]] == ["first", "second", "third"]
    assert result["ips"][0]["address"] == "10.1.0.5/24"


async def test_add_passes_parameters_and_capabilities(runtime, plugins):
    await runtime.add(THREE, ATTACHMENT)
    first, second, third = calls(plugins)
    assert first["env"] == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x",
                            "CNI_IFNAME": "eth0", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
                            "CNI_PATH": plugins}
    assert first["conf"]["name"] == "net" and first["conf"]["cniVersion"] == "1.0.0"
    assert "runtimeConfig" not in first["conf"]  # declared no capability
    assert second["conf"]["runtimeConfig"] == {"portMappings": ATTACHMENT.capability_args["portMappings"]}
    assert "capabilities" not in second["conf"]  # the runtime removes it
    assert "runtimeConfig" not in third["conf"]  # declared one we did not supply


async def test_del_runs_in_reverse_with_the_add_result_and_config(runtime, plugins):
    result = await runtime.add(THREE, ATTACHMENT)
    changed = network({"type": "first"}, name="net")  # the config changed since
    await runtime.delete(changed, Attachment("c1", "eth0"))
    dels = [c for c in calls(plugins) if c["cmd"] == "DEL"]
    assert [c["plugin"] for c in dels] == ["third", "second", "first"]  # ADD's list, reversed
    assert all(c["conf"]["prevResult"] == result for c in dels)
    assert dels[0]["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"  # ADD's args
    assert dels[0]["env"]["CNI_NETNS"] == ""  # /run/netns/x is not a namespace
    assert runtime.cache.entries() == []


async def test_del_is_idempotent(runtime, plugins):
    await runtime.add(THREE, ATTACHMENT)
    await runtime.delete(None, ATTACHMENT)
    await runtime.delete(None, ATTACHMENT)  # nothing cached, no config: nothing to run
    assert len([c for c in calls(plugins) if c["cmd"] == "DEL"]) == 3
    await runtime.delete(THREE, ATTACHMENT)  # with a config: plugins clean up what they can
    dels = [c for c in calls(plugins) if c["cmd"] == "DEL"]
    assert len(dels) == 6 and "prevResult" not in dels[-1]["conf"]


async def test_cache_survives_a_new_runtime(tmp_path, runtime, plugins):
    result = await runtime.add(THREE, ATTACHMENT)
    again = CNIRuntime(cache_dir=str(tmp_path / "cache"), plugin_dirs=(plugins,))
    entry = again.cached("net", ATTACHMENT)
    assert entry.result == result and entry.attachment.args == ATTACHMENT.args
    await again.delete(None, Attachment("c1", "eth0"))
    assert [c["plugin"] for c in calls(plugins) if c["cmd"] == "DEL"] == ["third", "second", "first"]


async def test_failed_add_stops_and_stays_cached_until_deleted(runtime, plugins):
    broken = network({"type": "first"}, {"type": "second", "fake": {"fail": {"ADD": {"code": 7, "msg": "no"}}}},
                     {"type": "third"})
    with pytest.raises(PluginError):
        await runtime.add(broken, ATTACHMENT)
    assert [c["plugin"] for c in calls(plugins)] == ["first", "second"]
    [entry] = runtime.cache.entries()
    assert entry.result is None  # an unfinished ADD: DEL must still run
    await runtime.delete(None, ATTACHMENT)
    assert [c["plugin"] for c in calls(plugins) if c["cmd"] == "DEL"] == ["third", "second", "first"]
    assert runtime.cache.entries() == []


async def test_check_uses_the_cached_result(runtime, plugins):
    result = await runtime.add(THREE, ATTACHMENT)
    await runtime.check(THREE, Attachment("c1", "eth0"))
    checks = [c for c in calls(plugins) if c["cmd"] == "CHECK"]
    assert [c["plugin"] for c in checks] == ["first", "second", "third"]
    assert all(c["conf"]["prevResult"] == result for c in checks)
    assert checks[0]["env"]["CNI_NETNS"] == "/run/netns/x"  # ADD's parameters


async def test_check_rules(runtime, plugins):
    with pytest.raises(NetworkError, match="never added"):
        await runtime.check(THREE, ATTACHMENT)
    old = network({"type": "first"}, version="0.3.1", name="old")
    unchecked = network({"type": "first"}, disableCheck=True, name="unchecked")
    for net in (old, unchecked):
        await runtime.add(net, ATTACHMENT.with_netns(f"/ns/{net.name}"))
    with pytest.raises(CheckUnsupported):
        await runtime.check(old, ATTACHMENT)
    await runtime.check(unchecked, ATTACHMENT)
    assert [c["cmd"] for c in calls(plugins)] == ["ADD", "ADD"]  # no CHECK ran


async def test_plugin_error_keeps_the_plugins_words(runtime):
    failing = network({"type": "first", "fake": {"fail": {"ADD": {"code": 7, "msg": "bad subnet",
                                                                   "details": "10.0.0.0/33"}}}})
    with pytest.raises(PluginError) as err:
        await runtime.add(failing, ATTACHMENT)
    e = err.value
    assert (e.plugin, e.command, e.code, e.msg, e.details) == ("first", "ADD", 7, "bad subnet", "10.0.0.0/33")
    assert str(e) == "plugin first ADD failed (code 7): bad subnet: 10.0.0.0/33"


async def test_output_that_is_not_a_cni_error(runtime):
    with pytest.raises(PluginError) as err:
        await runtime.add(network({"type": "first", "fake": {"garbage": ["ADD"]}}), ATTACHMENT)
    assert err.value.code is None and "exit status 3" in str(err.value)
    assert "segfault" in err.value.details and "panic" in err.value.stderr


async def test_timeout_kills_the_plugin(tmp_path, plugins):
    runtime = CNIRuntime(cache_dir=str(tmp_path / "c"), plugin_dirs=(plugins,), timeout=0.5)
    start = time.monotonic()
    with pytest.raises(PluginTimeout):
        await runtime.add(network({"type": "first", "fake": {"sleep": 30}}), ATTACHMENT)
    assert time.monotonic() - start < 5


async def test_missing_plugin(runtime):
    with pytest.raises(PluginNotFound, match="nope"):
        await runtime.add(network({"type": "nope"}), ATTACHMENT)


async def test_validate_asks_every_plugin_for_its_versions(runtime, monkeypatch):
    await runtime.validate(THREE)
    monkeypatch.setenv("FAKE_CNI_VERSIONS", "0.3.1,0.4.0")
    fresh = CNIRuntime(cache_dir=runtime.cache.directory, plugin_dirs=runtime.plugins.plugin_dirs)
    with pytest.raises(ConfigError, match="does not support cniVersion 1.0.0"):
        await fresh.validate(THREE)


async def test_gc_deletes_stale_attachments_and_runs_the_gc_verb(runtime, plugins):
    net11 = network({"type": "first"}, version="1.1.0")
    for cid in ("keep", "gone"):
        await runtime.add(net11, Attachment(cid, "eth0"))
    deleted = await runtime.gc(net11, {("keep", "eth0")})
    assert [e.attachment.container_id for e in deleted] == ["gone"]
    assert [e.attachment.container_id for e in runtime.cache.entries()] == ["keep"]
    gc = [c for c in calls(plugins) if c["cmd"] == "GC"]
    assert gc[0]["conf"]["cni.dev/valid-attachments"] == [{"containerID": "keep", "ifname": "eth0"}]
    assert "CNI_CONTAINERID" not in gc[0]["env"]


async def test_operations_on_one_attachment_do_not_overlap(runtime, plugins):
    slow = network({"type": "first", "fake": {"sleep": 0.3}})
    await asyncio.gather(runtime.add(slow, ATTACHMENT), runtime.delete(slow, ATTACHMENT))
    assert [c["cmd"] for c in calls(plugins)] == ["ADD", "DEL"]  # serialised, in order


def test_invalid_attachment_is_refused(runtime):
    for bad in (Attachment("-x", "eth0"), Attachment("c1", "a/b"), Attachment("c1", "x" * 16)):
        with pytest.raises(ConfigError):
            asyncio.run(runtime.add(THREE, bad))
    assert not os.path.exists(runtime.cache.directory)


async def test_status_asks_cni_1_1_plugins(runtime, plugins):
    await runtime.status(network({"type": "first"}, version="1.0.0"))  # VERSION only
    assert [c["cmd"] for c in calls(plugins)] == ["VERSION"]
    failing = network({"type": "second", "fake": {"fail": {"STATUS": {"code": 50, "msg": "not ready"}}}},
                      version="1.1.0")
    with pytest.raises(PluginError, match="not ready"):
        await runtime.status(failing)
