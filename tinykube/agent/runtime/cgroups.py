"""cgroups, v1 and v2: where a container's and a pod's cgroup directories are, what they
use (cpu time, memory working set, pids), which limits are in force, OOM kill counts, and
removing a pod's directories once its containers are gone.

runc creates the directories (cgroupfs driver; in hybrid mode in every v1 hierarchy plus
the unified one); this module only reads them and removes what runc leaves behind: the
pod level. `CgroupLayout.from_mountinfo` is pure; the rest reads files.
Working set is usage minus inactive file pages, as cAdvisor (and so the kubelet) counts it.
"""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass, field

UNLIMITED = 1 << 62  # v1 reports "no limit" as a number near 2**63


@dataclass(frozen=True)
class Usage:
    cpu_usage_ns: int
    memory_usage_bytes: int
    memory_working_set_bytes: int
    pids: int


@dataclass(frozen=True)
class Limits:
    """None means unlimited. cpu_shares is v1's cpu.shares; cpu_weight v2's cpu.weight."""

    cpu_shares: int | None = None
    cpu_weight: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    memory_bytes: int | None = None
    memory_swap_bytes: int | None = None  # v1: memory+swap; v2: swap alone
    pids: int | None = None


@dataclass(frozen=True)
class CgroupLayout:
    """Mount points: v1 controller (or name=...) -> directory, and the cgroup2 mount."""

    v1: dict[str, str] = field(default_factory=dict)
    unified: str | None = None

    @property
    def version(self) -> int:
        return 1 if self.v1 else 2

    @classmethod
    def from_mountinfo(cls, text: str) -> "CgroupLayout":
        v1: dict[str, str] = {}
        unified = None
        for line in text.splitlines():
            mount_point, fstype, options = _mountinfo_fields(line)
            if fstype == "cgroup2" and unified is None:
                unified = mount_point
            elif fstype == "cgroup":
                for controller in _controllers(options):
                    v1.setdefault(controller, mount_point)
        return cls(v1, unified)

    @classmethod
    def detect(cls) -> "CgroupLayout":
        with open("/proc/self/mountinfo") as f:
            return cls.from_mountinfo(f.read())

    def hierarchies(self) -> list[str]:
        """Every mount point a cgroup path exists under (each once)."""
        points = list(dict.fromkeys(self.v1.values()))
        return points + ([self.unified] if self.unified else [])

    def dir(self, controller: str, path: str) -> str | None:
        """The directory of `path` holding `controller`'s files."""
        base = self.v1.get(controller) if self.v1 else self.unified
        return os.path.join(base, path.lstrip("/")) if base else None


def _mountinfo_fields(line: str) -> tuple[str, str, str]:
    before, sep, after = line.partition(" - ")
    if not sep:
        return "", "", ""
    left, right = before.split(), after.split()
    return (unescape_mountinfo(left[4]) if len(left) > 4 else "", right[0] if right else "",
            right[2] if len(right) > 2 else "")


def unescape_mountinfo(path: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _controllers(options: str) -> list[str]:
    known = {"rw", "ro"}
    return [o for o in options.split(",") if o and o not in known]


class Cgroups:
    """Reads and removes cgroups of one layout."""

    def __init__(self, layout: CgroupLayout | None = None):
        self.layout = layout or CgroupLayout.detect()

    @property
    def v2(self) -> bool:
        return self.layout.version == 2

    def memory_dir(self, path: str) -> str | None:
        return self.layout.dir("memory", path)

    def exists(self, path: str) -> bool:
        return any(os.path.isdir(os.path.join(h, path.lstrip("/"))) for h in self.layout.hierarchies())

    # --- usage -------------------------------------------------------------------------

    def usage(self, path: str) -> Usage:
        """Of a container's or a pod's cgroup (v1 and v2 counters are hierarchical)."""
        memory = self._memory_usage(path)
        inactive = self._stat(self.layout.dir("memory", path), "memory.stat").get(
            "inactive_file" if self.v2 else "total_inactive_file", 0)
        return Usage(cpu_usage_ns=self._cpu_usage_ns(path), memory_usage_bytes=memory,
                     memory_working_set_bytes=max(0, memory - inactive),
                     pids=_read_int(self.layout.dir("pids", path), "pids.current") or 0)

    def _cpu_usage_ns(self, path: str) -> int:
        if self.v2:
            return self._stat(self.layout.dir("cpu", path), "cpu.stat").get("usage_usec", 0) * 1000
        return _read_int(self.layout.dir("cpuacct", path), "cpuacct.usage") or 0

    def _memory_usage(self, path: str) -> int:
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return _read_int(self.layout.dir("memory", path), name) or 0

    @staticmethod
    def _stat(directory: str | None, name: str) -> dict[str, int]:
        text = _read(directory, name) or ""
        pairs = (line.split() for line in text.splitlines())
        return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}

    def oom_kills(self, path: str) -> int:
        """How many processes the OOM killer killed in this cgroup."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        return self._stat(self.layout.dir("memory", path), name).get("oom_kill", 0)

    # --- limits ------------------------------------------------------------------------

    def limits(self, path: str) -> Limits:
        return self._limits_v2(path) if self.v2 else self._limits_v1(path)

    def _limits_v1(self, path: str) -> Limits:
        cpu, mem = self.layout.dir("cpu", path), self.layout.dir("memory", path)
        quota = _read_int(cpu, "cpu.cfs_quota_us")
        return Limits(cpu_shares=_read_int(cpu, "cpu.shares"),
                      cpu_quota_us=None if quota is None or quota < 0 else quota,
                      cpu_period_us=_read_int(cpu, "cpu.cfs_period_us"),
                      memory_bytes=_limit(_read_int(mem, "memory.limit_in_bytes")),
                      memory_swap_bytes=_limit(_read_int(mem, "memory.memsw.limit_in_bytes")),
                      pids=_limit(_read_int(self.layout.dir("pids", path), "pids.max")))

    def _limits_v2(self, path: str) -> Limits:
        d = self.layout.dir("cpu", path)
        quota, _, period = (_read(d, "cpu.max") or "max").strip().partition(" ")
        return Limits(cpu_weight=_read_int(d, "cpu.weight"),
                      cpu_quota_us=None if quota == "max" else int(quota),
                      cpu_period_us=int(period) if period else None,
                      memory_bytes=_limit(_read_int(d, "memory.max")),
                      memory_swap_bytes=_limit(_read_int(d, "memory.swap.max")),
                      pids=_limit(_read_int(d, "pids.max")))

    # --- removal -----------------------------------------------------------------------

    def remove(self, path: str, *, timeout: float = 5.0) -> None:
        """rmdir `path` and everything below it in every hierarchy, children first. A
        directory whose last process has just died may report EBUSY for a moment: retry
        until `timeout`, then raise."""
        deadline = time.monotonic() + timeout
        for hierarchy in self.layout.hierarchies():
            top = os.path.join(hierarchy, path.lstrip("/"))
            for directory in _bottom_up(top):
                _rmdir(directory, deadline)


def _bottom_up(top: str) -> list[str]:
    if not os.path.isdir(top):
        return []
    below = [root for root, _dirs, _files in os.walk(top, topdown=False)]
    return below  # os.walk bottom-up ends with `top` itself


def _rmdir(directory: str, deadline: float) -> None:
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _read(directory: str | None, name: str) -> str | None:
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_int(directory: str | None, name: str) -> int | None:
    text = (_read(directory, name) or "").strip()
    if text == "max":
        return UNLIMITED
    return int(text) if text.lstrip("-").isdigit() else None


def _limit(number: int | None) -> int | None:
    return None if number is None or number >= UNLIMITED else number
