"""Container hardening: containerd's default spec for CRI, adjusted by securityContext
(pure functions).

Defaults (REFERENCE.md, "Node agent"): the 14 default capabilities in the bounding,
effective and permitted sets (none inheritable or ambient, as containerd since the 2022
inheritable-capabilities fix); the masked and read-only /proc and /sys paths; no_new_privs
only when allowPrivilegeEscalation is false. `capabilities.add/drop` work as containerd's
WithCapabilities: "ALL" in add means every capability, "ALL" in drop means none, then the
named ones are added, then the named ones dropped (drop wins). privileged: every
capability, nothing masked or read-only, writable /sys, every device.

What is not supported yet is reported as a warning string, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .model import DEFAULT_CAPABILITIES
from .users import effective

MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def privileged(container: Mapping) -> bool:
    return bool((container.get("securityContext") or {}).get("privileged"))


def capabilities(container: Mapping, all_capabilities: Sequence[str]) -> list[str]:
    """The bounding = effective = permitted set."""
    if privileged(container):
        return list(all_capabilities)
    caps = (container.get("securityContext") or {}).get("capabilities") or {}
    add, drop = list(caps.get("add") or ()), list(caps.get("drop") or ())
    current = list(DEFAULT_CAPABILITIES)
    if any(c.upper() == "ALL" for c in add):
        current = list(all_capabilities)
    if any(c.upper() == "ALL" for c in drop):
        current = []
    for name in (_cap_name(c) for c in add if c.upper() != "ALL"):
        if name not in current:
            current.append(name)
    dropped = {_cap_name(c) for c in drop if c.upper() != "ALL"}
    return [c for c in current if c not in dropped]


def _cap_name(name: str) -> str:
    """Kubernetes writes NET_ADMIN; runc wants CAP_NET_ADMIN. A name already carrying the
    prefix is accepted too (containerd would double it and fail at start)."""
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def capabilities_oci(caps: list[str]) -> dict:
    return {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)}


def no_new_privileges(container: Mapping) -> bool:
    """The kubelet's AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false
    (a container-only field)."""
    return (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is False


def masked_paths(container: Mapping) -> list[str]:
    """Nothing for privileged containers or procMount: Unmasked (the kubelet sends an empty
    list for Unmasked)."""
    if privileged(container) or _unmasked(container):
        return []
    return list(MASKED_PATHS)


def readonly_paths(container: Mapping) -> list[str]:
    if privileged(container) or _unmasked(container):
        return []
    return list(READONLY_PATHS)


def _unmasked(container: Mapping) -> bool:
    return (container.get("securityContext") or {}).get("procMount") == "Unmasked"


def read_only_rootfs(container: Mapping) -> bool:
    return bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem"))


def sysctls(pod: Mapping) -> dict[str, str]:
    """The pod's namespaced sysctls; runc sets them inside the pod's namespaces."""
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    return {s["name"]: str(s.get("value", "")) for s in psc.get("sysctls") or () if s.get("name")}


def warnings(pod: Mapping, container: Mapping) -> list[str]:
    """What this container asks for that tinykube does not do yet."""
    name = container.get("name", "")
    out = [f'container "{name}": {w}' for w in _container_warnings(pod, container)]
    return out


def _container_warnings(pod: Mapping, container: Mapping) -> list[str]:
    out = []
    seccomp = _profile(pod, container, "seccompProfile")
    if seccomp and seccomp != "Unconfined":
        out.append(f"seccompProfile type {seccomp} is not supported yet; "
                   "the container runs without a seccomp filter")
    apparmor = _profile(pod, container, "appArmorProfile")
    if apparmor and apparmor != "Unconfined":
        out.append(f"appArmorProfile type {apparmor} is not supported yet; "
                   "the container runs without an AppArmor profile")
    if effective(pod, container, "seLinuxOptions"):
        out.append("seLinuxOptions are not supported yet; no SELinux label is applied")
    return out


def _profile(pod: Mapping, container: Mapping, key: str) -> str:
    profile = effective(pod, container, key) or {}
    return profile.get("type", "") if isinstance(profile, Mapping) else ""


def pod_warnings(pod: Mapping) -> list[str]:
    """Pod-level settings the sandbox cannot honour yet."""
    spec = pod.get("spec") or {}
    out = []
    if spec.get("shareProcessNamespace"):
        out.append("shareProcessNamespace is not supported yet (the sandbox has no pause "
                   "process to hold a pod PID namespace); each container has its own")
    if spec.get("hostUsers") is False:
        out.append("hostUsers: false (user namespaces) is not supported yet; "
                   "containers run in the host's user namespace")
    return out
