"""The cluster's PKI, made on first start in the data directory and reused after.

DIR/pki/ holds a CA (ca.crt, ca.key), the API server's serving certificate
(server.crt, server.key, with the names and addresses clients use), and an admin client
certificate (admin.crt, admin.key: CN=admin, O=system:masters, like kubeadm's), and the
certificate the API server presents to agents' kubelet API (apiserver-kubelet-client.crt,
CN=kube-apiserver-kubelet-client, O=system:masters). DIR/token
holds the cluster token that agents join with (`tinykube agent --token`), and
DIR/kubeconfig.yaml gives kubectl the admin credential. EC P-256 keys: fast to make, so
the first start stays under a second.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)
# Names the serving certificate covers: loopback, the in-cluster Service names and the
# first address of the default service CIDR (the `kubernetes` Service).
SERVICE_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVICE_IPS = ("127.0.0.1", "::1", "10.43.0.1")
KUBELET_CLIENT = "apiserver-kubelet-client"  # DIR/pki/<this>.crt, .key


@dataclass(frozen=True)
class Pki:
    dir: str

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    @property
    def ca_cert(self) -> str:
        return self.path("ca.crt")

    @property
    def server_cert(self) -> str:
        return self.path("server.crt")

    @property
    def server_key(self) -> str:
        return self.path("server.key")


def ensure_pki(data_dir: str, extra_sans: tuple[str, ...] = ()) -> Pki:
    """Create the CA and certificates if they do not exist yet; return their paths."""
    pki = Pki(os.path.join(data_dir, "pki"))
    os.makedirs(pki.dir, mode=0o700, exist_ok=True)
    if not os.path.exists(pki.ca_cert):
        ca_key = _new_key()
        ca_cert = _ca_certificate(ca_key)
        _write_pair(pki, "ca", ca_cert, ca_key)
        _write_pair(pki, "server", *_signed(ca_cert, ca_key, "kube-apiserver", (), server=True,
                                            sans=extra_sans))
        _write_pair(pki, "admin", *_signed(ca_cert, ca_key, "admin", ("system:masters",)))
    _ensure_kubelet_client(pki)
    return pki


def _ensure_kubelet_client(pki: Pki) -> None:
    """The API server's client certificate for the agents' kubelet API (kubeadm's
    apiserver-kubelet-client), also added to a PKI made before it existed."""
    if os.path.exists(pki.path(f"{KUBELET_CLIENT}.crt")):
        return
    with open(pki.ca_cert, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    with open(pki.path("ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    _write_pair(pki, KUBELET_CLIENT, *_signed(ca_cert, ca_key, "kube-apiserver-kubelet-client",
                                                ("system:masters",)))


def ensure_token(data_dir: str) -> str:
    """The cluster token (a bearer token for admins and joining agents)."""
    path = os.path.join(data_dir, "token")
    if not os.path.exists(path):
        _write_private(path, secrets.token_hex(24).encode() + b"\n")
    with open(path) as f:
        return f.read().strip()


def write_kubeconfig(data_dir: str, pki: Pki, server_url: str) -> str:
    """Write DIR/kubeconfig.yaml with the admin client certificate; return its path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tinykube", "cluster": {
            "server": server_url,
            "certificate-authority-data": _b64_file(pki.ca_cert)}}],
        "users": [{"name": "admin", "user": {
            "client-certificate-data": _b64_file(pki.path("admin.crt")),
            "client-key-data": _b64_file(pki.path("admin.key"))}}],
        "contexts": [{"name": "tinykube", "context": {"cluster": "tinykube", "user": "admin"}}],
        "current-context": "tinykube",
        "preferences": {},
    }
    path = os.path.join(data_dir, "kubeconfig.yaml")
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path


def _b64_file(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY))


def _ca_certificate(key) -> x509.Certificate:
    name = _name(f"tinykube-ca@{int(datetime.datetime.now().timestamp())}")
    builder = _builder(name, name, key.public_key())
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(_key_usage(cert_sign=True), critical=True)
    return builder.sign(key, hashes.SHA256())


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=not cert_sign, data_encipherment=False,
                         key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _signed(ca_cert, ca_key, common_name: str, organizations: tuple[str, ...], *,
            server: bool = False, sans: tuple[str, ...] = ()):
    key = _new_key()
    builder = _builder(_name(common_name, organizations), ca_cert.subject, key.public_key())
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(_key_usage(cert_sign=False), critical=True)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(_subject_alt_names(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _subject_alt_names(extra: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for value in (*SERVICE_NAMES, *SERVICE_IPS, socket.gethostname(), *extra):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    return x509.SubjectAlternativeName(names)


def _write_pair(pki: Pki, stem: str, cert: x509.Certificate, key) -> None:
    _write_private(pki.path(f"{stem}.crt"), cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    _write_private(pki.path(f"{stem}.key"), key_pem)


def _write_private(path: str, data: bytes) -> None:
    """Write a secret file atomically, readable by root only."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
