"""The real kubectl against tinykube: every command of issue 3's "what a user can do"."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .conftest import KUBECTL, REPO

pytestmark = pytest.mark.e2e
EXAMPLES = os.path.join(REPO, "examples")


def ns(server, name: str) -> str:
    server.kubectl("create", "namespace", name)
    return name


def get_json(server, *args: str) -> dict:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def test_apply_examples_and_get_columns(server):
    n = ns(server, "apply-examples")
    out = server.kubectl("apply", "-n", n, "-f", EXAMPLES).stdout
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    assert "configmap/web-content created" in out
    assert "secret/db-credentials created" in out
    table = server.kubectl("get", "deploy,svc,cm,secret", "-n", n).stdout
    assert "NAME" in table and "READY" in table and "UP-TO-DATE" in table and "AVAILABLE" in table
    assert "TYPE" in table and "CLUSTER-IP" in table and "PORT(S)" in table
    assert "80/TCP" in table
    assert "DATA" in table
    lines = server.kubectl("get", "pods", "-A").stdout.splitlines()
    assert lines[0].split()[:6] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    again = server.kubectl("apply", "-n", n, "-f", EXAMPLES).stdout
    assert "deployment.apps/web unchanged" in again


def test_secret_string_data_is_stored_base64(server):
    n = ns(server, "secrets")
    server.kubectl("apply", "-n", n, "-f", os.path.join(EXAMPLES, "secret.yaml"))
    secret = get_json(server, "secret", "db-credentials", "-n", n)
    assert secret["data"] == {"username": "YXBw", "password": "czNjcmV0"}
    assert "stringData" not in secret


def test_describe_deployment(server):
    n = ns(server, "describe")
    server.kubectl("apply", "-n", n, "-f", os.path.join(EXAMPLES, "web.yaml"))
    out = server.kubectl("describe", "deploy", "web", "-n", n).stdout
    assert "Name:" in out and "web" in out
    assert "Replicas:" in out and "3 desired" in out
    assert "StrategyType:" in out and "RollingUpdate" in out
    assert "Pod Template:" in out and "busybox:1.36" in out


def test_get_watch_sees_changes(server):
    n = ns(server, "watching")
    server.kubectl("create", "configmap", "watched", "-n", n, "--from-literal=a=1")
    watch = subprocess.Popen([KUBECTL, "get", "configmaps", "-n", n, "-w", "--output-watch-events"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "KUBECONFIG": server.kubeconfig})
    try:
        listed = _read_lines_until(watch, lambda line: "watched" in line, timeout=15)
        server.kubectl("label", "configmap", "watched", "-n", n, "color=blue")
        server.kubectl("delete", "configmap", "watched", "-n", n)
        seen = listed + _read_lines_until(watch, lambda line: line.startswith("DELETED"), timeout=15)
    finally:
        watch.kill()
        watch.wait()
    kinds = [line.split()[0] for line in seen if "watched" in line]
    assert kinds == ["ADDED", "MODIFIED", "DELETED"], seen


def _read_lines_until(proc, done, timeout: float) -> list[str]:
    """Lines of proc's stdout until done(line) or timeout (a thread reads, nothing is lost)."""
    import queue
    import threading

    if not hasattr(proc, "lines"):
        proc.lines = queue.Queue()
        threading.Thread(target=lambda: [proc.lines.put(l.strip()) for l in proc.stdout],
                         daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = proc.lines.get(timeout=0.2)
        except queue.Empty:
            continue
        lines.append(line)
        if done(line):
            break
    return lines


def test_patch_label_annotate_scale_edit_delete(server):
    n = ns(server, "verbs")
    server.kubectl("apply", "-n", n, "-f", os.path.join(EXAMPLES, "web.yaml"))
    server.kubectl("patch", "deploy", "web", "-n", n, "-p",
                   '{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"busybox:1.37"}]}}}}')
    deploy = get_json(server, "deploy", "web", "-n", n)
    containers = deploy["spec"]["template"]["spec"]["containers"]
    # strategic merge: the container was merged by name, its other fields kept
    assert len(containers) == 1 and containers[0]["image"] == "busybox:1.37"
    assert containers[0]["command"][0] == "httpd"
    assert deploy["metadata"]["generation"] == 2
    server.kubectl("patch", "deploy", "web", "-n", n, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    server.kubectl("patch", "deploy", "web", "-n", n, "--type=json",
                   "-p", '[{"op":"replace","path":"/spec/minReadySeconds","value":5}]')
    server.kubectl("label", "deploy", "web", "-n", n, "team=a")
    server.kubectl("annotate", "deploy", "web", "-n", n, "note=hello")
    server.kubectl("scale", "deploy", "web", "-n", n, "--replicas=5")
    deploy = get_json(server, "deploy", "web", "-n", n)
    assert deploy["metadata"]["labels"] == {"app": "web", "tier": "front", "team": "a"}
    assert deploy["metadata"]["annotations"]["note"] == "hello"
    assert deploy["spec"]["replicas"] == 5 and deploy["spec"]["minReadySeconds"] == 5
    # kubectl edit with an editor that changes the replicas in the file it is given
    editor = "sed -i -e 's/replicas: 5/replicas: 2/'"
    server.kubectl("edit", "deploy", "web", "-n", n, env={"KUBE_EDITOR": editor, "EDITOR": editor})
    assert get_json(server, "deploy", "web", "-n", n)["spec"]["replicas"] == 2
    out = server.kubectl("delete", "deploy", "web", "-n", n).stdout
    assert 'deployment.apps "web" deleted' in out
    missing = server.kubectl("get", "deploy", "web", "-n", n, check=False)
    assert missing.returncode == 1 and "NotFound" in missing.stderr


def test_server_side_apply_and_conflicts(server, tmp_path):
    n = ns(server, "ssa")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n  b: '2'\n")
    server.kubectl("apply", "--server-side", "-n", n, "-f", str(manifest))
    cm = get_json(server, "cm", "settings", "-n", n, "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in cm["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    # another manager changing a field kubectl owns: a conflict, then forced
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: 'changed'\n")
    conflict = server.kubectl("apply", "--server-side", "--field-manager=other", "-n", n, "-f", str(other), check=False)
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower() and ".data.a" in conflict.stderr
    server.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=other", "-n", n, "-f", str(other))
    assert get_json(server, "cm", "settings", "-n", n)["data"] == {"a": "changed", "b": "2"}
    # kubectl applies again without b: b goes (kubectl owned it alone), a stays with other
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {}\n")
    server.kubectl("apply", "--server-side", "-n", n, "-f", str(manifest))
    assert get_json(server, "cm", "settings", "-n", n)["data"] == {"a": "changed"}


def test_diff(server, tmp_path):
    n = ns(server, "diff")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  k: v1\n")
    server.kubectl("apply", "-n", n, "-f", str(manifest))
    same = server.kubectl("diff", "-n", n, "-f", str(manifest), check=False)
    assert same.returncode == 0, same.stderr
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  k: v2\n")
    changed = server.kubectl("diff", "-n", n, "-f", str(manifest), check=False)
    assert changed.returncode == 1, changed.stderr
    assert "-  k: v1" in changed.stdout and "+  k: v2" in changed.stdout
    # diff is a dry run: nothing changed on the server
    assert get_json(server, "cm", "d", "-n", n)["data"] == {"k": "v1"}


def test_api_resources_and_explain(server):
    out = server.kubectl("api-resources").stdout
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "po" in rows["pods"] and "true" in rows["pods"] and "Pod" in rows["pods"]
    assert "deploy" in rows["deployments"] and "apps/v1" in rows["deployments"]
    assert "cj" in rows["cronjobs"] and "batch/v1" in rows["cronjobs"]
    assert "leases" in rows and "endpointslices" in rows
    explain = server.kubectl("explain", "pod.spec.containers.livenessProbe").stdout
    assert "livenessProbe" in explain and "Probe" in explain
    assert "periodSeconds" in explain and "httpGet" in explain


def test_validation_errors_are_kubernetes_status(server, tmp_path):
    n = ns(server, "invalid")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {}\n")
    out = server.kubectl("apply", "-n", n, "-f", str(bad), check=False)
    assert out.returncode != 0
    assert 'ConfigMap "Bad_Name" is invalid' in out.stderr and "metadata.name" in out.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n"
                    "  - name: a\n    image: busybox\n    imagePullPolice: Always\n")
    strict = server.kubectl("apply", "-n", n, "-f", str(typo), check=False)
    assert strict.returncode != 0 and "imagePullPolice" in strict.stderr
    mismatch = tmp_path / "mismatch.yaml"
    mismatch.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: m\nspec:\n"
                        "  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n"
                        "      labels: {app: b}\n    spec:\n      containers:\n      - name: c\n"
                        "        image: busybox\n")
    out = server.kubectl("apply", "-n", n, "-f", str(mismatch), check=False)
    assert out.returncode != 0
    assert "spec.template.metadata.labels" in out.stderr and "selector" in out.stderr


def test_namespace_deletion_deletes_content(server):
    n = ns(server, "doomed")
    server.kubectl("create", "configmap", "c1", "-n", n, "--from-literal=a=b")
    server.kubectl("create", "secret", "generic", "s1", "-n", n, "--from-literal=a=b")
    server.kubectl("delete", "namespace", n, "--wait=true", timeout=60)
    gone = server.kubectl("get", "namespace", n, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    leftovers = server.kubectl("get", "configmaps,secrets", "-n", n, "-o", "name").stdout
    assert leftovers.strip() == ""


def test_create_in_missing_namespace_is_refused(server):
    out = server.kubectl("create", "configmap", "x", "-n", "no-such-ns", check=False)
    assert out.returncode != 0 and 'namespaces "no-such-ns" not found' in out.stderr


def test_initial_namespaces_exist(server):
    names = server.kubectl("get", "ns", "-o", "name").stdout.split()
    for name in ("default", "kube-system", "kube-public"):
        assert f"namespace/{name}" in names


def test_server_side_apply_creates_events_v1_in_the_stored_shape(server, tmp_path):
    manifest = tmp_path / "event.yaml"
    manifest.write_text("apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: applied.1\n"
                        "  namespace: default\neventTime: '2026-11-24T14:00:00.000000Z'\n"
                        "reportingController: me\nreportingInstance: me-1\naction: Testing\n"
                        "reason: Applied\ntype: Normal\nnote: written by apply\n"
                        "regarding:\n  kind: Pod\n  name: somewhere\n  namespace: default\n")
    server.kubectl("apply", "--server-side", "-f", str(manifest))
    core = get_json(server, "events.v1.", "applied.1", "-n", "default")  # core/v1's view
    assert core["message"] == "written by apply"
    assert core["involvedObject"]["name"] == "somewhere"
