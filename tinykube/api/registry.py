"""The registry of kinds tinykube serves: data, so that adding a kind is a few lines.

Each ResourceType names a REST resource the way Kubernetes discovery does (group,
version, kind, plural, scope, short names, categories, subresources) and carries the
per-kind facts the generic API machinery needs: which field selectors it supports and
where it lives in storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Field selectors every resource supports.
COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", ...
    field_selectors: tuple[str, ...] = ()  # beyond COMMON_FIELDS
    # Resources that are another version of the same stored objects (events.k8s.io/v1
    # Event is core/v1 Event) name the resource they are stored as: "group/plural".
    stored_as: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified_plural(self) -> str:
        """The name Kubernetes uses in messages: "pods", "deployments.apps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_prefix(self) -> str:
        """Key prefix in the store, ending in "/"."""
        stored = self.stored_as or f"{self.group or 'core'}/{self.plural}"
        return f"/registry/{stored}/"

    def key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def prefix(self, namespace: str = "") -> str:
        """Prefix of every object of this type, or of one namespace's objects."""
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix

    def supports_field(self, path: str) -> bool:
        return path in COMMON_FIELDS or path in self.field_selectors


_WORKLOAD_STATUS = ("status",)
_SCALABLE = ("status", "scale")
_ALL = ("all",)

POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
EVENTS_V1_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
)

RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
                 subresources=("status", "finalize"), field_selectors=("status.phase",)),
    ResourceType("", "v1", "Pod", "pods", short_names=("po",), categories=_ALL,
                 subresources=("status", "binding", "eviction", "log", "exec", "attach", "portforward"),
                 field_selectors=POD_FIELDS),
    ResourceType("", "v1", "Service", "services", short_names=("svc",), categories=_ALL,
                 subresources=("status",), field_selectors=("spec.clusterIP", "spec.type")),
    ResourceType("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    ResourceType("", "v1", "Secret", "secrets", field_selectors=("type",)),
    ResourceType("", "v1", "Node", "nodes", namespaced=False, short_names=("no",),
                 subresources=("status",), field_selectors=("spec.unschedulable",)),
    ResourceType("", "v1", "Event", "events", short_names=("ev",), field_selectors=EVENT_FIELDS),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    # apps/v1
    ResourceType("apps", "v1", "Deployment", "deployments", short_names=("deploy",),
                 categories=_ALL, subresources=_SCALABLE),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",),
                 categories=_ALL, subresources=_SCALABLE, field_selectors=("status.replicas",)),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",),
                 categories=_ALL, subresources=_WORKLOAD_STATUS),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",),
                 categories=_ALL, subresources=_SCALABLE),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    ResourceType("batch", "v1", "Job", "jobs", categories=_ALL, subresources=_WORKLOAD_STATUS,
                 field_selectors=("status.successful",)),
    ResourceType("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=_ALL,
                 subresources=_WORKLOAD_STATUS),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases"),
    # discovery.k8s.io/v1
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # scheduling.k8s.io/v1 (the Priority admission plugin resolves pods' priorityClassName)
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
                 short_names=("pc",)),
    # policy/v1 (pods/eviction checks them; the disruption controller fills the status)
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
                 subresources=("status",)),
    # events.k8s.io/v1: the same stored objects as core/v1 events, another shape
    ResourceType("events.k8s.io", "v1", "Event", "events", short_names=("ev",),
                 field_selectors=EVENTS_V1_FIELDS, stored_as="core/events"),
)


@dataclass
class Registry:
    """Index of RESOURCES by (group, version, plural) and by (group, version, kind)."""

    resources: tuple[ResourceType, ...] = RESOURCES
    _by_plural: dict = field(default_factory=dict)
    _by_kind: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rt in self.resources:
            self._by_plural[(rt.group, rt.version, rt.plural)] = rt
            self._by_kind[(rt.group, rt.version, rt.kind)] = rt

    def by_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_plural.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, version, kind))

    def by_api_version(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return self.by_kind(group, version, kind)

    def groups(self) -> dict[str, list[str]]:
        """{group: [versions]} in registration order; "" is the core group."""
        out: dict[str, list[str]] = {}
        for rt in self.resources:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.resources if rt.group == group and rt.version == version]


REGISTRY = Registry()

# Namespaces that exist from the start, as in every Kubernetes cluster.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
