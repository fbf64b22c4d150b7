"""Unpack one layer tar into an empty directory that overlayfs can use as a lowerdir.

OCI whiteouts become overlayfs' own markers, so a stack of snapshot dirs mounted as
`lowerdir=top:...:bottom` is the image's root filesystem with no merging step:
  `.wh.NAME`      -> a 0/0 character device NAME (overlayfs' whiteout: hides NAME below)
  `.wh..wh..opq`  -> xattr trusted.overlay.opaque="y" on its directory (hides everything
                     below it, while the directory's own entries in this layer stay)
Other `.wh..wh.*` names are aufs bookkeeping and are skipped, as containerd does.

Safety, because a layer is untrusted input and we unpack as root:
  * names are cleaned lexically; absolute names are rooted in the layer and a name whose
    `..` climbs above the layer is refused (UnsafeLayerError), as Docker does;
  * no symlink is ever followed while unpacking: a member whose parent path crosses a
    symlink (the classic `link -> /etc` then `link/passwd`) is refused, and every leaf is
    created with no-follow calls; hardlink targets obey the same rules;
  * trusted.overlay.* xattrs from the tar are dropped (they would steer overlayfs).
Because the target dir is private to this unpack (it is renamed into place afterwards),
checking a path with lstat and then using it has no race with other writers.

Modes (setuid included), numeric ownership, mtimes, symlinks, hardlinks, device nodes,
fifos and SCHILY.xattr.* extended attributes (file capabilities) are preserved.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tarfile
import zlib

from tinykube.agent.images.errors import ContentError, UnsafeLayerError

OPAQUE = ".wh..wh..opq"
WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"
_COPY_BUFFER = 1 << 20
log = logging.getLogger(__name__)


def apply_layer(blob_path: str, target: str) -> str:
    """Unpack the (compressed or plain) layer at `blob_path` into the empty dir `target`.

    Returns the diff_id: the sha256 of the uncompressed tar stream.
    """
    with _uncompressed(blob_path) as stream:
        hashing = _HashingReader(stream)
        try:
            with tarfile.open(fileobj=hashing, mode="r|") as tar:
                _Applier(target).apply_all(tar)
            hashing.drain()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise  # a real file-system error (disk full, ...), not bad content
            raise ContentError(f"invalid layer {os.path.basename(blob_path)}: {e}") from None
    return "sha256:" + hashing.hexdigest()


class _HashingReader:
    """A file-like reader that hashes everything read through it."""

    def __init__(self, raw):
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        return data

    def drain(self) -> None:
        # the diff_id covers the whole stream, including padding after the end-of-archive
        while self.read(_COPY_BUFFER):
            pass

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _uncompressed:
    """Context manager: a readable uncompressed stream of the blob (gzip, zstd or plain,
    told apart by magic bytes, since docker-save archives mislabel plain tars)."""

    def __init__(self, path: str):
        self._path = path
        self._closers: list = []

    def __enter__(self):
        with open(self._path, "rb") as f:
            magic = f.read(4)
        raw = open(self._path, "rb")  # fresh: a buffered read moved the first one's offset
        self._closers.append(raw)
        if magic[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw)
            self._closers.append(stream)
            return stream
        if magic == b"\x28\xb5\x2f\xfd":
            return self._zstd(raw)
        return raw

    def _zstd(self, raw):
        # no zstd in Python 3.11's stdlib: the zstd command decompresses (Debian's zstd)
        proc = subprocess.Popen(["zstd", "-dcq"], stdin=raw, stdout=subprocess.PIPE)
        self._closers.append(proc)
        return proc.stdout

    def __exit__(self, *exc):
        for closer in reversed(self._closers):
            if isinstance(closer, subprocess.Popen):
                closer.stdout.close()
                if closer.wait() != 0 and exc[0] is None:
                    raise ContentError(f"zstd failed to decompress {self._path}")
            else:
                closer.close()


class _Applier:
    """Applies tar members one by one; `_dirs` caches paths known to be real directories."""

    def __init__(self, root: str):
        self.root = root
        self._dirs: set[tuple[str, ...]] = {()}
        self._dir_times: list[tuple[str, int]] = []

    def apply_all(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            self.apply(member, tar)
        for path, mtime_ns in reversed(self._dir_times):  # deepest last-created first
            _set_times(path, mtime_ns)

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = clean_name(member.name)
        if not parts:
            self._set_metadata(self.root, member)  # "./": the layer's root directory
            return
        parent = self._parent(parts[:-1], create=True)
        base = parts[-1]
        if base == OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
        elif base.startswith(WHITEOUT_META_PREFIX):
            return
        elif base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, parts[:-1] + [_whiteout_target(member.name, base)])
        else:
            self._create(member, tar, parts)

    def _parent(self, parts: list[str], *, create: bool) -> str:
        """The real directory for `parts`, creating missing ones; refuses symlinks."""
        for i in range(1, len(parts) + 1):
            key = tuple(parts[:i])
            if key in self._dirs:
                continue
            path = os.path.join(self.root, *key)
            self._check_or_make_dir(path, "/".join(key), create)
            self._dirs.add(key)
        return os.path.join(self.root, *parts)

    def _check_or_make_dir(self, path: str, name: str, create: bool) -> None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            if not create:
                raise ContentError(f"{name!r} does not exist in the layer") from None
            os.mkdir(path, 0o755)  # an implicit parent, as containerd creates it
            return
        if stat.S_ISLNK(mode):
            raise UnsafeLayerError(f"layer path {name!r} is a symlink: refusing to write through it")
        if not stat.S_ISDIR(mode):
            raise ContentError(f"layer path {name!r} is not a directory")

    def _whiteout(self, parent: str, parts: list[str]) -> None:
        path = os.path.join(parent, parts[-1])
        self._remove_existing(path, parts)
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def _create(self, member: tarfile.TarInfo, tar: tarfile.TarFile, parts: list[str]) -> None:
        path = os.path.join(self.root, *parts)
        if member.isdir() and _is_real_dir(path):
            self._set_metadata(path, member)
            return
        self._remove_existing(path, parts)
        if member.islnk():
            self._hardlink(member, path)
            return
        _make_node(member, tar, path)
        if member.isdir():
            self._dirs.add(tuple(parts))
        self._set_metadata(path, member)

    def _remove_existing(self, path: str, parts: list[str]) -> None:
        """A later entry replaces an earlier one (only dir-over-dir merges)."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            shutil.rmtree(path)
            self._dirs = {d for d in self._dirs if d[:len(parts)] != tuple(parts)}
        else:
            os.unlink(path)

    def _hardlink(self, member: tarfile.TarInfo, path: str) -> None:
        target_parts = clean_name(member.linkname)
        if not target_parts:
            raise UnsafeLayerError(f"hardlink {member.name!r} to the layer root")
        target = os.path.join(self._parent(target_parts[:-1], create=False), target_parts[-1])
        if _is_real_dir(target):
            raise ContentError(f"hardlink {member.name!r} to a directory")
        try:
            os.link(target, path, follow_symlinks=False)
        except FileNotFoundError:
            raise ContentError(f"hardlink {member.name!r} to missing {member.linkname!r}") from None

    def _set_metadata(self, path: str, member: tarfile.TarInfo) -> None:
        os.chown(path, member.uid, member.gid, follow_symlinks=False)
        _set_xattrs(path, member)
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)  # after chown, which clears setuid bits
        mtime_ns = int(member.mtime * 1e9)
        if member.isdir():
            self._dir_times.append((path, mtime_ns))  # children would change it again
        else:
            _set_times(path, mtime_ns)


