"""Pods to CNI attachment parameters, CNI results to pod network status."""

from __future__ import annotations

from tinykube.agent.network.pods import pod_attachment, port_mappings, status_from_result

POD = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
       "spec": {"containers": [
           {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080},
                                   {"containerPort": 81},
                                   {"containerPort": 53, "hostPort": 53, "protocol": "UDP",
                                    "hostIP": "127.0.0.1"}]},
           {"name": "b"}]}}


def test_cni_args_as_kubelet_passes_them():
    att = pod_attachment(POD, sandbox_id="sb1", netns="/run/netns/p", ifname="eth0")
    assert att.cni_args() == ("IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;"
                              "K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=u-1")
    assert (att.container_id, att.netns, att.ifname) == ("sb1", "/run/netns/p", "eth0")


def test_host_ports_become_port_mappings():
    assert [m.to_cni() for m in port_mappings(POD)] == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 53, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}]
    att = pod_attachment(POD, sandbox_id="s", netns="", ifname="eth0")
    assert len(att.capability_args["portMappings"]) == 2
    no_ports = pod_attachment({"metadata": {}, "spec": {"containers": [{"name": "c"}]}},
                              sandbox_id="s", netns="", ifname="eth0")
    assert no_ports.capability_args == {}


BRIDGE_RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "cni0", "mac": "aa"}, {"name": "veth1", "mac": "bb"},
                   {"name": "eth0", "mac": "cc", "sandbox": "/run/netns/p"}],
    "ips": [{"interface": 2, "address": "10.42.0.5/24", "gateway": "10.42.0.1"},
            {"interface": 0, "address": "10.42.0.1/24"},
            {"interface": 2, "address": "fd00::5/64", "gateway": "fd00::1"}],
    "dns": {"nameservers": ["10.43.0.10"]}}


def test_status_takes_the_ips_of_the_pod_interface():
    s = status_from_result(BRIDGE_RESULT, sandbox_id="s", netns="/run/netns/p", ifname="eth0")
    assert s.ips == ("10.42.0.5", "fd00::5") and s.ip == "10.42.0.5"
    assert s.mac == "cc" and s.gateways == ("10.42.0.1", "fd00::1")
    assert s.dns == {"nameservers": ["10.43.0.10"]}


def test_status_without_interfaces_takes_every_ip():
    s = status_from_result({"ips": [{"address": "10.1.0.2/16"}]}, sandbox_id="s", netns="", ifname="eth0")
    assert s.ips == ("10.1.0.2",) and s.mac == ""
