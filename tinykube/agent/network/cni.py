"""A CNI runtime (libcni's job, spec section 3): run a network configuration list's
plugins for one attachment, in order for ADD and CHECK and in reverse for DEL,
chaining results, and keep each attachment in an on-disk cache.

Guarantees:
- Operations on one attachment (network, container id, interface) never overlap
  (a lock per attachment); different attachments run in parallel (plugins lock
  their shared state, host-local its allocation directory, themselves).
- DEL runs with the configuration, CNI_ARGS and capability arguments of the ADD it
  undoes, and with its result as prevResult, all read from the cache; a successful
  DEL removes the entry; a failed one keeps it so that DEL can be retried.
- DEL is idempotent: no cache entry and no configuration means nothing to undo; a
  netns that is gone (or no longer a namespace) is passed as CNI_NETNS="" so that
  plugins release what they can (spec: "when CNI_NETNS is not provided, clean up
  as many resources as possible").
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from contextlib import asynccontextmanager

from . import conflist as conflists
from . import errors
from .cache import CachedAttachment, ResultCache
from .conflist import NetworkConfigList, at_least, exec_config
from .errors import CheckUnsupported, ConfigError, NetworkError, PluginError
from .host import HostNamespace
from .invoke import ADD, CHECK, DEL, GC, STATUS, DEFAULT_PLUGIN_DIRS, PluginExec
from .model import Attachment
from .netns import is_netns

log = logging.getLogger(__name__)

_CONTAINER_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
_BAD_IFNAME = re.compile(r"[/:\s]")


class CNIRuntime:
    def __init__(self, *, cache_dir: str, plugin_dirs=DEFAULT_PLUGIN_DIRS,
                 host: HostNamespace = HostNamespace(), timeout: float = 30.0):
        self.plugins = PluginExec(plugin_dirs, host=host, timeout=timeout)
        self.cache = ResultCache(cache_dir)
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._versions: dict[tuple[str, str], list[str]] = {}

    async def add(self, network: NetworkConfigList, attachment: Attachment) -> dict:
        """ADD every plugin in order; the final result (also cached)."""
        _validate(attachment)
        async with self._lock(network.name, attachment):
            # Record the intent first: an agent killed mid-ADD still knows what to DEL.
            await self.cache.write(CachedAttachment(network.name, attachment, network.raw, None))
            result = None
            for plugin in network.plugins:
                conf = exec_config(network, plugin, attachment, result)
                result = await self.plugins.run(ADD, conf, attachment)
                if result is None:
                    raise PluginError(plugin=plugin["type"], command=ADD, code=errors.DECODE_FAILURE,
                                      msg="ADD printed no result")
            await self.cache.write(CachedAttachment(network.name, attachment, network.raw, result))
            return result

    async def delete(self, network: NetworkConfigList | None, attachment: Attachment) -> None:
        """DEL every plugin in reverse order. Uses the cached configuration and
        parameters when there are some, else `network` and `attachment` as given."""
        peek = self.cached(network.name if network else None, attachment)
        if peek is None and network is None:
            return  # never added (or already deleted): nothing to undo
        name = peek.network if peek else network.name
        async with self._lock(name, attachment):
            # Read again under the lock: a concurrent DEL may have finished meanwhile.
            cached = self.cache.read(name, attachment.container_id, attachment.ifname)
            if cached is None and network is None:
                return
            await self._delete_locked(network, attachment, cached)

    async def _delete_locked(self, network, attachment: Attachment, cached) -> None:
        if cached is None:
            await self._run_del(network, attachment.with_netns(_live_netns(attachment.netns)), None)
            return
        added = conflists.parse(cached.config, source=f"cache:{cached.network}")
        # ADD's netns first (the spec wants ADD's parameters); the caller's only
        # when the cache has none.
        attachment = cached.attachment.with_netns(_live_netns(cached.attachment.netns or attachment.netns))
        try:
            await self._run_del(added, attachment, cached.result)
        except PluginError as e:
            # The configuration of the ADD may be the reason (a broken config since
            # fixed): then the current one is the only way to ever finish this DEL.
            if network is None or network.raw == cached.config:
                raise
            log.warning("DEL of %s with its ADD configuration failed (%s); "
                        "retrying with the current configuration", attachment.container_id, e)
            await self._run_del(network, attachment, cached.result)
        await self.cache.delete(cached.network, attachment.container_id, attachment.ifname)

    async def _run_del(self, network: NetworkConfigList, attachment: Attachment,
                       result: dict | None) -> None:
        prev = result if at_least(network.cni_version, "0.4.0") else None
        for plugin in reversed(network.plugins):
            await self.plugins.run(DEL, exec_config(network, plugin, attachment, prev), attachment)

    async def check(self, network: NetworkConfigList, attachment: Attachment) -> None:
        """CHECK every plugin in order, with the configuration, parameters and result
        of the ADD (from the cache); raise the first plugin's error. Success without
        running anything when the list sets disableCheck."""
        async with self._lock(network.name, attachment):
            cached = self.cached(network.name, attachment)
            if cached is None or cached.result is None:
                raise NetworkError(f"network {network.name}: {attachment.container_id}/"
                                   f"{attachment.ifname} was never added (no cached result)")
            added = conflists.parse(cached.config, source=f"cache:{cached.network}")
            if not at_least(added.cni_version, "0.4.0"):
                raise CheckUnsupported(f"network {added.name}: cniVersion {added.cni_version} "
                                       "has no CHECK (needs 0.4.0 or later)")
            if added.disable_check:
                return
            for plugin in added.plugins:
                conf = exec_config(added, plugin, cached.attachment, cached.result)
                await self.plugins.run(CHECK, conf, cached.attachment)

    def cached(self, name: str | None, attachment: Attachment) -> CachedAttachment | None:
        """The cache entry of an attachment: by network name, else (the configuration
        may have been renamed since the ADD) by (container id, ifname), which the
        spec makes unique across networks."""
        if name is not None:
            found = self.cache.read(name, attachment.container_id, attachment.ifname)
            if found is not None:
                return found
        return self.cache.find(attachment.container_id, attachment.ifname)

    @asynccontextmanager
    async def _lock(self, network: str, attachment: Attachment):
        key = (network, attachment.container_id, attachment.ifname)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = _Lock()
        async with lock:
            yield

    # -- version, status and garbage collection --------------------------------

    async def validate(self, network: NetworkConfigList) -> None:
        """Every plugin exists and supports the list's cniVersion (VERSION), else
        ConfigError: checked when the configuration is loaded, not at the first pod."""
        for plugin in network.plugins:
            supported = await self._supported(plugin["type"], network.cni_version)
            if network.cni_version not in supported:
                raise ConfigError(f"network {network.name}: plugin {plugin['type']} does not "
                                  f"support cniVersion {network.cni_version} "
                                  f"(it supports {', '.join(supported)})")

    async def _supported(self, plugin_type: str, cni_version: str) -> list[str]:
        key = (self.plugins.find(plugin_type), cni_version)
        if key not in self._versions:
            self._versions[key] = await self.plugins.version(plugin_type, cni_version)
        return self._versions[key]

    async def status(self, network: NetworkConfigList) -> None:
        """Raise when the network cannot take ADDs. CNI 1.1 lists ask each plugin
        (STATUS); older ones are ready when every plugin is there and compatible."""
        await self.validate(network)
        if at_least(network.cni_version, "1.1.0"):
            for plugin in network.plugins:
                await self.plugins.run(STATUS, exec_config(network, plugin, _NO_ATTACHMENT, None), None)

    async def gc(self, network: NetworkConfigList | None,
                 valid: set[tuple[str, str]]) -> list[CachedAttachment]:
        """Delete every cached attachment whose (container id, ifname) is not in
        `valid` (libcni's synthesized DEL), then, for a CNI 1.1 list, run the GC verb
        so plugins drop leaks we never cached. Returns what was deleted; a failed
        DEL is logged and left cached for the next round."""
        stale = [e for e in self.cache.entries()
                 if (e.attachment.container_id, e.attachment.ifname) not in valid]
        deleted = [e for e in stale if await self._gc_one(network, e)]
        if network is not None and at_least(network.cni_version, "1.1.0"):
            await self._gc_verb(network, valid)
        return deleted

    async def _gc_one(self, network: NetworkConfigList | None, entry: CachedAttachment) -> bool:
        # The current configuration of the same network is the fallback should the
        # cached one no longer DEL (see _delete_locked).
        same = network if network is not None and network.name == entry.network else None
        try:
            await self.delete(same, entry.attachment)
            return True
        except NetworkError as e:
            log.warning("gc: DEL of %s/%s failed, will retry: %s", entry.attachment.container_id,
                        entry.attachment.ifname, e)
            return False

    async def _gc_verb(self, network: NetworkConfigList, valid: set[tuple[str, str]]) -> None:
        listed = [{"containerID": c, "ifname": i} for c, i in sorted(valid)]
        for plugin in network.plugins:
            if "1.1.0" not in await self._supported(plugin["type"], network.cni_version):
                continue
            conf = exec_config(network, plugin, _NO_ATTACHMENT, None)
            # The 1.1.0 text named the key two ways; libcni sets both, so do we.
            conf["cni.dev/valid-attachments"] = conf["cni.dev/attachments"] = listed
            await self.plugins.run(GC, conf, None)


class _Lock:
    """An asyncio.Lock that can be weakly referenced (the lock table forgets idle keys)."""

    def __init__(self):
        self._lock = asyncio.Lock()

    async def __aenter__(self):
        await self._lock.acquire()

    async def __aexit__(self, *exc):
        self._lock.release()


_NO_ATTACHMENT = Attachment(container_id="", ifname="")


def _validate(attachment: Attachment) -> None:
    if not _CONTAINER_ID.match(attachment.container_id):
        raise ConfigError(f"invalid container id {attachment.container_id!r}")
    name = attachment.ifname
    if not name or len(name) > 15 or name in (".", "..") or _BAD_IFNAME.search(name):
        raise ConfigError(f"invalid interface name {name!r}")


def _live_netns(path: str) -> str:
    return path if path and is_netns(path) else ""
