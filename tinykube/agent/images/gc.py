"""Garbage collection of the image store: mark from every reference and lease, sweep the rest.

Roots are the image references in index.json and the leases (one per container, written
by the agent, so content a running container uses survives `tinykube image rm` even from
another process). From each root we mark the target (index or manifest), the platform
manifests of an index that are present, their config and layer blobs, and the snapshots
named by the config's diff_ids. Unmarked blobs and snapshots are removed, and so are
partial writes of crashed processes. Callers hold the store lock exclusively.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykube.agent.images import manifest as mf
from tinykube.agent.images.errors import ImageError
from tinykube.agent.images.snapshots import Snapshotter
from tinykube.agent.images.store import ContentStore


@dataclass
class GcResult:
    blobs_removed: list[str] = field(default_factory=list)
    snapshots_removed: list[str] = field(default_factory=list)


@dataclass
class _Marks:
    blobs: set[str] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)


def collect(store: ContentStore, snapshots: Snapshotter) -> GcResult:
    marks = _Marks()
    for record in [*store.images().values(), *store.leases().values()]:
        for digest in (record.target, record.manifest, record.config):
            _mark(store, digest, marks)
    result = GcResult(sorted(store.blob_digests() - marks.blobs),
                      sorted(snapshots.diff_ids() - marks.snapshots))
    for digest in result.blobs_removed:
        store.remove_blob(digest)
    for diff_id in result.snapshots_removed:
        snapshots.remove(diff_id)
    store.clear_ingest()
    snapshots.clear_tmp()
    return result


def _mark(store: ContentStore, digest: str, marks: _Marks, depth: int = 0) -> None:
    if digest in marks.blobs or depth > 4 or not _present(store, digest):
        return
    marks.blobs.add(digest)
    try:
        doc = mf.parse_json(store.read_blob(digest), "content")
    except ImageError:
        return  # a layer or other non-JSON blob: a leaf
    if "rootfs" in doc:  # an image config (which has a "config" key too: test this first)
        marks.snapshots.update((doc["rootfs"] or {}).get("diff_ids") or [])
    elif "manifests" in doc:
        for child in doc.get("manifests") or []:
            _mark(store, child.get("digest", ""), marks, depth + 1)
    elif "config" in doc:
        _mark_manifest(store, doc, marks)


def _present(store: ContentStore, digest: str) -> bool:
    try:
        return store.has_blob(digest)
    except ImageError:
        return False  # not a sha256 digest: nothing of ours


def _mark_manifest(store: ContentStore, doc: dict, marks: _Marks) -> None:
    try:
        config, layers = mf.manifest_parts(doc)
    except ImageError:
        return
    marks.blobs.update(layer.digest for layer in layers)
    _mark(store, config.digest, marks)
