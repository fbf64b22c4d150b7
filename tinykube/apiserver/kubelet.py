"""The API server's client of the agents' kubelet API (their HTTPS endpoint).

It presents DIR/pki/apiserver-kubelet-client.crt (CN kube-apiserver-kubelet-client,
signed by the cluster CA), which is what agents trust. Like kube-apiserver without
--kubelet-certificate-authority it does not verify the agents' self-signed serving
certificates. A node's kubelet API is at the address in its tinykube.io/kubelet-address
annotation (else its InternalIP, else its Hostname) and the port in
status.daemonEndpoints.kubeletEndpoint.Port.

Upgraded requests (exec, attach, port-forward) run on TLS connections of their own. After
one ends, a spare connection to the same kubelet API is dialed in the background and kept
for SPARE_SECONDS, so that the next exec on that node finds its TLS handshake (~5 ms of
the API server's and the agent's CPU) already done.
"""

from __future__ import annotations

import asyncio
import os
import ssl

import aiohttp

from tinykube.api import errors
from tinykube.apiserver import pki

ADDRESS_ANNOTATION = "tinykube.io/kubelet-address"
ADDRESS_TYPES = ("InternalIP", "Hostname", "ExternalIP")  # kube-apiserver's preference, less DNS
DIAL_SECONDS = 10
SPARE_SECONDS = 30.0  # how long a spare connection waits for its exec before it is closed


def node_endpoint(node: dict) -> tuple[str, int]:
    """(address, port) of a Node's kubelet API; ServiceUnavailable if it has none."""
    md, status = node.get("metadata", {}), node.get("status", {})
    address = (md.get("annotations") or {}).get(ADDRESS_ANNOTATION, "")
    if not address:
        by_type = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        address = next((by_type[t] for t in ADDRESS_TYPES if by_type.get(t)), "")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    if not address or not port:
        raise errors.ServiceUnavailable(f'node "{md.get("name", "")}" has no kubelet endpoint')
    return address, int(port)


def url(address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}{path}"


class KubeletClient:
    def __init__(self, data_dir: str):
        self.pki_dir = os.path.join(data_dir, "pki")
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._spares: dict[tuple[str, int], asyncio.Task] = {}

    @property
    def ssl(self) -> ssl.SSLContext:
        """The client context, made once (the relay opens its own connections with it)."""
        if self._ssl is None:
            self._ssl = self.ssl_context()
        return self._ssl

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # see the module docstring
        stem = os.path.join(self.pki_dir, pki.KUBELET_CLIENT)
        context.load_cert_chain(stem + ".crt", stem + ".key")
        return context

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None),
                auto_decompress=False)
        return self._session

    # --- connections for upgraded requests ----------------------------------------------

    async def connect(self, address: str, port: int, factory) -> tuple[object, bool]:
        """A TLS connection to a kubelet API with `factory`'s protocol: (protocol, reused),
        reused when it is the spare dialed earlier (the caller dials anew if that one turns
        out dead). OSError or TimeoutError when the endpoint cannot be reached."""
        spare = self._spares.pop((address, port), None)
        if spare is not None:
            if spare.done() and not spare.cancelled() and spare.exception() is None:
                transport, protocol = spare.result()
                if not transport.is_closing() and type(protocol) is factory:
                    return protocol, True
                transport.close()
            else:
                spare.cancel()
        return await self._dial(address, port, factory), False

    async def _dial(self, address: str, port: int, factory):
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(loop.create_connection(factory, address, port, ssl=self.ssl), DIAL_SECONDS)
        return protocol

    def prepare_spare(self, address: str, port: int, factory) -> None:
        """Dial a spare connection for the next upgraded request to this kubelet API."""
        key = (address, port)
        if key in self._spares:
            return
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(asyncio.wait_for(loop.create_connection(factory, address, port, ssl=self.ssl),
                                                      DIAL_SECONDS))
        self._spares[key] = task
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a failed dial is no one's error
        loop.call_later(SPARE_SECONDS, self._expire, key, task)

    def _expire(self, key: tuple[str, int], task: asyncio.Task) -> None:
        if self._spares.get(key) is task:  # not taken by an exec meanwhile
            del self._spares[key]
            _close_dialed(task)

    async def close(self) -> None:
        for task in self._spares.values():
            _close_dialed(task)
        self._spares.clear()
        if self._session is not None:
            await self._session.close()


def _close_dialed(task: asyncio.Task) -> None:
    """Close what a dial task connected (or stop it dialing)."""
    if not task.done():
        task.cancel()
    elif not task.cancelled() and task.exception() is None:
        task.result()[0].close()
