"""Real registries for the image tests: Debian's docker-registry on 127.0.0.1, plain, with
htpasswd basic auth, or with bearer tokens from a small token server of ours.

Each registry gets a free port and its own storage dir, is stopped by its PID, and keeps its
access log so tests can count the requests it served (an independent witness of what a pull
downloaded). Images get in with skopeo, from OCI layouts that ocibuild.py writes.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt through libxcrypt: docker-registry's htpasswd wants bcrypt hashes

REGISTRY_BIN = "/usr/bin/docker-registry"
_ACCESS_RE = re.compile(r'^\S+ - \S+ \[[^\]]+\] "(\w+) (\S+) HTTP/[\d.]+" (\d+)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    workdir: str
    auth_config: str = ""  # YAML under `auth:`, indented by 2
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "registry.log")

    def start(self, timeout: float = 10.0) -> "Registry":
        os.makedirs(os.path.join(self.workdir, "storage"), exist_ok=True)
        config = os.path.join(self.workdir, "config.yml")
        with open(config, "w") as f:
            f.write(self._config())
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", config], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        self._wait_ready(timeout)
        return self

    def _config(self) -> str:
        text = (f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.workdir}/storage\n"
                f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n"
                f"  secret: tinykube-tests\n")
        return text + (f"auth:\n{self.auth_config}" if self.auth_config else "")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {open(self.log_path).read()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def push(self, layout: str, name: str, dest: str, *, creds: str = "", all_platforms=False,
             docker_format=False) -> None:
        """skopeo copy oci:LAYOUT:NAME docker://HOST/DEST (docker_format: convert to Docker
        schema2 manifests and manifest lists)."""
        cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        cmd += ["--dest-creds", creds] if creds else []
        cmd += ["--all"] if all_platforms else []
        cmd += ["--format", "v2s2"] if docker_format else []
        subprocess.run(cmd + [f"oci:{layout}:{name}", f"docker://{self.host}/{dest}"],
                       check=True, capture_output=True, timeout=60)

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request served so far, from the access log."""
        with open(self.log_path, errors="replace") as f:
            return [(m[1], m[2], int(m[3])) for line in f if (m := _ACCESS_RE.match(line))]

    def blob_gets(self) -> list[str]:
        return [path for method, path, status in self.requests()
                if method == "GET" and "/blobs/sha256:" in path and status == 200]


def htpasswd_auth(workdir: str, users: dict[str, str]) -> str:
    path = os.path.join(workdir, "htpasswd")
    with open(path, "w") as f:
        for user, password in users.items():
            # cost 4: the registry checks the hash on every request
            f.write(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n")
    return f"  htpasswd:\n    realm: tinykube-tests\n    path: {path}\n"


# --- bearer tokens -------------------------------------------------------------------------

ISSUER, SERVICE = "tinykube-test-issuer", "tinykube-test-registry"


class TokenServer:
    """The token endpoint of the distribution token protocol: checks basic credentials and
    signs a JWT (RS256, x5c) granting the requested repository actions to known users;
    anonymous callers get a token with no access."""

    def __init__(self, workdir: str, users: dict[str, str]):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.users = users
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tinykube test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = os.path.join(workdir, "token-ca.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.issued: list[tuple[str, str]] = []  # (user, scope)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> str:
        return (f"  token:\n    realm: {self.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {self.cert_path}\n")

    def start(self) -> "TokenServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(self, user: str, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "iat": now, "nbf": now - 60,
                  "exp": now + 300, "jti": os.urandom(8).hex(),
                  "access": [a for s in scopes if (a := self._grant(user, s))]}
        signing_input = f"{_b64url(json.dumps(header))}.{_b64url(json.dumps(claims))}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _grant(self, user: str, scope: str) -> dict | None:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not user:
            return None
        return {"type": "repository", "name": name, "actions": actions.split(",")}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                from urllib.parse import parse_qs, urlsplit

                query = parse_qs(urlsplit(self.path).query)
                user = server._user(self.headers.get("Authorization", ""))
                if user is None:
                    return self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                scopes = [s for value in query.get("scope", []) for s in value.split(" ")]
                server.issued.append((user, " ".join(scopes)))
                token = server.sign(user, scopes)
                self._send(200, {"token": token, "access_token": token, "expires_in": 300})

            def _send(self, status: int, doc: dict):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def _user(self, authorization: str) -> str | None:
        """"" for anonymous, the user for good credentials, None for bad ones."""
        if not authorization:
            return ""
        if not authorization.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None


def _b64url(data) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
