"""Kubernetes 1.32 defaulting and create-time preparation for the built-in kinds.

`apply_defaults` does what Kubernetes does to every object it decodes: the generated
SetObjectDefaults_* functions (pkg/apis/*/v1/defaults.go), the v1 <-> internal conversion
quirks that change what a client reads back (serviceAccount mirrors serviceAccountName,
Secret stringData folds into data, podIP mirrors podIPs[0]), the Go zero values that
always serialise (`resources: {}`, a template's `creationTimestamp: null`, `status: {}`),
and, for Pods only, the default admission plugins (ServiceAccount, Priority,
DefaultTolerationSeconds). It is idempotent, so it is also safe on updates and reads.

`prepare_for_create` is the registry strategies' PrepareForCreate: reset status, start
metadata.generation at 1, compute a Pod's QoS class, generate a Job's selector, add a
Namespace's finalizer, pick a Service's IP families.

`bump_generation_if_spec_changed` and `bump_generation_on_delete` are the update-time
and delete-time generation rules.

Everything mutates plain dicts in Kubernetes JSON form, in place.
"""

from __future__ import annotations

import base64
import copy
import functools
import re
from fractions import Fraction
from typing import Callable

from tinykube.api.conversion import normalize_core_event, normalize_events_v1_event
from tinykube.api.registry import REGISTRY, ResourceType

# --- small helpers ------------------------------------------------------------------------


def _if_empty(d: dict, key: str, value) -> None:
    """Default a Go non-pointer field: "" / 0 / missing / null all count as unset."""
    if not d.get(key):
        d[key] = value


def _if_none(d: dict, key: str, value) -> None:
    """Default a Go pointer field: only missing or null counts as unset (0 and false stay)."""
    if d.get(key) is None:
        d[key] = copy.deepcopy(value)


def _dicts(items) -> list[dict]:
    """The dict entries of a list; anything malformed is validation's to report."""
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _child(d: dict, key: str) -> dict:
    """d[key] as a dict, created when missing or null (a Go struct field always exists).
    A value of the wrong type is left in place for validation and a scratch dict returned."""
    value = d.get(key)
    if value is None:
        value = d[key] = {}
    elif not isinstance(value, dict):
        return {}
    return value


def _list(d: dict, key: str) -> list | None:
    """d[key] as a list, created when missing or null; None when it has the wrong type."""
    value = d.get(key)
    if value is None:
        value = d[key] = []
    return value if isinstance(value, list) else None


def _meta_map(obj: dict, key: str) -> dict:
    """metadata.labels or metadata.annotations for reading; {} when absent or malformed."""
    meta = obj.get("metadata")
    value = meta.get(key) if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _template_metadata(template: dict) -> None:
    # A template's ObjectMeta is a struct whose zero creationTimestamp serialises as null.
    _child(template, "metadata").setdefault("creationTimestamp", None)


# --- containers ---------------------------------------------------------------------------

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _default_container(c: dict) -> None:
    _if_empty(c, "imagePullPolicy", image_pull_policy(c.get("image") or ""))
    _if_empty(c, "terminationMessagePath", "/dev/termination-log")
    _if_empty(c, "terminationMessagePolicy", "File")
    for port in _dicts(c.get("ports")):
        _if_empty(port, "protocol", "TCP")
    for env in _dicts(c.get("env")):
        _default_value_from(env.get("valueFrom"))
    _if_none(c, "resources", {})
    for name in _PROBES:
        if isinstance(c.get(name), dict):
            _default_probe(c[name])
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict) and isinstance(lifecycle[hook].get("httpGet"), dict):
                _default_http_get(lifecycle[hook]["httpGet"])


def _default_value_from(source) -> None:
    if not isinstance(source, dict):
        return
    if isinstance(source.get("fieldRef"), dict):
        _if_empty(source["fieldRef"], "apiVersion", "v1")
    if isinstance(source.get("resourceFieldRef"), dict):
        # divisor is a non-pointer Quantity: its zero value serialises as "0".
        _if_none(source["resourceFieldRef"], "divisor", "0")


