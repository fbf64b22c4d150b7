"""The node agent end to end: a real `tinykube server`, a real `tinykube agent` whose pod
network lives in a test node namespace (no route off the machine), real runc, CNI,
overlayfs, and the real kubectl as the user.

Images come from Debian's static busybox, imported into the agent's store.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import waiting
from tests.e2e.conftest import REPO, start_server
from tests.integration.agent.cleanup import force_cleanup
from tests.integration.images.ocibuild import busybox_archive
from tests.integration.network.nodens import TestNetwork, missing_prerequisites
from tinykube.agent.images import ImageService

pytestmark = pytest.mark.integration
POD_CIDR = "10.42.77.0/24"
IMAGE = "busybox:1.36"


class Cluster:
    def __init__(self, tmp_path_factory):
        self.server = start_server(tmp_path_factory)
        self.net = TestNetwork()
        self.node = self.net.add_node("n1")
        self.data_dir = str(tmp_path_factory.mktemp("agent"))
        self.agent_log = str(tmp_path_factory.mktemp("agentlog") / "agent.log")
        self.shared = str(tmp_path_factory.mktemp("shared"))  # a hostPath the tests read
        archive = busybox_archive(str(tmp_path_factory.mktemp("image")))
        asyncio.run(_import(self.data_dir, archive))
        self.agent: subprocess.Popen | None = None
        _AGENT_LOGS.append(self.agent_log)

    def start_agent(self) -> None:
        with open(f"{self.server.data_dir}/token") as f:
            token = f.read().strip()
        cmd = [sys.executable, "-m", "tinykube.cli.main", "agent", "--server", self.server.url,
               "--token", token, "--ca-file", f"{self.server.data_dir}/pki/ca.crt",
               "--data-dir", self.data_dir, "--node-name", "n1", "--node-ip", self.node.ip,
               "--host-netns", self.node.netns_path, "--bridge", f"{self.net.prefix}b",
               "--pod-cidr", POD_CIDR]
        with open(self.agent_log, "ab") as log:
            self.agent = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(lambda: self.kubectl("get", "node", "n1", check=False).returncode == 0, "node n1")

    def stop_agent(self, sig=signal.SIGTERM) -> None:
        if self.agent and self.agent.poll() is None:
            self.agent.send_signal(sig)
            self.agent.wait(timeout=30)

    def kubectl(self, *args, input=None, check=True):
        return self.server.kubectl(*args, input=input, check=check)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def pod(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)

    def logs(self, pod: str, container: str, attempt: int = 0) -> str:
        uid = self.pod(pod)["metadata"]["uid"]
        path = os.path.join(self.data_dir, "logs", f"default_{pod}_{uid}", container, f"{attempt}.log")
        try:
            with open(path) as f:
                return "".join(line.split(" ", 3)[3] for line in f)  # CRI format: time stream tag msg
        except OSError:
            return ""

    def close(self) -> None:
        try:
            self.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s", check=False)
        finally:
            self.stop_agent()
            force_cleanup(self.data_dir)  # whatever a failure left: processes, mounts, cgroups
            self.server.stop()
            self.net.cleanup()


async def _import(data_dir: str, archive: str) -> None:
    images = ImageService(data_dir)
    await images.import_archive(archive)
    await images.close()


def wait_for(predicate, what: str, timeout: float = 30.0):
    return waiting.wait_for(predicate, what, timeout=timeout, details=lambda: f"agent log:\n{_agent_log_tail()}")


_AGENT_LOGS: list[str] = []


def _agent_log_tail() -> str:
    try:
        with open(_AGENT_LOGS[-1], "rb") as f:
            return f.read().decode(errors="replace")[-3000:]
    except (IndexError, OSError):
        return "(none)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    c = Cluster(tmp_path_factory)
    try:
        c.start_agent()
        yield c
    finally:
        c.close()


def pod_manifest(name: str, containers: str, *, policy: str = "Always", extra: str = "") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: n1\n"
            f"  restartPolicy: {policy}\n  terminationGracePeriodSeconds: 3\n{extra}  containers:\n{containers}")


def container(name: str, script: str, mounts: str = "") -> str:
    return (f"  - name: {name}\n    image: {IMAGE}\n    imagePullPolicy: IfNotPresent\n"
            f"    command: [/bin/busybox, sh, -c, {json.dumps(script)}]\n{mounts}")


def phase(cluster, name: str) -> str:
    return cluster.pod(name).get("status", {}).get("phase", "")


def test_two_containers_share_localhost_volume_and_hostname(cluster):
    mounts = "    volumeMounts:\n    - {name: shared, mountPath: /data}\n"
    extra = "  volumes:\n  - name: shared\n    emptyDir: {}\n"
    server = container("server", "echo hi-from-server | nc -l -p 8080; echo served; sleep 3600", mounts)
    client = container("client", "sleep 1; echo $(hostname) > /data/host; nc 127.0.0.1 8080 </dev/null; "
                       "cat /data/host; sleep 3600", mounts)
    cluster.apply(pod_manifest("pair", server + client, extra=extra))
    wait_for(lambda: phase(cluster, "pair") == "Running", "pair running")
    wait_for(lambda: "hi-from-server" in cluster.logs("pair", "client"), "client output")
    assert "pair" in cluster.logs("pair", "client")  # hostname is the pod name, via the volume
    pod = cluster.pod("pair")
    assert pod["status"]["podIP"].startswith("10.42.77.")
    assert pod["status"]["hostIP"] == cluster.node.ip
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert statuses["server"]["ready"] and statuses["client"]["state"].get("running")


def test_pods_reach_each_other_by_pod_ip(cluster):
    cluster.apply(pod_manifest("listener", container("l", "echo pong | nc -l -p 9000; sleep 3600")))
    ip = wait_for(lambda: cluster.pod("listener").get("status", {}).get("podIP"), "listener IP")
    wait_for(lambda: phase(cluster, "listener") == "Running", "listener running")
    cluster.apply(pod_manifest("caller", container("c", f"sleep 1; nc {ip} 9000 </dev/null; sleep 3600")))
    wait_for(lambda: "pong" in cluster.logs("caller", "c"), "pong over the pod network")


def test_restart_policies_and_crash_back_off(cluster):
    cluster.apply(pod_manifest("crash", container("app", "echo crashing; exit 3")))
    pod = wait_for(lambda: _restarted(cluster, "crash", 1), "first restart")
    waiting = pod["status"]["containerStatuses"][0]
    last = waiting["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    wait_for(lambda: cluster.pod("crash")["status"]["containerStatuses"][0]["state"]
             .get("waiting", {}).get("reason") == "CrashLoopBackOff", "CrashLoopBackOff")
    cluster.apply(pod_manifest("never-fails", container("app", "exit 2"), policy="Never"))
    wait_for(lambda: phase(cluster, "never-fails") == "Failed", "Failed phase")
    cluster.apply(pod_manifest("onfailure-ok", container("app", "exit 0"), policy="OnFailure"))
    wait_for(lambda: phase(cluster, "onfailure-ok") == "Succeeded", "Succeeded phase")
    done = cluster.pod("onfailure-ok")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert done["reason"] == "Completed" and done["exitCode"] == 0


def _restarted(cluster, name: str, count: int):
    pod = cluster.pod(name)
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return pod if statuses[0].get("restartCount", 0) >= count else None


def test_init_containers_run_in_order_before_the_app(cluster):
    mounts = "    volumeMounts:\n    - {name: work, mountPath: /work}\n"
    extra = ("  volumes:\n  - name: work\n    emptyDir: {}\n  initContainers:\n"
             + container("first", "echo one >> /work/order", mounts)
             + container("second", "echo two >> /work/order", mounts))
    cluster.apply(pod_manifest("inits", container("app", "cat /work/order; sleep 3600", mounts), extra=extra))
    wait_for(lambda: phase(cluster, "inits") == "Running", "inits running")
    wait_for(lambda: cluster.logs("inits", "app") == "one\ntwo\n", "init output in order")
    inits = cluster.pod("inits")["status"]["initContainerStatuses"]
    assert [c["state"]["terminated"]["reason"] for c in inits] == ["Completed", "Completed"]


def test_config_map_and_secret_volumes_and_env(cluster):
    cluster.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  mode: fast\n"
                  "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\nstringData:\n  password: s3cret\n")
    mounts = ("    env:\n    - name: MODE\n      valueFrom: {configMapKeyRef: {name: app-config, key: mode}}\n"
              "    - name: POD_IP\n      valueFrom: {fieldRef: {fieldPath: status.podIP}}\n"
              "    volumeMounts:\n    - {name: cfg, mountPath: /cfg}\n    - {name: sec, mountPath: /sec}\n")
    extra = "  volumes:\n  - name: cfg\n    configMap: {name: app-config}\n  - name: sec\n    secret: {secretName: app-secret}\n"
    script = "echo mode=$MODE; cat /cfg/mode; echo; cat /sec/password; echo; echo ip=$POD_IP; sleep 3600"
    cluster.apply(pod_manifest("configured", container("app", script, mounts), extra=extra))
    out = wait_for(lambda: "ip=" in cluster.logs("configured", "app") and cluster.logs("configured", "app"),
                   "configured output")
    assert "mode=fast\nfast\ns3cret\n" in out
    assert f"ip={cluster.pod('configured')['status']['podIP']}" in out


def test_graceful_termination_delivers_sigterm(cluster):
    mounts = "    volumeMounts:\n    - {name: out, mountPath: /out}\n"
    extra = f"  volumes:\n  - name: out\n    hostPath: {{path: {cluster.shared}, type: Directory}}\n"
    script = "trap 'echo got-TERM > /out/term; exit 0' TERM; while true; do sleep 0.2; done"
    cluster.apply(pod_manifest("graceful", container("app", script, mounts), extra=extra))
    wait_for(lambda: phase(cluster, "graceful") == "Running", "graceful running")
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "graceful", "--timeout=30s")
    assert time.monotonic() - started < 3.0  # it exited on TERM, well before the grace period
    with open(os.path.join(cluster.shared, "term")) as f:
        assert f.read().strip() == "got-TERM"


def test_agent_kill_9_restarts_no_container(cluster):
    cluster.apply(pod_manifest("steady", container("app", "while true; do sleep 1; done")))
    wait_for(lambda: phase(cluster, "steady") == "Running", "steady running")
    before = cluster.pod("steady")["status"]["containerStatuses"][0]
    cluster.stop_agent(signal.SIGKILL)
    cluster.start_agent()
    time.sleep(2)  # give the new agent time to sync the pod (it must change nothing)
    after = cluster.pod("steady")["status"]["containerStatuses"][0]
    assert after["restartCount"] == 0 and after["containerID"] == before["containerID"]
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]


def test_memory_hog_is_oom_killed(cluster):
    hog = container("hog", "/bin/busybox head -c 300m /dev/zero | /bin/busybox tail")  # tail buffers it all
    hog += "    resources:\n      limits: {memory: 32Mi}\n"
    cluster.apply(pod_manifest("hog", hog, policy="Never"))
    wait_for(lambda: phase(cluster, "hog") == "Failed", "the hog to fail")
    ended = cluster.pod("hog")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert ended["reason"] == "OOMKilled" and ended["exitCode"] == 137


def test_config_map_updates_reach_the_mounted_file(cluster):
    cluster.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: live\ndata:\n  greeting: hello\n")
    mounts = "    volumeMounts:\n    - {name: cfg, mountPath: /cfg}\n"
    extra = "  volumes:\n  - name: cfg\n    configMap: {name: live}\n"
    script = "while true; do cat /cfg/greeting; echo; sleep 0.2; done"
    cluster.apply(pod_manifest("watcher", container("app", script, mounts), extra=extra))
    wait_for(lambda: "hello" in cluster.logs("watcher", "app"), "the first value")
    cluster.kubectl("patch", "configmap", "live", "-p", '{"data":{"greeting":"updated"}}')
    wait_for(lambda: "updated" in cluster.logs("watcher", "app"), "the updated value in the file")


def test_host_port_reaches_the_pod_from_the_lan(cluster):
    from tests.integration.network.nodens import in_netns

    web = container("web", "while true; do echo via-hostport | nc -l -p 8080; done")
    web += "    ports:\n    - {containerPort: 8080, hostPort: 18080}\n"
    cluster.apply(pod_manifest("hostport", web))
    wait_for(lambda: phase(cluster, "hostport") == "Running", "hostport running")

    def answered() -> bool:
        argv = in_netns(cluster.net.lan_path, ["busybox", "nc", "-w", "1", cluster.node.ip, "18080"])
        return "via-hostport" in subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                                stdin=subprocess.DEVNULL).stdout
    wait_for(answered, "an answer on the node's hostPort")


def test_a_steady_pod_is_not_rewritten(cluster):
    cluster.apply(pod_manifest("quiet", container("app", "while true; do sleep 1; done")))
    wait_for(lambda: all(c.get("ready") for c in cluster.pod("quiet").get("status", {})
                         .get("containerStatuses") or [{}]), "quiet ready")
    before = cluster.pod("quiet")["metadata"]["resourceVersion"]
    time.sleep(3)  # six sync periods of the agent: none may write an unchanged status
    assert cluster.pod("quiet")["metadata"]["resourceVersion"] == before


# last: it deletes every pod the tests above made and checks nothing is left
def test_deleting_every_pod_leaves_nothing_behind(cluster):
    uids = [p["metadata"]["uid"] for p in json.loads(cluster.kubectl("get", "pods", "-o", "json").stdout)["items"]]
    assert uids  # the earlier tests' pods are still there
    cluster.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
    runc_root = os.path.join(cluster.data_dir, "runtime", "runc")
    listed = subprocess.run(["runc", "--root", runc_root, "list", "-q"], capture_output=True, text=True)
    assert listed.stdout.strip() == ""
    assert os.listdir(os.path.join(cluster.data_dir, "sandboxes")) == []
    with open("/proc/self/mountinfo") as f:
        assert cluster.data_dir not in f.read()
    veths = [link for link in cluster.node.links() if link.startswith("veth")]
    assert veths == []
    import glob
    assert [p for uid in uids for p in glob.glob(f"/sys/fs/cgroup/*/tinykube/pod{uid}")] == []
