"""Scaling a Deployment whose replicas changed (or that is paused): upstream's dc.scale.

With one active ReplicaSet (or none: the newest), it simply gets spec.replicas. When
the new ReplicaSet is saturated, old ones go to 0. Mid-rollout, the difference is
shared between the active ReplicaSets in proportion to their size (read from the
max-replicas annotation), the leftover to the largest: so a rollout in progress keeps
its new/old ratio. `scale_plan` returns [(ReplicaSet, new spec.replicas)], and
`is_scaling_event` says whether a sync is only a scale.
"""

from __future__ import annotations

import functools

from tinykube.controllers.deployment import revisions, rolling
from tinykube.controllers.deployment.revisions import creation_key, replicas


def find_active_or_latest(new_rs: dict | None, old_rss: list[dict]) -> dict | None:
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=creation_key, reverse=True)
    active = [rs for rs in [*newest_first, new_rs] if rs and revisions.is_active(rs)]
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def is_saturated(deployment: dict, rs: dict | None) -> bool:
    if rs is None:
        return False
    want = rolling.desired(deployment)
    return (replicas(rs) == want and revisions.desired_replicas_annotation(rs) == want
            and ((rs.get("status") or {}).get("availableReplicas") or 0) == want)


def is_scaling_event(deployment: dict, rss: list[dict]) -> bool:
    """An active ReplicaSet annotated with another desired count: the user scaled."""
    want = rolling.desired(deployment)
    for rs in rss:
        if revisions.is_active(rs):
            annotated = revisions.desired_replicas_annotation(rs)
            if annotated is not None and annotated != want:
                return True
    return False


def _fraction(rs: dict, deployment: dict) -> int:
    """getReplicaSetFraction: rs's share of the new total, minus what it has."""
    if rolling.desired(deployment) == 0:
        return -replicas(rs)
    allowed = rolling.desired(deployment) + rolling.max_surge(deployment)
    annotated = revisions.max_replicas_annotation(rs)
    if annotated is None:
        annotated = (deployment.get("status") or {}).get("replicas") or 0
    if annotated == 0:
        return 0
    size = replicas(rs) * allowed / annotated
    return _round_half_away(size) - replicas(rs)


def _round_half_away(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _proportion(rs: dict, deployment: dict, to_add: int, added: int) -> int:
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction, allowed = _fraction(rs, deployment), to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _by_size(newer_first: bool):
    """ReplicaSetsBySizeNewer / BySizeOlder: larger first; ties newer (or older) first."""
    def compare(a: dict, b: dict) -> int:
        if replicas(a) != replicas(b):
            return replicas(b) - replicas(a)
        ka, kb = creation_key(a), creation_key(b)
        order = (ka > kb) - (ka < kb)
        return -order if newer_first else order
    return functools.cmp_to_key(compare)


def scale_plan(deployment: dict, new_rs: dict | None, old_rss: list[dict]) -> list[tuple[dict, int]]:
    """dc.scale: the ReplicaSets to resize. Every entry is written (the annotations are
    refreshed even when the size stays), except in the single-ReplicaSet case."""
    want = rolling.desired(deployment)
    single = find_active_or_latest(new_rs, old_rss)
    if single is not None:
        return [] if replicas(single) == want else [(single, want)]
    if is_saturated(deployment, new_rs):
        return [(rs, 0) for rs in old_rss if revisions.is_active(rs)]
    if not rolling.is_rolling_update(deployment):
        return []
    active = [rs for rs in [*old_rss, new_rs] if rs and revisions.is_active(rs)]
    allowed = want + rolling.max_surge(deployment) if want > 0 else 0
    to_add = allowed - rolling.total_replicas(active)
    if to_add > 0:
        active.sort(key=_by_size(newer_first=True))
    elif to_add < 0:
        active.sort(key=_by_size(newer_first=False))
    sizes, added = [], 0
    for rs in active:
        share = _proportion(rs, deployment, to_add, added) if to_add else 0
        sizes.append(replicas(rs) + share)
        added += share
    if active and to_add:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return list(zip(active, sizes))