def clean_name(name: str) -> list[str]:
    """Lexically cleaned components of a member name; refuses climbing above the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeLayerError(f"layer path {name!r} escapes the layer root")
            parts.pop()
            continue
        parts.append(part)
    return parts


def _whiteout_target(name: str, base: str) -> str:
    target = base[len(WHITEOUT_PREFIX):]
    if target in ("", ".", ".."):
        raise UnsafeLayerError(f"invalid whiteout {name!r}")
    return target


def _make_node(member: tarfile.TarInfo, tar: tarfile.TarFile, path: str) -> None:
    if member.isreg():
        _write_file(tar.extractfile(member), path)
    elif member.isdir():
        os.mkdir(path, 0o700)
    elif member.issym():
        os.symlink(member.linkname, path)  # any target: it is resolved inside the container
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
    elif member.isfifo():
        os.mkfifo(path, 0o600)
    else:
        raise ContentError(f"unsupported tar member type {member.type!r} for {member.name!r}")


def _write_file(source, path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with open(fd, "wb", closefd=True) as out:
        shutil.copyfileobj(source, out, _COPY_BUFFER)


def _set_xattrs(path: str, member: tarfile.TarInfo) -> None:
    for key, value in (member.pax_headers or {}).items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr."):]
        if name.startswith("trusted.overlay."):
            continue  # layer content must not steer overlayfs (opaque, redirect, metacopy)
        try:
            os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
            # as containerd: a file system (or a symlink) that cannot hold it is not fatal
            log.warning("ignoring xattr %s on %s: %s", name, path, e.strerror)


def _set_times(path: str, mtime_ns: int) -> None:
    try:
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    except FileNotFoundError:
        pass  # replaced by a later member


def _is_real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
