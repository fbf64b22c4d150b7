"""Completion indexes of Indexed Jobs: the pod's index and the interval lists of status.

Upstream writes completedIndexes and failedIndexes as ordered, compressed intervals
("1,3-5,7"); a pod carries its index in the batch.kubernetes.io/job-completion-index
annotation (and label), and how often its index failed before in
batch.kubernetes.io/job-index-failure-count.
"""

from __future__ import annotations

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
FAILURE_COUNT_KEY = "batch.kubernetes.io/job-index-failure-count"
IGNORED_FAILURE_COUNT_KEY = "batch.kubernetes.io/job-index-ignored-failure-count"


def pod_index(pod: dict) -> int | None:
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(INDEX_KEY) or (md.get("labels") or {}).get(INDEX_KEY)
    try:
        index = int(raw)
    except (TypeError, ValueError):
        return None
    return index if index >= 0 else None


def pod_failure_count(pod: dict) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(FAILURE_COUNT_KEY)
    try:
        return max(0, int(raw))
    except (TypeError, ValueError):
        return 0


def parse_intervals(text: str | None, limit: int) -> set[int]:
    """"1,3-5" -> {1, 3, 4, 5}; indexes at or above limit (completions) are dropped."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            continue
        out.update(range(max(low, 0), min(high, limit - 1) + 1))
    return out


def format_intervals(indexes: set[int] | list[int]) -> str:
    """{1, 3, 4, 5} -> "1,3-5" (the ordered, compressed form upstream writes)."""
    parts, ordered = [], sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
