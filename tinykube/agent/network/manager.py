"""The node's pod networking as the agent uses it: `NodeNetwork`.

start() picks the network configuration (the first file of the user's conf dir,
else tinykube's default, written to the data dir), checks every plugin answers
VERSION for it, and installs the unreachable routes. Then, per pod sandbox:
setup_pod_network (loopback, then the pod network), check_pod_network,
teardown_pod_network (the reverse), pod_network_status (from the cache, after an
agent restart) and gc (DEL whatever the cache holds for sandboxes that no longer
exist). With the default network, start() also installs the node's masquerade
rule (masquerade.py). stop() removes the routes and that rule.

Calls for one sandbox must not overlap (the agent's pod worker serialises them;
the runtime also locks per attachment); different sandboxes run in parallel.
"""

from __future__ import annotations

import enum
import logging
import os
from typing import Protocol

from tinykube.util import jsonutil as json

from . import conflist as conflists
from . import masquerade
from .cni import CNIRuntime
from .conflist import NetworkConfigList
from .defaults import LOOPBACK_NETWORK, NetworkSettings, check_settings, default_network
from .errors import ConfigError, NetworkError
from .host import HostNamespace
from .model import Attachment, PodNetworkStatus
from .netns import is_netns
from .pods import pod_attachment, sandbox_id_of, status_from_result
from .routes import RoutePlan, install_unreachable_routes, remove_unreachable_routes

log = logging.getLogger(__name__)
LOOPBACK_IFNAME = "lo"


class PodNetworking(Protocol):
    """What the agent needs from pod networking; NodeNetwork and FakeNodeNetwork."""

    async def setup_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> PodNetworkStatus: ...

    async def teardown_pod_network(self, pod: dict | None = None, *, sandbox_id: str | None = None,
                                   netns_path: str = "") -> None: ...

    async def check_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> None: ...

    def pod_network_status(self, sandbox_id: str) -> PodNetworkStatus | None: ...

    async def gc(self, live_sandbox_ids) -> list[str]: ...


class State(enum.Enum):
    NEW = "new"
    READY = "ready"
    STOPPED = "stopped"


