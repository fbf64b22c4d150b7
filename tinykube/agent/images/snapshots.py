"""Layer snapshots: each layer unpacked once into snapshots/sha256/<diff_id hex>.

A snapshot is keyed by the layer's diff_id (digest of the uncompressed tar), so every image
and container sharing a layer shares one directory. Whiteouts are already in overlayfs'
form (unpack.py), so each snapshot is a self-contained lowerdir and a container's rootfs is
`mount -t overlay -o lowerdir=<top>:...:<bottom>,upperdir=...,workdir=...`.

A snapshot appears atomically: unpacked into `.tmp-*`, checked against its diff_id, synced,
then renamed; a directory with the final name is always complete. Removal renames it away
first for the same reason. Two processes unpacking the same layer both succeed: the loser of
the rename discards its copy.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile

from tinykube.agent.images.errors import ContentError
from tinykube.agent.images.store import check_digest
from tinykube.agent.images.unpack import apply_layer

_TMP_PREFIX = ".tmp-"
_libc = ctypes.CDLL(None, use_errno=True)


class Snapshotter:
    def __init__(self, store_root: str):
        self.dir = os.path.join(store_root, "snapshots")
        os.makedirs(os.path.join(self.dir, "sha256"), exist_ok=True)

    def path(self, diff_id: str) -> str:
        return os.path.join(self.dir, "sha256", check_digest(diff_id)[7:])

    def exists(self, diff_id: str) -> bool:
        return os.path.isdir(self.path(diff_id))

    def diff_ids(self) -> set[str]:
        return {f"sha256:{name}" for name in os.listdir(os.path.join(self.dir, "sha256"))}

    def prepare(self, diff_id: str, blob_path: str) -> str:
        """Unpack the layer blob unless its snapshot exists; returns the snapshot dir."""
        final = self.path(diff_id)
        if os.path.isdir(final):
            return final
        tmp = tempfile.mkdtemp(dir=self.dir, prefix=_TMP_PREFIX)
        try:
            os.chmod(tmp, 0o755)
            self._unpack(blob_path, tmp, diff_id)
            _rename_unless_exists(tmp, final)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
        return final

    def _unpack(self, blob_path: str, tmp: str, diff_id: str) -> None:
        actual = apply_layer(blob_path, tmp)
        if actual != diff_id:
            raise ContentError(f"layer {os.path.basename(blob_path)} has diff_id {actual}, "
                               f"the image config says {diff_id}")
        _syncfs(tmp)  # the rename must not publish files whose data is not on disk yet

    def remove(self, diff_id: str) -> None:
        final = self.path(diff_id)
        doomed = os.path.join(self.dir, f"{_TMP_PREFIX}gone-{os.path.basename(final)}")
        try:
            os.rename(final, doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed)

    def clear_tmp(self) -> None:
        """Leftovers of crashed unpacks; only safe under the exclusive store lock."""
        for name in os.listdir(self.dir):
            if name.startswith(_TMP_PREFIX):
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)


def _rename_unless_exists(tmp: str, final: str) -> None:
    try:
        os.rename(tmp, final)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise  # another process's identical snapshot won the race otherwise


def _syncfs(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)
