"""Security contexts of containers and pods (ValidateSecurityContext, validatePodSpecSecurityContext).

User and group ids fit in uint32, procMount and seccomp/fsGroupChangePolicy enums,
the allowPrivilegeEscalation conflicts, and pod sysctls (syntax, uniqueness, not
namespaced sysctls of a namespace shared with the host).
"""

from __future__ import annotations

import re

from tinykube.api.errors import Cause

from .fields import GoRepr, as_dict, as_list, as_str, at, child, duplicate, invalid, is_int, not_supported, required
from .names import inclusive_range_error
from .paths import local_descending_path

MAX_ID = 4294967295
_SYSCTL_FMT = "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
_SYSCTL_RE = re.compile(_SYSCTL_FMT)


def id_causes(value, path: str) -> list[Cause]:
    if is_int(value) and not 0 <= value <= MAX_ID:
        return [invalid(path, value, inclusive_range_error(0, MAX_ID))]
    return []


def validate_security_context(ctx, path: str, host_users: bool = True) -> list[Cause]:
    if ctx is None:
        return []
    ctx = as_dict(ctx)
    causes = id_causes(ctx.get("runAsUser"), child(path, "runAsUser"))
    causes += id_causes(ctx.get("runAsGroup"), child(path, "runAsGroup"))
    causes += _proc_mount(ctx.get("procMount"), child(path, "procMount"), host_users)
    causes += seccomp_profile_causes(ctx.get("seccompProfile"), child(path, "seccompProfile"))
    if ctx.get("allowPrivilegeEscalation") is False:
        causes += _no_escalation_conflicts(ctx, path)
    return causes  # TODO: windowsOptions, appArmorProfile.


def _proc_mount(mode, path: str, host_users: bool) -> list[Cause]:
    if mode is None:
        return []
    if mode not in ("Default", "Unmasked"):
        return [not_supported(path, as_str(mode), ("Default", "Unmasked"))]
    if mode == "Unmasked" and host_users:
        return [invalid(path, mode, "`hostUsers` must be false to use `Unmasked`")]
    return []


def _no_escalation_conflicts(ctx: dict, path: str) -> list[Cause]:
    shown = GoRepr("&core.SecurityContext{...}")
    causes = []
    if ctx.get("privileged") is True:
        causes.append(invalid(path, shown, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
    if "CAP_SYS_ADMIN" in as_list(as_dict(ctx.get("capabilities")).get("add")):
        causes.append(invalid(path, shown, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
    return causes


def seccomp_profile_causes(profile, path: str) -> list[Cause]:
    if profile is None:
        return []
    profile = as_dict(profile)
    kind, local = profile.get("type"), profile.get("localhostProfile")
    causes: list[Cause] = []
    if not kind:
        causes.append(required(child(path, "type"), "type is required when seccompProfile is set"))
    elif kind not in ("Localhost", "RuntimeDefault", "Unconfined"):
        causes.append(not_supported(child(path, "type"), as_str(kind), ("Localhost", "RuntimeDefault", "Unconfined")))
    if kind == "Localhost":
        if local is None:
            return causes + [required(child(path, "localhostProfile"), "must be set when seccomp type is Localhost")]
        return causes + local_descending_path(as_str(local), child(path, "localhostProfile"))
    if local is not None:
        causes.append(invalid(child(path, "localhostProfile"), GoRepr("&core.SeccompProfile{...}"),
                              "can only be set when seccomp type is Localhost"))
    return causes


# --- pods ----------------------------------------------------------------------------


def validate_pod_security_context(spec: dict, path: str) -> list[Cause]:
    ctx = as_dict(spec.get("securityContext"))
    causes = id_causes(ctx.get("fsGroup"), child(path, "fsGroup"))
    causes += id_causes(ctx.get("runAsUser"), child(path, "runAsUser"))
    causes += id_causes(ctx.get("runAsGroup"), child(path, "runAsGroup"))
    for i, gid in enumerate(as_list(ctx.get("supplementalGroups"))):
        causes += id_causes(gid, at(child(path, "supplementalGroups"), i))
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        causes.append(invalid(child(path, "shareProcessNamespace"), True, "ShareProcessNamespace and HostPID cannot both be enabled"))
    causes += _sysctls(ctx.get("sysctls"), child(path, "sysctls"), spec)
    policy = ctx.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        causes.append(not_supported(child(path, "fsGroupChangePolicy"), as_str(policy), ("Always", "OnRootMismatch")))
    groups_policy = ctx.get("supplementalGroupsPolicy")
    if groups_policy is not None and groups_policy not in ("Merge", "Strict"):
        causes.append(not_supported(child(path, "supplementalGroupsPolicy"), as_str(groups_policy), ("Merge", "Strict")))
    return causes + seccomp_profile_causes(ctx.get("seccompProfile"), child(path, "seccompProfile"))


def _sysctls(sysctls, path: str, spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    names: set = set()
    for i, sysctl in enumerate(map(as_dict, as_list(sysctls))):
        name_path, name = child(at(path, i), "name"), as_str(sysctl.get("name"))
        if not name:
            causes.append(required(name_path))
        elif len(name) > 253 or not _SYSCTL_RE.match(name):
            causes.append(invalid(name_path, name, f"must have at most 253 characters and match regex {_SYSCTL_FMT}"))
        elif name in names:
            causes.append(duplicate(name_path, name))
        causes += _host_sysctl(name, spec, name_path)
        names.add(name)
    return causes


def _host_sysctl(name: str, spec: dict, path: str) -> list[Cause]:
    normalized = name.replace("/", ".")
    if spec.get("hostNetwork") is True and normalized.startswith("net."):
        return [invalid(path, name, "may not be specified when 'hostNetwork' is true")]
    ipc = normalized.startswith(("kernel.shm", "kernel.msg", "fs.mqueue.")) or normalized == "kernel.sem"
    if spec.get("hostIPC") is True and ipc:
        return [invalid(path, name, "may not be specified when 'hostIPC' is true")]
    return []
