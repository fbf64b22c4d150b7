"""The Linux system calls the sandbox needs (mount, umount2, unshare, sethostname), through
ctypes, and `LinuxHost`, the real implementation of the sandbox's side effects.

Pinning namespaces the way CRI-O's pinns does, without a pause process: a thread of ours
unshares new network/IPC/UTS namespaces, sets the hostname and brings up the loopback
interface in them, and bind-mounts /proc/thread-self/ns/{net,ipc,uts} onto files; the bind
mounts keep the namespaces alive after the thread ends, for as long as the pod lives.
unshare(2) of these three namespaces affects only the calling thread, so the thread must
be a fresh one that nothing else will ever use (not a pool thread): `pin` starts one.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading

from .cgroups import unescape_mountinfo

CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x04000000, 0x08000000, 0x40000000
NAMESPACE_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS}
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 2, 4, 8, 4096
MNT_DETACH = 2
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """Lazily unmount; a target that is not mounted (or is gone) is fine."""
    if _libc.umount2(_b(target), flags) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def loopback_up() -> None:
    """`ip link set lo up` in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def _pin_here(files: dict[str, str], hostname: str | None, up: bool) -> None:
    """Runs in a fresh thread: new namespaces for it, then bind mounts that outlive it."""
    flags = 0
    for kind in files:
        flags |= NAMESPACE_FLAGS[kind]
    unshare(flags)
    if hostname and "uts" in files:
        sethostname(hostname)
    if up and "net" in files:
        loopback_up()
    done = []
    try:
        for kind, path in files.items():
            mount(f"/proc/thread-self/ns/{kind}", path, None, MS_BIND)
            done.append(path)
    except BaseException:
        for path in done:
            umount(path)
        raise


def pin_namespaces(files: dict[str, str], *, hostname: str | None, loopback: bool) -> None:
    """Create and pin new namespaces onto `files` ({"net": path, ...}; the files exist)."""
    failure: list[BaseException] = []

    def body():
        try:
            _pin_here(files, hostname, loopback)
        except BaseException as e:  # re-raised in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=body, name="tinykube-pin-namespaces", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def mount_points_under(directory: str) -> list[str]:
    """Mount points at or below `directory` (from /proc/self/mountinfo), deepest first."""
    prefix = os.path.abspath(directory)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = unescape_mountinfo(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


class LinuxHost:
    """The sandbox's side effects on the real machine."""

    async def pin(self, files: dict[str, str], *, hostname: str | None, loopback: bool) -> None:
        if files:
            await asyncio.to_thread(pin_namespaces, files, hostname=hostname, loopback=loopback)

    def mount_tmpfs(self, target: str, options: str) -> None:
        mount("shm", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)

    def unmount(self, target: str) -> None:
        umount(target)

    def mounts_under(self, directory: str) -> list[str]:
        return mount_points_under(directory)
