"""Pulling one image into the store: resolve, fetch what is missing, unpack, record.

    resolve   HEAD the tag (a pinned digest already in the store needs no request at all)
    unchanged the tag still names the digest we recorded and all content is here: done,
              nothing is downloaded (this is what makes `Always` cheap)
    manifest  fetch the index/manifest by digest; an index is narrowed to our platform
    content   config and layers that are not in the store yet, up to 3 at a time, each
              verified against its digest while it streams to disk
    unpack    each layer into its snapshot, checked against the config's diff_ids
    record    the reference -> (target, manifest, config) in index.json

The store lock is held shared for the whole pull so garbage collection (exclusive) cannot
remove content between its download and the index write.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from tinykube.agent.images import manifest as mf
from tinykube.agent.images.errors import ContentError, ErrImagePull, ImageError, pull_failed, wrap
from tinykube.agent.images.locking import aflocked
from tinykube.agent.images.reference import Reference
from tinykube.agent.images.registry import RegistryClient, Stats
from tinykube.agent.images.snapshots import Snapshotter
from tinykube.agent.images.store import ContentStore, ImageRecord

MAX_CONCURRENT_DOWNLOADS = 3  # containerd's default
_MAX_INDEX_DEPTH = 4


@dataclass(frozen=True)
class PullResult:
    record: ImageRecord
    stats: Stats
    seconds: float
    unchanged: bool  # the tag still named what we had: nothing was downloaded


class Puller:
    def __init__(self, store: ContentStore, snapshots: Snapshotter, platform: mf.Platform):
        self.store = store
        self.snapshots = snapshots
        self.platform = platform

    async def pull(self, ref: Reference, client: RegistryClient) -> PullResult:
        started = time.monotonic()
        async with aflocked(self.store.lock_path, exclusive=False):
            try:
                record, unchanged = await self._pull(ref, client)
            except ImageError as e:
                raise pull_failed(str(ref), e) from None
            except OSError as e:  # the node's disk (full, read-only): still a failed pull
                raise pull_failed(str(ref), ErrImagePull(str(e))) from e
        return PullResult(record, client.stats, time.monotonic() - started, unchanged)

    async def _pull(self, ref: Reference, client: RegistryClient) -> tuple[ImageRecord, bool]:
        target = await self._resolve(ref, client)
        known = self.store.get(str(ref))
        if known and known.target == target.digest and self.is_complete(known):
            return known, True
        manifest_desc, manifest = await self._platform_manifest(client, target)
        config_desc, layers = mf.manifest_parts(manifest)
        await self._ensure_blob(client, config_desc)
        diff_ids = self._diff_ids(config_desc, layers)
        await self._layers(client, layers, diff_ids)
        record = ImageRecord(str(ref), target.digest, target.media_type, manifest_desc.digest,
                             config_desc.digest, _size(target, manifest_desc, config_desc, layers),
                             time.time())
        self.store.put(record)
        return record, False

    async def _resolve(self, ref: Reference, client: RegistryClient) -> mf.Descriptor:
        if ref.digest and self.store.has_blob(ref.digest):
            return self.local_descriptor(ref.digest)  # pinned and present: no request
        try:
            return await client.resolve(ref.object)
        except ImageError as e:
            raise wrap(e, f'failed to resolve reference "{ref}"') from None

    def local_descriptor(self, digest: str) -> mf.Descriptor:
        doc = mf.parse_json(self.store.read_blob(digest), "manifest")
        kind = mf.kind_of(doc.get("mediaType", ""), doc)
        media_type = doc.get("mediaType") or (mf.OCI_INDEX if kind == "index" else mf.OCI_MANIFEST)
        return mf.Descriptor(media_type, digest, os.path.getsize(self.store.blob_path(digest)))

    async def _platform_manifest(self, client: RegistryClient,
                                 desc: mf.Descriptor) -> tuple[mf.Descriptor, dict]:
        """Follows indexes down to the manifest for our platform."""
        for _ in range(_MAX_INDEX_DEPTH):
            doc = mf.parse_json(await self._manifest_bytes(client, desc), "manifest")
            if mf.kind_of(desc.media_type, doc) == "manifest":
                return desc, doc
            desc = mf.choose_platform(doc, self.platform)
        raise ContentError(f"image indexes nested more than {_MAX_INDEX_DEPTH} deep")

    async def _manifest_bytes(self, client: RegistryClient, desc: mf.Descriptor) -> bytes:
        if not self.store.has_blob(desc.digest):
            data = await client.fetch_manifest(desc)
            await asyncio.to_thread(self.store.write_blob, data, desc.digest)
        return self.store.read_blob(desc.digest)

    def _diff_ids(self, config_desc: mf.Descriptor, layers: list[mf.Descriptor]) -> list[str]:
        config = mf.parse_json(self.store.read_blob(config_desc.digest), "image config")
        diff_ids = mf.config_diff_ids(config)
        if len(diff_ids) != len(layers):
            raise ContentError(f"image config lists {len(diff_ids)} diff_ids for "
                               f"{len(layers)} layers")
        return diff_ids

    async def _layers(self, client: RegistryClient, layers: list[mf.Descriptor],
                      diff_ids: list[str]) -> None:
        downloads = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)

        async def one(layer: mf.Descriptor, diff_id: str) -> None:
            if self.snapshots.exists(diff_id) and self.store.has_blob(layer.digest):
                return
            async with downloads:
                await self._ensure_blob(client, layer)
            await self.unpack(layer, diff_id)

        tasks = [asyncio.create_task(one(layer, d)) for layer, d in zip(layers, diff_ids)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # the first failure (or our cancellation) stops the others
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _ensure_blob(self, client: RegistryClient, desc: mf.Descriptor) -> None:
        if self.store.has_blob(desc.digest):
            return
        writer = self.store.writer(desc.digest, desc.size)
        try:
            await client.fetch_blob(desc, writer)
            await asyncio.to_thread(writer.commit)
        except ImageError as e:
            raise wrap(e, f"failed to copy {desc.digest}") from None
        finally:
            writer.abort()  # no-op once committed

    async def unpack(self, layer: mf.Descriptor, diff_id: str) -> str:
        check_layer_media_type(layer)
        try:
            return await asyncio.to_thread(self.snapshots.prepare, diff_id,
                                           self.store.blob_path(layer.digest))
        except ImageError as e:
            raise wrap(e, f"failed to extract layer {diff_id}") from None

    def is_complete(self, record: ImageRecord) -> bool:
        """Manifest and config blobs and every layer's snapshot are in the store."""
        if not (self.store.has_blob(record.manifest) and self.store.has_blob(record.config)):
            return False
        try:
            config = mf.parse_json(self.store.read_blob(record.config), "image config")
            return all(self.snapshots.exists(d) for d in mf.config_diff_ids(config))
        except ImageError:
            return False


def check_layer_media_type(layer: mf.Descriptor) -> None:
    # layers of images (docker and OCI, any compression); refuses artifacts such as charts
    if ".image.rootfs." not in layer.media_type and ".image.layer." not in layer.media_type:
        raise ContentError(f"unsupported layer media type {layer.media_type!r}")


def _size(*descs) -> int:
    """Content size, as containerd reports an image's size (compressed layers included)."""
    flat = [d for item in descs for d in (item if isinstance(item, list) else [item])]
    return sum(max(d.size, 0) for d in {d.digest: d for d in flat}.values())
