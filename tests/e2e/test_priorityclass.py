"""scheduling.k8s.io/v1 PriorityClass and the Priority admission plugin with the real kubectl."""

from __future__ import annotations

import json

import yaml


def _pod(name: str, **spec) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}})


def _spec(server, name: str) -> dict:
    return json.loads(server.kubectl("get", "pod", name, "-n", "default", "-o", "json").stdout)["spec"]


def test_priority_classes_and_priority_admission(fresh_server):
    server = fresh_server
    table = server.kubectl("get", "priorityclasses").stdout.splitlines()
    assert table[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["system-node-critical"][1:3] == ["2000001000", "false"]
    assert rows["system-cluster-critical"][1:3] == ["2000000000", "false"]
    assert rows["system-node-critical"][-1] == "PreemptLowerPriority"

    server.kubectl("create", "priorityclass", "high", "--value=1000", "--description=important")
    server.kubectl("create", "priorityclass", "polite", "--value=500", "--preemption-policy=Never")
    server.kubectl("apply", "-f", "-", input=_pod("important", priorityClassName="high"))
    server.kubectl("apply", "-f", "-", input=_pod("meek", priorityClassName="polite"))
    server.kubectl("apply", "-f", "-", input=_pod("critical", priorityClassName="system-cluster-critical"))
    server.kubectl("apply", "-f", "-", input=_pod("plain"))
    assert (_spec(server, "important")["priority"], _spec(server, "important")["preemptionPolicy"]) == (
        1000, "PreemptLowerPriority")
    assert (_spec(server, "meek")["priority"], _spec(server, "meek")["preemptionPolicy"]) == (500, "Never")
    assert _spec(server, "critical")["priority"] == 2000000000
    assert _spec(server, "plain")["priority"] == 0 and "priorityClassName" not in _spec(server, "plain")

    refused = server.kubectl("apply", "-f", "-", input=_pod("lost", priorityClassName="nope"), check=False)
    assert refused.returncode != 0
    assert 'pods "lost" is forbidden: no PriorityClass with name nope was found' in refused.stderr
    refused = server.kubectl("apply", "-f", "-", input=_pod("forged", priorityClassName="high", priority=5),
                             check=False)
    assert ("the integer value of priority (5) must not be provided in pod spec; priority admission controller "
            "computed 1000 from the given PriorityClass name") in refused.stderr
    refused = server.kubectl("create", "priorityclass", "huge", "--value=2000000000", check=False)
    assert "value: Forbidden: maximum allowed value of a user defined priority is 1000000000" in refused.stderr
    refused = server.kubectl("create", "priorityclass", "system-mine", "--value=1", check=False)
    assert "priority class names with 'system-' prefix are reserved for system use only" in refused.stderr
    server.kubectl("patch", "priorityclass", "high", "-p", '{"description": "still important"}')
    refused = server.kubectl("patch", "priorityclass", "high", "-p", '{"value": 1001}', check=False)
    assert "value: Forbidden: may not be changed in an update." in refused.stderr

    server.kubectl("create", "priorityclass", "everyone", "--value=7", "--global-default")
    refused = server.kubectl("create", "priorityclass", "everyone2", "--value=8", "--global-default", check=False)
    assert "PriorityClass everyone is already marked as default. Only one default can exist" in refused.stderr
    server.kubectl("apply", "-f", "-", input=_pod("defaulted"))
    spec = _spec(server, "defaulted")
    assert (spec["priorityClassName"], spec["priority"]) == ("everyone", 7)
