"""Network configuration lists: parsing, validation, conf dirs, execution configs."""

from __future__ import annotations

import json

import pytest

from tinykube.agent.network import Attachment, ConfigError
from tinykube.agent.network.conflist import exec_config, find_in_dir, parse


def test_a_list_is_parsed():
    net = parse(json.dumps({"cniVersion": "1.0.0", "name": "n", "disableCheck": True,
                            "plugins": [{"type": "bridge"}, {"type": "portmap"}]}))
    assert (net.name, net.cni_version, net.disable_check) == ("n", "1.0.0", True)
    assert [p["type"] for p in net.plugins] == ["bridge", "portmap"]


def test_a_single_plugin_conf_becomes_a_list():
    net = parse({"cniVersion": "0.4.0", "name": "n", "type": "bridge", "bridge": "b0"})
    assert net.cni_version == "0.4.0" and net.plugins == ({"cniVersion": "0.4.0", "name": "n",
                                                            "type": "bridge", "bridge": "b0"},)


def test_cni_versions_picks_the_highest_supported():
    net = parse({"cniVersion": "0.4.0", "cniVersions": ["0.4.0", "1.0.0", "9.9.9"], "name": "n",
                 "plugins": [{"type": "x"}]})
    assert net.cni_version == "1.0.0"


@pytest.mark.parametrize("doc, words", [
    ("{not json", "invalid JSON"),
    ("[]", "not a JSON object"),
    ({"cniVersion": "1.0.0", "name": "-bad", "plugins": [{"type": "x"}]}, "invalid network name"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": []}, "no plugins"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../x"}]}, "invalid plugin type"),
    ({"cniVersion": "0.2.0", "name": "n", "plugins": [{"type": "x"}]}, "not supported"),
    ({"name": "n", "plugins": [{"type": "x"}]}, "not supported"),
])
def test_invalid_configs_are_refused(doc, words):
    with pytest.raises(ConfigError, match=words):
        parse(doc)


def test_conf_dir_first_valid_file_in_lexical_order(tmp_path, caplog):
    (tmp_path / "00-broken.conflist").write_text("{")
    (tmp_path / "10-b.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "b", "plugins": [{"type": "x"}]}))
    (tmp_path / "20-a.conf").write_text(json.dumps({"cniVersion": "1.0.0", "name": "a", "type": "x"}))
    (tmp_path / "README").write_text("not a config")
    assert find_in_dir(str(tmp_path)).name == "b"
    assert "00-broken.conflist" in caplog.text  # skipped, but said so
    assert find_in_dir(str(tmp_path / "missing")) is None


def test_exec_config_inserts_what_the_spec_says():
    net = parse({"cniVersion": "1.0.0", "name": "n", "plugins": [
        {"type": "portmap", "capabilities": {"portMappings": True, "bandwidth": False}, "snat": True}]})
    att = Attachment("c", "eth0", capability_args={"portMappings": [1], "bandwidth": {"x": 1}, "mac": "m"})
    conf = exec_config(net, net.plugins[0], att, {"ips": []})
    assert conf == {"type": "portmap", "snat": True, "name": "n", "cniVersion": "1.0.0",
                    "prevResult": {"ips": []}, "runtimeConfig": {"portMappings": [1]}}
    assert "runtimeConfig" not in exec_config(net, net.plugins[0], Attachment("c", "eth0"), None)
