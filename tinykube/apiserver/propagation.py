"""Delete propagation: which garbage-collection finalizer a DELETE leaves on the object.

Kubernetes' generic registry (rest.BeforeDelete and the store's
deletionFinalizersForGarbageCollection) turns DeleteOptions into finalizers that the
garbage collector acts on:

- ``propagationPolicy: Orphan`` (or the legacy ``orphanDependents: true``) puts the
  ``orphan`` finalizer: the collector removes the object's ownerReference from every
  dependent, then the finalizer, and the object goes;
- ``Foreground`` puts ``foregroundDeletion``: the collector deletes the dependents first
  (those with ``blockOwnerDeletion`` hold the owner), then removes the finalizer;
- ``Background`` (kubectl's default) removes both: the object goes at once and the
  collector deletes the dependents afterwards.

With no policy, a finalizer already on the object decides, else the kind's default
(background for every kind tinykube serves: apps/v1 and batch/v1 no longer orphan).
An object that then carries any finalizer is only marked: deletionTimestamp now,
deletionGracePeriodSeconds 0.
"""

from __future__ import annotations

from tinykube.api import errors

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
GC_FINALIZERS = (ORPHAN, FOREGROUND)


def validate(policy: str | None, orphan_dependents: bool | None) -> None:
    """ValidateDeleteOptions: the legacy flag and the policy cannot be both set."""
    if policy is not None and orphan_dependents is not None:
        raise errors.invalid("DeleteOptions", "", [errors.Cause(
            errors.INVALID, "propagationPolicy",
            f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set')],
            "meta.k8s.io")


def should_orphan(finalizers: list[str], policy: str | None, orphan_dependents: bool | None) -> bool:
    if orphan_dependents is not None:
        return orphan_dependents
    if policy is not None:
        return policy == "Orphan"
    for finalizer in finalizers:  # the first GC finalizer already on the object wins
        if finalizer in GC_FINALIZERS:
            return finalizer == ORPHAN
    return False


def should_delete_dependents(finalizers: list[str], policy: str | None,
                             orphan_dependents: bool | None) -> bool:
    if orphan_dependents is not None:
        return False
    if policy is not None:
        return policy == "Foreground"
    for finalizer in finalizers:
        if finalizer in GC_FINALIZERS:
            return finalizer == FOREGROUND
    return False


def finalizers_for_delete(finalizers: list[str] | None, policy: str | None,
                          orphan_dependents: bool | None) -> list[str]:
    """The object's finalizers once the DELETE's propagation has been applied."""
    current = list(finalizers or [])
    validate(policy, orphan_dependents)
    orphan = should_orphan(current, policy, orphan_dependents)
    foreground = not orphan and should_delete_dependents(current, policy, orphan_dependents)
    wanted = ORPHAN if orphan else FOREGROUND if foreground else None
    # keep the order of what stays, so a repeated DELETE changes nothing
    kept = [f for f in current if f not in GC_FINALIZERS or f == wanted]
    if wanted and wanted not in kept:
        kept.append(wanted)
    return kept
