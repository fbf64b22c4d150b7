"""pods/eviction: delete a pod only if its PodDisruptionBudget allows it (what `kubectl drain` uses).

Upstream's EvictionREST (pkg/registry/core/pod/storage/eviction.go, 1.32), in two parts:

* pure decisions over plain dicts -- `eviction_options` (the body's checks, dry-run and
  DeleteOptions), `can_ignore_pdb` (terminal, Pending or terminating pods go without a
  look at budgets), `covering_pdbs` (budgets whose non-empty selector matches the pod),
  `unhealthy_pod_may_go` (a not-ready pod under AlwaysAllow, or under IfHealthyBudget
  while the budget is met), `check_and_decrement` (429 unless status.disruptionsAllowed
  > 0 and the status is current; else the new status with the pod in disruptedPods) and
  `with_disruption_target` (the pod condition the eviction leaves);
* a thin shell, `evict`, that reads the pod and the budgets through Resources and writes:
  the budget's status (compare-and-swap on its resourceVersion, re-read and retried on a
  conflict), then the pod's DisruptionTarget condition, then the delete.

Dry run checks everything and writes nothing. Success is 201 with a Status (Success).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tinykube.api import errors
from tinykube.api import selectors as sel
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import meta
from tinykube.apiserver.resources import DeleteOptions, Resources, WriteContext
from tinykube.util import jsonutil

PODS = REGISTRY.by_plural("", "v1", "pods")
PDBS = REGISTRY.by_plural("policy", "v1", "poddisruptionbudgets")
EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")  # AcceptsGroupVersion
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"  # policyv1.DisruptionBudgetCause
# More entries than this in status.disruptedPods means the disruption controller has not
# caught up with the evictions approved already: refuse until it has.
MAX_DISRUPTED_POD_SIZE = 2000
# upstream EvictionsRetry: 20 steps (500 ms apart there; here a conflict re-reads at once,
# the watch cache being the source of the retry's read)
EVICTION_RETRIES = 20
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


# === pure decisions ========================================================================


@dataclass(frozen=True)
class EvictionRequest:
    options: DeleteOptions  # the pod's deletion
    dry_run: bool


def eviction_request(name: str, eviction: dict, query_dry_run: bool) -> EvictionRequest:
    """The Eviction body checked, and the DeleteOptions its deletion uses.

    dryRun may come from the request (?dryRun=All) or the body's deleteOptions; either
    makes the whole eviction a dry run (upstream's propagateDryRun).
    """
    api_version, kind = eviction.get("apiVersion"), eviction.get("kind")
    if (api_version or kind) and (api_version not in EVICTION_VERSIONS or kind != "Eviction"):
        raise errors.BadRequest(f"the API version in the data ({api_version}) does not match the expected "
                                f"API version (policy/v1) or kind ({kind}) is not Eviction")
    if (eviction.get("metadata") or {}).get("name") != name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    options = eviction.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise errors.BadRequest("deleteOptions must be an object")
    dry_run = options.get("dryRun") or []
    if any(value != "All" for value in dry_run):
        raise errors.BadRequest(f'Invalid value: "{dry_run[0]}": supported values: "All"')
    grace = options.get("gracePeriodSeconds")
    delete = DeleteOptions(grace_period_seconds=grace if isinstance(grace, int) else None,
                           propagation_policy=options.get("propagationPolicy"),
                           preconditions=dict(options.get("preconditions") or {}),
                           orphan_dependents=options.get("orphanDependents"))
    return EvictionRequest(delete, query_dry_run or bool(dry_run))


def can_ignore_pdb(pod: dict) -> bool:
    """A pod that already stopped, never started or is going anyway costs no disruption."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def should_enforce_resource_version(pod: dict) -> bool:
    """Pin the delete to the pod we looked at, so it cannot turn Ready in between."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def is_pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def covering_pdbs(pod: dict, pdbs: list[dict]) -> list[dict]:
    """The budgets of the pod's namespace whose selector matches it.

    A nil or empty selector matches nothing here (unlike elsewhere in policy/v1), and a
    selector that does not parse matches nothing either.
    """
    namespace = pod["metadata"].get("namespace")
    labels = pod["metadata"].get("labels") or {}
    return [pdb for pdb in pdbs
            if pdb["metadata"].get("namespace") == namespace and _selects(pdb, labels)]


def _selects(pdb: dict, labels: dict) -> bool:
    try:
        selector = sel.label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
    except errors.ApiError:
        return False
    return not selector.empty and selector.matches(labels)


def unhealthy_pod_may_go(pod: dict, pdb: dict) -> bool:
    """A not-ready pod does not count as healthy: it may go without spending the budget
    under AlwaysAllow, or under IfHealthyBudget (the default) while the budget is met."""
    if is_pod_ready(pod):
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = status.get("desiredHealthy") or 0
    return (status.get("currentHealthy") or 0) >= desired > 0


def still_processing(pdb_name: str) -> errors.TooManyRequests:
    return errors.TooManyRequests(VIOLATION, {"causes": [{
        "reason": DISRUPTION_BUDGET_CAUSE,
        "message": f"The disruption budget {pdb_name} is still being processed by the server."}],
        "retryAfterSeconds": 10}, headers={"Retry-After": "10"})


def check_and_decrement(pdb: dict, pod_name: str, now: str) -> dict:
    """The budget's new status after one more disruption, or the ApiError refusing it."""
    name, status = pdb["metadata"]["name"], dict(pdb.get("status") or {})
    if (status.get("observedGeneration") or 0) < (pdb["metadata"].get("generation") or 0):
        raise still_processing(name)
    allowed = status.get("disruptionsAllowed") or 0
    if allowed < 0:
        raise _forbidden(name, "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise _forbidden(name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
    if allowed == 0:
        raise errors.TooManyRequests(VIOLATION, {"causes": [{
            "reason": DISRUPTION_BUDGET_CAUSE,
            "message": f"The disruption budget {name} needs {status.get('desiredHealthy') or 0} healthy pods "
                       f"and has {status.get('currentHealthy') or 0} currently"}]})
    status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        status["conditions"] = _disruption_allowed_false(status, now)
    status["disruptedPods"] = {**(status.get("disruptedPods") or {}), pod_name: now}
    return status


def _forbidden(name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: {why}',
                            {"name": name, "group": "policy", "kind": "poddisruptionbudget"})


def _disruption_allowed_false(status: dict, now: str) -> list[dict]:
    """UpdateDisruptionAllowedCondition at zero: DisruptionAllowed=False, InsufficientPods
    (the transition time moves only when the status does, as SetStatusCondition)."""
    conditions = [dict(c) for c in status.get("conditions") or []]
    current = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    if current is None:
        current = {"type": "DisruptionAllowed", "lastTransitionTime": now}
        conditions.append(current)
    elif current.get("status") != "False":
        current["lastTransitionTime"] = now
    current.update(status="False", reason="InsufficientPods", message=current.get("message") or "",
                   observedGeneration=status.get("observedGeneration") or 0)
    return conditions


def with_disruption_target(pod: dict, now: str) -> dict:
    """The pod with DisruptionTarget=True (EvictionByEvictionAPI), as UpdatePodCondition
    sets it: the transition time stays when the status does not change."""
    pod = jsonutil.deep_copy(pod)
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    current = next((c for c in conditions if c.get("type") == "DisruptionTarget"), None)
    if current is None:
        current = {"type": "DisruptionTarget", "lastProbeTime": None}
        conditions.append(current)
    if current.get("status") != "True" or not current.get("lastTransitionTime"):
        current["lastTransitionTime"] = now
    current.update(status="True", reason="EvictionByEvictionAPI", message="Eviction API: evicting")
    return pod


def check_preconditions(pod: dict, options: DeleteOptions) -> None:
    """The Eviction's preconditions against the pod read (a Conflict as the delete's)."""
    md, pre = pod["metadata"], options.preconditions
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise errors.conflict("pods", md["name"], f"Precondition failed: UID in precondition: {pre['uid']}, "
                              f"UID in object meta: {md.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise errors.conflict("pods", md["name"], "Precondition failed: ResourceVersion in precondition: "
                              f"{pre['resourceVersion']}, ResourceVersion in object meta: {md.get('resourceVersion')}")


def pinned_to(options: DeleteOptions, resource_version: str) -> DeleteOptions:
    return replace(options, preconditions={**options.preconditions, "resourceVersion": resource_version})


# === the shell ============================================================================


async def evict(resources: Resources, namespace: str, name: str, eviction: dict,
                ctx: WriteContext) -> dict:
    """POST pods/NAME/eviction. Returns the Status to answer with (201)."""
    request = eviction_request(name, eviction, ctx.dry_run)
    options = request.options
    internal = WriteContext(user=ctx.user, dry_run=request.dry_run, field_manager=ctx.field_manager,
                            field_validation="Ignore")
    client_pinned = bool(options.preconditions.get("resourceVersion"))
    for _ in range(1 if client_pinned else EVICTION_RETRIES):
        pod = _copy(await resources.get(PODS, namespace, name))
        if not can_ignore_pdb(pod):
            break
        pinned = options
        if should_enforce_resource_version(pod) and not client_pinned:
            pinned = pinned_to(options, pod["metadata"]["resourceVersion"])
        try:
            await _add_condition_and_delete(resources, pod, pinned, internal)
            return SUCCESS
        except errors.Conflict:
            if client_pinned:
                raise
    else:
        raise errors.conflict("pods", name, "too many concurrent updates, try again")
    return await _evict_covered(resources, pod, options, internal)


async def _evict_covered(resources: Resources, pod: dict, options: DeleteOptions,
                         ctx: WriteContext) -> dict:
    namespace = pod["metadata"]["namespace"]
    page = await resources.list(PDBS, namespace)
    pdbs = covering_pdbs(pod, [_copy(e) for e in page.entries])
    if len(pdbs) > 1:
        raise errors.InternalError("This pod has more than one PodDisruptionBudget, which the eviction "
                                   "subresource does not support.")
    if not pdbs:
        await _add_condition_and_delete(resources, pod, options, ctx)
        return SUCCESS
    pdb = pdbs[0]
    if unhealthy_pod_may_go(pod, pdb):
        # pinned to the pod read: had it turned Ready since, the client is asked to retry
        try:
            await _add_condition_and_delete(resources, pod, _pin_unless_pinned(options, pod), ctx)
        except errors.Conflict:
            if options.preconditions.get("resourceVersion"):
                raise
            raise still_processing(pdb["metadata"]["name"]) from None
        return SUCCESS
    await _spend_budget(resources, pdb, pod["metadata"]["name"], ctx)
    await _add_condition_and_delete(resources, pod, options, ctx)
    return SUCCESS


def _pin_unless_pinned(options: DeleteOptions, pod: dict) -> DeleteOptions:
    if options.preconditions.get("resourceVersion"):
        return options
    return pinned_to(options, pod["metadata"]["resourceVersion"])


async def _spend_budget(resources: Resources, pdb: dict, pod_name: str, ctx: WriteContext) -> None:
    """Verify and decrement disruptionsAllowed with compare-and-swap; a conflict re-reads."""
    namespace, name = pdb["metadata"]["namespace"], pdb["metadata"]["name"]
    for attempt in range(EVICTION_RETRIES):
        if attempt:
            pdb = _copy(await resources.get(PDBS, namespace, name))
        pdb["status"] = check_and_decrement(pdb, pod_name, meta.now_rfc3339())
        if ctx.dry_run:
            return
        try:
            await resources.update(PDBS, namespace, name, pdb, ctx, "status")
            return
        except errors.Conflict:
            continue
    raise errors.ApiError(f'couldn\'t update PodDisruptionBudget "{name}" due to conflicts',
                          {"retryAfterSeconds": 10}, 504, "Timeout", {"Retry-After": "10"})


async def _add_condition_and_delete(resources: Resources, pod: dict, options: DeleteOptions,
                                    ctx: WriteContext) -> None:
    """DisruptionTarget on the pod's status, then the delete (a dry run writes neither).

    The condition goes on the latest pod (re-read on a conflict), unless the options pin a
    resourceVersion: then a pod changed since is a Conflict, as upstream's getLatestPod."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    for attempt in range(EVICTION_RETRIES if not ctx.dry_run else 0):
        if attempt:
            pod = _copy(await resources.get(PODS, namespace, name))
        check_preconditions(pod, options)
        marked = with_disruption_target(pod, meta.now_rfc3339())
        if marked == pod:
            break
        try:
            updated, _ = await resources.update(PODS, namespace, name, marked, ctx, "status")
        except errors.Conflict:
            continue
        if options.preconditions.get("resourceVersion"):
            # our own write moved the resourceVersion the delete is pinned to
            options = pinned_to(options, updated["metadata"]["resourceVersion"])
        break
    await resources.delete(PODS, namespace, name, options, ctx)


def _copy(entry) -> dict:
    obj = jsonutil.deep_copy(entry.obj)
    obj["metadata"]["resourceVersion"] = str(entry.rev)
    return obj
