"""One typed tree of container-runtime errors, each carrying the kubelet reason it maps to.

The agent puts `err.reason` and `str(err)` into the container's waiting (or terminated)
state and into the Failed event, as the kubelet does:

    RuntimeError_
    ├── CreateContainerConfigError  reason CreateContainerConfigError: the pod's settings
    │                               cannot be honoured (runAsNonRoot against a root image,
    │                               an unknown user name ...)
    ├── CreateContainerError        reason CreateContainerError: no spec could be made
    ├── StartError                  reason StartError (terminated, exit code 128): `runc
    │                               create` or `runc start` failed (missing binary ...)
    ├── RuncError                   any other failed runc command (message = runc's words)
    │   ├── ContainerNotFound          "container does not exist"
    │   └── ContainerNotRunning        "container not running" (kill after exit)
    └── SandboxError                creating or tearing down a pod sandbox failed
"""

from __future__ import annotations


class RuntimeError_(Exception):
    """Base of every error raised by tinykube.agent.runtime."""

    reason = "RunContainerError"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CreateContainerConfigError(RuntimeError_):
    reason = "CreateContainerConfigError"


class CreateContainerError(RuntimeError_):
    reason = "CreateContainerError"


class StartError(RuntimeError_):
    reason = "StartError"
    exit_code = 128  # what containerd reports for a container that never ran


class RuncError(RuntimeError_):
    """A runc command failed; `command` is its argv, `stderr` what it said."""

    def __init__(self, message: str, *, command: tuple[str, ...] = (), stderr: str = ""):
        super().__init__(message)
        self.command, self.stderr = command, stderr


class ContainerNotFound(RuncError):
    reason = "ContainerNotFound"


class ContainerNotRunning(RuncError):
    pass


class SandboxError(RuntimeError_):
    reason = "FailedCreatePodSandBox"
