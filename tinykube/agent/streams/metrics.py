"""Resource metrics for `kubectl top`: cpu as a rate, memory as the working set.

cgroup counters are cumulative (cpu ns), so a cpu figure needs two samples: the agent
samples every container's and the node's cgroup every SAMPLE_SECONDS and, when asked,
takes a fresh sample and divides the cpu used since the oldest sample still within
MAX_WINDOW (at least MIN_WINDOW old) by the time between them, as metrics-server does
with two kubelet scrapes. Memory is the working set (usage - inactive file pages, the
kubelet's figure) of the fresh sample. `rate`, `pick_base` and the quantity formats
are pure; `Sampler` reads cgroups.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

SAMPLE_SECONDS = 5.0
MIN_WINDOW = 1.0
MAX_WINDOW = 15.0


@dataclass(frozen=True)
class Sample:
    time: float             # Unix seconds
    cpu_ns: int             # cumulative cpu time
    memory_working_set: int


@dataclass(frozen=True)
class Point:
    """A metrics.k8s.io figure: rate over [start, end]."""

    timestamp: float
    window: float
    nanocores: int
    memory_bytes: int


def pick_base(samples, now: float, *, min_age: float = MIN_WINDOW, max_age: float = MAX_WINDOW) -> Sample | None:
    """The oldest sample no older than max_age and at least min_age old."""
    for sample in samples:
        age = now - sample.time
        if min_age <= age <= max_age:
            return sample
    return None


def rate(base: Sample, current: Sample) -> Point | None:
    """cpu used between two samples per second (nanocores); None for no usable window
    (a counter that went back means a new cgroup: no rate yet)."""
    window = current.time - base.time
    used = current.cpu_ns - base.cpu_ns
    if window <= 0 or used < 0:
        return None
    return Point(timestamp=current.time, window=window, nanocores=int(used / window),
                 memory_bytes=current.memory_working_set)


def cpu_quantity(nanocores: int) -> str:
    """As metrics-server writes cpu: nanocores ("1000234n"); kubectl prints millicores."""
    return f"{nanocores}n"


def memory_quantity(size: int) -> str:
    """Memory in Ki, as metrics-server reports the working set."""
    return f"{size // 1024}Ki"


def window_string(seconds: float) -> str:
    """A Go duration as metav1.Duration marshals it ("10.5s", "15s")."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def node_usage_from_proc(stat: str, meminfo: str, hz: int = 100) -> tuple[int, int]:
    """(cpu ns, working set bytes) of the node from /proc/stat and /proc/meminfo, for
    when the root cgroup has no counters (cgroup v2 root): busy jiffies and
    MemTotal - MemAvailable."""
    cpu_ns = 0
    for line in stat.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            busy = sum(fields[:8]) - fields[3] - (fields[4] if len(fields) > 4 else 0)
            cpu_ns = busy * 1_000_000_000 // hz
            break
    mem = {}
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            mem[key] = int(parts[0]) * 1024
    return cpu_ns, max(0, mem.get("MemTotal", 0) - mem.get("MemAvailable", 0))


class Sampler:
    """Keeps recent samples per key (a cgroup path, or "" for the node)."""

    def __init__(self, read, clock=time.time):
        """`read(key)` -> (cpu ns, working set) or None when the cgroup is gone."""
        self.read, self.clock = read, clock
        self.samples: dict[str, deque[Sample]] = {}

    def sample(self, keys) -> dict[str, Sample]:
        now = self.clock()
        fresh = {}
        for key in keys:
            value = self.read(key)
            if value is None:
                continue
            fresh[key] = Sample(now, *value)
            history = self.samples.setdefault(key, deque())
            history.append(fresh[key])
            while history and now - history[0].time > MAX_WINDOW + SAMPLE_SECONDS:
                history.popleft()
        for gone in set(self.samples) - set(keys):
            del self.samples[gone]
        return fresh

    def points(self, keys) -> dict[str, Point]:
        """A fresh sample of each key and its rate over the best window."""
        history = {k: list(self.samples.get(k, ())) for k in keys}
        fresh = self.sample(keys)
        out = {}
        for key, current in fresh.items():
            base = pick_base(history.get(key, ()), current.time)
            point = rate(base, current) if base else None
            if point is not None:
                out[key] = point
        return out
