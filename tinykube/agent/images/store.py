"""The content-addressed store under DATA_DIR/images: blobs, image index, leases.

    blobs/sha256/<hex>     immutable content, verified against its digest before it lands
    ingest/                partial writes (same file system, so the final rename is atomic)
    index.json             image reference -> ImageRecord (target, manifest, config, size)
    leases/<id>            one per container: keeps its image's content through GC
    snapshots/             unpacked layers (snapshots.py)
    lock, index.lock       see locking.py

Guarantees: a blob file exists only with the content its name promises (written to ingest/,
hashed while written, fsynced, renamed); index.json is replaced atomically, so readers never
need a lock; content is only removed by GC, under the exclusive store lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass

from tinykube.agent.images.errors import ContentError
from tinykube.agent.images.locking import flocked
from tinykube.util.jsonutil import dumps, loads

_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


@dataclass(frozen=True)
class ImageRecord:
    """What a reference points at. `target` is what the registry's tag names (an index or a
    manifest); `manifest` is the platform manifest we run; `config` is the image ID."""

    ref: str
    target: str
    media_type: str
    manifest: str
    config: str
    size: int
    created: float = 0.0

    @classmethod
    def from_dict(cls, d: dict) -> "ImageRecord":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def check_digest(digest: str) -> str:
    if not _DIGEST_RE.fullmatch(digest or ""):
        raise ContentError(f"unsupported or invalid digest {digest!r}")
    return digest


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ContentStore:
    def __init__(self, root: str):
        self.root = root
        for sub in ("blobs/sha256", "ingest", "leases", "snapshots"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self.lock_path = os.path.join(root, "lock")
        self._index_path = os.path.join(root, "index.json")
        self._index_lock = os.path.join(root, "index.lock")

    # --- blobs ----------------------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", check_digest(digest)[7:])

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ContentError(f"content {digest} not found in the store") from None

    def blob_digests(self) -> set[str]:
        return {f"sha256:{name}" for name in os.listdir(os.path.join(self.root, "blobs", "sha256"))}

    def remove_blob(self, digest: str) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            pass

    def writer(self, digest: str | None, size: int = -1) -> "BlobWriter":
        """A writer that lands the blob only if it hashes to `digest` (and has `size`);
        with no digest, the blob is named by what it hashes to (archives without one)."""
        return BlobWriter(self, digest and check_digest(digest), size)

    def write_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256_digest(data)
        with self.writer(digest, len(data)) as w:
            w.write(data)
        return digest

    # --- index ----------------------------------------------------------------------------

    def images(self) -> dict[str, ImageRecord]:
        try:
            with open(self._index_path, "rb") as f:
                doc = loads(f.read())
        except FileNotFoundError:
            return {}
        return {ref: ImageRecord.from_dict(d) for ref, d in doc.get("images", {}).items()}

    def get(self, ref: str) -> ImageRecord | None:
        return self.images().get(ref)

    def put(self, record: ImageRecord) -> None:
        with flocked(self._index_lock, exclusive=True):
            images = self.images()
            images[record.ref] = record
            self._write_index(images)

    def delete(self, refs: list[str]) -> list[str]:
        """Removes the references; returns those that existed."""
        with flocked(self._index_lock, exclusive=True):
            images = self.images()
            gone = [ref for ref in refs if images.pop(ref, None) is not None]
            if gone:
                self._write_index(images)
        return gone

    def _write_index(self, images: dict[str, ImageRecord]) -> None:
        doc = {"version": 1, "images": {ref: asdict(r) for ref, r in sorted(images.items())}}
        _atomic_write(self._index_path, dumps(doc))

    # --- leases ---------------------------------------------------------------------------

    def add_lease(self, lease_id: str, record: ImageRecord) -> None:
        _atomic_write(self._lease_path(lease_id), dumps(asdict(record)))

    def remove_lease(self, lease_id: str) -> None:
        try:
            os.unlink(self._lease_path(lease_id))
        except FileNotFoundError:
            pass

    def leases(self) -> dict[str, ImageRecord]:
        found = {}
        for name in os.listdir(os.path.join(self.root, "leases")):
            if name.startswith(".tmp-"):
                continue  # a lease being written
            try:
                with open(os.path.join(self.root, "leases", name), "rb") as f:
                    found[name] = ImageRecord.from_dict(loads(f.read()))
            except (FileNotFoundError, ValueError):
                continue  # removed meanwhile, or a torn write that never got renamed
        return found

    def _lease_path(self, lease_id: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,250}", lease_id):
            raise ValueError(f"invalid lease id {lease_id!r}")
        return os.path.join(self.root, "leases", lease_id)

    def clear_ingest(self) -> None:
        """Leftovers of crashed writers; only safe under the exclusive store lock."""
        ingest = os.path.join(self.root, "ingest")
        for name in os.listdir(ingest):
            os.unlink(os.path.join(ingest, name))


class BlobWriter:
    """Streams one blob into ingest/, hashing as it goes; commit() verifies and renames."""

    def __init__(self, store: ContentStore, digest: str | None, size: int):
        self.digest, self.expected_size, self.written = digest, size, 0
        self._store = store
        self._hash = hashlib.sha256()
        fd, self._tmp = tempfile.mkstemp(dir=os.path.join(store.root, "ingest"))
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self.written += len(data)

    def commit(self) -> None:
        actual = "sha256:" + self._hash.hexdigest()
        self.digest = self.digest or actual
        if actual != self.digest:
            raise ContentError(f"unexpected commit digest {actual}, expected {self.digest}: "
                               "failed precondition")
        if self.expected_size >= 0 and self.written != self.expected_size:
            raise ContentError(f"unexpected commit size {self.written}, expected "
                               f"{self.expected_size}: failed precondition")
        self._file.flush()
        os.fsync(self._file.fileno())  # the name promises the content, even after a crash
        self._file.close()
        os.rename(self._tmp, self._store.blob_path(self.digest))

    def abort(self) -> None:
        self._file.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type, *_):
        try:
            if exc_type is None:
                self.commit()
        finally:
            if os.path.exists(self._tmp):
                self.abort()


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
