"""The pod worker: one level-triggered loop per pod bound to this node.

`sync()` looks at the pod (from the API) and at what exists on the node (sandbox, network,
volumes, container instances found on disk), does the next steps, and reports status:

  sandbox (namespaces) -> CNI network -> volumes -> init containers, one at a time ->
  app containers -> restarts by restartPolicy with crash back-off -> status

and on deletion: stop the containers (SIGTERM, grace period, SIGKILL), tear everything
down, then remove the pod from the API. Because every step checks what exists first, a
restarted agent re-adopts running pods without restarting their containers.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
import time
from dataclasses import dataclass, field

from tinykube.agent import containers as ctr
from tinykube.agent import dnsconfig
from tinykube.agent import hooks, logrotate
from tinykube.agent import podstatus as ps
from tinykube.agent import volumes as vol
from tinykube.agent.env import EnvError, container_env
from tinykube.agent.images import errors as image_errors
from tinykube.agent.probes import ProbeManager, Target
from tinykube.agent.probes.rules import kill_message
from tinykube.agent.runtime import (CreateContainerConfigError, ImageConfig, RuntimeError_, Sandbox,
                                    SandboxConfig, VolumeMount, container_spec, etcfiles, linux,
                                    pod_cgroup_path)
from tinykube.api import errors

log = logging.getLogger(__name__)

PODS = ("v1", "Pod")
POLL_SECONDS = 0.5  # how soon a container's exit shows in the pod's status
IDLE_SECONDS = 10.0
ROTATE_SECONDS = 2.0  # how often the running containers' log sizes are looked at


@dataclass
class NodeContext:
    """What every pod worker of this node shares."""

    data_dir: str
    node_name: str
    host_ip: str
    client: object
    recorder: object
    runc: object
    images: object
    image_manager: object
    network: object | None
    runtime_config: object
    configmaps: object  # informer stores: get_by_name(namespace, name)
    secrets: object
    allocatable: dict = field(default_factory=dict)
    resolv_conf: str = ""
    dns: dnsconfig.ClusterDNS = field(default_factory=dnsconfig.ClusterDNS)
    log_max_size: int = logrotate.DEFAULT_MAX_SIZE   # containerLogMaxSize
    log_max_files: int = logrotate.DEFAULT_MAX_FILES  # containerLogMaxFiles

    @property
    def sandboxes_dir(self) -> str:
        return os.path.join(self.data_dir, "sandboxes")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodWorker:
    def __init__(self, ctx: NodeContext, pod: dict):
        self.ctx, self.pod = ctx, pod
        self.uid = pod["metadata"]["uid"]
        self.dirs = ctr.PodDirs(ctx.data_dir, pod)
        self.wake = asyncio.Event()
        self.backoff = ps.CrashBackOff()
        self.sandbox: Sandbox | None = None
        self.pod_ips: list[str] = []
        self.waiting: dict[str, tuple[str, str]] = {}  # container -> (reason, message)
        self.published: dict[str, dict] = {}  # volume -> the files last written to it
        self.finished = False
        self.probes = ProbeManager(runtime=ctx.runc, target=self._probe_target, on_change=self.wake.set,
                                   record_event=lambda t, r, m, c: self._event(t, r, m, self._field_path(c)))
        self.killing: dict[str, asyncio.Task] = {}  # instance -> its kill (probe or hook failure)
        self.apps_done = False  # a Job-like pod's app containers finished: sidecars stop for good
        self.next_rotation = 0.0

    def update(self, pod: dict | None) -> None:
        """The latest pod from the API (None: it is gone from the API)."""
        self.pod = pod
        self.wake.set()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:  # finished, or the agent stops: no probe or kill outlives its worker
            self.probes.stop_all()
            for task in self.killing.values():
                task.cancel()

    async def _loop(self) -> None:
        while not self.finished:
            try:
                await self.sync()
            except Exception:
                log.exception("pod %s: sync failed", self._name())
            if self.finished:
                break
            try:
                await asyncio.wait_for(self.wake.wait(), self._poll_seconds())
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    def _name(self) -> str:
        md = (self.pod or {}).get("metadata", {})
        return f'{md.get("namespace", "?")}/{md.get("name", self.uid)}'

    def _poll_seconds(self) -> float:
        phase = (self.pod or {}).get("status", {}).get("phase")
        return IDLE_SECONDS if phase in (ps.SUCCEEDED, ps.FAILED) else POLL_SECONDS

    def _field_path(self, container: dict) -> str:
        """spec.initContainers{name} for init containers and sidecars, as the kubelet says."""
        inits = (self.pod or {}).get("spec", {}).get("initContainers") or []
        if any(c.get("name") == container.get("name") for c in inits):
            return f"spec.initContainers{{{container['name']}}}"
        return _field_path(container)

    def _event(self, kind: str, reason: str, message: str, field_path: str = "") -> None:
        if self.pod is not None:
            self.ctx.recorder.record(self.pod, kind, reason, message, field_path=field_path)

    # === the sync loop ====================================================================

    async def sync(self) -> None:
        pod = self.pod
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            await self.terminate()
            return
        if pod.get("status", {}).get("phase") in (ps.SUCCEEDED, ps.FAILED):
            self.probes.stop_all()
            await self._release_network()  # a finished pod gives its IP back
            return
        spec = pod["spec"]
        ready = await self._prepare(pod)
        instances = ctr.instances_of(self.ctx.runc.ids(), self.uid)
        init_states = await self._sync_group(pod, spec.get("initContainers") or [], instances,
                                             init=True, allowed=ready)
        init_done = ps.init_done(spec, init_states)
        # once the app containers ran, the pod stays initialized (a restarting sidecar
        # does not hold them back)
        apps_began = any(instances.get(c["name"]) for c in spec["containers"])
        states = await self._sync_group(pod, spec["containers"], instances, init=False,
                                        allowed=ready and (init_done or apps_began))
        if not init_done and not apps_began:
            states = {n: s if s.state != ps.WAITING or s.reason != "ContainerCreating" else
                      ps.ContainerState(n, reason="PodInitializing", image=s.image)
                      for n, s in states.items()}
        if not self.apps_done and ps.pod_phase(spec, init_states, states) in (ps.SUCCEEDED, ps.FAILED):
            self.apps_done = True  # a Job-like pod is done whatever its sidecars do
            await self._stop_sidecars(pod, instances)
            init_states = await self._sync_group(pod, spec.get("initContainers") or [], instances,
                                                 init=True, allowed=ready)
        current = ctr.instances_of(self.ctx.runc.ids(), self.uid)
        self.probes.retain(str(i) for group in current.values() for i in group)
        await self._rotate_logs(current)
        await self._report(pod, init_states, states)

    async def _prepare(self, pod: dict) -> bool:
        """Sandbox, network and volumes; False (with events) while they cannot be made."""
        try:
            await self._ensure_sandbox(pod)
            await self._ensure_volumes(pod)
            return True
        except vol.VolumeError as exc:
            self._event("Warning", "FailedMount", str(exc))
        except Exception as exc:
            log.exception("pod %s: sandbox", self._name())
            self._event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
        return False

    # === sandbox and network ==============================================================

    async def _ensure_sandbox(self, pod: dict) -> None:
        spec = pod["spec"]
        if self.sandbox is None:
            self.sandbox = Sandbox.load(self.ctx.sandboxes_dir, self.uid)
        if self.sandbox is None:
            config = SandboxConfig(id=self.uid, hostname=etcfiles.uts_hostname(pod, self.ctx.dns.domain),
                                   host_network=bool(spec.get("hostNetwork")),
                                   host_ipc=bool(spec.get("hostIPC")), hosts="",
                                   resolv_conf=dnsconfig.pod_resolv_conf(
                                       pod, self.ctx.dns, lambda why, msg: self._event("Warning", why, msg)))
            self.sandbox = await Sandbox(self.ctx.sandboxes_dir, config).create()
        if spec.get("hostNetwork"):
            self.pod_ips = [self.ctx.host_ip]
        elif not self.pod_ips:
            status = await self.ctx.network.setup_pod_network(self.sandbox.netns_path, pod,
                                                              sandbox_id=self.uid)
            self.pod_ips = list(status.ips)
            hostname, domain = etcfiles.pod_hostname(pod, self.ctx.dns.domain)
            self.sandbox.write_hosts(etcfiles.hosts_file(
                pod_ips=self.pod_ips, hostname=hostname, domain=domain,
                host_aliases=spec.get("hostAliases") or ()))

    async def _release_network(self) -> None:
        if self.pod_ips and self.ctx.network and not (self.pod or {}).get("spec", {}).get("hostNetwork"):
            await self.ctx.network.teardown_pod_network(self.pod, sandbox_id=self.uid)
            self.pod_ips = []

    # === volumes ==========================================================================

    async def _ensure_volumes(self, pod: dict) -> None:
        for volume in pod["spec"].get("volumes") or []:
            self._ensure_volume(pod, volume)

    def _ensure_volume(self, pod: dict, volume: dict) -> None:
        path = self.dirs.volume(volume["name"])
        if "hostPath" in volume:
            vol.check_host_path(volume["hostPath"]["path"], volume["hostPath"].get("type", ""))
            return
        if "emptyDir" in volume:
            memory = (volume["emptyDir"] or {}).get("medium") == "Memory"
            self._make_dir(path, tmpfs=memory, size=(volume["emptyDir"] or {}).get("sizeLimit"))
            return
        namespace = pod["metadata"]["namespace"]
        files = vol.volume_files(volume, pod, configmaps=_Lookup(self.ctx.configmaps, namespace),
                                 secrets=_Lookup(self.ctx.secrets, namespace))
        if files is None:
            kind = next((k for k in volume if k != "name"), "unknown")
            raise vol.VolumeError(f'volume "{volume["name"]}": {kind} volumes are not supported by tinykube yet')
        # secrets never touch the disk: they live on tmpfs, as the kubelet keeps them
        if self.published.get(volume["name"]) == files:
            return  # every sync looks; only a change writes (and a fresh agent compares with disk)
        self._make_dir(path, tmpfs="secret" in volume or "projected" in volume)
        vol.AtomicWriter(path).write(files)
        self.published[volume["name"]] = files

    def _make_dir(self, path: str, *, tmpfs: bool, size=None) -> None:
        os.makedirs(path, exist_ok=True)
        if tmpfs and not os.path.ismount(path):
            options = "mode=0755" + (f",size={_bytes(size)}" if size else "")
            linux.mount("tmpfs", path, "tmpfs", 0, options)

    def _volume_mounts(self, pod: dict, container: dict, instance: ctr.InstanceId) -> list[VolumeMount]:
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        mounts = []
        for m in container.get("volumeMounts") or []:
            volume = volumes[m["name"]]
            source = volume["hostPath"]["path"] if "hostPath" in volume else self.dirs.volume(m["name"])
            if m.get("subPath"):
                source = os.path.join(source, m["subPath"])
                if not os.path.exists(source):
                    os.makedirs(source, exist_ok=True)
            mounts.append(VolumeMount(source, m["mountPath"], bool(m.get("readOnly")),
                                      m.get("mountPropagation") or "None"))
        log_file = self.dirs.termination_log(instance)
        open(log_file, "a").close()
        path = container.get("terminationMessagePath") or "/dev/termination-log"
        mounts.append(VolumeMount(log_file, path))
        return mounts

    # === containers =======================================================================

    async def _sync_group(self, pod, specs: list[dict], instances, *, init: bool,
                          allowed: bool) -> dict[str, ps.ContainerState]:
        """Init containers run one at a time, in order; app containers all together."""
        states: dict[str, ps.ContainerState] = {}
        blocked = not allowed
        for container in specs:
            name = container["name"]
            if blocked and not instances.get(name):
                reason, message = self.waiting.get(name, ("ContainerCreating" if not init else "PodInitializing", ""))
                states[name] = ps.ContainerState(name, reason=reason, message=message,
                                                 image=container.get("image", ""))
                continue
            states[name] = await self._sync_container(pod, container, instances.get(name, []), init=init)
            if init and not ps.is_sidecar(container) and not _completed(states[name]):
                blocked = True  # the next init container waits for this one
            if init and ps.is_sidecar(container) and not states[name].started:
                blocked = True  # ... or until this sidecar started (its startupProbe passed)
        return states

    async def _sync_container(self, pod, container, instances: list[ctr.InstanceId], *,
                              init: bool) -> ps.ContainerState:
        name = container["name"]
        if not instances:
            return await self._start(pod, container, ctr.InstanceId(self.uid, name, 0), None)
        latest = instances[-1]
        previous = self._exit_of(instances[-2]) if len(instances) > 1 else None
        exit = self.ctx.runc.exit_status(str(latest))
        if exit is None and self.ctx.runc.monitor_alive(str(latest)):
            return self._running(container, latest, previous)
        self.killing.pop(str(latest), None)
        if exit is None:
            exit = (await self.ctx.runc.status(str(latest))).exit
        terminated = _terminated(exit, latest, self._started_ns(latest))
        if not self._restarts(pod, container, init, terminated.exit_code):
            return ps.ContainerState(name, ps.TERMINATED, terminated=terminated, last_terminated=previous,
                                     restart_count=latest.attempt, image=container.get("image", ""),
                                     container_id=f"runc://{latest}")
        return await self._restart(pod, container, latest, terminated, instances)

    def _restarts(self, pod, container, init: bool, exit_code: int) -> bool:
        policy = pod["spec"].get("restartPolicy", "Always")
        if init and ps.is_sidecar(container):
            return not self.apps_done
        if init:  # a successful init container is done; a failed one retries unless Never
            return exit_code != 0 and policy != "Never"
        return ps.should_restart(policy, exit_code)

    async def _restart(self, pod, container, latest, terminated: ps.Terminated, instances):
        name, key = container["name"], container["name"]
        finished = _epoch(terminated.finished_at)
        delay = self.backoff.delays.get(key)
        if delay is not None and time.time() < finished + delay:
            message = (f"back-off {int(delay)}s restarting failed container={name} "
                       f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({self.uid})")
            if self.waiting.get(name, ("",))[0] != "CrashLoopBackOff":
                self._event("Warning", "BackOff", "Back-off restarting failed container "
                            f"{name} in pod {pod['metadata']['name']}_{pod['metadata']['namespace']}"
                            f"({self.uid})", self._field_path(container))
            self.waiting[name] = ("CrashLoopBackOff", message)
            return ps.ContainerState(name, reason="CrashLoopBackOff", message=message,
                                     last_terminated=terminated, restart_count=latest.attempt,
                                     image=container.get("image", ""))
        ran_for = finished - _epoch(terminated.started_at) if terminated.started_at else 0
        self.backoff.next_delay(key, ran_for)
        for old in instances[:-1]:  # keep only the instance that tells lastState
            await self._remove_instance(old)
        return await self._start(pod, container, ctr.InstanceId(self.uid, name, latest.attempt + 1),
                                 terminated)

    def _started_ns(self, instance: ctr.InstanceId) -> int:
        return self.ctx.runc.started_ns(str(instance))

    def _running(self, container, instance: ctr.InstanceId, previous) -> ps.ContainerState:
        started_ns = self._started_ns(instance)
        started = _rfc3339_ns(started_ns) if started_ns else ""
        self.waiting.pop(container["name"], None)
        verdict = self.probes.ensure(str(instance), container,
                                     started_at=started_ns / 1e9 if started_ns else time.time())
        if verdict.kill_reason:
            self._kill_for_probe(container, instance, verdict.kill_reason)
        return ps.ContainerState(container["name"], ps.RUNNING, started_at=started, ready=verdict.ready,
                                 started=verdict.started, restart_count=instance.attempt,
                                 last_terminated=previous, image=container.get("image", ""),
                                 container_id=f"runc://{instance}")

    def _exit_of(self, instance: ctr.InstanceId) -> ps.Terminated | None:
        exit = self.ctx.runc.exit_status(str(instance))
        return _terminated(exit, instance, self._started_ns(instance)) if exit else None

    async def _start(self, pod, container, instance: ctr.InstanceId, previous) -> ps.ContainerState:
        name, image = container["name"], container.get("image", "")
        try:
            await self._create(pod, container, instance)
        except _PostStartFailed as exc:
            self.waiting[name] = ("PostStartHookError", str(exc))
            return ps.ContainerState(name, reason="PostStartHookError", message=str(exc),
                                     last_terminated=previous, restart_count=instance.attempt, image=image)
        except (image_errors.ImageError, EnvError, CreateContainerConfigError, RuntimeError_,
                vol.VolumeError, OSError) as exc:
            reason = getattr(exc, "reason", "") or ("CreateContainerConfigError"
                                                    if isinstance(exc, (EnvError, CreateContainerConfigError))
                                                    else "CreateContainerError")
            if not isinstance(exc, image_errors.ImageError):
                self._event("Warning", "Failed", f"Error: {exc}", self._field_path(container))
            self.waiting[name] = (reason, str(exc))
            return ps.ContainerState(name, reason=reason, message=str(exc), last_terminated=previous,
                                     restart_count=max(0, instance.attempt - 1) if previous else 0,
                                     image=image)
        self.waiting.pop(name, None)
        return self._running(container, instance, previous)

    async def _create(self, pod, container, instance: ctr.InstanceId) -> None:
        ctx, image = self.ctx, container.get("image", "")
        secrets = [s for s in (self._secret(pod, ref.get("name", "")) for ref in
                               pod["spec"].get("imagePullSecrets") or []) if s]
        await ctx.image_manager.ensure_image(image, pod_uid=self.uid,
                                             policy=container.get("imagePullPolicy", ""),
                                             pull_secrets=secrets,
                                             record_event=lambda t, r, m: self._event(t, r, m, self._field_path(container)))
        env = container_env(container, self._as_running(pod), configmaps=_Lookup(ctx.configmaps, pod["metadata"]["namespace"]),
                            secrets=_Lookup(ctx.secrets, pod["metadata"]["namespace"]),
                            node_allocatable=ctx.allocatable)
        await ctx.images.lease(str(instance), image)
        bundle = self.dirs.bundle(instance)
        os.makedirs(bundle, exist_ok=True)
        rootfs = ctr.mount_rootfs(bundle, await ctx.images.rootfs_layers(image))
        spec = container_spec(pod=pod, container=container,
                              image=ImageConfig.from_oci(ctx.images.image_config(image)), rootfs=rootfs,
                              env=[f"{k}={v}" for k, v in env], sandbox=self.sandbox.paths,
                              container_id=str(instance),
                              volumes=self._volume_mounts(pod, container, instance),
                              runtime=ctx.runtime_config, passwd=_read_text(rootfs, "etc/passwd"),
                              group=_read_text(rootfs, "etc/group"))
        for warning in spec.warnings:
            self._event("Warning", "UnsupportedField", warning, self._field_path(container))
        ctr.write_bundle(bundle, spec.config)
        os.makedirs(os.path.dirname(self.dirs.log(instance)), exist_ok=True)
        await ctx.runc.create(str(instance), bundle, log_path=self.dirs.log(instance))
        self._event("Normal", "Created", f"Created container {container['name']}", self._field_path(container))
        await ctx.runc.start(str(instance))
        self._event("Normal", "Started", f"Started container {container['name']}", self._field_path(container))
        await self._post_start(pod, container, instance)

    def _as_running(self, pod: dict) -> dict:
        """The pod with the addresses the sandbox has now (the downward API reads them
        before the status naming them is written)."""
        status = dict(pod.get("status") or {}, hostIP=self.ctx.host_ip, hostIPs=[{"ip": self.ctx.host_ip}])
        if self.pod_ips:
            status.update(podIP=self.pod_ips[0], podIPs=[{"ip": ip} for ip in self.pod_ips])
        return dict(pod, status=status)

    def _secret(self, pod: dict, name: str) -> dict | None:
        return self.ctx.secrets.get_by_name(pod["metadata"]["namespace"], name)

    async def _remove_instance(self, instance: ctr.InstanceId) -> None:
        try:
            await self.ctx.runc.remove(str(instance))
        except RuntimeError_ as exc:
            log.warning("removing %s: %s", instance, exc)
        ctr.remove_bundle(self.dirs.bundle(instance))
        self.ctx.images.release(str(instance))

    # === status ===========================================================================

    async def _report(self, pod, init_states, states) -> None:
        status = ps.pod_status(pod, init_states, states, sandbox_ready=self.sandbox is not None,
                               pod_ips=self.pod_ips, host_ip=self.ctx.host_ip, now=_now())
        if _same_status(status, pod.get("status") or {}):
            return
        body = dict(pod, status=status)
        try:
            self.pod = await self.ctx.client.update_status(PODS, body)
        except errors.Conflict:
            self.pod = await self.ctx.client.get(PODS, pod["metadata"]["name"],
                                                 namespace=pod["metadata"]["namespace"])
            self.wake.set()
        except errors.NotFound:
            self.pod = None
            self.wake.set()

    # === termination ======================================================================

    async def terminate(self) -> None:
        """Stop every container (preStop, grace period, then SIGKILL; app containers first,
        then the sidecars, last started first), tear down, forget the pod."""
        pod = self.pod
        grace = _grace_seconds(pod)
        self.probes.stop_all()
        running = [i for i in ctr.instances_of(self.ctx.runc.ids(), self.uid).values() for i in i]
        alive = {i.name: i for i in running if self.ctx.runc.monitor_alive(str(i))}
        if pod is not None:
            for name in sorted(alive):
                self._event("Normal", "Killing", f"Stopping container {name}")
        await self._stop_in_order(pod, alive, grace)
        await asyncio.gather(*(self._stop(str(i), 2.0) for i in running if i.name not in alive))
        for instance in running:
            await self._remove_instance(instance)
        await self._teardown_sandbox(pod)
        if pod is not None:
            await self._delete_from_api(pod)
        self.finished = True

    async def _stop_in_order(self, pod: dict | None, alive: dict[str, ctr.InstanceId], grace: float) -> None:
        spec = (pod or {}).get("spec") or {}
        deadline = time.monotonic() + grace
        for stage in hooks.termination_stages(spec, set(alive)):
            left = max(min(hooks.MIN_GRACE, grace), deadline - time.monotonic())
            await asyncio.gather(*(self._kill(pod, _container_named(spec, name), alive[name], left)
                                   for name in stage))

    async def _stop_sidecars(self, pod: dict, instances) -> None:
        """A Job-like pod's app containers are done: its sidecars stop, last started first."""
        alive = {n: group[-1] for n, group in instances.items()
                 if group and self.ctx.runc.monitor_alive(str(group[-1]))}
        sidecars = {c["name"] for c in pod["spec"].get("initContainers") or [] if ps.is_sidecar(c)}
        alive = {n: i for n, i in alive.items() if n in sidecars}
        for name in sorted(alive):
            self._event("Normal", "Killing", f"Stopping container {name}")
        await self._stop_in_order(pod, alive, _grace_seconds(pod))

    # === probes, hooks, logs ==============================================================

    def _probe_target(self) -> Target:
        host_network = bool((self.pod or {}).get("spec", {}).get("hostNetwork"))
        netns = "" if host_network or self.sandbox is None else (self.sandbox.netns_path or "")
        return Target(netns_path=netns, pod_ip=self.pod_ips[0] if self.pod_ips else self.ctx.host_ip)

    def _kill_for_probe(self, container: dict, instance: ctr.InstanceId, probe_type: str) -> None:
        """A failed liveness/startup probe: stop the container (once); the sync restarts it."""
        key = str(instance)
        if key in self.killing:
            return
        self._event("Normal", "Killing", kill_message(container["name"], probe_type), self._field_path(container))
        grace = self.probes.probe_grace(key, probe_type)
        grace = float(grace) if grace is not None else _spec_grace(self.pod)
        task = asyncio.create_task(self._kill(self.pod, container, instance, grace))
        task.add_done_callback(lambda _t: self.wake.set())
        self.killing[key] = task

    async def _kill(self, pod: dict | None, container: dict | None, instance: ctr.InstanceId,
                    grace: float) -> None:
        pre_stop = ((container or {}).get("lifecycle") or {}).get("preStop") if pod else None
        hook = (lambda: self._hook(pod, container, instance, pre_stop, "FailedPreStopHook")) if pre_stop else None
        try:
            await hooks.kill_container(self.ctx.runc, str(instance), grace=grace, pre_stop=hook)
        except RuntimeError_ as exc:
            log.warning("stopping %s: %s", instance, exc)

    async def _hook(self, pod: dict, container: dict, instance: ctr.InstanceId, handler: dict,
                    failure_reason: str) -> str:
        message = await hooks.run_hook(handler, pod=pod, container=container, instance_id=str(instance),
                                       runtime=self.ctx.runc, target=self._probe_target())
        if message:
            self._event("Warning", failure_reason, message, self._field_path(container))
        return message

    async def _post_start(self, pod: dict, container: dict, instance: ctr.InstanceId) -> None:
        """postStart runs before the container counts as running; if it fails, the
        container is killed (and restarted by its policy), as the kubelet does."""
        handler = (container.get("lifecycle") or {}).get("postStart")
        if not handler:
            return
        message = await self._hook(pod, container, instance, handler, "FailedPostStartHook")
        if message:
            self._event("Normal", "Killing", "FailedPostStartHook", self._field_path(container))
            await self._kill(pod, container, instance, _spec_grace(pod))
            raise _PostStartFailed(message)

    async def _rotate_logs(self, instances: dict[str, list[ctr.InstanceId]]) -> None:
        if time.monotonic() < self.next_rotation:
            return
        self.next_rotation = time.monotonic() + ROTATE_SECONDS
        for group in instances.values():
            instance = group[-1]
            path = self.dirs.log(instance)
            try:
                too_big = os.stat(path).st_size > self.ctx.log_max_size
            except OSError:
                continue
            if too_big and self.ctx.runc.monitor_alive(str(instance)):
                try:
                    await asyncio.to_thread(logrotate.rotate, path, max_size=self.ctx.log_max_size,
                                            max_files=self.ctx.log_max_files,
                                            reopen=lambda i=str(instance): self.ctx.runc.reopen_log(i))
                except OSError as exc:
                    log.warning("rotating the log of %s: %s", instance, exc)

    async def _stop(self, id: str, grace: float) -> None:
        if self.ctx.runc.monitor_alive(id):
            try:
                await self.ctx.runc.stop(id, grace=grace)
            except RuntimeError_ as exc:
                log.warning("stopping %s: %s", id, exc)

    async def _teardown_sandbox(self, pod: dict | None) -> None:
        if self.ctx.network and not (pod or {}).get("spec", {}).get("hostNetwork"):
            await self.ctx.network.teardown_pod_network(pod, sandbox_id=self.uid)
        self.pod_ips = []
        sandbox = self.sandbox or Sandbox.load(self.ctx.sandboxes_dir, self.uid)
        if sandbox is not None:
            await sandbox.destroy()
        self.sandbox = None
        self._remove_pod_cgroup()
        for path in linux.mount_points_under(self.dirs.root):
            linux.umount(path)
        shutil.rmtree(self.dirs.root, ignore_errors=True)
        shutil.rmtree(self.dirs.logs, ignore_errors=True)

    def _remove_pod_cgroup(self) -> None:
        """runc removes each container's cgroup; the pod's parent cgroup is ours to remove."""
        try:
            self.ctx.runc.cgroups.remove(pod_cgroup_path(self.ctx.runtime_config, self.uid))
        except OSError as exc:
            log.warning("pod %s: removing its cgroup: %s", self._name(), exc)

    async def _delete_from_api(self, pod: dict) -> None:
        md = pod["metadata"]
        try:
            await self.ctx.client.delete(PODS, md["name"], namespace=md["namespace"],
                                         grace_period_seconds=0, preconditions={"uid": self.uid})
        except (errors.NotFound, errors.Conflict):
            pass


