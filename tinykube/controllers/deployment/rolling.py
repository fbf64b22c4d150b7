"""RollingUpdate arithmetic: maxSurge / maxUnavailable and the scale plans of a rollout.

Translations of upstream's intstr.GetScaledValueFromIntOrPercent (percentages of
replicas: maxSurge rounds up, maxUnavailable rounds down), ResolveFenceposts (both 0
means maxUnavailable 1), NewRSNewReplicas, and the scale-down steps of
reconcileOldReplicaSets: first old ReplicaSets' unhealthy replicas
(cleanupUnhealthyReplicas), then available ones down to replicas - maxUnavailable
(scaleDownOldReplicaSetsForRollingUpdate). Every plan is a list of (ReplicaSet, new
spec.replicas), oldest ReplicaSet first; nothing here writes.
"""

from __future__ import annotations

import math

from tinykube.controllers.deployment.revisions import by_creation, replicas


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f"invalid value {value!r}: not an integer percentage") from None
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def is_rolling_update(deployment: dict) -> bool:
    return ((deployment.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def desired(deployment: dict) -> int:
    return (deployment.get("spec") or {}).get("replicas") or 0


def resolve_fenceposts(max_surge, max_unavailable, replicas_count: int) -> tuple[int, int]:
    surge = scaled_value(0 if max_surge is None else max_surge, replicas_count, round_up=True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, replicas_count, round_up=False)
    if surge == 0 and unavailable == 0:  # a rollout must be able to move
        unavailable = 1
    return surge, unavailable


def _fenceposts(deployment: dict) -> tuple[int, int]:
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), desired(deployment))


def max_surge(deployment: dict) -> int:
    return _fenceposts(deployment)[0] if is_rolling_update(deployment) else 0


def max_unavailable(deployment: dict) -> int:
    if not is_rolling_update(deployment) or desired(deployment) == 0:
        return 0
    return min(_fenceposts(deployment)[1], desired(deployment))


def total_replicas(rss: list[dict]) -> int:
    """GetReplicaCountForReplicaSets: the sum of spec.replicas."""
    return sum(replicas(rs) for rs in rss if rs)


def status_count(rss: list[dict], field: str) -> int:
    return sum(((rs.get("status") or {}).get(field) or 0) for rs in rss if rs)


def new_rs_new_replicas(deployment: dict, all_rss: list[dict], new_rs: dict) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may scale up now."""
    if not is_rolling_update(deployment):
        return desired(deployment)
    max_total = desired(deployment) + max_surge(deployment)
    current = total_replicas(all_rss)
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, desired(deployment) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def max_scaled_down(deployment: dict, all_rss: list[dict], new_rs: dict | None) -> int:
    """reconcileOldReplicaSets' budget: old replicas that may go now without dropping
    below replicas - maxUnavailable, counting the new ReplicaSet's unavailable pods."""
    min_available = desired(deployment) - max_unavailable(deployment)
    new_unavailable = replicas(new_rs) - ((new_rs or {}).get("status") or {}).get("availableReplicas", 0) \
        if new_rs else 0
    return total_replicas(all_rss) - min_available - new_unavailable


def cleanup_unhealthy_plan(old_rss: list[dict], budget: int) -> list[tuple[dict, int]]:
    """cleanupUnhealthyReplicas: scale down old ReplicaSets' unavailable replicas first."""
    plan, total = [], 0
    for rs in by_creation(old_rss):
        if total >= budget:
            break
        available = (rs.get("status") or {}).get("availableReplicas") or 0
        if replicas(rs) == 0 or replicas(rs) == available:
            continue
        count = min(budget - total, replicas(rs) - available)
        plan.append((rs, replicas(rs) - count))
        total += count
    return plan


def scale_down_old_plan(deployment: dict, all_rss: list[dict], old_rss: list[dict]) -> list[tuple[dict, int]]:
    """scaleDownOldReplicaSetsForRollingUpdate: available old replicas above
    replicas - maxUnavailable go, oldest ReplicaSet first."""
    min_available = desired(deployment) - max_unavailable(deployment)
    available = status_count(all_rss, "availableReplicas")
    if available <= min_available:
        return []
    plan, total, wanted = [], 0, available - min_available
    for rs in by_creation(old_rss):
        if total >= wanted:
            break
        if replicas(rs) == 0:
            continue
        count = min(replicas(rs), wanted - total)
        plan.append((rs, replicas(rs) - count))
        total += count
    return plan


def with_replicas(rs: dict, count: int) -> dict:
    """A shallow copy of rs with spec.replicas = count (for the next planning step)."""
    return dict(rs, spec=dict(rs.get("spec") or {}, replicas=count))