def _default_probe(probe: dict) -> None:
    _if_empty(probe, "timeoutSeconds", 1)
    _if_empty(probe, "periodSeconds", 10)
    _if_empty(probe, "successThreshold", 1)
    _if_empty(probe, "failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        _default_http_get(probe["httpGet"])
    if isinstance(probe.get("grpc"), dict):
        _if_none(probe["grpc"], "service", "")


def _default_http_get(action: dict) -> None:
    _if_empty(action, "path", "/")
    _if_empty(action, "scheme", "HTTP")


# --- image pull policy (k8s.io/kubernetes/pkg/util/parsers.ParseImageName) ----------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def _parse_image(image: str) -> tuple[str, str] | None:
    """(tag, digest) of a docker reference, or None when Kubernetes cannot parse it."""
    if re.fullmatch(r"[a-f0-9]{64}", image):
        return None  # a bare image ID is not a repository name
    m = _REFERENCE.fullmatch(image)
    if m is None:
        return None
    tag, digest = m.group("tag") or "", m.group("digest") or ""
    if digest:
        algorithm, _, encoded = digest.partition(":")
        if _DIGEST_LENGTHS.get(algorithm) != len(encoded) or not re.fullmatch(r"[a-f0-9]+", encoded):
            return None
    if len(_normalized_name(m.group("name"), m.group("domain"))) > 255:
        return None
    return tag, digest


def _normalized_name(name: str, domain: str | None) -> str:
    # Docker Hub names are measured in their full form, docker.io/library/x.
    first = name.split("/", 1)[0]
    is_domain = domain and ("." in first or ":" in first or first == "localhost" or first != first.lower())
    if is_domain:
        return name
    return "docker.io/" + ("" if "/" in name else "library/") + name


def image_pull_policy(image: str) -> str:
    """Always for :latest or an untagged, undigested image; IfNotPresent otherwise
    (including images Kubernetes cannot parse)."""
    parsed = _parse_image(image)
    if parsed is None:
        return "IfNotPresent"
    tag, digest = parsed
    if tag == "latest" or (not tag and not digest):
        return "Always"
    return "IfNotPresent"


# --- volumes ------------------------------------------------------------------------------

_MODE_0644 = 420


def _default_volume(v: dict) -> None:
    if not any(value is not None for key, value in v.items() if key != "name"):
        v["emptyDir"] = {}
    for kind, defaults in _VOLUME_DEFAULTS.items():
        if isinstance(v.get(kind), dict):
            defaults(v[kind])


def _default_downward_api_items(source: dict) -> None:
    for item in _dicts(source.get("items")):
        _default_value_from(item)


def _default_projected(source: dict) -> None:
    _if_none(source, "defaultMode", _MODE_0644)
    for projection in _dicts(source.get("sources")):
        if isinstance(projection.get("downwardAPI"), dict):
            _default_downward_api_items(projection["downwardAPI"])
        if isinstance(projection.get("serviceAccountToken"), dict):
            _if_none(projection["serviceAccountToken"], "expirationSeconds", 3600)


def _default_ephemeral(source: dict) -> None:
    template = source.get("volumeClaimTemplate")
    if isinstance(template, dict):
        _template_metadata(template)
        _default_pvc_spec(_child(template, "spec"))


def _default_pvc_spec(spec: dict) -> None:
    _if_none(spec, "volumeMode", "Filesystem")
    _if_none(spec, "resources", {})


def _default_azure_disk(source: dict) -> None:
    _if_none(source, "cachingMode", "ReadWrite")
    _if_none(source, "kind", "Shared")
    _if_none(source, "fsType", "ext4")
    _if_none(source, "readOnly", False)


def _default_rbd(source: dict) -> None:
    _if_empty(source, "pool", "rbd")
    _if_empty(source, "user", "admin")
    _if_empty(source, "keyring", "/etc/ceph/keyring")


def _default_scale_io(source: dict) -> None:
    _if_empty(source, "storageMode", "ThinProvisioned")
    _if_empty(source, "fsType", "xfs")


_VOLUME_DEFAULTS: dict[str, Callable[[dict], None]] = {
    "hostPath": lambda s: _if_none(s, "type", ""),
    "secret": lambda s: _if_none(s, "defaultMode", _MODE_0644),
    "configMap": lambda s: _if_none(s, "defaultMode", _MODE_0644),
    "downwardAPI": lambda s: (_if_none(s, "defaultMode", _MODE_0644), _default_downward_api_items(s)),
    "projected": _default_projected,
    "iscsi": lambda s: _if_empty(s, "iscsiInterface", "default"),
    "rbd": _default_rbd,
    "azureDisk": _default_azure_disk,
    "scaleIO": _default_scale_io,
    "ephemeral": _default_ephemeral,
}


# --- pod spec and templates -------------------------------------------------------------

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _default_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and everything nested: used for Pods and every pod template."""
    _if_empty(spec, "dnsPolicy", "ClusterFirst")
    _if_empty(spec, "restartPolicy", "Always")
    _if_none(spec, "securityContext", {})
    _if_none(spec, "terminationGracePeriodSeconds", 30)
    _if_empty(spec, "schedulerName", "default-scheduler")
    _sync_service_account(spec)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)
    for key in _CONTAINER_LISTS:
        for container in _dicts(spec.get(key)):
            _default_container(container)


def _sync_service_account(spec: dict) -> None:
    # v1 keeps the deprecated serviceAccount as an alias; serviceAccountName wins.
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
    if name:
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    else:
        spec.pop("serviceAccountName", None)
        spec.pop("serviceAccount", None)


def _default_pod_template(template: dict) -> None:
    _template_metadata(template)
    _default_pod_spec(_child(template, "spec"))


# --- pods ---------------------------------------------------------------------------------

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)
# The built-in PriorityClasses every cluster has.
_SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def _default_pod(pod: dict) -> None:
    spec = _child(pod, "spec")
    _requests_from_limits(spec)
    _if_none(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork"):
        _host_network_ports(spec)
    _admit_service_account(pod, spec)
    _admit_priority(spec)
    _admit_default_tolerations(spec)
    _default_pod_spec(spec)
    _sync_pod_ips(_child(pod, "status"))


def _requests_from_limits(spec: dict) -> None:
    # Pods only (not templates): a limit without a request makes the request equal to it.
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            resources = container.get("resources")
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict) and resources["limits"]:
                requests = _child(resources, "requests")
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)


def _host_network_ports(spec: dict) -> None:
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            for port in _dicts(container.get("ports")):
                if not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort", 0)


def _admit_service_account(pod: dict, spec: dict) -> None:
    # ServiceAccount admission leaves mirror pods (static pods seen through the API) alone.
    if MIRROR_POD_ANNOTATION in _meta_map(pod, "annotations"):
        return
    if not (spec.get("serviceAccountName") or spec.get("serviceAccount")):
        spec["serviceAccountName"] = "default"


def _admit_priority(spec: dict) -> None:
    # Priority admission: no class and no default class means priority 0.
    class_name = spec.get("priorityClassName") or ""
    if class_name and class_name not in _SYSTEM_PRIORITIES:
        return  # resolved (or rejected) against PriorityClass objects, which tinykube lacks
    _if_none(spec, "priority", _SYSTEM_PRIORITIES.get(class_name, 0))
    _if_none(spec, "preemptionPolicy", "PreemptLowerPriority")


def _admit_default_tolerations(spec: dict) -> None:
    # DefaultTolerationSeconds: an empty key or effect tolerates the taint already.
    tolerations = _list(spec, "tolerations")
    if tolerations is None:
        return
    for default in _DEFAULT_TOLERATIONS:
        covered = any(
            t.get("key", "") in ("", default["key"]) and t.get("effect", "") in ("", "NoExecute")
            for t in _dicts(tolerations)
        )
        if not covered:
            tolerations.append(dict(default))


def _sync_pod_ips(status: dict) -> None:
    # The v1 singular podIP/hostIP are aliases of the first podIPs/hostIPs entry; the
    # singular field wins when both are given and disagree.
    for single, plural in (("podIP", "podIPs"), ("hostIP", "hostIPs")):
        ips = _dicts(status.get(plural))
        first = ips[0].get("ip") if ips else None
        if status.get(single) and first != status[single]:
            status[plural] = ips = [{"ip": status[single]}]
            first = status[single]
        if first:
            status[single] = first


# --- QoS (pkg/apis/core/helper/qos) -------------------------------------------------------

_SUFFIXES = {
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[A-Za-z]*)")


def _quantity(value) -> Fraction | None:
    """A resource.Quantity's exact value; None when it does not parse. Only comparison is
    needed here, so there is no canonical formatting."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(value) if value == value and abs(value) != float("inf") else None
    return _quantity_text(str(value)) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)  # pure: pods of one template repeat the same few quantities
