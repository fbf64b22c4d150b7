"""Admission plugins of the API server that need configuration or other objects.

- DefaultTolerationSeconds (mutating, pod create): a pod that tolerates neither
  ``node.kubernetes.io/not-ready:NoExecute`` nor ``node.kubernetes.io/unreachable:NoExecute``
  gets a toleration of each for ``default_toleration_seconds`` (kube-apiserver's
  --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds, 300),
  so the node lifecycle controller evicts it that long after its node is lost. It runs
  before defaulting, which then finds the tolerations present.
- ServiceAccount (validating, pod create): the pod's ServiceAccount must exist. The
  ``default`` one is made by the serviceaccount controller right after the namespace;
  like upstream, the plugin waits a little for it before refusing. tinykube does not
  mount ServiceAccount tokens (projected token volumes) yet.
- Priority (mutating, pod and PriorityClass create): a pod's priorityClassName is
  resolved against the PriorityClass objects (the built-in system-node-critical and
  system-cluster-critical included) into spec.priority and spec.preemptionPolicy; a pod
  without one gets the globalDefault class, or priority 0. Only one class may be the
  globalDefault.
"""

from __future__ import annotations

import asyncio

from tinykube.api import errors
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.api.validation.priorityclass import SYSTEM_PRIORITY_CLASSES

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
SERVICE_ACCOUNTS = REGISTRY.by_plural("", "v1", "serviceaccounts")
PRIORITY_CLASSES = REGISTRY.by_plural("scheduling.k8s.io", "v1", "priorityclasses")
# upstream looks the default ServiceAccount up 10 times, 100-200 ms apart
DEFAULT_SA_WAIT_SECONDS = 2.0
POLL_SECONDS = 0.1


def default_tolerations(spec: dict, seconds: int) -> None:
    """DefaultTolerationSeconds: add what the pod's tolerations do not cover yet."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return  # validation reports it
    for key in (NOT_READY, UNREACHABLE):
        if not any(_covers(t, key) for t in tolerations if isinstance(t, dict)):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})
    spec["tolerations"] = tolerations


def _covers(toleration: dict, key: str) -> bool:
    # an empty key (with Exists) or an empty effect tolerates the taint already
    return toleration.get("key", "") in ("", key) and toleration.get("effect", "") in ("", "NoExecute")


def admit_priority(pod: dict, spec: dict, classes: dict[str, dict]) -> None:
    """The Priority admission plugin on a new pod (classes: name -> PriorityClass)."""
    name = spec.get("priorityClassName") or ""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    if name:
        pc = classes.get(name)
        if pc is None and name in SYSTEM_PRIORITY_CLASSES:  # before the bootstrap wrote them
            pc = {"value": SYSTEM_PRIORITY_CLASSES[name], "preemptionPolicy": "PreemptLowerPriority"}
        if pc is None:
            raise _pod_forbidden(pod_name, f"no PriorityClass with name {name} was found")
    else:
        pc = next((c for c in classes.values() if c.get("globalDefault") is True), None)
        if pc is not None:
            spec["priorityClassName"] = pc["metadata"]["name"]
    value = (pc or {}).get("value") or 0
    if spec.get("priority") is not None and spec["priority"] != value:
        raise _pod_forbidden(pod_name, f"the integer value of priority ({spec['priority']}) must not be provided in "
                                       f"pod spec; priority admission controller computed {value} from the given "
                                       "PriorityClass name")
    spec["priority"] = value
    if pc is None:
        return  # no class and no default: priority 0, the pod's own preemptionPolicy (defaulted)
    policy = pc.get("preemptionPolicy") or "PreemptLowerPriority"
    if spec.get("preemptionPolicy") is not None and spec["preemptionPolicy"] != policy:
        raise _pod_forbidden(pod_name, f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not "
                                       f"be provided in pod spec; priority admission controller computed {policy} "
                                       "from the given PriorityClass name")
    spec["preemptionPolicy"] = policy


def _pod_forbidden(pod_name: str, reason: str) -> errors.ApiError:
    return errors.Forbidden(f'pods "{pod_name}" is forbidden: {reason}', {"name": pod_name, "kind": "pods"})


def service_account_error(pod_name: str, namespace: str, account: str) -> errors.ApiError:
    return errors.Forbidden(
        f'pods "{pod_name}" is forbidden: error looking up service account {namespace}/{account}: '
        f'serviceaccount "{account}" not found',
        {"name": pod_name, "kind": "pods"})


class Admission:
    """The configured plugins; they read other objects from the watch cache."""

    def __init__(self, cache, *,
                 default_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS,
                 default_sa_wait: float = DEFAULT_SA_WAIT_SECONDS):
        self.cache = cache
        self.default_toleration_seconds = default_toleration_seconds
        self.default_sa_wait = default_sa_wait

    def mutate_create(self, rt: ResourceType, obj: dict) -> None:
        """Mutating plugins, run on a new object before defaulting."""
        spec = obj.get("spec")
        if rt.group == "" and rt.kind == "Pod" and isinstance(spec, dict):
            default_tolerations(spec, self.default_toleration_seconds)
            admit_priority(obj, spec, self._priority_classes())
        elif rt is PRIORITY_CLASSES and obj.get("globalDefault") is True:
            for other in self._priority_classes().values():
                if other.get("globalDefault") is True:
                    raise errors.Forbidden(
                        f'priorityclasses.scheduling.k8s.io "{(obj.get("metadata") or {}).get("name", "")}" is '
                        f'forbidden: PriorityClass {other["metadata"]["name"]} is already marked as default. '
                        'Only one default can exist', {"name": (obj.get("metadata") or {}).get("name", ""),
                                                        "group": "scheduling.k8s.io", "kind": "priorityclasses"})

    def _priority_classes(self) -> dict[str, dict]:
        prefix = PRIORITY_CLASSES.prefix()
        return {e.obj["metadata"]["name"]: e.obj for e in self.cache.list(prefix, prefix)}

    async def validate_create(self, rt: ResourceType, namespace: str, obj: dict) -> None:
        """Validating plugins, run on a new object after validation."""
        if rt.group == "" and rt.kind == "Pod":
            await self._service_account(namespace, obj)

    async def _service_account(self, namespace: str, pod: dict) -> None:
        md = pod.get("metadata") or {}
        if MIRROR_POD_ANNOTATION in (md.get("annotations") or {}):
            return
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        wait = self.default_sa_wait if account == "default" else 0.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not await self._exists(SERVICE_ACCOUNTS, namespace, account):
            if loop.time() >= deadline:
                raise service_account_error(md.get("name", ""), namespace, account)
            await asyncio.sleep(POLL_SECONDS)

    async def _exists(self, rt: ResourceType, namespace: str, name: str) -> bool:
        await self.cache.wait_fresh()
        return self.cache.get(rt.key(namespace, name)) is not None
