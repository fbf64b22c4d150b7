"""The API server's client of the agents' kubelet API (their HTTPS endpoint).

It presents DIR/pki/apiserver-kubelet-client.crt (CN kube-apiserver-kubelet-client,
signed by the cluster CA), which is what agents trust. Like kube-apiserver without
--kubelet-certificate-authority it does not verify the agents' self-signed serving
certificates. A node's kubelet API is at the address in its tinykube.io/kubelet-address
annotation (else its InternalIP, else its Hostname) and the port in
status.daemonEndpoints.kubeletEndpoint.Port.
"""

from __future__ import annotations

import os
import ssl

import aiohttp

from tinykube.api import errors
from tinykube.apiserver import pki

ADDRESS_ANNOTATION = "tinykube.io/kubelet-address"
ADDRESS_TYPES = ("InternalIP", "Hostname", "ExternalIP")  # kube-apiserver's preference, less DNS


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

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