def _quantity_text(text: str) -> Fraction | None:
    m = _QUANTITY.fullmatch(text.strip())
    if m is None:
        return None
    number, suffix = m.groups()
    if re.fullmatch(r"[eE][+-]?[0-9]+", suffix):
        return Fraction(number) * Fraction(10) ** int(suffix[1:])
    return Fraction(number) * _SUFFIXES[suffix] if suffix in _SUFFIXES else None


_QOS_RESOURCES = ("cpu", "memory")


def _positive(resources) -> dict[str, Fraction]:
    found = {}
    for name, raw in (resources.items() if isinstance(resources, dict) else ()):
        amount = _quantity(raw) if name in _QOS_RESOURCES else None
        if amount is not None and amount > 0:
            found[name] = amount
    return found


def pod_qos_class(pod_spec: dict) -> str:
    """Guaranteed, Burstable or BestEffort, by Kubernetes' ComputePodQOS: only cpu and
    memory count, init containers included, zero quantities ignored."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for container in _dicts(pod_spec.get(key)):
            resources = container.get("resources")
            resources = resources if isinstance(resources, dict) else {}
            for name, amount in _positive(resources.get("requests")).items():
                requests[name] = requests.get(name, 0) + amount
            container_limits = _positive(resources.get("limits"))
            for name, amount in container_limits.items():
                limits[name] = limits.get(name, 0) + amount
            if not all(r in container_limits for r in _QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    requests_match = all(limits.get(name) == amount for name, amount in requests.items())
    if guaranteed and requests_match and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# --- services -----------------------------------------------------------------------------


def _default_service(svc: dict) -> None:
    spec = _child(svc, "spec")
    _if_empty(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP" and _client_ip_timeout(spec) is None:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    _if_empty(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _if_empty(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    service_type = spec["type"]
    externally_accessible = service_type in ("LoadBalancer", "NodePort") or (
        service_type == "ClusterIP" and bool(spec.get("externalIPs")))
    if externally_accessible:
        _if_empty(spec, "externalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        _if_none(spec, "internalTrafficPolicy", "Cluster")
    load_balancer = _child(_child(svc, "status"), "loadBalancer")
    if service_type == "LoadBalancer":
        _if_none(spec, "allocateLoadBalancerNodePorts", True)
        for ingress in _dicts(load_balancer.get("ingress")):
            if ingress.get("ip"):
                _if_none(ingress, "ipMode", "VIP")


def _client_ip_timeout(spec: dict):
    config = spec.get("sessionAffinityConfig")
    client_ip = config.get("clientIP") if isinstance(config, dict) else None
    return client_ip.get("timeoutSeconds") if isinstance(client_ip, dict) else None


def _prepare_service(svc: dict) -> None:
    svc["status"] = {"loadBalancer": {}}
    spec = _child(svc, "spec")
    # An old client sets only the singular clusterIP; the plural starts from it.
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    _service_ip_families(spec)


def _service_ip_families(spec: dict) -> None:
    """The IP family fields the Service REST storage fills on create, for tinykube's
    single-stack IPv4 service network. Errors (e.g. asking for IPv6) are left to validation."""
    if spec.get("type") == "ExternalName":
        return
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless_selectorless else "SingleStack"
    families = list(spec["ipFamilies"]) if isinstance(spec.get("ipFamilies"), list) else []
    cluster_ips = spec.get("clusterIPs")
    for i, ip in enumerate(cluster_ips if isinstance(cluster_ips, list) else []):
        if ip == "None":
            break
        if i >= len(families):
            families.append("IPv6" if ":" in str(ip) else "IPv4")
    if not families:
        families = ["IPv4"]
    # Headless selectorless services may list both families even on a single-stack cluster.
    if headless_selectorless and len(families) < 2 and spec["ipFamilyPolicy"] != "SingleStack":
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"] = families


# --- other core kinds -----------------------------------------------------------------------


def _default_secret(secret: dict) -> None:
    _if_empty(secret, "type", "Opaque")
    # v1 stringData is write-only: it overwrites data (base64) and is never read back.
    string_data = secret.get("stringData")
    if not isinstance(string_data, dict):
        return
    del secret["stringData"]
    if string_data:
        data = _child(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _default_namespace(ns: dict) -> None:
    name = (ns.get("metadata") or {}).get("name")
    if name:
        _child(_child(ns, "metadata"), "labels")[NAMESPACE_NAME_LABEL] = name
    _child(ns, "spec")
    _if_empty(_child(ns, "status"), "phase", "Active")


def _prepare_namespace(ns: dict) -> None:
    ns["status"] = {"phase": "Active"}
    finalizers = _list(_child(ns, "spec"), "finalizers")
    # Added on create only: the namespace controller removes it during deletion.
    if finalizers is not None and "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    _default_namespace(ns)


_NODE_INFO_FIELDS = (
    "architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID",
)


def _default_node(node: dict) -> None:
    spec = _child(node, "spec")
    # podCIDR is the v1 alias of podCIDRs[0]; the singular wins when they disagree.
    cidrs = spec.get("podCIDRs") if isinstance(spec.get("podCIDRs"), list) else []
    if spec.get("podCIDR") and (not cidrs or cidrs[0] != spec["podCIDR"]):
        spec["podCIDRs"] = cidrs = [spec["podCIDR"]]
    if cidrs:
        spec["podCIDR"] = cidrs[0]
    status = _child(node, "status")
    if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])
    # Non-pointer structs whose zero values always serialise.
    _child(_child(status, "daemonEndpoints"), "kubeletEndpoint").setdefault("Port", 0)
    node_info = _child(status, "nodeInfo")
    for key in _NODE_INFO_FIELDS:
        node_info.setdefault(key, "")


def _default_endpoints(endpoints: dict) -> None:
    for subset in _dicts(endpoints.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _if_empty(port, "protocol", "TCP")


def _default_endpoint_slice(slice_: dict) -> None:
    # endpoints and ports have no omitempty: absent lists read back as null.
    slice_.setdefault("endpoints", None)
    slice_.setdefault("ports", None)
    for port in _dicts(slice_.get("ports")):
        _if_none(port, "name", "")
        _if_none(port, "protocol", "TCP")


def _default_core_event(event: dict) -> None:
    event.update(normalize_core_event(event))


def _default_events_v1_event(event: dict) -> None:
    event.update(normalize_events_v1_event(event))


# --- apps/v1 --------------------------------------------------------------------------------

# The status a workload starts with: its Go zero value as JSON (non-omitempty ints show).
_ZERO_STATUS: dict[tuple[str, str], dict] = {
    ("apps", "Deployment"): {},
    ("apps", "ReplicaSet"): {"replicas": 0},
    ("apps", "StatefulSet"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "DaemonSet"): {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 0, "numberReady": 0},
    ("batch", "Job"): {},
    ("batch", "CronJob"): {},
    # PodDisruptionBudgetStatus: its four counters are not omitempty in Go
    ("policy", "PodDisruptionBudget"): {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                        "expectedPods": 0},
}


def _ensure_status(obj: dict, key: tuple[str, str]) -> None:
    status = _child(obj, "status")
    for field, zero in _ZERO_STATUS[key].items():
        status.setdefault(field, zero)


def _default_pdb(obj: dict) -> None:
    # policy/v1 defaults no field (unhealthyPodEvictionPolicy stays unset in 1.32: it
    # behaves as IfHealthyBudget); the status counters are always present, as Go writes them.
    _child(obj, "spec")
    _ensure_status(obj, ("policy", "PodDisruptionBudget"))


def _default_deployment(obj: dict) -> None:
    spec = _child(obj, "spec")
    _if_none(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    _if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _if_none(rolling, "maxUnavailable", "25%")
        _if_none(rolling, "maxSurge", "25%")
    _if_none(spec, "revisionHistoryLimit", 10)
    _if_none(spec, "progressDeadlineSeconds", 600)
    _default_pod_template(_child(spec, "template"))
    _ensure_status(obj, ("apps", "Deployment"))


def _default_replica_set(obj: dict) -> None:
    spec = _child(obj, "spec")
    _if_none(spec, "replicas", 1)
    _default_pod_template(_child(spec, "template"))
    _ensure_status(obj, ("apps", "ReplicaSet"))


def _default_daemon_set(obj: dict) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    _if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _if_none(rolling, "maxUnavailable", 1)
        _if_none(rolling, "maxSurge", 0)
    _if_none(spec, "revisionHistoryLimit", 10)
    _default_pod_template(_child(spec, "template"))
    _ensure_status(obj, ("apps", "DaemonSet"))


def _default_stateful_set(obj: dict) -> None:
    spec = _child(obj, "spec")
    _if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _if_none(strategy, "rollingUpdate", {})
    # partition is only defaulted when rollingUpdate exists (user-given or created above).
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        _if_none(strategy["rollingUpdate"], "partition", 0)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    _if_empty(retention, "whenDeleted", "Retain")
    _if_empty(retention, "whenScaled", "Retain")
    _if_none(spec, "replicas", 1)
    _if_none(spec, "revisionHistoryLimit", 10)
    _default_pod_template(_child(spec, "template"))
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        _default_claim_template(claim)
    _ensure_status(obj, ("apps", "StatefulSet"))


def _default_claim_template(claim: dict) -> None:
    # apps/v1 writes apiVersion/kind into each claim template (kubernetes/kubernetes#87583).
    claim["apiVersion"] = "v1"
    claim["kind"] = "PersistentVolumeClaim"
    _template_metadata(claim)
    _default_pvc_spec(_child(claim, "spec"))
    _if_empty(_child(claim, "status"), "phase", "Pending")


# --- batch/v1 -------------------------------------------------------------------------------


def _default_job(job: dict) -> None:
    spec = _child(job, "spec")
    _default_job_spec_fields(spec)
    template = _child(spec, "template")
    template_labels = _child(template, "metadata").get("labels")
    meta = _child(job, "metadata")
    if isinstance(template_labels, dict) and not meta.get("labels"):
        meta["labels"] = dict(template_labels)
    _default_pod_template(template)
    _ensure_status(job, ("batch", "Job"))


def _default_job_spec_fields(spec: dict) -> None:
    # completions and parallelism are both 1 only when neither is given.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _if_none(spec, "parallelism", 1)
    _if_none(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    _if_none(spec, "completionMode", "NonIndexed")
    _if_none(spec, "suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in _dicts(policy.get("rules")):
            for pattern in _dicts(rule.get("onPodConditions")):
                _if_empty(pattern, "status", "True")
    _if_none(spec, "podReplacementPolicy", "Failed" if isinstance(policy, dict) else "TerminatingOrFailed")
    _if_none(spec, "manualSelector", False)


def _default_cron_job(obj: dict) -> None:
    spec = _child(obj, "spec")
    _if_empty(spec, "concurrencyPolicy", "Allow")
    _if_none(spec, "suspend", False)
    _if_none(spec, "successfulJobsHistoryLimit", 3)
    _if_none(spec, "failedJobsHistoryLimit", 1)
    job_template = _child(spec, "jobTemplate")
    _template_metadata(job_template)
    # A job template gets pod-spec defaults only; Job-level defaults apply when the Job is made.
    _default_pod_template(_child(_child(job_template, "spec"), "template"))
    _ensure_status(obj, ("batch", "CronJob"))


JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _prepare_job(job: dict) -> None:
    spec = _child(job, "spec")
    meta = _child(job, "metadata")
    if not spec.get("manualSelector"):
        template_labels = _child(_child(_child(spec, "template"), "metadata"), "labels")
        before = dict(template_labels)
        _generate_job_selector(meta, spec, template_labels)
        # Kubernetes defaults a Job's own labels to its template's labels, sharing the map,
        # and defaults again on every read: either way the generated labels show on the Job.
        if not meta.get("labels") or meta["labels"] == before:
            meta["labels"] = dict(template_labels)
    job["status"] = dict(_ZERO_STATUS[("batch", "Job")])


def _generate_job_selector(meta: dict, spec: dict, template_labels: dict) -> None:
    # Labels the user already set are kept; validation rejects conflicting ones.
    for label in JOB_NAME_LABELS:
        template_labels.setdefault(label, meta.get("name", ""))
    for label in CONTROLLER_UID_LABELS:
        template_labels.setdefault(label, meta.get("uid", ""))
    selector = _child(spec, "selector")
    _child(selector, "matchLabels").setdefault("batch.kubernetes.io/controller-uid", meta.get("uid", ""))


DAEMONSET_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: dict) -> int:
    raw = _meta_map(obj, "annotations").get(DAEMONSET_TEMPLATE_GENERATION)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _prepare_daemon_set(obj: dict) -> None:
    obj["status"] = dict(_ZERO_STATUS[("apps", "DaemonSet")])
    # spec.templateGeneration of the internal type, shown in apps/v1 as an annotation.
    generation = max(_template_generation(obj), 1)
    _child(_child(obj, "metadata"), "annotations")[DAEMONSET_TEMPLATE_GENERATION] = str(generation)


def _reset_status(key: tuple[str, str]) -> Callable[[dict], None]:
    def reset(obj: dict) -> None:
        obj["status"] = dict(_ZERO_STATUS[key])
    return reset


# --- pods at create -------------------------------------------------------------------------


def _apply_match_label_keys(pod: dict, spec: dict) -> None:
    # MatchLabelKeysInPodAffinity (beta, on in 1.32): a pod affinity term's matchLabelKeys
    # become `key In (value)` and mismatchLabelKeys `key NotIn (value)` in its labelSelector,
    # for the keys the pod has; a term without labelSelector (selects nothing) is left alone.
    labels = _meta_map(pod, "labels")
    affinity = spec.get("affinity") if isinstance(spec.get("affinity"), dict) else {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) if isinstance(affinity.get(kind), dict) else {}
        terms = _dicts(rules.get("requiredDuringSchedulingIgnoredDuringExecution"))
        terms += [t["podAffinityTerm"] for t in _dicts(rules.get("preferredDuringSchedulingIgnoredDuringExecution"))
                  if isinstance(t.get("podAffinityTerm"), dict)]
        for term in terms:
            selector = term.get("labelSelector")
            if not isinstance(selector, dict):
                continue
            for field, operator in (("matchLabelKeys", "In"), ("mismatchLabelKeys", "NotIn")):
                keys = term.get(field) if isinstance(term.get(field), list) else ()
                for key in keys:
                    expressions = _list(selector, "matchExpressions") if isinstance(key, str) and key in labels else None
                    if expressions is not None:
                        expressions.append({"key": key, "operator": operator, "values": [labels[key]]})


def _prepare_pod(pod: dict) -> None:
    spec = _child(pod, "spec")
    _apply_match_label_keys(pod, spec)
    # GetPodQOS trusts a qosClass already in the submitted status (evaluated before the reset).
    submitted = pod.get("status")
    qos = (submitted.get("qosClass") if isinstance(submitted, dict) else None) or pod_qos_class(spec)
    status = {"phase": "Pending", "qosClass": qos}
    if spec.get("schedulingGates"):
        status["conditions"] = [{
            "type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": None,
            "reason": "SchedulingGated", "message": "Scheduling is blocked due to non-empty scheduling gates",
        }]
    pod["status"] = status


# --- dispatch -------------------------------------------------------------------------------

_DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Pod"): _default_pod,
    ("", "Service"): _default_service,
    ("", "Secret"): _default_secret,
    ("", "Namespace"): _default_namespace,
    ("", "Node"): _default_node,
    ("", "Endpoints"): _default_endpoints,
    ("", "Event"): _default_core_event,
    ("apps", "Deployment"): _default_deployment,
    ("apps", "ReplicaSet"): _default_replica_set,
    ("apps", "DaemonSet"): _default_daemon_set,
    ("apps", "StatefulSet"): _default_stateful_set,
    ("batch", "Job"): _default_job,
    ("batch", "CronJob"): _default_cron_job,
    ("coordination.k8s.io", "Lease"): lambda obj: _child(obj, "spec"),
    ("scheduling.k8s.io", "PriorityClass"): lambda obj: _if_none(obj, "preemptionPolicy", "PreemptLowerPriority"),
    ("discovery.k8s.io", "EndpointSlice"): _default_endpoint_slice,
    ("events.k8s.io", "Event"): _default_events_v1_event,
    ("policy", "PodDisruptionBudget"): _default_pdb,
}

_PREPARERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Pod"): _prepare_pod,
    ("", "Service"): _prepare_service,
    ("", "Namespace"): _prepare_namespace,
    ("apps", "Deployment"): _reset_status(("apps", "Deployment")),
    ("apps", "ReplicaSet"): _reset_status(("apps", "ReplicaSet")),
    ("apps", "StatefulSet"): _reset_status(("apps", "StatefulSet")),
    ("apps", "DaemonSet"): _prepare_daemon_set,
    ("batch", "Job"): _prepare_job,
    ("batch", "CronJob"): _reset_status(("batch", "CronJob")),
    ("policy", "PodDisruptionBudget"): _reset_status(("policy", "PodDisruptionBudget")),
}

_GENERATION_KINDS = frozenset({
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"), ("apps", "StatefulSet"),
    ("batch", "Job"), ("batch", "CronJob"), ("discovery.k8s.io", "EndpointSlice"),
    ("policy", "PodDisruptionBudget"),
})


def apply_defaults(rt: ResourceType, obj: dict) -> None:
    """Kubernetes' defaulting for this kind, in place. Idempotent."""
    defaulter = _DEFAULTERS.get((rt.group, rt.kind))
    if defaulter is not None:
        defaulter(obj)


