"""Where the API server is and how to prove who we are: kubeconfig files and flags.

`load_kubeconfig(path)` reads the cluster, user and context the way kubectl does
(server, certificate-authority[-data], client-certificate[-data] + client-key[-data],
token / tokenFile, insecure-skip-tls-verify). `ClientConfig(server, token=..., ca_file=...)`
is the flag form `tinykube agent --server URL --token T` uses. `ssl_context()` builds
the TLS side: the cluster CA is verified unless explicitly skipped.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str = ""
    ca_file: str = ""
    ca_data: bytes = b""  # PEM
    cert_file: str = ""
    key_file: str = ""
    cert_data: bytes = b""  # PEM
    key_data: bytes = b""  # PEM
    insecure_skip_tls_verify: bool = False

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for https servers (None for plain http)."""
        if not self.server.startswith("https"):
            return None
        context = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_file or self.ca_data:
            # The cluster's own CA only: trusting system CAs too would let any public
            # certificate for the server's name impersonate the cluster.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile=self.ca_file or None,
                                          cadata=self.ca_data.decode() if self.ca_data else None)
        self._load_client_certificate(context)
        return context

    def _load_client_certificate(self, context: ssl.SSLContext) -> None:
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or None)
        elif self.cert_data:
            _load_chain_from_memory(context, self.cert_data, self.key_data)


def _load_chain_from_memory(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads certificates from files only: write them to a private temporary
    directory, load, and remove them at once."""
    with tempfile.TemporaryDirectory(prefix="tinykube-client-") as tmp:
        cert_path, key_path = os.path.join(tmp, "client.crt"), os.path.join(tmp, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        context.load_cert_chain(cert_path, key_path if key else None)


def default_kubeconfig_path() -> str:
    """$KUBECONFIG (its first entry) or ~/.kube/config, as kubectl looks."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or os.path.expanduser("~/.kube/config")


def load_kubeconfig(path: str | None = None, *, context: str | None = None) -> ClientConfig:
    """The ClientConfig of a kubeconfig file's current (or the named) context."""
    path = path or default_kubeconfig_path()
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    base = os.path.dirname(os.path.abspath(path))
    name = context or doc.get("current-context") or ""
    ctx = _named(doc, "contexts", name, "context") if name else {}
    cluster = _named(doc, "clusters", ctx.get("cluster"), "cluster") if ctx else _first(doc, "clusters", "cluster")
    user = _named(doc, "users", ctx.get("user"), "user") if ctx else _first(doc, "users", "user")
    return _from_entries(cluster, user, base)


def _named(doc: dict, section: str, name: str | None, field: str) -> dict:
    for entry in doc.get(section) or ():
        if entry.get("name") == name:
            return entry.get(field) or {}
    raise ValueError(f"kubeconfig has no {section[:-1]} named {name!r}")


def _first(doc: dict, section: str, field: str) -> dict:
    entries = doc.get(section) or ()
    return (entries[0].get(field) or {}) if entries else {}


def _from_entries(cluster: dict, user: dict, base: str) -> ClientConfig:
    server = cluster.get("server")
    if not server:
        raise ValueError("kubeconfig cluster has no server")
    return ClientConfig(
        server=server.rstrip("/"),
        token=_token(user, base),
        ca_file=_path(cluster.get("certificate-authority"), base),
        ca_data=_b64(cluster.get("certificate-authority-data")),
        cert_file=_path(user.get("client-certificate"), base),
        key_file=_path(user.get("client-key"), base),
        cert_data=_b64(user.get("client-certificate-data")),
        key_data=_b64(user.get("client-key-data")),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")))


def _token(user: dict, base: str) -> str:
    if user.get("token"):
        return str(user["token"]).strip()
    token_file = _path(user.get("tokenFile"), base)
    if token_file:
        with open(token_file) as f:
            return f.read().strip()
    return ""


def _path(value: str | None, base: str) -> str:
    """kubeconfig paths are relative to the file that names them."""
    if not value:
        return ""
    return value if os.path.isabs(value) else os.path.join(base, value)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""
