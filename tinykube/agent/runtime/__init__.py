"""The container runtime of the node agent: OCI specs, runc, pod sandboxes, cgroups.

It owns turning a pod's container into a running runc container and knowing how it ended.
`container_spec` (spec.py) is a pure function from the pod, the container, the image config
and the paths the agent prepared to config.json, following containerd's CRI plugin and the
kubelet (args, env and `$(VAR)` expansion, user, containerd's default hardening, resources,
OOM score, mounts, namespaces). `Sandbox` pins a pod's network, IPC and UTS namespaces as
files (no pause process) and holds its /dev/shm, hostname, hosts and resolv.conf. `Runc`
runs containers through one small monitor process each (monitor.py), which outlives the
agent, writes the CRI-format log and records the exit status, so a restarted agent
re-adopts running containers and learns how stopped ones ended from disk alone.
`Cgroups` reads usage and limits on cgroup v1 and v2. Images, networking (CNI) and
volumes belong to sibling packages; the agent composes them.
"""

from .cgroups import CgroupLayout, Cgroups, Limits, Usage
from .errors import (ContainerNotFound, ContainerNotRunning, CreateContainerConfigError,
                     CreateContainerError, RuncError, RuntimeError_, SandboxError, StartError)
from .model import (ContainerStatus, ExitStatus, ImageConfig, RuntimeConfig, SandboxPaths, Spec,
                    State, VolumeMount)
from .process import expand
from .runc import Runc
from .sandbox import Sandbox, SandboxConfig
from .security import pod_warnings
from .spec import container_cgroup_path, container_spec, pod_cgroup_path

__all__ = [
    "CgroupLayout", "Cgroups", "ContainerNotFound", "ContainerNotRunning", "ContainerStatus",
    "CreateContainerConfigError", "CreateContainerError", "ExitStatus", "ImageConfig", "Limits",
    "Runc", "RuncError", "RuntimeConfig", "RuntimeError_", "Sandbox", "SandboxConfig",
    "SandboxError", "SandboxPaths", "Spec", "StartError", "State", "Usage", "VolumeMount",
    "container_cgroup_path", "container_spec", "expand", "pod_cgroup_path", "pod_warnings",
]
