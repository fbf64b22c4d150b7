"""A container's OCI runtime config (config.json), from its pod, the image config, the
sandbox and the paths the agent prepared: one pure function, `container_spec`.

It composes the rules of the sibling modules (process, users, security, resources,
mounts) the way containerd's CRI plugin composes its spec options for a kubelet request.
Namespaces: a new pid (unless hostPID) and mount namespace; the sandbox's network, IPC and
UTS namespaces joined by path (absent for hostNetwork / hostIPC: the host's are used);
a new cgroup namespace on cgroup v2 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import mounts as mnt
from . import process, resources, security, users
from .model import ImageConfig, RuntimeConfig, SandboxPaths, Spec, VolumeMount

OCI_VERSION = "1.0.2"


def pod_cgroup_path(runtime: RuntimeConfig, pod_uid: str) -> str:
    """The pod's cgroup, relative to each hierarchy's root (cgroupfs driver)."""
    return f"{runtime.cgroup_root.rstrip('/')}/pod{pod_uid}"


def container_cgroup_path(runtime: RuntimeConfig, pod_uid: str, container_id: str) -> str:
    return f"{pod_cgroup_path(runtime, pod_uid)}/{container_id}"


def container_spec(*, pod: Mapping, container: Mapping, image: ImageConfig, rootfs: str,
                   env: Sequence[str], sandbox: SandboxPaths, container_id: str,
                   volumes: Sequence[VolumeMount] = (), runtime: RuntimeConfig = RuntimeConfig(),
                   passwd: str | None = None, group: str | None = None) -> Spec:
    """config.json for one container. `env` is the container's resolved environment
    ("K=V", in the kubelet's order); `passwd`/`group` the image's /etc files, needed only
    for a user given by name or for supplementary groups. Raises CreateContainerConfigError
    or CreateContainerError as the kubelet would report them."""
    config = {
        "ociVersion": OCI_VERSION,
        "process": _process(pod, container, image, env, sandbox, runtime, passwd, group),
        "root": {"path": rootfs, "readonly": security.read_only_rootfs(container)},
        "mounts": _mounts(container, sandbox, volumes),
        "annotations": _annotations(pod, container),
        "linux": _linux(pod, container, sandbox, container_id, volumes, runtime),
    }
    if sandbox.utsns:
        config["hostname"] = sandbox.hostname
    return Spec(config, tuple(security.warnings(pod, container)))


def _process(pod, container, image: ImageConfig, env, sandbox: SandboxPaths,
             runtime: RuntimeConfig, passwd, group) -> dict:
    args = process.process_args(command=container.get("command"), args=container.get("args"),
                                entrypoint=image.entrypoint, cmd=image.cmd,
                                env=process.env_map(env))
    user = users.resolve_user(pod, container, image.user, passwd=passwd, group=group)
    caps = security.capabilities(container, runtime.all_capabilities)
    out = {
        "terminal": bool(container.get("tty")),  # the monitor gets the terminal (--console-socket)
        "user": user.to_oci(),
        "args": args,
        "env": process.process_env(hostname=sandbox.hostname, image_env=image.env, container_env=env),
        "cwd": process.working_dir(container, image.working_dir),
        "capabilities": security.capabilities_oci(caps),
        "noNewPrivileges": security.no_new_privileges(container),
        "oomScoreAdj": max(runtime.min_oom_score_adj,
                           resources.oom_score_adj(pod, container, runtime.memory_capacity)),
    }
    if runtime.nofile:
        out["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": runtime.nofile, "soft": runtime.nofile}]
    return out


def _mounts(container, sandbox: SandboxPaths, volumes: Sequence[VolumeMount]) -> list[dict]:
    defaults = mnt.default_mounts(privileged=security.privileged(container))
    cri = mnt.sandbox_mounts(sandbox, read_only_rootfs=security.read_only_rootfs(container))
    return mnt.merge(defaults, cri + mnt.volume_mounts(volumes))


def _linux(pod, container, sandbox: SandboxPaths, container_id: str,
           volumes: Sequence[VolumeMount], runtime: RuntimeConfig) -> dict:
    privileged = security.privileged(container)
    res = resources.linux_resources(container, runtime)
    res["devices"] = [{"allow": privileged, "access": "rwm"}]
    out = {
        "resources": res,
        "cgroupsPath": container_cgroup_path(runtime, _pod_uid(pod), container_id),
        "namespaces": namespaces(pod, sandbox, cgroup_v2=runtime.cgroup_v2),
        "maskedPaths": security.masked_paths(container),
        "readonlyPaths": security.readonly_paths(container),
    }
    if privileged and runtime.host_devices:
        out["devices"] = [dict(d) for d in runtime.host_devices]
    if sysctls := security.sysctls(pod):
        out["sysctl"] = sysctls
    if propagation := mnt.rootfs_propagation(volumes):
        out["rootfsPropagation"] = propagation
    return out


def namespaces(pod: Mapping, sandbox: SandboxPaths, *, cgroup_v2: bool) -> list[dict]:
    """containerd's order: pid, ipc, uts, mount, network, then cgroup."""
    out = [] if (pod.get("spec") or {}).get("hostPID") else [{"type": "pid"}]
    if sandbox.ipcns:
        out.append({"type": "ipc", "path": sandbox.ipcns})
    if sandbox.utsns:
        out.append({"type": "uts", "path": sandbox.utsns})
    out.append({"type": "mount"})
    if sandbox.netns:
        out.append({"type": "network", "path": sandbox.netns})
    if cgroup_v2:
        out.append({"type": "cgroup"})
    return out


def _annotations(pod: Mapping, container: Mapping) -> dict:
    """containerd's CRI annotations: they let a restarted agent map runc containers back
    to pods from `runc list` alone."""
    meta = pod.get("metadata") or {}
    return {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": container.get("name", ""),
        "io.kubernetes.cri.sandbox-name": meta.get("name", ""),
        "io.kubernetes.cri.sandbox-namespace": meta.get("namespace", ""),
        "io.kubernetes.cri.sandbox-uid": meta.get("uid", ""),
        # the monitor keeps a stdin pipe for these (runc.stdio_mode); absent when false
        **({"tinykube.io/stdin": "true"} if container.get("stdin") else {}),
        **({"tinykube.io/stdin-once": "true"} if container.get("stdin") and container.get("stdinOnce") else {}),
    }


def _pod_uid(pod: Mapping) -> str:
    return (pod.get("metadata") or {}).get("uid", "")
