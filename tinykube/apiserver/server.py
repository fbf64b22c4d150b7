"""The API server process: storage, watch cache, HTTPS listener and housekeeping.

`ApiServer(config).run()` returns only when cancelled. It opens the store, starts the
watch cache, creates the initial namespaces, writes the kubeconfig and serves HTTPS.
Readiness (/readyz) turns on once the watch cache holds the store's state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass

from aiohttp import web

from tinykube.apiserver import allocators, auth, lifecycle, pki, services
from tinykube.apiserver.handlers import ApiHandler
from tinykube.apiserver.kubelet import KubeletClient
from tinykube.apiserver.resources import Resources
from tinykube.apiserver.watchcache import DEFAULT_HISTORY_SECONDS, WatchCache
from tinykube.storage.sqlite import SqliteStore

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: str
    host: str = "127.0.0.1"
    port: int = 6443
    compaction_interval: float = 300.0  # kube-apiserver's default (5 minutes)
    watch_history_seconds: float = DEFAULT_HISTORY_SECONDS
    sqlite_synchronous: str = "FULL"
    service_cidr: str = "10.43.0.0/16"  # ClusterIPs (allocators.py)
    node_port_range: str = "30000-32767"
    cluster_dns: str = "10.43.0.10"  # kube-dns's ClusterIP
    default_toleration_seconds: int = 300  # DefaultTolerationSeconds admission (not-ready/unreachable)


class ApiServer:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.kubeconfig_path = ""
        self.url = f"https://{config.host}:{config.port}"
        self.ready = asyncio.Event()

    async def run(self) -> None:
        os.makedirs(self.config.data_dir, mode=0o700, exist_ok=True)
        store = SqliteStore(os.path.join(self.config.data_dir, "state.db"),
                            synchronous=self.config.sqlite_synchronous)
        await store.start()
        cache = WatchCache(store, history_seconds=self.config.watch_history_seconds)
        resources = Resources(store, cache)
        resources.services = allocators.ServiceAllocators(self.config.service_cidr, self.config.node_port_range)
        resources.admission.default_toleration_seconds = self.config.default_toleration_seconds
        tasks = [asyncio.create_task(cache.run(), name="watch-cache")]
        runner = None
        try:
            runner = await self._serve(resources, cache)
            await cache.ready.wait()
            await lifecycle.bootstrap(resources)
            await self._bootstrap_services(resources, tasks)
            tasks.append(asyncio.create_task(
                lifecycle.Compactor(resources, self.config.compaction_interval).run()))
            self.ready.set()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runner is not None:
                await runner.cleanup()
            await store.close()

    async def _bootstrap_services(self, resources: Resources, tasks: list) -> None:
        """The `kubernetes` and `kube-dns` Services, and the former's endpoints (services.py)."""
        address = services.advertise_address(self.config.host)
        await services.ensure_services(resources, kubernetes_ip=allocators.first_ip(self.config.service_cidr),
                                       dns_ip=self.config.cluster_dns, port=self.config.port)
        tasks.append(asyncio.create_task(
            services.EndpointReconciler(resources, address=address, port=self.config.port).run()))

    async def _serve(self, resources: Resources, cache: WatchCache) -> web.AppRunner:
        data_dir = self.config.data_dir
        keys = pki.ensure_pki(data_dir)
        token = pki.ensure_token(data_dir)
        self.kubeconfig_path = pki.write_kubeconfig(data_dir, keys, self.url)
        authenticator = auth.Authenticator({token: auth.UserInfo("admin", ("system:masters",))})
        from tinykube.api import openapi

        handler = ApiHandler(resources, authenticator, self.ready.is_set, openapi)
        app = web.Application(client_max_size=4 * 1024 * 1024, handler_args={"max_field_size": 65536})
        app["cache"] = cache
        app["kubelet"] = KubeletClient(data_dir)  # pods/log, exec, ... and metrics go to agents
        app.on_cleanup.append(lambda app: app["kubelet"].close())
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port,
                           ssl_context=_tls_context(keys), reuse_address=True)
        await site.start()
        return runner


def _tls_context(keys: pki.Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(keys.server_cert, keys.server_key)
    context.load_verify_locations(keys.ca_cert)
    # Client certificates are one way to authenticate, bearer tokens another: ask for a
    # certificate, verify it if given, do not require it.
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context
