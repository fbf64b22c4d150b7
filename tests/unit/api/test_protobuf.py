"""Protobuf request bodies (tinykube.api.protobuf): real kubectl bodies decode to the JSON
kubectl would have sent.

A small HTTPS capture server (a thread of this process) answers kubectl's discovery and
echoes every POST back; kubectl runs against it with a temporary kubeconfig. Each body
is compared with `kubectl ... --dry-run=client -o json`, the JSON of the same object.
Other rules (inline structs, pointer zeros, special types) are checked on messages built
with the schemas' own classes. kubectl processes end by themselves (timeouts).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tinykube.api import errors, protobuf, protobuf_json

KUBECTL = shutil.which("kubectl") or protobuf.DEFAULT_KUBECTL
SDK_BIN = "/usr/lib/google-cloud-sdk/bin"
pytestmark = pytest.mark.skipif(not os.path.isfile(KUBECTL), reason="kubectl is not installed")


# --- the schemas, loaded once into a private cache dir --------------------------------------


@pytest.fixture(scope="module", autouse=True)
def schemas(tmp_path_factory):
    """Point the descriptor cache at a temporary dir for this module; restore after."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    saved = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", protobuf.ENV_DESCRIPTORS)}
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ.pop(protobuf.ENV_DESCRIPTORS, None)
    protobuf.reset()
    yield cache
    protobuf.reset()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def fresh_state():
    """A test that swaps the schema source gets a clean slate before and after."""
    protobuf.reset()
    yield
    protobuf.reset()


# --- a capture server kubectl talks to ------------------------------------------------------

RESOURCES = {
    ("", "v1"): [("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
                 ("namespaces", "Namespace", False), ("services", "Service", True),
                 ("serviceaccounts", "ServiceAccount", True), ("pods", "Pod", True),
                 ("resourcequotas", "ResourceQuota", True)],
    ("apps", "v1"): [("deployments", "Deployment", True)],
    ("batch", "v1"): [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    ("policy", "v1"): [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    ("rbac.authorization.k8s.io", "v1"): [("roles", "Role", True), ("rolebindings", "RoleBinding", True),
                                          ("clusterroles", "ClusterRole", False)],
    ("networking.k8s.io", "v1"): [("ingresses", "Ingress", True)],
    ("scheduling.k8s.io", "v1"): [("priorityclasses", "PriorityClass", False)],
    ("authorization.k8s.io", "v1"): [("selfsubjectaccessreviews", "SelfSubjectAccessReview", False)],
    ("authentication.k8s.io", "v1"): [("selfsubjectreviews", "SelfSubjectReview", False)],
}


def _discovery(path: str) -> dict | None:
    if path == "/version":
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.0"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"]}
    if path == "/apis":
        groups = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                   "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                  for g, v in RESOURCES if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    for (group, version), resources in RESOURCES.items():
        if path == (f"/apis/{group}/{version}" if group else f"/api/{version}"):
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k,
                                   "verbs": ["create", "get", "list", "delete"]}
                                  for n, k, ns in resources]}
    return None


class _Capture(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posts: list[tuple[str, str, bytes]] = []

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        doc = _discovery(self.path.split("?")[0])
        if doc is None:
            self._send(404, b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound"}')
        else:
            self._send(200, json.dumps(doc).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type", "")
        type(self).posts.append((self.path, content_type, body))
        # echo it: kubectl reads its own object back, whichever form it sent
        self._send(201, body, content_type or "application/json")


def _self_signed(directory: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "capture")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class Kubectl:
    """Runs kubectl against the capture server; returns what it POSTed."""

    def __init__(self, directory: str, port: int):
        self.directory = directory
        kubeconfig = os.path.join(directory, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: default}}}}]
