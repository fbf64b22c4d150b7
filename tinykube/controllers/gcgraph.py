"""The garbage collector's decisions, as pure functions over one object and its owners.

Kubernetes' garbage collector (attemptToDeleteItem, processDeletingDependentsItem,
orphanDependents) decides from what it observed:

- an owner reference is *solid* when the owner exists with that uid, *dangling* when
  it does not (or a new object has its name: uid mismatch), *waiting* when the owner
  is being deleted in the foreground (deletionTimestamp + ``foregroundDeletion``);
- a dependent with a solid owner stays, minus its dangling and waiting references;
- one whose owners are all gone is deleted: in the foreground when an owner waits for
  it and it has dependents of its own, else as its own finalizers ask (orphan,
  foreground) or in the background;
- an owner deleted with ``orphan`` first loses its references from the dependents,
  then the finalizer; one deleted in the ``foregroundDeletion`` mode keeps the
  finalizer until no dependent that blocks it (blockOwnerDeletion) is left.

The controller (garbagecollector.py) gathers the inputs from its informers (confirming
an absent owner with a live GET, as upstream does) and applies the decisions.
"""

from __future__ import annotations

import dataclasses
import enum

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


class OwnerState(enum.Enum):
    SOLID = "solid"
    DANGLING = "dangling"
    WAITING = "waiting"  # the owner waits for its dependents' deletion (foreground)
    UNKNOWN = "unknown"  # a kind the API does not serve: never acted on


@dataclasses.dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    block_owner_deletion: bool = False


def owner_refs(obj: dict) -> list[OwnerRef]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return [OwnerRef(r.get("apiVersion", ""), r.get("kind", ""), r.get("name", ""), r.get("uid", ""),
                     bool(r.get("blockOwnerDeletion"))) for r in refs if isinstance(r, dict)]


def finalizers(obj: dict) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or ())


def is_being_deleted(obj: dict) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_deleting_dependents(obj: dict) -> bool:
    return is_being_deleted(obj) and FOREGROUND in finalizers(obj)


def is_orphaning(obj: dict) -> bool:
    return is_being_deleted(obj) and ORPHAN in finalizers(obj)


def owner_state(ref: OwnerRef, owner: dict | None) -> OwnerState:
    """The state of one reference, given the owner found under its kind and name."""
    if owner is None or (owner.get("metadata") or {}).get("uid") != ref.uid:
        return OwnerState.DANGLING
    return OwnerState.WAITING if is_deleting_dependents(owner) else OwnerState.SOLID


# --- decisions ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Keep:
    """Nothing to do."""


@dataclasses.dataclass(frozen=True)
class RemoveOwnerRefs:
    """Patch the object: drop the references to these owner uids."""
    uids: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Delete:
    """Delete the object (uid precondition) with this propagation policy."""
    policy: str


@dataclasses.dataclass(frozen=True)
class RemoveFinalizer:
    finalizer: str


Decision = Keep | RemoveOwnerRefs | Delete | RemoveFinalizer


def decide_dependent(obj: dict, states: dict[str, OwnerState], *, has_dependents: bool) -> Decision:
    """attemptToDeleteItem for an object not being deleted; states: owner uid -> state."""
    if not states or OwnerState.UNKNOWN in states.values():
        return Keep()
    solid = [uid for uid, s in states.items() if s is OwnerState.SOLID]
    waiting = [uid for uid, s in states.items() if s is OwnerState.WAITING]
    if solid:
        gone = frozenset(uid for uid, s in states.items() if s is not OwnerState.SOLID)
        return RemoveOwnerRefs(gone) if gone else Keep()
    if waiting and has_dependents:
        return Delete("Foreground")
    present = finalizers(obj)
    if ORPHAN in present:
        return Delete("Orphan")
    if FOREGROUND in present:
        return Delete("Foreground")
    return Delete("Background")


def blocking_dependents(owner: dict, dependents: list[dict]) -> list[dict]:
    """Dependents whose reference to owner has blockOwnerDeletion: they hold its deletion."""
    uid = owner["metadata"].get("uid")
    return [d for d in dependents if any(r.uid == uid and r.block_owner_deletion for r in owner_refs(d))]


def decide_deleting_dependents(owner: dict, dependents: list[dict]) -> Decision:
    """processDeletingDependentsItem: the finalizer goes once nothing blocks the owner."""
    return Keep() if blocking_dependents(owner, dependents) else RemoveFinalizer(FOREGROUND)


def remaining_refs(obj: dict, uids: frozenset[str]) -> list[dict]:
    """The object's ownerReferences without those to these uids (as stored, unchanged)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if not (isinstance(r, dict) and r.get("uid") in uids)]


def without_finalizer(obj: dict, finalizer: str) -> list[str]:
    return [f for f in finalizers(obj) if f != finalizer]
