"""Cluster DNS with a real cluster: the node's server answers `dig` inside the node's
namespace and busybox `nslookup` inside pods; pods get resolv.conf per dnsPolicy.

Names outside the cluster go to a stub upstream the test runs inside the node's
namespace (127.0.0.1:5353 there): nothing is ever asked of a real resolver.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import threading

import pytest

from tests.integration.cluster import IMAGE, real_cluster
from tinykube.agent import dnsconfig
from tinykube.dns import message as m
from tinykube.util import netns

pytestmark = pytest.mark.integration

DNS_IP = "10.43.0.10"
WEB_IP = "10.43.200.20"
UPSTREAM_PORT = 5353
INTERFACE = f"tkd{secrets.token_hex(3)}"
STUB_ANSWER = "192.0.2.99"

MANIFESTS = f"""
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  clusterIP: {WEB_IP}
  ports: [{{name: http, port: 80, protocol: TCP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  clusterIP: None
  ports: [{{name: pg, port: 5432, protocol: TCP}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-manual
  labels: {{kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{{name: pg, port: 5432, protocol: TCP}}]
endpoints:
- addresses: [10.42.100.50]
  hostname: db-0
  conditions: {{ready: true}}
- addresses: [10.42.100.51]
  conditions: {{ready: true}}
- addresses: [10.42.100.52]
  conditions: {{ready: false}}
---
apiVersion: v1
kind: Service
metadata: {{name: members}}
spec:
  clusterIP: None
  selector: {{app: member}}
  ports: [{{name: web, port: 80, protocol: TCP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: ext}}
spec:
  type: ExternalName
  externalName: host.upstream.test
"""

LOOKUPS = """
until nslookup web.default.svc.cluster.local > /ctl/web.out 2>&1; do sleep 0.2; done
nslookup web > /ctl/short.out 2>&1
nslookup db.default.svc.cluster.local > /ctl/db.out 2>&1
nslookup -type=srv _pg._tcp.db.default.svc.cluster.local > /ctl/srv.out 2>&1
nslookup 10.43.200.20 > /ctl/ptr.out 2>&1
nslookup nope.default.svc.cluster.local > /ctl/nx.out 2>&1
nslookup host.upstream.test > /ctl/fwd.out 2>&1
echo done > /ctl/done
"""


class StubUpstream:
    """A DNS server on 127.0.0.1:5353 inside a namespace: *.upstream.test -> 192.0.2.99,
    NXDOMAIN for anything else; it records the names it was asked."""

    def __init__(self, netns_path: str):
        self.sock = netns.socket_in_netns(netns_path, socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(True)
        self.sock.bind(("127.0.0.1", UPSTREAM_PORT))
        self.asked: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return  # closed
            try:
                query = m.decode(data)
            except m.FormatError:
                continue  # an empty or broken datagram: a real server drops it too
            if not query.questions:
                continue
            q = query.questions[0]
            self.asked.append(q.name.lower())
            found = q.name.lower().endswith("upstream.test")
            answers = [m.Record(q.name, m.A, 30, STUB_ANSWER)] if found and q.qtype == m.A else []
            reply = m.Message(id=query.id, flags=m.QR | m.RA | (query.flags & m.RD) | (0 if found else m.NXDOMAIN),
                              questions=query.questions, answers=answers)
            self.sock.sendto(m.encode(reply), addr)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not shutil.which("dig"):
        pytest.skip("dig is missing (scripts/install-deps.sh installs dnsutils)")
    agent_args = ("--dns-interface", INTERFACE, "--dns-upstream", f"127.0.0.1:{UPSTREAM_PORT}")
    with real_cluster(tmp_path_factory, nodes=("n1",), agent_args=agent_args) as c:
        c.stub = StubUpstream(c.agents["n1"].node.netns_path)
        c.ctl = str(tmp_path_factory.mktemp("dns-ctl"))
        os.chmod(c.ctl, 0o777)
        c.apply(MANIFESTS)
        member = "trap 'exit 0' TERM; cat /etc/hosts > /ctl/hosts; while true; do sleep 0.2; done"
        c.apply(_pod("member", c.ctl, member, "hostname: member-0\n  subdomain: members", labels="{app: member}"))
        for name, extra in (("lookups", ""), ("policy-default", "dnsPolicy: Default"),
                            ("policy-none", "dnsPolicy: None\n  dnsConfig: {nameservers: [192.0.2.1], "
                                            "searches: [a.example], options: [{name: ndots, value: '2'}]}")):
            c.apply(_pod(name, c.ctl, LOOKUPS if name == "lookups" else f"cat /etc/resolv.conf > /ctl/{name}",
                         extra))
        try:
            yield c
        finally:
            c.stub.close()


def _pod(name: str, ctl: str, script: str, extra_spec: str, labels: str = "{}") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {labels}}}
spec:
  nodeName: n1
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  {extra_spec}
  volumes: [{{name: ctl, hostPath: {{path: {ctl}}}}}]
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: [/bin/busybox, sh, -c, {json.dumps(script)}]
    volumeMounts: [{{name: ctl, mountPath: /ctl}}]
"""


def dig(cluster, *args: str) -> str:
    node = cluster.agents["n1"].node
    return node.run(["dig", f"@{DNS_IP}", "+time=2", "+tries=1", *args], check=False).stdout


def _read(cluster, name: str) -> str:
    try:
        with open(os.path.join(cluster.ctl, name)) as f:
            return f.read()
    except OSError:
        return ""


# --- from the node, with dig -------------------------------------------------------------

def test_service_name_resolves_on_the_node(cluster):
    cluster.wait_for(lambda: dig(cluster, "+short", "web.default.svc.cluster.local").split() == [WEB_IP],
                     "the Service's A record from the node's DNS")
    assert dig(cluster, "+short", "+tcp", "web.default.svc.cluster.local").split() == [WEB_IP]


@pytest.mark.parametrize("args, expected", [
    (("db.default.svc.cluster.local",), ["10.42.100.50", "10.42.100.51"]),
    (("db-0.db.default.svc.cluster.local",), ["10.42.100.50"]),
    (("-t", "SRV", "_pg._tcp.db.default.svc.cluster.local"),
     ["0 50 5432 10-42-100-51.db.default.svc.cluster.local.", "0 50 5432 db-0.db.default.svc.cluster.local."]),
    (("-t", "SRV", "_http._tcp.web.default.svc.cluster.local"), ["0 100 80 web.default.svc.cluster.local."]),
    (("-x", WEB_IP), ["web.default.svc.cluster.local."]),
    (("-x", "10.42.100.50"), ["db-0.db.default.svc.cluster.local."]),
    (("ext.default.svc.cluster.local",), ["host.upstream.test."]),  # the CNAME
    (("10-42-100-7.default.pod.cluster.local",), ["10.42.100.7"]),
    (("host.upstream.test",), [STUB_ANSWER]),  # forwarded to the stub
])
def test_records_from_the_node(cluster, args, expected):
    test_service_name_resolves_on_the_node(cluster)
    out = dig(cluster, "+short", *args)
    assert sorted(line.strip() for line in out.splitlines() if line.strip()) == sorted(expected)


def test_unknown_cluster_name_is_nxdomain_with_soa(cluster):
    out = dig(cluster, "nope.default.svc.cluster.local")
    assert "status: NXDOMAIN" in out and "flags: qr aa rd ra" in out
    assert "cluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local." in out
    nodata = dig(cluster, "-t", "AAAA", "web.default.svc.cluster.local")
    assert "status: NOERROR" in nodata and "ANSWER: 0" in nodata and "AUTHORITY: 1" in nodata
    assert "nope.default.svc.cluster.local" not in cluster.stub.asked  # never leaves the node


def test_headless_service_of_real_pods(cluster):
    """The endpointslice controller's slices: the pod's IP, by hostname too (subdomain)."""
    ip = cluster.wait_for(lambda: cluster.pod("member").get("status", {}).get("podIP"), "the member pod's IP")
    cluster.wait_for(lambda: dig(cluster, "+short", "members.default.svc.cluster.local").split() == [ip],
                     "the headless Service answering with the pod's IP")
    assert dig(cluster, "+short", "member-0.members.default.svc.cluster.local").split() == [ip]
    assert dig(cluster, "+short", "-x", ip).split() == ["member-0.members.default.svc.cluster.local."]
    assert f"{ip}\tmember-0.members.default.svc.cluster.local\tmember-0" in _read(cluster, "hosts")


# --- from a pod, with busybox nslookup ---------------------------------------------------

def test_lookups_from_a_pod(cluster):
    cluster.wait_for(lambda: _read(cluster, "done"), "the pod's lookups", timeout=40)
    assert f"Address: {WEB_IP}" in _read(cluster, "web.out")
    assert f"Address: {WEB_IP}" in _read(cluster, "short.out")  # through the search path
    db = _read(cluster, "db.out")
    assert "Address: 10.42.100.50" in db and "Address: 10.42.100.51" in db and "10.42.100.52" not in db
    srv = _read(cluster, "srv.out")
    assert "db-0.db.default.svc.cluster.local" in srv and "5432" in srv
    assert "web.default.svc.cluster.local" in _read(cluster, "ptr.out")
    assert "NXDOMAIN" in _read(cluster, "nx.out")
    assert f"Address: {STUB_ANSWER}" in _read(cluster, "fwd.out")


def test_resolv_conf_per_dns_policy(cluster):
    cluster.wait_for(lambda: _read(cluster, "policy-none") and _read(cluster, "policy-default"), "resolv.conf copies")
    assert _read(cluster, "policy-none") == "search a.example\nnameserver 192.0.2.1\noptions ndots:2\n"
    host = dnsconfig.parse_resolv_conf(dnsconfig.node_resolv_conf())
    assert dnsconfig.parse_resolv_conf(_read(cluster, "policy-default")) == host


def test_cluster_first_resolv_conf(cluster):
    cluster.apply(_pod("policy-cluster", cluster.ctl, "cat /etc/resolv.conf > /ctl/policy-cluster", ""))
    text = cluster.wait_for(lambda: _read(cluster, "policy-cluster"), "the ClusterFirst pod's resolv.conf")
    lines = text.splitlines()
    assert lines[0].startswith("search default.svc.cluster.local svc.cluster.local cluster.local")
    assert lines[1:] == [f"nameserver {DNS_IP}", "options ndots:5"]


def test_interface_removed_when_the_agent_stops_and_back_on_restart(cluster):
    node = cluster.agents["n1"].node
    assert INTERFACE in node.links()
    cluster.stop_agent("n1")
    assert INTERFACE not in node.links()
    cluster.start_agent("n1")  # also lets the cluster's teardown delete the pods
    cluster.wait_for(lambda: dig(cluster, "+short", "web.default.svc.cluster.local").split() == [WEB_IP],
                     "the DNS answering again after the agent's restart")