class NodeNetwork:
    def __init__(self, settings: NetworkSettings):
        check_settings(settings)
        self.settings = settings
        self.host = HostNamespace(settings.host_netns or None)
        self.runtime = CNIRuntime(cache_dir=settings.cache_dir, plugin_dirs=settings.plugin_dirs,
                                  host=self.host, timeout=settings.timeout)
        self.loopback = conflists.parse(LOOPBACK_NETWORK, source="built-in loopback")
        self.network: NetworkConfigList | None = None
        self.routes: RoutePlan | None = None
        self.state = State.NEW

    # -- node lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        if self.state is not State.NEW:
            raise NetworkError(f"network already {self.state.value}")
        self.network = self._choose_network()
        for network in (self.loopback, self.network):
            await self.runtime.validate(network)
        if self.settings.unreachable_routes:
            self.routes = await install_unreachable_routes(self.settings.blocked_cidrs, host=self.host)
        if self._masquerades():
            await masquerade.install(self.host, bridge=self.settings.bridge,
                                     pod_cidr=self.settings.pod_cidr,
                                     cluster_cidr=self.settings.cluster_cidr)
        self.state = State.READY

    def _masquerades(self) -> bool:
        # Only for tinykube's own network: a user's configuration masquerades itself.
        return self.settings.masquerade and self.network.source == self.settings.default_conf_path

    def _choose_network(self) -> NetworkConfigList:
        user = conflists.find_in_dir(self.settings.user_conf_dir)
        if user is not None:
            log.info("pod network: using %s (network %s)", user.source, user.name)
            return user
        path = self.settings.default_conf_path
        _write_if_changed(path, json.dumps(default_network(self.settings)))
        return conflists.load(path)

    async def stop(self, *, cleanup: bool = True) -> None:
        """Stop. With cleanup (the default), remove what start() installed on the
        host: the unreachable routes and the masquerade table. Pass cleanup=False
        when pods outlive this agent (a restart): they stay protected and keep
        their egress meanwhile, and the next start() adopts both."""
        if cleanup and self.settings.unreachable_routes:
            await remove_unreachable_routes(self.settings.blocked_cidrs, host=self.host)
        if cleanup and self.network is not None and self._masquerades():
            await masquerade.remove(self.host, bridge=self.settings.bridge,
                                    pod_cidr=self.settings.pod_cidr)
        self.state = State.STOPPED

    # -- pods -------------------------------------------------------------------

    async def setup_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> PodNetworkStatus:
        """Attach the sandbox's netns: lo up, then the pod network. Idempotent: a
        sandbox already attached in this same netns gets its cached status back; an
        attachment left from another netns or an interrupted ADD is deleted first.
        On failure everything already done is undone before the error propagates."""
        self._require_ready()
        if pod.get("spec", {}).get("hostNetwork"):
            raise ConfigError("hostNetwork pods use the node's network: no CNI attachment")
        sid = sandbox_id or sandbox_id_of(pod)
        current = self.pod_network_status(sid)
        if current is not None and current.netns == netns_path and is_netns(netns_path):
            return current
        if self._has_attachment(sid):
            await self.teardown_pod_network(pod, sandbox_id=sid, netns_path=netns_path)
        try:
            return await self._add(netns_path, pod, sid)
        except BaseException:
            await self._rollback(pod, sid, netns_path)
            raise

    async def _add(self, netns_path: str, pod: dict, sid: str) -> PodNetworkStatus:
        await self.runtime.add(self.loopback, self._attachment(pod, sid, netns_path, LOOPBACK_IFNAME))
        ifname = self.settings.interface
        result = await self.runtime.add(self.network, self._attachment(pod, sid, netns_path, ifname))
        return status_from_result(result, sandbox_id=sid, netns=netns_path, ifname=ifname)

    async def _rollback(self, pod: dict, sid: str, netns_path: str) -> None:
        # The spec wants a DEL after a failed ADD; failing that, gc() retries later.
        try:
            await self.teardown_pod_network(pod, sandbox_id=sid, netns_path=netns_path)
        except Exception as e:
            log.warning("pod network: undoing failed setup of %s: %s", sid, e)

    async def teardown_pod_network(self, pod: dict | None = None, *, sandbox_id: str | None = None,
                                   netns_path: str = "") -> None:
        """Detach a sandbox: the pod network, then lo. Works from the cache alone
        (after a restart, with the netns gone); idempotent."""
        self._require_ready()
        sid = sandbox_id or sandbox_id_of(pod)
        failures = []
        for network, ifname in ((self.network, self.settings.interface),
                                (self.loopback, LOOPBACK_IFNAME)):
            try:
                await self.runtime.delete(network, self._attachment(pod or {}, sid, netns_path, ifname))
            except NetworkError as e:
                failures.append(e)  # still undo the other attachment
        if failures:
            raise failures[0]

    async def check_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> None:
        """CHECK both attachments; raises the first plugin error (interface gone,
        address changed, IP reservation lost, ...)."""
        self._require_ready()
        sid = sandbox_id or sandbox_id_of(pod)
        for network, ifname in ((self.loopback, LOOPBACK_IFNAME), (self.network, self.settings.interface)):
            await self.runtime.check(network, self._attachment(pod, sid, netns_path, ifname))

    def pod_network_status(self, sandbox_id: str) -> PodNetworkStatus | None:
        """The status a completed setup cached for a sandbox, or None."""
        ifname = self.settings.interface
        entry = self.runtime.cached(self.network.name if self.network else None,
                                    Attachment(sandbox_id, ifname))
        if entry is None or entry.result is None:
            return None
        return status_from_result(entry.result, sandbox_id=sandbox_id,
                                  netns=entry.attachment.netns, ifname=ifname)

    async def gc(self, live_sandbox_ids) -> list[str]:
        """DEL every cached attachment of a sandbox not in live_sandbox_ids (pods
        deleted while the agent was down, interrupted setups). Include sandboxes
        being set up right now. Returns the sandbox ids cleaned up."""
        self._require_ready()
        valid = {(sid, ifname) for sid in live_sandbox_ids
                 for ifname in (self.settings.interface, LOOPBACK_IFNAME)}
        stale = await self.runtime.gc(self.network, valid)
        return sorted({entry.attachment.container_id for entry in stale})

    def _has_attachment(self, sid: str) -> bool:
        return any(self.runtime.cached(None, Attachment(sid, ifname)) is not None
                   for ifname in (self.settings.interface, LOOPBACK_IFNAME))

    def _attachment(self, pod: dict, sid: str, netns: str, ifname: str) -> Attachment:
        return pod_attachment(pod, sandbox_id=sid, netns=netns, ifname=ifname)

    def _require_ready(self) -> None:
        if self.state is not State.READY:
            raise NetworkError(f"pod network is {self.state.value}, not ready")


def _write_if_changed(path: str, data: bytes) -> None:
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
