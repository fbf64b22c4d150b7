"""Facts about this machine the spec generator needs, gathered once at agent start into a
RuntimeConfig, and reading an image's user database from its rootfs."""

from __future__ import annotations

import dataclasses
import os
import resource
import stat

from .cgroups import CgroupLayout
from .model import ALL_CAPABILITIES, RuntimeConfig

# containerd's HostDevices skips these directories and files of /dev.
_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
_SKIP_FILES = {"console"}
CAP_SYS_RESOURCE = 24


def probe_runtime_config(**overrides) -> RuntimeConfig:
    """A RuntimeConfig from the running kernel and machine; keyword arguments win."""
    layout = CgroupLayout.detect()
    facts = dict(cgroup_v2=layout.version == 2, memory_capacity=memory_capacity(),
                 swap_accounting=swap_accounting(layout), nofile=max_nofile(),
                 all_capabilities=kernel_capabilities(), host_devices=tuple(host_devices()),
                 min_oom_score_adj=min_oom_score_adj())
    facts.update(overrides)
    return dataclasses.replace(RuntimeConfig(), **facts)


def kernel_capabilities() -> tuple[str, ...]:
    """The capabilities this kernel knows (runc refuses unknown ones)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        return ALL_CAPABILITIES
    return ALL_CAPABILITIES[:last + 1]


def memory_capacity() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def swap_accounting(layout: CgroupLayout) -> bool:
    """Whether the kernel can limit a cgroup's swap: v1's memsw files (swapaccount=1), or
    v2's memory.swap.max, which only non-root cgroups have."""
    root = layout.dir("memory", "/")
    if root is None:
        return False
    if layout.version == 1:
        return os.path.exists(os.path.join(root, "memory.memsw.limit_in_bytes"))
    children = (e.path for e in os.scandir(root) if e.is_dir())
    return any(os.path.exists(os.path.join(c, "memory.swap.max")) for c in children)


def max_nofile(wanted: int = 1048576) -> int:
    """RLIMIT_NOFILE for containers: 1048576 (what containers inherited from containerd's
    LimitNOFILE=infinity), but no more than the kernel's nr_open, nor, without
    CAP_SYS_RESOURCE (some sandboxed machines), than our own hard limit."""
    limit = min(wanted, nr_open())
    if not _has_capability(CAP_SYS_RESOURCE):
        limit = min(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    return limit


def min_oom_score_adj() -> int:
    """-1000 when we may lower a process's oom_score_adj, else our own value (lowering
    needs CAP_SYS_RESOURCE)."""
    if _has_capability(CAP_SYS_RESOURCE):
        return -1000
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read())


def _has_capability(number: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> number & 1)
    return False


def nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1048576


def host_devices(root: str = "/dev") -> list[dict]:
    """linux.devices entries for every device node under /dev (privileged containers)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            if name not in _SKIP_FILES:
                device = _device(os.path.join(dirpath, name))
                out += [device] if device else []
    return sorted(out, key=lambda d: d["path"])


def _device(path: str) -> dict | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
    if not kind:
        return None
    return {"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def read_user_db(rootfs: str) -> tuple[str | None, str | None]:
    """The image's /etc/passwd and /etc/group text (None when absent). Symlinks are not
    followed out of the rootfs: a link is read only if it stays inside."""
    return _read_in(rootfs, "etc/passwd"), _read_in(rootfs, "etc/group")


def _read_in(rootfs: str, relative: str) -> str | None:
    base = os.path.realpath(rootfs)
    path = os.path.realpath(os.path.join(base, relative))
    if not path.startswith(base + os.sep):
        return None
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None
