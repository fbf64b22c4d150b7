"""Network namespaces pinned by a bind mount on a file, as `ip netns add` does.

`create_netns(path)` makes a fresh network namespace live as long as `path` is
mounted: a short-lived thread unshares its network namespace and bind-mounts
/proc/thread-self/ns/net onto the file, then exits (the mount keeps the namespace).
A dedicated OS thread, never a pooled one, because the thread stays in the new
namespace; nothing else ever runs on it. No process is forked, so it costs well
under a millisecond plus the kernel's own namespace setup.

The directory holding the files is made a shared mount point once (bind-mounted on
itself if needed), like /run/netns: an unmount then propagates to mount namespaces
copied after the netns was created (containers, `unshare -m`), so deleting the file
really frees the namespace instead of leaving it pinned in a copy.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import threading

from .errors import NetnsError

CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_shared_dirs: set[str] = set()
_NSFS_DEV = os.stat("/proc/self/ns/net").st_dev  # every namespace file lives on nsfs


def netns_path_for(sandbox_id: str, directory: str = NETNS_DIR) -> str:
    """Where a sandbox's namespace is pinned by default: /run/netns/tinykube-<id>,
    so `ip netns` lists (and `ip netns exec` enters) pod namespaces for debugging."""
    return os.path.join(directory, f"tinykube-{sandbox_id}")


def is_netns(path: str) -> bool:
    """True when path is (a bind mount of) a network namespace."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_dev == _NSFS_DEV


async def create_netns(path: str) -> str:
    """Create a network namespace pinned at `path` (which must not exist yet)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    _make_shared(directory)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    except FileExistsError:
        raise NetnsError(f"{path}: already exists") from None
    try:
        await _in_fresh_thread(_unshare_and_bind, path)
    except BaseException:
        _remove(path)
        raise
    return path


async def delete_netns(path: str) -> None:
    """Unmount and remove a namespace file. Idempotent: a missing file, or a file
    that is no longer mounted, is fine."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not mounted / gone
            raise NetnsError(f"unmount {path}: {os.strerror(err)}")
    _remove(path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _unshare_and_bind(path: str) -> None:
    if _libc.unshare(CLONE_NEWNET) != 0:
        raise NetnsError(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    _mount(b"/proc/thread-self/ns/net", os.fsencode(path), MS_BIND)


def _mount(source: bytes, target: bytes, flags: int) -> None:
    if _libc.mount(source, target, None, flags, None) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"mount {source.decode()} on {target.decode()}: {os.strerror(err)}")


def _make_shared(directory: str) -> None:
    if directory in _shared_dirs:
        return
    target = os.fsencode(directory)
    if _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None) != 0:
        if ctypes.get_errno() != errno.EINVAL:  # EINVAL: not a mount point yet
            raise NetnsError(f"make {directory} shared: {os.strerror(ctypes.get_errno())}")
        _mount(target, target, MS_BIND | MS_REC)
        _mount(b"none", target, MS_SHARED | MS_REC)
    _shared_dirs.add(directory)


async def _in_fresh_thread(fn, *args) -> None:
    """Run fn on a new OS thread that exits afterwards, and wait for it."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def body():
        try:
            fn(*args)
        except BaseException as e:
            loop.call_soon_threadsafe(_settle, done, e)
        else:
            loop.call_soon_threadsafe(_settle, done, None)

    threading.Thread(target=body, name="tinykube-netns", daemon=True).start()
    await done


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