current-context: x
""")
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=directory)

    def run(self, *args: str, binary: str = KUBECTL) -> subprocess.CompletedProcess:
        return subprocess.run([binary, *args], env=self.env, capture_output=True, text=True, timeout=60)

    def post(self, *args: str, binary: str = KUBECTL) -> tuple[str, str, bytes]:
        _Capture.posts.clear()
        result = self.run(*args, binary=binary)
        assert _Capture.posts, f"kubectl {' '.join(args)} sent nothing: {result.stderr}"
        return _Capture.posts[-1]

    def dry_run_json(self, *args: str) -> dict:
        split = args.index("--") if "--" in args else len(args)  # flags go before "--"
        result = self.run(*args[:split], "--dry-run=client", "-o", "json", *args[split:])
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("capture"))
    cert, key = _self_signed(directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Kubectl(directory, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _without_null_timestamps(obj):
    """Go writes "creationTimestamp": null for the zero time; we omit it (documented)."""
    if isinstance(obj, dict):
        return {k: _without_null_timestamps(v) for k, v in obj.items()
                if not (k == "creationTimestamp" and v is None)}
    if isinstance(obj, list):
        return [_without_null_timestamps(v) for v in obj]
    return obj


# --- real kubectl bodies ---------------------------------------------------------------------

CREATE_COMMANDS = [
    ("create", "configmap", "cm1", "--from-literal=a=b", "--from-literal=empty="),
    ("create", "secret", "generic", "s1", "--from-literal=user=admin", "--from-literal=blank="),
    ("create", "secret", "docker-registry", "dr1", "--docker-server=r.io", "--docker-username=u",
     "--docker-password=p"),
    ("create", "deployment", "web", "--image=busybox", "--replicas=0", "--port=8080"),
    ("create", "job", "once", "--image=busybox", "--", "echo", "hi"),
    ("create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"),
    ("create", "namespace", "ns1"),
    ("create", "service", "clusterip", "svc1", "--tcp=80:8080"),
    ("create", "service", "nodeport", "svc2", "--tcp=80:8080", "--node-port=30080"),
    ("create", "serviceaccount", "sa1"),
    ("create", "quota", "q1", "--hard=cpu=1,memory=1Gi,pods=2"),
    ("create", "pdb", "pdb1", "--selector=app=x", "--min-available=50%"),
    ("create", "role", "r1", "--verb=get", "--resource=pods"),
    ("create", "rolebinding", "rb1", "--role=r1", "--user=u"),
    ("create", "clusterrole", "cr1", "--verb=get", "--non-resource-url=/logs/*"),
    ("create", "priorityclass", "pc1", "--value=0", "--description=zero"),
    ("create", "ingress", "ing1", "--rule=foo.com/bar=svc1:8080,tls=my-cert"),
]


@pytest.mark.parametrize("args", CREATE_COMMANDS, ids=lambda a: "-".join(a[1:3]))
def test_kubectl_create_bodies_decode_to_the_json_kubectl_prints(kubectl, args):
    path, content_type, body = kubectl.post(*args)
    assert content_type == protobuf.MEDIA_TYPE
    assert protobuf.decode_request(body) == _without_null_timestamps(kubectl.dry_run_json(*args))


def test_zero_values_that_mean_something_survive(kubectl):
    deployment = protobuf.decode_request(kubectl.post("create", "deployment", "zero", "--image=busybox",
                                                      "--replicas=0")[2])
    assert deployment["spec"]["replicas"] == 0  # *int32: 0 is not "unset"
    assert deployment["kind"] == "Deployment" and deployment["apiVersion"] == "apps/v1"
    priority = protobuf.decode_request(kubectl.post("create", "priorityclass", "pc0", "--value=0")[2])
    assert priority["value"] == 0  # int32 without omitempty: Go writes it


def test_special_types(kubectl):
    secret = protobuf.decode_request(kubectl.post("create", "secret", "generic", "b64",
                                                  "--from-literal=user=admin")[2])
    assert secret["data"] == {"user": "YWRtaW4="}  # []byte -> base64, as Go's JSON
    quota = protobuf.decode_request(kubectl.post("create", "quota", "q2", "--hard=cpu=500m,memory=1Gi")[2])
    assert quota["spec"]["hard"] == {"cpu": "500m", "memory": "1Gi"}  # Quantity -> string
    service = protobuf.decode_request(kubectl.post("create", "service", "clusterip", "s3", "--tcp=80:8080")[2])
    assert service["spec"]["ports"][0]["targetPort"] == 8080  # IntOrString(int) -> number
    pdb = protobuf.decode_request(kubectl.post("create", "pdb", "p2", "--selector=a=b", "--max-unavailable=25%")[2])
    assert pdb["spec"]["maxUnavailable"] == "25%"  # IntOrString(string) -> string


def test_create_token(kubectl):
    path, content_type, body = kubectl.post("create", "token", "sa1", "--audience=a1", "--duration=10m",
                                            "--bound-object-kind=Pod", "--bound-object-name=p1",
                                            "--bound-object-uid=123")
    assert path.startswith("/api/v1/namespaces/default/serviceaccounts/sa1/token")
    assert content_type == protobuf.MEDIA_TYPE
    assert protobuf.decode_request(body) == {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
        "spec": {"audiences": ["a1"], "expirationSeconds": 600,
                 # the proto field is "uID"; the JSON name comes from the OpenAPI definition
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p1", "uid": "123"}},
        "status": {"token": ""}}


def test_auth_can_i(kubectl):
    path, content_type, body = kubectl.post("auth", "can-i", "get", "pods")
    assert path.startswith("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert protobuf.decode_request(body) == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
        "status": {"allowed": False}}


def test_auth_whoami(kubectl):
    body = kubectl.post("auth", "whoami")[2]
    assert protobuf.decode_request(body) == {
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
        "status": {"userInfo": {}}}


@pytest.mark.skipif(not os.path.isfile(f"{SDK_BIN}/kubectl.1.33"), reason="no kubectl 1.33")
def test_newer_kubectl_bodies_decode_with_these_schemas(kubectl):
    args = ("create", "deployment", "web133", "--image=busybox", "--replicas=2")
    body = kubectl.post(*args, binary=f"{SDK_BIN}/kubectl.1.33")[2]
    assert protobuf.decode_request(body) == _without_null_timestamps(kubectl.dry_run_json(*args))


# --- rules checked on messages built with the schemas' own classes ---------------------------


def _body(api_version: str, kind: str, message: str, fields: dict, **envelope) -> bytes:
    """A Kubernetes protobuf body; `fields` uses the proto field names."""
    from google.protobuf import json_format

    codec = protobuf._codec()
    msg = codec.message_class(message)()
    json_format.ParseDict(fields, msg)
    unknown = codec.unknown(raw=msg.SerializeToString(), **envelope)
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
    return protobuf.MAGIC + unknown.SerializeToString()


def test_pod_inline_structs_pointer_zeros_and_special_types():
    pod = {
        "metadata": {"name": "p", "creationTimestamp": {"seconds": 1767323045},
                     "managedFields": [{"manager": "m", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"Raw": "eyJmOm1ldGFkYXRhIjp7fX0="}}]},
        "spec": {
            "volumes": [{"name": "v", "volumeSource": {"configMap": {
                "localObjectReference": {"name": "cm"}, "defaultMode": 0, "optional": False}}}],
            "containers": [{
                "name": "c", "image": "i", "stdin": False,
                "readinessProbe": {"handler": {"httpGet": {"port": {"type": 1, "strVal": "http"}}},
                                   "periodSeconds": 0},
                "resources": {"limits": {"cpu": {"string": "500m"}}},
                "securityContext": {"runAsUser": "0", "privileged": False},
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {
                    "localObjectReference": {"name": "cm"}, "key": "k"}}}]}],
            "terminationGracePeriodSeconds": "0", "nodeName": ""}}
    assert protobuf.decode_request(_body("v1", "Pod", "k8s.io.api.core.v1.Pod", pod)) == {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "creationTimestamp": "2026-01-02T03:04:05Z",
                     "managedFields": [{"manager": "m", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:metadata": {}}}]},
        "spec": {
            # VolumeSource and LocalObjectReference are embedded with json:",inline"
            "volumes": [{"name": "v", "configMap": {"name": "cm", "defaultMode": 0, "optional": False}}],
            "containers": [{
                "name": "c", "image": "i",  # stdin: false is a plain bool (omitempty): dropped
                "readinessProbe": {"httpGet": {"port": "http"}},  # Probe.handler is inline
                "resources": {"limits": {"cpu": "500m"}},
                "securityContext": {"runAsUser": 0, "privileged": False},  # pointers: kept
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}],
            "terminationGracePeriodSeconds": 0}}


def test_eviction_and_delete_options():
    eviction = _body("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction",
                     {"metadata": {"name": "p", "namespace": "d"},
                      "deleteOptions": {"gracePeriodSeconds": "0", "dryRun": ["All"]}})
    assert protobuf.decode_request(eviction) == {
        "kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "p", "namespace": "d"},
        "deleteOptions": {"gracePeriodSeconds": 0, "dryRun": ["All"]}}
    options = {"gracePeriodSeconds": "0", "propagationPolicy": "Foreground", "preconditions": {"uid": "x"},
               "orphanDependents": False}
    for api_version in ("v1", "meta.k8s.io/v1", "apps/v1"):  # registered in every group version
        body = _body(api_version, "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions", options)
        assert protobuf.decode_request(body) == {
            "kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": 0,
            "propagationPolicy": "Foreground", "preconditions": {"uid": "x"}, "orphanDependents": False}


@pytest.mark.parametrize("api_version,kind,message,fields,expected", [
    ("events.k8s.io/v1", "Event", "k8s.io.api.events.v1.Event",
     {"metadata": {"name": "e"}, "eventTime": {"seconds": 1767323045, "nanos": 123456789}},
     {"metadata": {"name": "e"}, "eventTime": "2026-01-02T03:04:05.123456Z"}),  # MicroTime
    ("apps/v1", "ControllerRevision", "k8s.io.api.apps.v1.ControllerRevision",
     {"metadata": {"name": "r"}, "data": {"raw": "eyJhIjoxfQ=="}, "revision": "0"},
     {"metadata": {"name": "r"}, "data": {"a": 1}, "revision": 0}),  # RawExtension; int64 stays a number
    ("authorization.k8s.io/v1", "SubjectAccessReview", "k8s.io.api.authorization.v1.SubjectAccessReview",
     {"spec": {"user": "u", "extra": {"k": {"items": ["a", "b"]}}}},
     {"spec": {"user": "u", "extra": {"k": ["a", "b"]}}}),  # ExtraValue is a []string
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy",
     "k8s.io.api.admissionregistration.v1.ValidatingAdmissionPolicy",
     {"metadata": {"name": "v"}, "spec": {"validations": [{"Expression": "true"}]}},
     {"metadata": {"name": "v"}, "spec": {"validations": [{"expression": "true"}]}}),  # proto name != JSON
    ("v1", "Node", "k8s.io.api.core.v1.Node",
     {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}},
     {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}),  # JSON really is "Port"
    ("v1", "Binding", "k8s.io.api.core.v1.Binding",
     {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}},
     {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}),
    ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale",
     {"metadata": {"name": "web"}, "spec": {"replicas": 3}},
     {"metadata": {"name": "web"}, "spec": {"replicas": 3}}),
    ("v1", "Pod", "k8s.io.api.core.v1.Pod",
     {"spec": {"ephemeralContainers": [{"targetContainerName": "c", "ephemeralContainerCommon": {
         "name": "debug", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}},
         "securityContext": {"privileged": False}}}]}},
     # EphemeralContainerCommon is inline; its own struct fields (no OpenAPI definition) are not
     {"spec": {"ephemeralContainers": [{"targetContainerName": "c", "name": "debug",
                                        "lifecycle": {"preStop": {"exec": {"command": ["x"]}}},
                                        "securityContext": {"privileged": False}}]}}),
    ("networking.k8s.io/v1", "Ingress", "k8s.io.api.networking.v1.Ingress",
     {"spec": {"rules": [{"host": "h", "ingressRuleValue": {"http": {"paths": [{"path": "/"}]}}}]}},
     {"spec": {"rules": [{"host": "h", "http": {"paths": [{"path": "/"}]}}]}}),  # inline
], ids=lambda v: v if isinstance(v, str) and "/" not in v and "." not in v else None)
def test_json_forms(api_version, kind, message, fields, expected):
    got = protobuf.decode_request(_body(api_version, kind, message, fields))
    assert got == {"kind": kind, "apiVersion": api_version, **expected}


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (1, "1ns"), (1_500, "1.5\u00b5s"), (1_500_000, "1.5ms"), (100_000_000, "100ms"),
    (1_500_000_000, "1.5s"), (60_000_000_000, "1m0s"), (3_600_000_000_001, "1h0m0.000000001s"),
    (-90_000_000_000, "-1m30s"),
])
def test_go_duration(ns, text):
    assert protobuf_json.go_duration(ns) == text


def test_json_in_a_protobuf_envelope():
    codec = protobuf._codec()
    unknown = codec.unknown(raw=b'{"data":{"a":"b"}}', contentType="application/json")
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = "v1", "ConfigMap"
    got = protobuf.decode_request(protobuf.MAGIC + unknown.SerializeToString())
    assert got == {"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": "b"}}


def test_pointer_table_is_derived_from_the_descriptors():
    table = set(protobuf.pointer_fields())
    for name in ("apps.v1.DeploymentSpec.replicas", "batch.v1.JobSpec.backoffLimit",
                 "batch.v1.CronJobSpec.suspend", "core.v1.PodSpec.enableServiceLinks",
                 "core.v1.PodSpec.terminationGracePeriodSeconds", "core.v1.SecurityContext.runAsUser",
                 "core.v1.ConfigMapVolumeSource.optional", "core.v1.ServiceSpec.allocateLoadBalancerNodePorts"):
        assert f"k8s.io.api.{name}" in table
    assert "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.gracePeriodSeconds" in table
    for name in ("apps.v1.DeploymentSpec.paused", "apps.v1.DeploymentSpec.minReadySeconds",
                 "core.v1.Container.stdin", "core.v1.ServicePort.port"):
        assert f"k8s.io.api.{name}" not in table


# --- errors --------------------------------------------------------------------------------


def _envelope(api_version: str, kind: str, raw: bytes, **fields) -> bytes:
    unknown = protobuf._codec().unknown(raw=raw, **fields)
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
    return protobuf.MAGIC + unknown.SerializeToString()


@pytest.mark.parametrize("body", [
    b"", b"garbage", b"{}", b"k8s\x00\xff\xff\xff", b"k8s\x00",
    pytest.param("corrupt-object", id="corrupt-object"),
    pytest.param("gzip", id="content-encoding"),
    pytest.param("bad-json", id="bad-json-in-envelope"),
    pytest.param("bad-raw-extension", id="bad-raw-extension"),
])
def test_malformed_bodies_are_400(body):
    if body == "corrupt-object":
        body = _envelope("v1", "ConfigMap", b"\xff\xff\xff\xff")
    elif body == "gzip":
        body = _envelope("v1", "ConfigMap", b"", contentEncoding="gzip")
    elif body == "bad-json":
        body = _envelope("v1", "ConfigMap", b"{", contentType="application/json")
    elif body == "bad-raw-extension":
        body = _body("apps/v1", "ControllerRevision", "k8s.io.api.apps.v1.ControllerRevision",
                     {"data": {"raw": "bm90IGpzb24="}})
    with pytest.raises(errors.BadRequest):
        protobuf.decode_request(body)


@pytest.mark.parametrize("api_version,kind", [("v1", "NoSuchKind"), ("example.com/v1", "Widget")])
def test_unknown_kinds_are_415(api_version, kind):
    with pytest.raises(errors.UnsupportedMediaType) as info:
        protobuf.decode_request(_envelope(api_version, kind, b""))
    assert kind in info.value.message and "JSON" in info.value.message


def test_bad_utf8_becomes_the_replacement_character():
    body = _envelope("v1", "ConfigMap", b"\x0a\x03\x0a\x01\xff")  # metadata.name = "\xff"
    assert protobuf.decode_request(body)["metadata"] == {"name": "\ufffd"}


def test_no_kubectl_is_a_clear_415(monkeypatch, tmp_path, fresh_state):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(protobuf, "DEFAULT_KUBECTL", str(tmp_path / "kubectl"))
    with pytest.raises(errors.UnsupportedMediaType) as info:
        protobuf.decode_request(b"k8s\x00\x0a\x00")
    assert info.value.code == 415
    assert "kubectl" in info.value.message and "application/json" in info.value.message


def test_bad_descriptor_file_is_a_clear_415(monkeypatch, tmp_path, fresh_state):
    bad = tmp_path / "set.pb"
    bad.write_bytes(b"\xff\xff\xff")
    monkeypatch.setenv(protobuf.ENV_DESCRIPTORS, str(bad))
    with pytest.raises(errors.UnsupportedMediaType) as info:
        protobuf.descriptors()
    assert protobuf.ENV_DESCRIPTORS in info.value.message


# --- where the schemas come from ----------------------------------------------------------------


def test_descriptors_are_cached_and_the_binary_not_read_again(monkeypatch, tmp_path, fresh_state):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = protobuf.descriptors()
    names = {f.name for f in first.file}
    assert {"k8s.io/api/core/v1/generated.proto", "k8s.io/api/apps/v1/generated.proto",
            "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto"} <= names
    cache = protobuf.cache_path(protobuf.find_kubectl())
    assert os.path.dirname(cache) == str(tmp_path / "tinykube") and os.path.isfile(cache)
    assert protobuf.descriptors() is first  # memoized in the process

    def no_scan(binary):
        raise AssertionError("the kubectl binary was scanned again")

    protobuf.reset()
    monkeypatch.setattr(protobuf, "extract_descriptors", no_scan)
    assert protobuf.descriptors() == first  # a new process would read the cache file
    assert protobuf.decode_request(_envelope("v1", "Namespace", b"\x0a\x05\x0a\x03ns1")) == {
        "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns1"}}


def test_descriptor_set_from_the_environment(monkeypatch, tmp_path, fresh_state):
    path = tmp_path / "k8s.pb"
    path.write_bytes(protobuf.descriptors().SerializeToString())
    protobuf.reset()
    monkeypatch.setenv(protobuf.ENV_DESCRIPTORS, str(path))
    monkeypatch.setattr(protobuf, "find_kubectl", lambda: None)  # not needed then
    assert protobuf.decode_request(_envelope("v1", "Namespace", b"\x0a\x05\x0a\x03ns2"))["metadata"] == {"name": "ns2"}


@pytest.mark.skipif(not os.path.isfile(f"{SDK_BIN}/kubectl.1.27"), reason="no kubectl 1.27")
def test_schemas_of_an_older_kubectl(monkeypatch, tmp_path, fresh_state):
    # kubectl 1.27 names its files k8s.io/kubernetes/vendor/k8s.io/...
    found = protobuf.extract_descriptors(f"{SDK_BIN}/kubectl.1.27")
    path = tmp_path / "k8s-1.27.pb"
    path.write_bytes(found.SerializeToString())
    monkeypatch.setenv(protobuf.ENV_DESCRIPTORS, str(path))
    body = _envelope("apps/v1", "Deployment", b"\x12\x02\x08\x00")  # spec.replicas = 0
    assert protobuf.decode_request(body) == {"kind": "Deployment", "apiVersion": "apps/v1",
                                             "spec": {"replicas": 0}}


def test_importing_loads_nothing():
    # the server imports this module at start; the schemas come with the first protobuf body
    code = ("import sys, tinykube.api.protobuf as p; "
            "assert 'google.protobuf' not in sys.modules and not p._state")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_decoding_is_fast(kubectl):
    body = kubectl.post("create", "deployment", "fast", "--image=busybox", "--replicas=3", "--port=80")[2]
    protobuf.decode_request(body)  # warm up: plans are built on first use
    rounds = 300
    started = time.perf_counter()
    for _ in range(rounds):
        protobuf.decode_request(body)
    assert (time.perf_counter() - started) / rounds < 0.001
