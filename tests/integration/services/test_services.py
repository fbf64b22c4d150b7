"""Services end to end: real API server, controllers, agent, nftables proxy, kubectl.

One node in a test network namespace; busybox httpd backends that answer with their pod
name; requests from the node's namespace (ClusterIP, NodePort on the node IP and on
127.0.0.1) and from a client pod. Pods are placed with spec.nodeName.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest

from tests.integration.cluster import pod_manifest, real_cluster

pytestmark = pytest.mark.integration

NODE_PORT = 30001
WEB_IP = "10.43.7.7"
SOLO_IP = "10.43.7.8"
BACKEND = ("mkdir -p /www && hostname > /www/index.html && trap 'echo term' TERM; "
           "httpd -f -p 8080 -h /www & wait; wait")
# the image's static busybox wget crashes in containers here: HTTP/1.0 by hand, body only
GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3"


def _agent_args(table: str) -> tuple[str, ...]:
    args = ("--proxy-table", table)
    with open(os.path.join(os.path.dirname(__file__), "../../../tinykube/cli/main.py")) as f:
        if "--kubelet-address" in f.read():  # the kubelet API listens on loopback, not in the node's netns
            args += ("--kubelet-address", "127.0.0.1", "--kubelet-port", "0")
    return args


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    table = f"tk{secrets.token_hex(3)}"
    with real_cluster(tmp_path_factory, nodes=("n1",), agent_args=_agent_args(table)) as c:
        c.table = table
        yield c


def node_run(cluster, argv, **kw) -> subprocess.CompletedProcess:
    return cluster.agents["n1"].node.run(argv, check=False, **kw)


def fetch(cluster, url: str) -> str:
    out = node_run(cluster, ["curl", "-s", "--max-time", "3", url])
    return out.stdout.strip()


def answers(cluster, url: str, n: int = 30) -> list[str]:
    return [fetch(cluster, url) for _ in range(n)]


def pod_log(cluster, name: str) -> str:
    pod = cluster.pod(name)
    if not pod:
        return ""
    agent = cluster.agents["n1"]
    path = os.path.join(agent.data_dir, "logs", f"default_{name}_{pod['metadata']['uid']}", "app", "0.log")
    try:
        with open(path) as f:
            return "\n".join(line.split(" ", 3)[-1].rstrip("\n") for line in f)
    except OSError:
        return ""


def ready_endpoints(cluster, service: str) -> set[str]:
    slices = cluster.get("endpointslices", selector=f"kubernetes.io/service-name={service}").get("items", [])
    return {e["targetRef"]["name"] for s in slices for e in s.get("endpoints") or []
            if e["conditions"].get("ready")}


def service_yaml(name: str, ip: str, selector: str, *, node_port: int = 0) -> str:
    kind = "NodePort" if node_port else "ClusterIP"
    port = f"\n    nodePort: {node_port}" if node_port else ""
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: {kind}\n"
            f"  clusterIP: {ip}\n  selector: {{app: {selector}}}\n  ports:\n  - name: http\n    port: 80\n"
            f"    targetPort: http{port}\n")


def backend(name: str, app: str, grace: int = 2) -> str:
    manifest = pod_manifest(name, BACKEND, node="n1", labels={"app": app},
                            container_extra="    ports: [{name: http, containerPort: 8080}]")
    return manifest.replace("terminationGracePeriodSeconds: 2", f"terminationGracePeriodSeconds: {grace}")


@pytest.fixture(scope="module")
def web(cluster):
    cluster.apply(service_yaml("web", WEB_IP, "web", node_port=NODE_PORT))
    for i in range(3):
        cluster.apply(backend(f"web-{i}", "web", grace=20))
    cluster.wait_for(lambda: ready_endpoints(cluster, "web") == {"web-0", "web-1", "web-2"},
                     "3 ready endpoints", timeout=45)
    return cluster


def test_default_services_exist(cluster):
    kubernetes = cluster.get("service", "kubernetes")
    assert kubernetes["spec"]["clusterIP"] == "10.43.0.1"
    assert kubernetes["spec"]["ports"][0]["name"] == "https"
    dns = cluster.get("service", "kube-dns", namespace="kube-system")
    assert dns["spec"]["clusterIP"] == "10.43.0.10"
    assert {p["name"] for p in dns["spec"]["ports"]} == {"dns", "dns-tcp"}


def test_cluster_ip_and_node_port_reach_every_ready_backend_from_the_node(web):
    node_ip = web.agents["n1"].node.ip
    for url in (f"http://{WEB_IP}/", f"http://{node_ip}:{NODE_PORT}/", f"http://127.0.0.1:{NODE_PORT}/"):
        web.wait_for(lambda: fetch(web, url).startswith("web-"), f"an answer from {url}", timeout=10)
        assert set(answers(web, url)) == {"web-0", "web-1", "web-2"}, url
    endpoints = web.kubectl("get", "endpoints", "web").stdout
    assert "10.42.100." in endpoints


def test_from_a_pod_by_cluster_ip_and_hairpin_to_itself(web):
    script = f"for i in $(seq 30); do {GET} {WEB_IP} 80; echo; done; echo DONE; sleep 3600"
    web.apply(pod_manifest("client", script, node="n1"))
    out = web.wait_for(lambda: "DONE" in pod_log(web, "client") and pod_log(web, "client"), "client output",
                       timeout=45)
    assert {line.strip() for line in out.splitlines() if line.startswith("web-")} == {"web-0", "web-1", "web-2"}
    web.apply(service_yaml("solo", SOLO_IP, "solo"))
    hairpin = ("mkdir -p /www && hostname > /www/index.html && httpd -p 8080 -h /www; "
               f"until {GET} {SOLO_IP} 80 | grep solo; do sleep 0.2; done; echo DONE; sleep 3600")
    web.apply(pod_manifest("solo", hairpin, node="n1", labels={"app": "solo"},
                           container_extra="    ports: [{name: http, containerPort: 8080}]"))
    out = web.wait_for(lambda: "DONE" in pod_log(web, "solo") and pod_log(web, "solo"), "hairpin answer",
                       timeout=45)
    assert "solo" in [line.strip() for line in out.splitlines()]


def test_terminating_pod_stops_receiving_traffic(web):
    # Readiness probes are another issue's; a terminating pod is the same signal to the
    # endpoints: ready false, serving true, terminating true. web-2 ignores SIGTERM and
    # keeps serving through its 20 s grace period; it must get no new connection.
    web.kubectl("delete", "pod", "web-2", "--wait=false")
    web.wait_for(lambda: ready_endpoints(web, "web") == {"web-0", "web-1"}, "web-2 not ready")
    url = f"http://{WEB_IP}/"
    web.wait_for(lambda: "web-2" not in answers(web, url, 10), "web-2 out of the rules", timeout=5)
    assert web.pod("web-2")["metadata"].get("deletionTimestamp")  # still terminating, still serving
    assert set(answers(web, url)) == {"web-0", "web-1"}


def test_service_with_no_endpoints_is_refused_quickly(cluster):
    cluster.apply(service_yaml("nobody", "10.43.7.9", "nobody"))
    cluster.wait_for(lambda: "10.43.7.9" in node_run(cluster, ["nft", "list", "table", "ip", cluster.table]).stdout,
                     "the reject rule")
    start = time.monotonic()
    out = node_run(cluster, ["curl", "-s", "--max-time", "5", "http://10.43.7.9/"])
    assert out.returncode == 7 and time.monotonic() - start < 1.0  # connection refused, no timeout


def test_allocation_errors_through_kubectl(web):
    taken_ip = web.kubectl("apply", "-f", "-", input=service_yaml("dup-ip", WEB_IP, "x"), check=False)
    assert taken_ip.returncode != 0
    assert f'failed to allocate IP {WEB_IP}: provided IP is already allocated' in taken_ip.stderr
    taken_port = web.kubectl("apply", "-f", "-", input=service_yaml("dup-port", "10.43.7.10", "x",
                                                                    node_port=NODE_PORT), check=False)
    assert "spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated" in taken_port.stderr
    out_of_range = web.kubectl("create", "service", "nodeport", "far", "--tcp=80:8080", "--node-port=40000",
                               check=False)
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in out_of_range.stderr


def test_restart_keeps_allocations_and_rules(web):
    before = web.get("service", "web")["spec"]
    web.server.stop()
    web.server.start()
    after = web.get("service", "web")["spec"]
    assert (after["clusterIP"], after["ports"][0]["nodePort"]) == (before["clusterIP"], NODE_PORT)
    again = web.kubectl("apply", "-f", "-", input=service_yaml("dup-ip2", WEB_IP, "x"), check=False)
    assert "provided IP is already allocated" in again.stderr  # rebuilt from the stored Services
    url = f"http://127.0.0.1:{NODE_PORT}/"
    web.wait_for(lambda: fetch(web, url).startswith("web-"), "NodePort answering after the restart", timeout=15)