def prepare_for_create(rt: ResourceType, obj: dict) -> None:
    """The kind's PrepareForCreate (plus the generic create rules), in place.
    Expects metadata.uid to be set already (a Job's selector is built from it)."""
    meta = _child(obj, "metadata")
    # Deletion fields cannot be set by a create.
    meta.pop("deletionTimestamp", None)
    meta.pop("deletionGracePeriodSeconds", None)
    if uses_generation(rt):
        meta["generation"] = 1
    preparer = _PREPARERS.get((rt.group, rt.kind))
    if preparer is not None:
        preparer(obj)


def uses_generation(rt: ResourceType) -> bool:
    """Whether the kind's strategy sets metadata.generation (1 on create, +1 on change)."""
    return (rt.group, rt.kind) in _GENERATION_KINDS


# --- generation on update and delete --------------------------------------------------------


def _spec_changed(new: dict, old: dict) -> bool:
    return new.get("spec") != old.get("spec")


def _deployment_changed(new: dict, old: dict) -> bool:
    # Annotations count: a Deployment copies them to its ReplicaSets.
    return _spec_changed(new, old) or _meta_map(new, "annotations") != _meta_map(old, "annotations")


def _endpoint_slice_changed(new: dict, old: dict) -> bool:
    # Anything outside metadata, or the labels.
    strip = lambda o: {k: v for k, v in o.items() if k != "metadata"}  # noqa: E731
    return strip(new) != strip(old) or _meta_map(new, "labels") != _meta_map(old, "labels")


