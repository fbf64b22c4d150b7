"""ImageService: the node's images, as the agent and the runtime use them.

One object per data dir. Reads (`get_image`, `image_config`, `list_images`) take no lock:
index.json is replaced atomically and blobs are immutable. Pulls and imports add content
under the shared store lock, GC removes it under the exclusive one (locking.py), so the
agent and `tinykube image ...` commands can work on one store at the same time.

A reference matches an image when it is the same normalized string, or when it is
`name@digest` and an image of that name has that digest (its repo digest), so a pod that
pins the digest of an image pulled or imported by tag finds it.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import aiohttp

from tinykube.agent.images import gc, manifest as mf
from tinykube.agent.images.archive import ImportResult, import_archive
from tinykube.agent.images.auth import Credentials
from tinykube.agent.images.errors import ImageError, ImageUnauthorized, not_present
from tinykube.agent.images.locking import aflocked
from tinykube.agent.images.pull import Puller, PullResult
from tinykube.agent.images.reference import Reference, parse
from tinykube.agent.images.registry import RegistryClient, TokenCache
from tinykube.agent.images.snapshots import Snapshotter
from tinykube.agent.images.store import ContentStore, ImageRecord

_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)


class ImageService:
    def __init__(self, data_dir: str, *, platform: mf.Platform | None = None):
        self.root = os.path.join(data_dir, "images")
        self.store = ContentStore(self.root)
        self.snapshots = Snapshotter(self.root)
        self.platform = platform or mf.node_platform()
        self._puller = Puller(self.store, self.snapshots, self.platform)
        self._tokens = TokenCache()
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._configs: dict[str, dict] = {}  # by config digest: immutable, so cached forever

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- what the runtime needs ---------------------------------------------------------------

    def get_image(self, image: str) -> ImageRecord | None:
        """The image `image` names, if it is in the store with its manifest and config."""
        ref = parse(image)
        images = self.store.images()
        record = images.get(str(ref)) or _by_repo_digest(images, ref)
        if record is None or not self.store.has_blob(record.config):
            return None
        return record

    def is_present(self, image: str) -> bool:
        return self.get_image(image) is not None

    def image_config(self, image: str) -> dict:
        """The OCI image config's `config` section (Entrypoint, Cmd, Env, WorkingDir, User,
        ExposedPorts, StopSignal, Labels, ...); {} when the image sets none."""
        return self.image_config_document(image).get("config") or {}

    def image_config_document(self, image: str) -> dict:
        """The whole OCI image config (architecture, os, config, rootfs, history)."""
        record = self._require(image)
        if record.config not in self._configs:
            data = self.store.read_blob(record.config)
            self._configs[record.config] = mf.parse_json(data, "image config")
        return self._configs[record.config]

    async def rootfs_layers(self, image: str) -> list[str]:
        """Snapshot dirs of the image's layers, lowest first (overlayfs wants the reverse:
        `lowerdir=":".join(reversed(layers))`). Unpacks any snapshot that is missing."""
        record = self._require(image)
        diff_ids = mf.config_diff_ids(self.image_config_document(image))
        if all(self.snapshots.exists(d) for d in diff_ids):
            return [self.snapshots.path(d) for d in diff_ids]
        async with aflocked(self.store.lock_path, exclusive=False):
            return await self._unpack_missing(record, diff_ids)

    async def _unpack_missing(self, record: ImageRecord, diff_ids: list[str]) -> list[str]:
        doc = mf.parse_json(self.store.read_blob(record.manifest), "manifest")
        _, layers = mf.manifest_parts(doc)
        for layer, diff_id in zip(layers, diff_ids):
            if not self.store.has_blob(layer.digest) and not self.snapshots.exists(diff_id):
                raise not_present(f"{record.ref} (layer {layer.digest})")
            await self._puller.unpack(layer, diff_id)
        return [self.snapshots.path(d) for d in diff_ids]

    def _require(self, image: str) -> ImageRecord:
        record = self.get_image(image)
        if record is None:
            raise not_present(image)
        return record

    # --- pulls and imports ----------------------------------------------------------------------

    async def pull(self, image: str, *, credentials: list[Credentials] = ()) -> PullResult:
        """Pulls `image`, trying each credential in turn (anonymous when there are none),
        as the kubelet does; concurrent pulls of one image with the same credentials share
        one download."""
        ref = parse(image)
        key = (str(ref), tuple(credentials))
        if key not in self._inflight:
            future = asyncio.ensure_future(self._pull_with(ref, list(credentials)))
            self._inflight[key] = future
            future.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(self._inflight[key])

    async def _pull_with(self, ref: Reference, credentials: list[Credentials]) -> PullResult:
        for creds in credentials[:-1]:
            try:
                return await self._pull_once(ref, creds)
            except ImageUnauthorized:
                continue  # the next secret may be the right one
        return await self._pull_once(ref, credentials[-1] if credentials else None)

    async def _pull_once(self, ref: Reference, creds: Credentials | None) -> PullResult:
        client = RegistryClient(self._client_session(), ref, credentials=creds, tokens=self._tokens)
        return await self._puller.pull(ref, client)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def import_archive(self, path: str, *, base_name: str = "") -> ImportResult:
        return await asyncio.to_thread(import_archive, self.store, self.snapshots, path,
                                       platform=self.platform, base_name=base_name)

    # --- listing, removal, leases, garbage ----------------------------------------------------

    def list_images(self) -> list[ImageRecord]:
        return sorted(self.store.images().values(), key=lambda r: r.ref)

    async def remove(self, image: str) -> list[str]:
        """Removes the references `image` names, then collects garbage; returns them.
        Content a lease holds (a container's image) stays until the lease is released."""
        ref = parse(image)
        images = self.store.images()
        refs = [str(ref)] if str(ref) in images else _repo_digest_refs(images, ref)
        if not refs:
            raise not_present(image)
        removed = self.store.delete(refs)
        await self.gc()
        return removed

    async def gc(self) -> gc.GcResult:
        async with aflocked(self.store.lock_path, exclusive=True):
            return await asyncio.to_thread(gc.collect, self.store, self.snapshots)

    async def lease(self, lease_id: str, image: str) -> ImageRecord:
        """Keeps `image`'s content (blobs and snapshots) alive until `release(lease_id)`,
        even if the image is removed meanwhile. Take it before `rootfs_layers`: the shared
        store lock orders it against GC, so content present now stays present."""
        async with aflocked(self.store.lock_path, exclusive=False):
            record = self._require(image)
            self.store.add_lease(lease_id, replace(record, ref=f"lease:{lease_id}"))
        return record

    def release(self, lease_id: str) -> None:
        self.store.remove_lease(lease_id)

    def leases(self) -> dict[str, ImageRecord]:
        return self.store.leases()


def _by_repo_digest(images: dict[str, ImageRecord], ref: Reference) -> ImageRecord | None:
    found = _repo_digest_refs(images, ref)
    return images[found[0]] if found else None


def _repo_digest_refs(images: dict[str, ImageRecord], ref: Reference) -> list[str]:
    if not ref.digest:
        return []
    return [r for r, rec in images.items()
            if _name_of(r) == ref.name and ref.digest in (rec.target, rec.manifest)]


def _name_of(ref_string: str) -> str:
    try:
        return parse(ref_string).name
    except ImageError:
        return ""
