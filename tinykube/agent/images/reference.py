"""Image references, parsed and normalized exactly as Kubernetes and containerd do.

`busybox` -> `docker.io/library/busybox:latest`; `ghcr.io/a/b@sha256:...` keeps its digest;
`localhost:5000/x:1` keeps its registry. The grammar is docker/distribution's `reference`
package (lowercase path components, tags of at most 128 word characters, algorithm:hex
digests); normalization is `ParseNormalizedNamed` followed by the kubelet's
`applyDefaultImageTag`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tinykube.agent.images.errors import InvalidImageName

DOCKER_DOMAIN = "docker.io"
DOCKER_ENDPOINT = "registry-1.docker.io"  # what docker.io names resolve to for pulls
_LEGACY_DOCKER_DOMAIN = "index.docker.io"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_HEX64_RE = re.compile(r"[a-f0-9]{64}")
NAME_TOTAL_LENGTH_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A normalized reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def endpoint(self) -> str:
        """host[:port] to talk the distribution protocol to."""
        return DOCKER_ENDPOINT if self.domain == DOCKER_DOMAIN else self.domain

    @property
    def scheme(self) -> str:
        # containerd treats loopback registries as plain-HTTP ("insecure localhost")
        return "http" if is_localhost(self.domain) else "https"

    @property
    def object(self) -> str:
        """What the manifest URL names: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_digest(self, digest: str) -> "Reference":
        """The repo digest `name@digest` (what status.imageID shows)."""
        return Reference(self.domain, self.path, "", digest)


def parse(image: str) -> Reference:
    """Parse and normalize; a missing tag and digest defaults the tag to `latest`."""
    ref = parse_normalized(image)
    if not ref.tag and not ref.digest:
        ref = Reference(ref.domain, ref.path, "latest", "")
    return ref


def parse_normalized(image: str) -> Reference:
    """`ParseNormalizedNamed`: the docker.io defaults, but no default tag."""
    if _HEX64_RE.fullmatch(image):
        raise _invalid(image, "cannot specify 64-byte hexadecimal strings")
    rest, digest = _split_digest(image)
    rest, tag = _split_tag(rest)
    domain, path = _split_domain(rest)
    _check_name(image, domain, path)
    return Reference(domain, path, tag, digest)


def normalize(image: str) -> str:
    """The canonical string form of `image` (busybox:1.36 -> docker.io/library/busybox:1.36)."""
    return str(parse(image))


def is_localhost(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain[1:].split("]")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_digest(image: str) -> tuple[str, str]:
    rest, sep, digest = image.partition("@")
    if sep and not _DIGEST_RE.fullmatch(digest):
        raise _invalid(image, "invalid reference format")
    return rest, digest


def _split_tag(rest: str) -> tuple[str, str]:
    # a ':' after the last '/' starts the tag; one before it belongs to a registry port
    colon = rest.rfind(":")
    if colon <= rest.rfind("/"):
        return rest, ""
    tag = rest[colon + 1:]
    if not _TAG_RE.fullmatch(tag):
        raise _invalid(rest, "invalid reference format")
    return rest[:colon], tag


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    is_domain = sep and (any(c in first for c in ".:") or first == "localhost"
                         or first.lower() != first)
    domain, path = (first, remainder) if is_domain else (DOCKER_DOMAIN, name)
    if domain == _LEGACY_DOCKER_DOMAIN:
        domain = DOCKER_DOMAIN
    if domain == DOCKER_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path


def _check_name(image: str, domain: str, path: str) -> None:
    if path.lower() != path:
        raise _invalid(image, f"repository name ({path}) must be lowercase")
    if not _DOMAIN_RE.fullmatch(domain) or not _PATH_RE.fullmatch(path):
        raise _invalid(image, "invalid reference format")
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(image, "repository name must not be more than 255 characters")


def _invalid(image: str, why: str) -> InvalidImageName:
    # the kubelet's words when applyDefaultImageTag fails
    return InvalidImageName(f'Failed to apply default image tag "{image}": '
                            f'couldn\'t parse image name "{image}": {why}')
