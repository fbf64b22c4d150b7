"""The records the container runtime passes around: what the agent hands to spec
generation, and what it reads back about containers. Frozen dataclasses, no behaviour
beyond small conversions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# The 14 capabilities of containerd's default spec for CRI (REFERENCE.md, "Node agent"),
# in containerd's order.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability Linux knows, numbered as in linux/capability.h; a privileged container
# (or `add: [ALL]`) gets those up to the running kernel's /proc/sys/kernel/cap_last_cap.
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


@dataclass(frozen=True)
class RuntimeConfig:
    """Node-wide settings the agent gathers once (its flags and the machine's facts)."""

    cgroup_root: str = "/tinykube"     # every pod's cgroup lives under this (cgroupfs driver)
    cgroup_v2: bool = False            # unified hierarchy: adds a cgroup namespace
    memory_capacity: int = 0           # node memory in bytes, for Burstable oom_score_adj
    pids_limit: int = 0                # per container (the kubelet's podPidsLimit); 0: none
    nofile: int = 1048576              # RLIMIT_NOFILE soft=hard; 0: inherit (containerd's CRI)
    min_oom_score_adj: int = -1000     # without CAP_SYS_RESOURCE, our own (containerd's
                                       # restrict_oom_score_adj): lower would fail in runc
    cpu_cfs_quota: bool = True         # the kubelet's --cpu-cfs-quota
    swap_accounting: bool = False      # memsw / memory.swap.max present: forbid swap (NoSwap)
    all_capabilities: tuple[str, ...] = ALL_CAPABILITIES  # what "ALL"/privileged means here
    host_devices: tuple[dict, ...] = ()  # linux.devices entries a privileged container gets


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config (`config` object) a container spec uses."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""

    @classmethod
    def from_oci(cls, config: dict | None) -> "ImageConfig":
        """From an image config blob's `config` object (Docker's capitalised keys)."""
        c = config or {}
        return cls(entrypoint=tuple(c.get("Entrypoint") or ()), cmd=tuple(c.get("Cmd") or ()),
                   env=tuple(c.get("Env") or ()), working_dir=c.get("WorkingDir") or "",
                   user=c.get("User") or "", stop_signal=c.get("StopSignal") or "")


@dataclass(frozen=True)
class VolumeMount:
    """One bind mount the agent prepared for a container (a volume, subPath, or a file such
    as /dev/termination-log). `propagation` uses Kubernetes' words: None,
    HostToContainer, Bidirectional."""

    source: str
    destination: str
    read_only: bool = False
    propagation: str = "None"


@dataclass(frozen=True)
class SandboxPaths:
    """Where a pod sandbox keeps what its containers join or bind-mount. A namespace path of
    None means the host's namespace (hostNetwork, hostIPC)."""

    netns: str | None
    ipcns: str | None
    utsns: str | None
    shm: str            # the pod's /dev/shm (the host's /dev/shm for hostIPC pods)
    hostname: str       # the pod's hostname (the node's for hostNetwork pods)
    hostname_file: str | None = None
    hosts_file: str | None = None
    resolv_conf: str | None = None


@dataclass(frozen=True)
class Spec:
    """A generated OCI runtime config (config.json) and what the user wrote that it could
    not honour (the agent turns each warning into a pod event)."""

    config: dict
    warnings: tuple[str, ...] = ()


class State(str, enum.Enum):
    """A container's lifecycle as the runtime sees it (runc's states plus UNKNOWN)."""

    CREATED = "created"   # runc create done, process waiting for `runc start`
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"   # the process is gone: see ContainerStatus.exit
    UNKNOWN = "unknown"   # neither runc nor the monitor knows it any more


@dataclass(frozen=True)
class ExitStatus:
    """How a container's process ended, as its monitor recorded it (exit.json)."""

    exit_code: int
    reason: str = ""         # Completed, Error, OOMKilled, StartError, Unknown
    message: str = ""
    signal: int = 0          # the killing signal, when the process died of one
    finished_at: str = ""    # RFC 3339 with nanoseconds, UTC
    finished_at_ns: int = 0  # the same, as Unix nanoseconds (for back-off arithmetic)
    oom_killed: bool = False

    @classmethod
    def from_record(cls, record: dict) -> "ExitStatus":
        return cls(exit_code=int(record.get("exitCode", 255)), reason=record.get("reason", ""),
                   message=record.get("message", ""), signal=int(record.get("signal", 0)),
                   finished_at=record.get("finishedAt", ""),
                   finished_at_ns=int(record.get("finishedAtNs", 0)),
                   oom_killed=bool(record.get("oomKilled", False)))


@dataclass(frozen=True)
class ContainerStatus:
    """Everything the runtime knows about one container, read from disk only (runc's state
    root and the monitor's directory), so a restarted agent sees what the old one saw."""

    id: str
    state: State
    pid: int = 0
    created_at: str = ""
    started_at: str = ""
    started_at_ns: int = 0
    exit: ExitStatus | None = None
    monitor_alive: bool = False
    annotations: dict = field(default_factory=dict, hash=False, compare=False)