_CHANGE_RULES: dict[tuple[str, str], Callable[[dict, dict], bool]] = {
    ("apps", "Deployment"): _deployment_changed,
    ("apps", "ReplicaSet"): _spec_changed,
    ("apps", "StatefulSet"): _spec_changed,
    ("batch", "Job"): _spec_changed,
    ("batch", "CronJob"): _spec_changed,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice_changed,
    ("policy", "PodDisruptionBudget"): _spec_changed,
}


def bump_generation_if_spec_changed(new: dict, old: dict, rt: ResourceType | None = None) -> bool:
    """An update's generation: the old one (clients cannot set it), plus one when the kind
    counts the change. Call with both objects defaulted. Returns whether it was bumped.
    For the main resource only: status updates never bump."""
    rt = rt or REGISTRY.by_api_version(new.get("apiVersion", ""), new.get("kind", ""))
    new_meta = _child(new, "metadata")
    old_generation = (old.get("metadata") or {}).get("generation")
    if old_generation is None:
        new_meta.pop("generation", None)
    else:
        new_meta["generation"] = old_generation
    if rt is None or old_generation is None:
        return False
    key = (rt.group, rt.kind)
    if key == ("apps", "DaemonSet"):
        return _bump_daemon_set(new, old)
    rule = _CHANGE_RULES.get(key)
    if rule is not None and rule(new, old):
        new_meta["generation"] = old_generation + 1
        return True
    return False


