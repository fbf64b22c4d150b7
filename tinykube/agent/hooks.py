"""Container lifecycle hooks and the kubelet's way of killing a container.

- `run_hook`: a postStart or preStop handler (exec through the runtime's exec_sync,
  httpGet from the agent into the pod's network namespace, sleep); '' when it
  succeeded, else the kubelet's message (pkg/kubelet/lifecycle/handlers.go). As
  upstream, an httpGet hook fails only when the request cannot be made, not on a
  status code.
- `kill_container`: the kubelet's killContainer: the preStop hook first, counting
  against the grace period (waited for at most that long), then the stop signal with
  what is left of it, at least MIN_GRACE seconds (upstream's 2 s extension when the hook
  overran), then SIGKILL.
- `termination_stages`: the order a pod's containers stop in: the app containers (and a
  running regular init container) together, then the sidecars (init containers with
  restartPolicy Always) one at a time in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from tinykube.agent.probes import handlers

log = logging.getLogger(__name__)

MIN_GRACE = 2  # the kubelet's minimumGracePeriodInSeconds


def pod_ref(pod: dict) -> str:
    """The kubelet's format.Pod: name_namespace(uid)."""
    md = pod["metadata"]
    return f'{md["name"]}_{md.get("namespace", "")}({md.get("uid", "")})'


def hook_kind(handler: dict) -> str:
    return next((k for k in ("exec", "httpGet", "sleep", "tcpSocket") if handler.get(k) is not None), "")


def exec_failure(command: list[str], container: str, pod: dict, *, exit_code: int, stderr: str,
                 output: str) -> str:
    """The CRI client's error names stderr only; the message quotes all output (Go's %q)."""
    error = f"command '{' '.join(command)}' exited with {exit_code}: {stderr}"
    return (f'Exec lifecycle hook ([{" ".join(command)}]) for Container "{container}" in Pod '
            f'"{pod_ref(pod)}" failed - error: {error}, message: {_go_quote(output)}')


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def http_failure(path: str, container: str, pod: dict, error: str) -> str:
    return (f'HTTP lifecycle hook ({path}) for Container "{container}" in Pod "{pod_ref(pod)}" '
            f"failed - error: {error}")


async def run_hook(handler: dict, *, pod: dict, container: dict, instance_id: str, runtime,
                   target: handlers.Target) -> str:
    kind, name = hook_kind(handler), container["name"]
    if kind == "exec":
        command = list(handler["exec"].get("command") or [])
        try:
            result = await runtime.exec_sync(instance_id, command, timeout=None)
        except Exception as exc:
            return (f"Exec lifecycle hook ([{' '.join(command)}]) for Container \"{name}\" in Pod "
                    f"\"{pod_ref(pod)}\" failed - error: {exc}, message: \"\"")
        if result.exit_code != 0:
            return exec_failure(command, name, pod, exit_code=result.exit_code,
                                stderr=result.stderr.decode(errors="replace"), output=result.output)
        return ""
    if kind == "httpGet":
        action = handler["httpGet"]
        try:
            url = handlers.http_url(action, container, target)
            await handlers.http_get(url, action, target)
        except (OSError, ValueError, handlers.ProbeError) as exc:
            error = f'Get "{url}": {exc}' if "url" in locals() else str(exc)
            return http_failure(action.get("path") or "/", name, pod, error)
        return ""
    if kind == "sleep":
        await asyncio.sleep(max(0, int(handler["sleep"].get("seconds") or 0)))
        return ""
    return f"invalid handler: {kind or 'none'} is not a lifecycle handler tinykube supports"


def prestop_remaining(grace: float, elapsed: float) -> float:
    """What is left of the grace period after the preStop hook, at least MIN_GRACE."""
    return max(MIN_GRACE, grace - int(elapsed))


async def kill_container(runtime, instance_id: str, *, grace: float, pre_stop=None,
                         clock=time.monotonic) -> None:
    """preStop (bounded by the grace period), then stop with the rest of it."""
    if pre_stop is not None and grace > 0:
        start = clock()
        try:
            await asyncio.wait_for(pre_stop(), grace)
        except asyncio.TimeoutError:
            log.info("preStop hook of %s did not finish in the grace period (%gs)", instance_id, grace)
        grace = prestop_remaining(grace, clock() - start)
    await runtime.stop(instance_id, grace=grace)


def termination_stages(spec: dict, names: set[str]) -> list[list[str]]:
    """The containers in `names` in the order they stop: app and regular init containers
    together, then each sidecar alone, the last started first."""
    sidecars = [c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    first = sorted(n for n in names if n not in sidecars)
    stages = [first] if first else []
    return stages + [[n] for n in reversed(sidecars) if n in names]
