"""The node's cluster DNS server (tinykube's NodeLocal DNSCache / CoreDNS in one).

`NodeDns(client, config).run()` on every node: informers for Services, EndpointSlices
and Namespaces feed ClusterData; once they have synced, a dummy interface (config.
interface) holding the cluster DNS IP /32 is created in the node's network namespace
(config.netns_path, "" for our own) and the server listens there on UDP and TCP port 53,
so a pod reaches it through its default route into the node. On shutdown the interface
is removed. If the node cannot host it (not root, no `ip`), the error is logged and the
setup retried with back-off: the agent beside it keeps running.

`DnsListener` is the socket part alone (UDP + TCP on one address), used by NodeDns and
by the benchmark.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from dataclasses import dataclass

from tinykube.client import Informer
from tinykube.util import netns

from .cluster import ClusterData
from .forward import Forwarder, parse_upstream, resolv_conf_nameservers
from .handler import FORWARD, TCP_MAX, QueryHandler
from .resolver import Resolver

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 10.0
KINDS = (("v1", "Service", "Service"), ("discovery.k8s.io/v1", "EndpointSlice", "EndpointSlice"),
         ("v1", "Namespace", "Namespace"))


@dataclass(frozen=True)
class DnsConfig:
    cluster_dns: str = "10.43.0.10"
    cluster_domain: str = "cluster.local"
    netns_path: str = ""  # the node's network namespace ("" = ours)
    interface: str = "tinykube-dns"  # "" = the address exists already, add no interface
    upstreams: tuple[str, ...] = ()  # empty: the nameservers of resolv_conf
    resolv_conf: str = "/etc/resolv.conf"
    port: int = 53
    ttl: int = 5


def upstreams_for(config: DnsConfig) -> list[tuple[str, int]]:
    """The configured upstreams, else the node's nameservers, never our own address
    (a loop)."""
    names = list(config.upstreams)
    if not names:
        try:
            with open(config.resolv_conf) as f:
                names = resolv_conf_nameservers(f.read())
        except OSError:
            names = []
    out = [parse_upstream(n) for n in names]
    return [u for u in out if u != (config.cluster_dns, config.port)]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, listener: "DnsListener"):
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        out = self.listener.handler.handle(data)
        if out is FORWARD:
            self.listener.spawn(self._forward(data, addr))
        elif out is not None:
            self.transport.sendto(out, addr)

    async def _forward(self, data: bytes, addr) -> None:
        answer = await self.listener.forwarder.forward(data)
        if self.transport and not self.transport.is_closing():
            self.transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("dns udp: %s", exc)


class _Tcp(asyncio.Protocol):
    """Length-prefixed queries (RFC 7766), answered in any order, closed when idle."""

    def __init__(self, listener: "DnsListener"):
        self.listener, self.buffer = listener, bytearray()
        self.transport = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._arm()

    def _arm(self) -> None:
        if self.idle:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(TCP_IDLE_TIMEOUT, self.transport.close)

    def data_received(self, data: bytes) -> None:
        self._arm()
        self.buffer += data
        while len(self.buffer) >= 2:
            size = struct.unpack_from("!H", self.buffer)[0]
            if len(self.buffer) < 2 + size:
                return
            query = bytes(self.buffer[2:2 + size])
            del self.buffer[:2 + size]
            out = self.listener.handler.handle(query, TCP_MAX)
            if out is FORWARD:
                self.listener.spawn(self._forward(query))
            elif out is not None:
                self._send(out)

    async def _forward(self, query: bytes) -> None:
        self._send(await self.listener.forwarder.forward(query, tcp=True))

    def _send(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(struct.pack("!H", len(answer)) + answer)

    def connection_lost(self, exc) -> None:
        if self.idle:
            self.idle.cancel()


class DnsListener:
    """UDP and TCP on (netns_path, host, port), answering with handler/forwarder."""

    def __init__(self, handler: QueryHandler, forwarder: Forwarder):
        self.handler, self.forwarder = handler, forwarder
        self._tasks: set[asyncio.Task] = set()
        self._udp = None
        self._tcp = None

    async def start(self, netns_path: str, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        udp = await netns.bind_socket(netns_path, host, port, type=socket.SOCK_DGRAM)
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        port = udp.getsockname()[1]  # port 0: TCP on the port UDP got
        tcp = await netns.bind_socket(netns_path, host, port, type=socket.SOCK_STREAM)
        tcp.listen(128)
        self._tcp = await loop.create_server(lambda: _Tcp(self), sock=tcp)

    def spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._udp:
            self._udp.close()
        if self._tcp:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.forwarder.close()


class NodeDns:
    def __init__(self, client, config: DnsConfig):
        self.client, self.config = client, config
        self.data = ClusterData()
        self.handler = QueryHandler(Resolver(self.data, zone=config.cluster_domain,
                                             dns_ip=config.cluster_dns, ttl=config.ttl))
        self.ready = asyncio.Event()

    async def run(self) -> None:
        informers = [self._informer(api, kind, name) for api, kind, name in KINDS]
        tasks = [asyncio.create_task(i.run()) for i in informers]
        try:
            await asyncio.gather(*(i.wait_synced() for i in informers))
            await self._serve_with_retries()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _informer(self, api_version: str, kind: str, name: str) -> Informer:
        informer = Informer(self.client, (api_version, kind))
        informer.add_event_handler(on_add=lambda o: self.data.upsert(name, o),
                                   on_update=lambda _old, new: self.data.upsert(name, new),
                                   on_delete=lambda o: self.data.remove(name, o))
        return informer

    async def _serve_with_retries(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._serve()
            except Exception as exc:  # logged and retried: the agent beside us keeps running
                log.error("cluster DNS on %s cannot start (retrying in %.0fs): %s",
                          self.config.cluster_dns, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _serve(self) -> None:
        cfg = self.config
        listener = DnsListener(self.handler, Forwarder(upstreams_for(cfg), netns_path=cfg.netns_path))
        try:
            if cfg.interface:
                await add_dns_interface(cfg.netns_path, cfg.interface, cfg.cluster_dns)
            await listener.start(cfg.netns_path, cfg.cluster_dns, cfg.port)
            log.info("cluster DNS answering on %s:%d (%s)", cfg.cluster_dns, cfg.port, cfg.cluster_domain)
            self.ready.set()
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.ready.clear()
            await listener.close()
            if cfg.interface:
                await asyncio.shield(remove_dns_interface(cfg.netns_path, cfg.interface))


async def _ip(netns_path: str, *args: str, check: bool = True) -> None:
    argv = (["nsenter", f"--net={netns_path}", "--"] if netns_path else []) + ["ip", *args]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}")


async def add_dns_interface(netns_path: str, name: str, ip: str) -> None:
    """A dummy link holding ip/32 (or /128), replacing one left by a crash. Kernels
    without the dummy driver (some VMs) get a bridge with no ports instead: it holds a
    local address just as well."""
    prefix = 128 if ipaddress.ip_address(ip).version == 6 else 32
    await _ip(netns_path, "link", "del", name, check=False)
    try:
        await _ip(netns_path, "link", "add", name, "type", "dummy")
    except RuntimeError as exc:
        log.info("no dummy interfaces here (%s); a portless bridge holds the cluster DNS address", exc)
        await _ip(netns_path, "link", "add", name, "type", "bridge")
    await _ip(netns_path, "addr", "add", f"{ip}/{prefix}", "dev", name)
    await _ip(netns_path, "link", "set", name, "up")


async def remove_dns_interface(netns_path: str, name: str) -> None:
    await _ip(netns_path, "link", "del", name, check=False)
