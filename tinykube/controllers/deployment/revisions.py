"""ReplicaSets of a Deployment: which is new, which are old, their names and revisions.

- `compute_hash`: controller.ComputeHash — fnv32a over the pod template and the
  Deployment's collisionCount (as 8 little-endian bytes), its decimal digits mapped
  through apimachinery's SafeEncodeString alphabet. Upstream hashes Go's spew dump of
  the struct; tinykube hashes the template's canonical JSON (sorted keys), so names
  are stable for a template but not byte-identical to a real cluster's.
- the new ReplicaSet is the oldest whose template equals the Deployment's, ignoring the
  pod-template-hash label (EqualIgnoreHash); every other one is old.
- annotations as upstream's deployment util: revision (max old + 1), revision-history
  when an old ReplicaSet becomes new again (a rollback), desired-replicas and
  max-replicas, and the Deployment's own annotations copied over (minus the skipped ones).
"""

from __future__ import annotations

import json

from tinykube.controllers import podutil
from tinykube.util import jsonutil

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                 ROLLBACK_TO})
MAX_REV_HISTORY_LENGTH = 2000  # characters of revision-history kept

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: no words in names
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def fnv32a(data: bytes, h: int = _FNV_OFFSET) -> int:
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString."""
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in s)


def compute_hash(template: dict, collision_count: int | None) -> str:
    h = fnv32a(json.dumps(template, sort_keys=True, separators=(",", ":")).encode())
    if collision_count is not None:
        h = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4), h)
    return safe_encode(str(h))


# --- new and old ---------------------------------------------------------------------------


def _without_hash(template: dict) -> dict:
    template = jsonutil.deep_copy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
        if not labels:
            del template["metadata"]["labels"]
    return template


def equal_ignore_hash(a: dict, b: dict) -> bool:
    return _without_hash(a) == _without_hash(b)


def creation_key(rs: dict) -> tuple:
    """ReplicaSetsByCreationTimestamp: oldest first, then by name."""
    md = podutil.meta(rs)
    return (md.get("creationTimestamp") or "", md.get("name", ""))


def by_creation(rss: list[dict]) -> list[dict]:
    return sorted(rss, key=creation_key)


def find_new_rs(deployment: dict, rss: list[dict]) -> dict | None:
    """The oldest ReplicaSet whose template is the Deployment's (several can match
    after a hash collision; the oldest wins, as upstream)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def find_old_rss(deployment: dict, rss: list[dict]) -> list[dict]:
    new = find_new_rs(deployment, rss)
    return [rs for rs in rss if rs is not new]


def replicas(rs: dict | None) -> int:
    return ((rs or {}).get("spec") or {}).get("replicas") or 0


def is_active(rs: dict) -> bool:
    """FilterActiveReplicaSets: spec.replicas > 0."""
    return replicas(rs) > 0


def revision(rs: dict) -> int:
    value = (podutil.meta(rs).get("annotations") or {}).get(REVISION, "")
    try:
        return int(value)
    except ValueError:
        return 0


def max_revision(rss: list[dict]) -> int:
    return max((revision(rs) for rs in rss), default=0)


# --- annotations -----------------------------------------------------------------------------


def copy_deployment_annotations(deployment: dict, rs: dict) -> bool:
    """copyDeploymentAnnotationsToReplicaSet: add or change (never remove) every
    annotation of the Deployment not in SKIPPED_ANNOTATIONS. rs is changed in place."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in (podutil.meta(deployment).get("annotations") or {}).items():
        if k in SKIPPED_ANNOTATIONS or annotations.get(k) == v:
            continue
        annotations[k] = v
        changed = True
    return changed


def set_replicas_annotations(rs: dict, desired: int, max_replicas: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(max_replicas)}
    if all(annotations.get(k) == v for k, v in wanted.items()):
        return False
    annotations.update(wanted)
    return True


def replicas_annotations_need_update(rs: dict, desired: int, max_replicas: int) -> bool:
    annotations = podutil.meta(rs).get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(max_replicas)


def desired_replicas_annotation(rs: dict) -> int | None:
    try:
        return int((podutil.meta(rs).get("annotations") or {})[DESIRED_REPLICAS])
    except (KeyError, ValueError):
        return None


def max_replicas_annotation(rs: dict) -> int | None:
    try:
        return int((podutil.meta(rs).get("annotations") or {})[MAX_REPLICAS])
    except (KeyError, ValueError):
        return None


def set_new_rs_annotations(deployment: dict, rs: dict, new_revision: int, *, exists: bool,
                           desired: int, max_replicas: int) -> bool:
    """SetNewReplicaSetAnnotations, in place on rs: copied annotations, the revision
    raised to new_revision (keeping the old one in revision-history: a rollback), and
    for a ReplicaSet about to be created, desired- and max-replicas."""
    changed = copy_deployment_annotations(deployment, rs)
    annotations = rs["metadata"]["annotations"]
    old_text = annotations.get(REVISION)
    try:
        old = int(old_text) if old_text else 0
    except ValueError:  # not ours to fix; upstream leaves such a ReplicaSet alone
        return False
    if old < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_text:
            _append_history(annotations, old_text)
    if not exists and set_replicas_annotations(rs, desired, max_replicas):
        changed = True
    return changed


def _append_history(annotations: dict, old_revision: str) -> None:
    history = annotations.get(REVISION_HISTORY, "")
    if not history:
        annotations[REVISION_HISTORY] = old_revision
        return
    revisions = history.split(",")
    total, start = len(history) + len(old_revision) + 1, 0
    while total > MAX_REV_HISTORY_LENGTH and start < len(revisions):
        total -= len(revisions[start]) + 1
        start += 1
    if total <= MAX_REV_HISTORY_LENGTH:
        annotations[REVISION_HISTORY] = ",".join(revisions[start:] + [old_revision])


def new_rs_object(deployment: dict, template_hash: str, replicas_count: int) -> dict:
    """The new ReplicaSet upstream's getNewReplicaSet creates (before its annotations):
    `<deployment>-<hash>`, the hash label in template, labels and selector."""
    md, spec = podutil.meta(deployment), deployment.get("spec") or {}
    template = jsonutil.deep_copy(spec.get("template") or {})
    labels = dict((template.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: template_hash})
    template.setdefault("metadata", {})["labels"] = labels
    selector = jsonutil.deep_copy(spec.get("selector") or {})
    selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH_LABEL: template_hash})
    rs_spec = {"replicas": replicas_count, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{template_hash}", "namespace": md.get("namespace", ""),
                         "labels": dict(labels), "annotations": {},
                         "ownerReferences": [podutil.controller_ref(deployment)]},
            "spec": rs_spec}


# --- history clean-up ---------------------------------------------------------------------


def rss_to_clean_up(deployment: dict, old_rss: list[dict]) -> list[dict]:
    """cleanupDeployment: the oldest old ReplicaSets beyond revisionHistoryLimit that are
    fully scaled down and settled (never one still with pods or being deleted)."""
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not podutil.meta(rs).get("deletionTimestamp")]
    diff = len(alive) - limit
    if diff <= 0:
        return []
    alive.sort(key=lambda rs: (revision(rs), creation_key(rs)))
    return [rs for rs in alive[:diff] if _settled_at_zero(rs)]


def _settled_at_zero(rs: dict) -> bool:
    status = rs.get("status") or {}
    return (not status.get("replicas") and not replicas(rs)
            and (podutil.meta(rs).get("generation") or 0) <= (status.get("observedGeneration") or 0))