def _bump_daemon_set(new: dict, old: dict) -> bool:
    # The template generation cannot be set by an update; a template change advances it.
    new_spec, old_spec = new.get("spec"), old.get("spec")
    template_of = lambda spec: spec.get("template") if isinstance(spec, dict) else None  # noqa: E731
    template_changed = template_of(new_spec) != template_of(old_spec)
    annotations = _child(_child(new, "metadata"), "annotations")
    old_template_generation = _template_generation(old)
    if template_changed:
        annotations[DAEMONSET_TEMPLATE_GENERATION] = str(old_template_generation + 1)
    elif DAEMONSET_TEMPLATE_GENERATION in _meta_map(old, "annotations"):
        annotations[DAEMONSET_TEMPLATE_GENERATION] = _meta_map(old, "annotations")[DAEMONSET_TEMPLATE_GENERATION]
    else:
        annotations.pop(DAEMONSET_TEMPLATE_GENERATION, None)
    if template_changed or new_spec != old_spec:
        new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        return True
    return False


def bump_generation_on_delete(obj: dict) -> bool:
    """Any object with a generation gets +1 when its deletionTimestamp is first set, so its
    controller sees the change. Call before setting deletionTimestamp. Returns whether bumped."""
    meta = _child(obj, "metadata")
    generation = meta.get("generation")
    if meta.get("deletionTimestamp") is None and isinstance(generation, int) and generation > 0:
        meta["generation"] = generation + 1
        return True
    return False
