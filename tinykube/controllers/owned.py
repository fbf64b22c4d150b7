"""Small pure helpers the Job, CronJob, DaemonSet and StatefulSet controllers share.

Owner references (client-go's controller ref), pods made from a template, pod states
(active, ready, available, finished), status counts' omitempty and metav1.Time in and
out work on plain dicts and never write. The two writing steps these controllers share:
`claim_pods` (adopt and release) and `write_status` (only when the status changed).
"""

from __future__ import annotations

from tinykube.api import errors, selectors
# one definition each, shared with the ReplicaSet/Deployment controllers' helpers;
# re-exported here under the names these controllers use
from tinykube.controllers.podutil import (TIME_FORMAT, controller_of, controller_ref,
                                          format_time, omit_zero, parse_time)
from tinykube.controllers.podutil import is_pod_active as is_active
from tinykube.controllers.podutil import is_pod_available as is_available
from tinykube.controllers.podutil import is_pod_ready as is_ready
from tinykube.controllers.podutil import pod_condition as condition
from tinykube.util import jsonutil

__all__ = ["TIME_FORMAT", "claim_pods", "condition", "controller_of", "controller_ref", "format_time",
           "is_active", "is_available", "is_finished", "is_ready", "is_running_and_ready",
           "is_terminating", "omit_zero", "owned_by", "parse_time", "pod_from_template", "selecting",
           "selector_matches", "write_status"]

# --- owners ----------------------------------------------------------------------------


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





def is_running_and_ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)



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


async def write_status(client, resource, obj: dict, status: dict) -> None:
    """Update obj's status subresource when status differs from what obj has. A conflict is
    left alone: the newer object's event syncs again."""
    if status == (obj.get("status") or {}):
        return
    try:
        await client.update_status(resource, dict(obj, status=status))
    except errors.Conflict:
        pass
