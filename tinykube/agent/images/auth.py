"""Registry credentials: imagePullSecrets lookup and WWW-Authenticate challenges.

`lookup_credentials` is the kubelet's credentialprovider keyring: keys of a
`.dockerconfigjson` are schemeless URLs whose host labels may be globs (`*.example.com`),
with an optional port and path prefix; every matching key contributes credentials, most
specific (reverse-sorted) first, and docker.io images fall back to the `index.docker.io`
entry that `docker login` writes. The kubelet tries the credentials in that order and stops
at the first successful pull; with none, it pulls anonymously.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tinykube.util.jsonutil import loads

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
_DEFAULT_REGISTRY_HOST = "index.docker.io"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a password into a log
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate challenge: scheme ("bearer"/"basic") and its parameters."""

    scheme: str
    params: dict


def docker_configs_from_secrets(secrets: list[dict]) -> list[dict]:
    """The decoded `.dockerconfigjson` (or legacy `.dockercfg`) of each pull secret."""
    configs = []
    keys = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKER_CFG: ".dockercfg"}
    for secret in secrets:
        data = secret.get("data") or {}
        key = keys.get(secret.get("type", ""), "")
        if key in data:
            configs.append(loads(base64.b64decode(data[key])))
    return configs


def lookup_credentials(docker_configs: list[dict], image: str) -> list[Credentials]:
    """Credentials for `image` (a normalized name, e.g. docker.io/library/busybox)."""
    keyed: dict[str, list[Credentials]] = {}
    for config in docker_configs:
        for location, entry in (config.get("auths", config) or {}).items():
            creds = _entry_credentials(entry)
            if creds is not None:
                keyed.setdefault(_keyring_key(location), []).append(creds)
    found = [c for key in sorted(keyed, reverse=True) if _urls_match(key, image)
             for c in keyed[key]]
    if not found and _is_default_registry_match(image):
        found = keyed.get(_DEFAULT_REGISTRY_HOST, [])
    return found


def _entry_credentials(entry) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):  # `auth` (base64 user:password) wins over the plain fields
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials(user, password)
    if entry.get("username") or entry.get("password"):
        return Credentials(entry.get("username", ""), entry.get("password", ""))
    return None


def _keyring_key(location: str) -> str:
    if not location.startswith(("https://", "http://")):
        location = "https://" + location
    parts = urlsplit(location)
    path = parts.path[3:] if parts.path.startswith(("/v1/", "/v2/")) else parts.path
    return parts.netloc + path if path and path != "/" else parts.netloc


def _urls_match(glob: str, target: str) -> bool:
    glob_host, _, glob_path = glob.partition("/")
    host, _, path = target.partition("/")
    (glob_labels, glob_port), (labels, port) = _split_host(glob_host), _split_host(host)
    if glob_port != port or len(glob_labels) != len(labels):
        return False
    if not ("/" + path).startswith("/" + glob_path):
        return False
    return all(fnmatch.fnmatchcase(label, g) for g, label in zip(glob_labels, labels))


def _split_host(host: str) -> tuple[list[str], str]:
    name, sep, port = host.rpartition(":")
    return (name.split("."), port) if sep else (host.split("."), "")


def _is_default_registry_match(image: str) -> bool:
    first, sep, _ = image.partition("/")
    if not first:
        return False
    if not sep or first in ("docker.io", _DEFAULT_REGISTRY_HOST):
        return True
    return not any(c in first for c in ".:")


# --- WWW-Authenticate ---------------------------------------------------------------------

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_www_authenticate(header: str) -> Challenge | None:
    """`Bearer realm="...",service="...",scope="..."` -> Challenge("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {}
    for match in _PARAM_RE.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
    return Challenge(scheme.lower(), params)


def basic_header(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    return f"Basic {token}"
