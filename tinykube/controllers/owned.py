"""Small pure helpers the Job, CronJob, DaemonSet and StatefulSet controllers share.

Owner references (client-go's controller ref), pods made from a template, pod states
(active, ready, available, finished) and metav1.Time in and out. Everything here works
on plain dicts and never writes.
"""

from __future__ import annotations

import datetime

from tinykube.api import selectors
from tinykube.util import jsonutil

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# --- time ------------------------------------------------------------------------------


def format_time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- owners ----------------------------------------------------------------------------


def controller_ref(owner: dict) -> dict:
    """The ownerReference a controller puts on what it creates (controller and
    blockOwnerDeletion true, so foreground deletion waits for the dependents)."""
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: dict) -> dict | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj: dict, owner: dict) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def selector_matches(owner: dict, obj: dict) -> bool:
    selector = selectors.label_selector_from_dict((owner.get("spec") or {}).get("selector") or {})
    return selector.matches((obj.get("metadata") or {}).get("labels") or {})


def selecting(store, obj: dict) -> list[dict]:
    """The owners in an informer store, in obj's namespace, whose selector matches obj."""
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    return [o for o in store.by_index("namespace", namespace) if (o.get("spec") or {}).get("selector")
            and selector_matches(o, obj)]


# --- pods ------------------------------------------------------------------------------


def pod_from_template(template: dict, owner: dict, *, name: str = "", generate_name: str = "") -> dict:
    """A new pod from a pod template, owned by owner (the template is copied)."""
    template = jsonutil.deep_copy(template or {})
    tmeta = template.get("metadata") or {}
    md = {"labels": dict(tmeta.get("labels") or {}), "ownerReferences": [controller_ref(owner)]}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name
    md["namespace"] = owner["metadata"].get("namespace", "")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_finished(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: dict) -> bool:
    """Neither finished nor being deleted (upstream's IsPodActive)."""
    return not is_finished(pod) and not is_terminating(pod)


def condition(obj: dict, type_: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def is_ready(pod: dict) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_running_and_ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def is_available(pod: dict, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least minReadySeconds (upstream's IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


async def claim_pods(client, owner: dict, owner_resource, candidates: list[dict],
                     member=lambda pod: True) -> list[dict]:
    """Upstream's ClaimPods: the pods owner controls, after adopting orphans that match its
    selector (and `member`) and releasing its pods that stopped matching."""
    from tinykube.controllers import podutil

    selector = podutil.selector_of(owner)
    md = owner["metadata"]

    async def can_adopt() -> None:
        fresh = await client.get(owner_resource, md["name"], namespace=md.get("namespace", ""))
        podutil.recheck_owner(fresh, owner)

    def matches(pod: dict) -> bool:
        return selector.matches((pod.get("metadata") or {}).get("labels") or {}) and member(pod)

    return await podutil.claim(client, ("v1", "Pod"), owner, candidates, matches, can_adopt)