def pods_on_node(ctx: NodeContext) -> set[str]:
    """The UIDs of the pods with containers or a sandbox on this node."""
    uids = {i.pod_uid for i in (ctr.InstanceId.parse(x) for x in ctx.runc.ids()) if i}
    return uids | set(Sandbox.ids(ctx.sandboxes_dir))


async def remove_orphan(ctx: NodeContext, uid: str) -> None:
    """Stop and remove what a pod without an API object left (deleted while the agent
    was away, or a node torn down): the orphan's short grace, no events."""
    worker = PodWorker(ctx, {"metadata": {"uid": uid, "name": uid, "namespace": ""}, "spec": {}})
    worker.pod = None
    await worker.terminate()


# === helpers ==============================================================================


class _Lookup(dict):
    """A read-only name -> object view of one namespace of an informer store."""

    def __init__(self, store, namespace: str):
        super().__init__()
        self.store, self.namespace = store, namespace

    def get(self, name, default=None):
        found = self.store.get_by_name(self.namespace, name)
        return default if found is None else found


class _PostStartFailed(Exception):
    """The postStart hook failed; the container was killed."""


def _container_named(spec: dict, name: str) -> dict | None:
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c["name"] == name:
            return c
    return None


def _spec_grace(pod: dict | None) -> float:
    grace = ((pod or {}).get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(30 if grace is None else grace)


def _completed(state: ps.ContainerState) -> bool:
    return state.state == ps.TERMINATED and state.terminated is not None and state.terminated.exit_code == 0


def _terminated(exit, instance: ctr.InstanceId, started_ns: int = 0) -> ps.Terminated:
    if exit is None:
        return ps.Terminated(255, "Unknown", "the container's exit status was lost")
    return ps.Terminated(exit.exit_code, exit.reason, exit.message,
                         started_at=_rfc3339_ns(started_ns) if started_ns else "",
                         finished_at=exit.finished_at[:19] + "Z" if exit.finished_at else "",
                         container_id=f"runc://{instance}", signal=exit.signal)


def _field_path(container: dict) -> str:
    return f"spec.containers{{{container['name']}}}"


def _grace_seconds(pod: dict | None) -> float:
    if pod is None:
        return 2.0  # deleted while we were away: nobody waits for it
    md, spec = pod["metadata"], pod.get("spec", {})
    grace = md.get("deletionGracePeriodSeconds")
    return float(grace if grace is not None else spec.get("terminationGracePeriodSeconds", 30))


def _same_status(new: dict, old: dict) -> bool:
    return new == {k: old.get(k) for k in new} and set(old) <= set(new) | {"qosClass"}


def _epoch(rfc3339: str) -> float:
    if not rfc3339:
        return 0.0
    return datetime.datetime.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _rfc3339_ns(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_text(rootfs: str, relative: str) -> str | None:
    try:
        with open(os.path.join(rootfs, relative)) as f:
            return f.read()
    except OSError:
        return None


def _bytes(quantity) -> int:
    from tinykube.api.validation.quantity import parse_quantity

    return int(parse_quantity(str(quantity)))
