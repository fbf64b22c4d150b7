"""The seeds' three scenarios end to end, applied from the files in examples/ (so the
examples cannot rot), plus the Service's behaviour while its pods change: scaling and a
rolling update with no failed request, and readiness taking a pod out of rotation.

One node in a test network namespace, pods placed by the scheduler, the real kubectl,
nftables and cluster DNS; requests come from the node's namespace (as a user on the
node would curl http://127.0.0.1:30001/) and, for the name lookup, from a pod.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest

from tests.e2e.conftest import REPO
from tests.integration.cluster import real_cluster

pytestmark = pytest.mark.integration

EXAMPLES = os.path.join(REPO, "examples")
HELLO = "http://127.0.0.1:30001/"
SIDECAR = "http://127.0.0.1:30002/"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    suffix = secrets.token_hex(3)
    agent_args = ("--proxy-table", f"tks{suffix}", "--dns-interface", f"tks{suffix}",
                  # names outside the cluster are never asked of a real resolver
                  "--dns-upstream", "127.0.0.1:5353")
    with real_cluster(tmp_path_factory, nodes=("n1",), agent_args=agent_args) as c:
        yield c


def fetch(cluster, url: str) -> str:
    """The body, or "" on any failure (refused, timeout, HTTP error)."""
    out = cluster.agents["n1"].node.run(["curl", "-sf", "--max-time", "3", url], check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def answers(cluster, url: str, n: int = 30) -> list[str]:
    return [fetch(cluster, url) for _ in range(n)]


def endpoints(cluster, service: str, *, ready: bool = True) -> set[str]:
    slices = cluster.get("endpointslices", selector=f"kubernetes.io/service-name={service}").get("items", [])
    return {e["targetRef"]["name"] for s in slices for e in s.get("endpoints") or []
            if bool(e["conditions"].get("ready")) == ready}


def pod_names(cluster, selector: str) -> set[str]:
    return {p["metadata"]["name"] for p in cluster.pods(selector)}


def apply_example(cluster, name: str) -> None:
    cluster.kubectl("apply", "-f", os.path.join(EXAMPLES, name))


class RequestLoop:
    """Requests to `url` back to back from the node's namespace while a change happens."""

    def __init__(self, cluster, url: str):
        self.cluster, self.url = cluster, url
        self.results: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.results.append((time.monotonic(), fetch(self.cluster, self.url)))

    def __enter__(self) -> "RequestLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def failures(self) -> list[float]:
        start = self.results[0][0] if self.results else 0
        return [round(t - start, 2) for t, body in self.results if not body.startswith("hello from ")]

    def pods(self) -> set[str]:
        return {body.removeprefix("hello from ") for _, body in self.results if body}


@pytest.fixture(scope="module")
def hello(cluster):
    apply_example(cluster, "hello-nodeport")
    cluster.wait_for(lambda: len(endpoints(cluster, "http-svc")) == 3, "3 ready endpoints", timeout=45)
    cluster.wait_for(lambda: fetch(cluster, HELLO), "an answer on the NodePort", timeout=10)
    return cluster


def test_hello_nodeport_answers_from_each_of_the_three_pods(hello):
    pods = pod_names(hello, "app=http")
    assert len(pods) == 3
    assert {f"hello from {p}" for p in pods} == set(answers(hello, HELLO))
    node_ip = hello.agents["n1"].node.ip
    assert fetch(hello, f"http://{node_ip}:30001/").startswith("hello from ")
    cluster_ip = hello.get("service", "http-svc")["spec"]["clusterIP"]
    assert fetch(hello, f"http://{cluster_ip}:8080/").startswith("hello from ")


def test_pod_failing_readiness_stops_receiving_traffic_until_it_passes(hello):
    pod = sorted(endpoints(hello, "http-svc"))[0]
    hello.kubectl("exec", pod, "--", "rm", "/www/healthz")
    hello.wait_for(lambda: pod in endpoints(hello, "http-svc", ready=False), f"{pod} not ready", timeout=10)
    served = set(answers(hello, HELLO, 20))
    assert f"hello from {pod}" not in served and len(served) == 2, served
    hello.kubectl("exec", pod, "--", "sh", "-c", "echo ok > /www/healthz")
    hello.wait_for(lambda: pod in endpoints(hello, "http-svc"), f"{pod} ready again", timeout=10)
    hello.wait_for(lambda: f"hello from {pod}" in answers(hello, HELLO, 10), f"{pod} serving again", timeout=10)


def test_scaling_keeps_the_service_answering(hello):
    with RequestLoop(hello, HELLO) as loop:
        hello.kubectl("scale", "deployment/http-deployment", "--replicas=5")
        hello.wait_for(lambda: len(endpoints(hello, "http-svc")) == 5, "5 ready endpoints", timeout=30)
        hello.wait_for(lambda: len(loop.pods()) == 5, "all 5 pods answering", timeout=10)
        hello.kubectl("scale", "deployment/http-deployment", "--replicas=2")
        hello.wait_for(lambda: len(pod_names(hello, "app=http")) == 2, "3 pods gone", timeout=30)
    assert len(loop.results) > 50 and loop.failures() == [], (len(loop.results), loop.failures())
    assert endpoints(hello, "http-svc") == pod_names(hello, "app=http")


def test_rolling_update_keeps_the_service_answering(hello):
    before = pod_names(hello, "app=http")
    with RequestLoop(hello, HELLO) as loop:
        hello.kubectl("rollout", "restart", "deployment/http-deployment")
        hello.kubectl("rollout", "status", "deployment/http-deployment", "--timeout=60s", timeout=70)
        hello.wait_for(lambda: not pod_names(hello, "app=http") & before, "the old pods gone", timeout=30)
    after = pod_names(hello, "app=http")
    assert len(after) == 2 and not after & before
    assert len(loop.results) > 50 and loop.failures() == [], (len(loop.results), loop.failures())
    assert {f"hello from {p}" for p in after} == set(answers(hello, HELLO, 20))


def test_sidecar_proxy_answers_with_the_apps_page_through_its_node_port(cluster):
    apply_example(cluster, "sidecar-proxy")
    page = "hello from the web app on localhost:5000"
    cluster.wait_for(lambda: fetch(cluster, SIDECAR) == page, "the app's page through the proxy", timeout=45)
    assert fetch(cluster, f"http://{cluster.agents['n1'].node.ip}:30002/") == page
    pod_ip = cluster.pod("mc3")["status"]["podIP"]
    assert fetch(cluster, f"http://{pod_ip}:5000/") == ""  # the app itself is private to the pod
    logs = cluster.kubectl("logs", "mc3", "-c", "proxy").stdout
    assert "forwarding :80 to 127.0.0.1:5000" in logs  # the ConfigMap's settings


def test_customer_service_calls_account_service_by_name(cluster):
    apply_example(cluster, "account-service")

    seen = {"log": ""}

    def answered() -> str:
        result = cluster.kubectl("logs", "customer-service", check=False)
        seen["log"] = result.stdout + result.stderr
        return result.returncode == 0 and "servedBy" in result.stdout and result.stdout

    try:
        logs = cluster.wait_for(answered, "customer-service's log with an account-service answer", timeout=60)
    except AssertionError as e:
        raise AssertionError(f"customer-service's log:\n{seen['log'][-2000:]}") from e
    line = next(line for line in logs.splitlines() if "servedBy" in line)
    assert line.startswith("GET http://account-service:2222/accounts/customer/1 -> [{")
    assert '"customerId":"1"' in line and '"servedBy":"account-service-' in line
