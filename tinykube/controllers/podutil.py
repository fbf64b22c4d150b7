"""Pod and owner helpers for the ReplicaSet and Deployment controllers (and anyone).

Pure functions on plain dicts, in upstream's words: pod states (IsPodActive,
IsPodReady, IsPodAvailable), metav1.Time in and out, controller references and the
ControllerRefManager's claim decision (adopt an orphan that matches, release an owned
object that no longer matches), the adopt/release patches, and pods made from a
template (controller.GetPodFromTemplate). `claim` is the one async shell here: it
sends the adopt/release patches the decisions ask for.
"""

from __future__ import annotations

import datetime
import enum
from typing import Awaitable, Callable

from tinykube.api import errors
from tinykube.api import selectors
from tinykube.util import jsonutil

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# --- metav1.Time ----------------------------------------------------------------------


def format_time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- pods -----------------------------------------------------------------------------


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def is_pod_active(pod: dict) -> bool:
    """Upstream's IsPodActive: not Succeeded or Failed, and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def pod_condition(pod: dict, type_: str) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def is_pod_ready(pod: dict) -> bool:
    c = pod_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def pod_ready_time(pod: dict) -> datetime.datetime | None:
    """When the pod became Ready (its Ready condition's lastTransitionTime), if it is."""
    if not is_pod_ready(pod):
        return None
    return parse_time(pod_condition(pod, "Ready").get("lastTransitionTime"))


def is_pod_available(pod: dict, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Upstream's IsPodAvailable: Ready for at least minReadySeconds."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = pod_ready_time(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


def omit_zero(status: dict, *fields: str) -> dict:
    """The Go types' omitempty on status counts: the named fields are left out when zero."""
    for name in fields:
        if not status.get(name):
            status.pop(name, None)
    return status


def pod_from_template(template: dict, owner: dict, *, generate_name: str) -> dict:
    """controller.GetPodFromTemplate: labels, annotations and finalizers of the template,
    its spec, and a controller reference to owner. The template is copied."""
    template = jsonutil.deep_copy(template or {})
    tmeta = template.get("metadata") or {}
    if not tmeta.get("labels"):
        raise errors.Invalid("unable to create pods, no labels")
    md = {"generateName": generate_name, "namespace": meta(owner).get("namespace", ""),
          "labels": dict(tmeta["labels"]), "ownerReferences": [controller_ref(owner)]}
    for field in ("annotations", "finalizers"):
        if tmeta.get(field):
            md[field] = tmeta[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}


def pods_prefix(controller_name: str) -> str:
    """getPodsPrefix: "<name>-" (a generateName longer than allowed is cut by the server)."""
    return f"{controller_name}-"


# --- owners ---------------------------------------------------------------------------


def controller_ref(owner: dict) -> dict:
    """metav1.NewControllerRef: controller and blockOwnerDeletion both true."""
    md = meta(owner)
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: dict) -> dict | None:
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def selector_of(owner: dict) -> selectors.LabelSelector:
    """The owner's spec.selector; a malformed one selects nothing."""
    try:
        return selectors.label_selector_from_dict((owner.get("spec") or {}).get("selector"))
    except errors.ApiError:
        return selectors.LabelSelector.nothing()


class Claim(enum.Enum):
    OURS = "ours"          # owned by owner and matching: keep
    ADOPT = "adopt"        # an orphan that matches: patch in our controller ref
    RELEASE = "release"    # ours but no longer matching: patch our ref out
    IGNORE = "ignore"      # someone else's, or nothing to do


def claim_decision(owner: dict, obj: dict, matches: bool) -> Claim:
    """ControllerRefManager.ClaimObject's decision, without the writes."""
    ref = controller_of(obj)
    owner_deleting = bool(meta(owner).get("deletionTimestamp"))
    if ref is not None:
        if ref.get("uid") != meta(owner).get("uid"):
            return Claim.IGNORE
        if matches:
            return Claim.OURS
        return Claim.IGNORE if owner_deleting else Claim.RELEASE
    if owner_deleting or not matches or meta(obj).get("deletionTimestamp"):
        return Claim.IGNORE
    if meta(owner).get("namespace") and meta(owner).get("namespace") != meta(obj).get("namespace"):
        return Claim.IGNORE
    return Claim.ADOPT


def adopt_patch(owner: dict, obj: dict) -> dict:
    """The strategic merge patch that adds owner's controller ref to obj (uid-pinned)."""
    return {"metadata": {"ownerReferences": [controller_ref(owner)], "uid": meta(obj).get("uid")}}


def release_patch(owner: dict, obj: dict) -> dict:
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": meta(owner).get("uid")}],
                         "uid": meta(obj).get("uid")}}


async def claim(client, resource, owner: dict, objs: list[dict], matches: Callable[[dict], bool],
                can_adopt: Callable[[], Awaitable[None]]) -> list[dict]:
    """ClaimPods / ClaimReplicaSets: the objects owner controls after adopting matching
    orphans and releasing owned ones that stopped matching. `can_adopt` raises when the
    owner may not adopt (it was deleted or replaced since the cache saw it); it runs at
    most once, before the first adoption."""
    claimed, checked = [], False
    for obj in objs:
        decision = claim_decision(owner, obj, matches(obj))
        if decision is Claim.OURS:
            claimed.append(obj)
        elif decision is Claim.ADOPT:
            if not checked:
                await can_adopt()
                checked = True
            if await _patch_ignoring_not_found(client, resource, obj, adopt_patch(owner, obj)):
                claimed.append(obj)
        elif decision is Claim.RELEASE:
            await _patch_ignoring_not_found(client, resource, obj, release_patch(owner, obj))
    return claimed


async def _patch_ignoring_not_found(client, resource, obj: dict, patch: dict) -> bool:
    try:
        await client.patch(resource, meta(obj)["name"], patch, namespace=meta(obj).get("namespace", ""),
                           patch_type="strategic")
        return True
    except errors.NotFound:  # gone meanwhile: nothing to adopt or release
        return False


def recheck_owner(fresh: dict, cached: dict) -> None:
    """RecheckDeletionTimestamp + uid check of canAdopt: raise if the owner read fresh
    from the server is not the cached one, or is being deleted."""
    md, cmd = meta(fresh), meta(cached)
    if md.get("uid") != cmd.get("uid"):
        raise errors.Conflict(f"original {cmd.get('namespace')}/{cmd.get('name')} is gone: got uid "
                              f"{md.get('uid')}, wanted {cmd.get('uid')}")
    if md.get("deletionTimestamp"):
        raise errors.Conflict(f"{md.get('namespace')}/{md.get('name')} has just been deleted at "
                              f"{md['deletionTimestamp']}")
