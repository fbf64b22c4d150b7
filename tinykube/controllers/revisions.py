"""ControllerRevisions: the template history of DaemonSets and StatefulSets.

A revision's data is the strategic-merge patch that restores its pod template
(`{"spec": {"template": {..., "$patch": "replace"}}}`, as upstream stores it); its name
is `<owner>-<hash>`, the hash being FNV-32a of the data (and the owner's collisionCount)
encoded with upstream's SafeEncodeString alphabet. Pure helpers build, find and prune
revisions; `ensure_revision` is the one write: create the revision of a template unless
an equal one exists.
"""

from __future__ import annotations

from tinykube.api import errors
from tinykube.controllers import owned
from tinykube.util import jsonutil

REVISIONS = ("apps/v1", "ControllerRevision")
HASH_LABEL = "controller-revision-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's rand.SafeEncodeString alphabet


def revision_data(template: dict) -> dict:
    return {"spec": {"template": dict(jsonutil.deep_copy(template or {}), **{"$patch": "replace"})}}


def template_of(revision: dict) -> dict:
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in text)


def hash_of(data: dict, collision_count: int = 0) -> str:
    raw = jsonutil.dumps(_sorted(data)) + (str(collision_count).encode() if collision_count else b"")
    return safe_encode(str(fnv32a(raw)))


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def new_revision(owner: dict, template: dict, *, number: int, collision_count: int = 0) -> dict:
    data = revision_data(template)
    h = hash_of(data, collision_count)
    labels = dict(((template or {}).get("metadata") or {}).get("labels") or {})
    labels[HASH_LABEL] = h
    md = {"name": f"{owner['metadata']['name']}-{h}", "namespace": owner["metadata"]["namespace"],
          "labels": labels, "ownerReferences": [owned.controller_ref(owner)]}
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": md, "data": data, "revision": number}


def same_template(revision: dict, template: dict) -> bool:
    return _sorted(revision.get("data")) == _sorted(revision_data(template))


def find(revisions: list[dict], template: dict) -> dict | None:
    """The newest revision whose data restores template."""
    equal = [r for r in revisions if same_template(r, template)]
    return max(equal, key=lambda r: r.get("revision", 0)) if equal else None


def next_number(revisions: list[dict]) -> int:
    return max((r.get("revision", 0) for r in revisions), default=0) + 1


def to_prune(revisions: list[dict], live: set[str], limit: int) -> list[dict]:
    """Oldest revisions beyond revisionHistoryLimit that no pod or status still uses."""
    old = sorted((r for r in revisions if r["metadata"]["name"] not in live), key=lambda r: r.get("revision", 0))
    return old[:max(0, len(old) - limit)]


async def ensure_revision(client, owner: dict, revisions: list[dict], template: dict) -> dict:
    """The revision of template: an existing equal one, else a new one (created)."""
    found = find(revisions, template)
    if found is not None:
        latest = next_number(revisions) - 1
        if found.get("revision", 0) < latest:  # a rollback: the old template is the newest again
            return await client.patch(REVISIONS, found["metadata"]["name"], {"revision": latest + 1},
                                      namespace=owner["metadata"]["namespace"])
        return found
    collision = (owner.get("status") or {}).get("collisionCount") or 0
    revision = new_revision(owner, template, number=next_number(revisions), collision_count=collision)
    try:
        return await client.create(REVISIONS, revision, namespace=owner["metadata"]["namespace"])
    except errors.AlreadyExists:
        existing = await client.get(REVISIONS, revision["metadata"]["name"], namespace=owner["metadata"]["namespace"])
        if owned.owned_by(existing, owner) and same_template(existing, template):
            return existing  # our cache had not seen it yet
        raise
