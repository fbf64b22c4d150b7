"""OCI and Docker schema2 manifests, indexes and descriptors; choosing the node's platform.

Pure functions over decoded JSON. Both families are accepted everywhere (they are
field-compatible); what differs is only the media type strings. An image index (or Docker
manifest list) is resolved to the one manifest for `linux/<node arch>[/<variant>]`, with
containerd's matching: os and architecture must be equal; a variant is preferred when it
equals ours, then an entry with no variant (arm64's default variant is v8).
"""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from tinykube.agent.images.errors import ContentError, ImageNotFound
from tinykube.util.jsonutil import loads

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MAX_MANIFEST_SIZE = 4 << 20  # containerd's limit: manifests are read into memory

# uname -m -> GOARCH (and variant), as containerd's platforms package names them
_ARCHES = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""),
           "arm64": ("arm64", ""), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
           "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
           "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, how big, and its digest."""

    media_type: str
    digest: str
    size: int
    platform: dict | None = None
    annotations: dict | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "Descriptor":
        return cls(d.get("mediaType", ""), d["digest"], int(d.get("size", -1)),
                   d.get("platform"), d.get("annotations"))

    def to_dict(self) -> dict:
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            d["platform"] = self.platform
        if self.annotations:
            d["annotations"] = self.annotations
        return d


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def node_platform() -> Platform:
    arch, variant = _ARCHES.get(_platform.machine(), (_platform.machine(), ""))
    return Platform("linux", arch, variant)


def parse_json(data: bytes, what: str) -> dict:
    try:
        doc = loads(data)
    except ValueError as e:
        raise ContentError(f"invalid {what}: {e}") from None
    if not isinstance(doc, dict):
        raise ContentError(f"invalid {what}: not a JSON object")
    return doc


def kind_of(media_type: str, doc: dict) -> str:
    """'index' or 'manifest'; the body's own mediaType wins, else its shape decides."""
    media_type = doc.get("mediaType") or media_type
    if media_type in INDEX_TYPES or (not media_type and "manifests" in doc):
        return "index"
    if media_type in MANIFEST_TYPES or (not media_type and "config" in doc):
        return "manifest"
    raise ContentError(f"unsupported manifest media type {media_type!r}")


def manifest_parts(doc: dict) -> tuple[Descriptor, list[Descriptor]]:
    """(config, layers) of an image manifest."""
    try:
        return (Descriptor.from_dict(doc["config"]),
                [Descriptor.from_dict(layer) for layer in doc.get("layers") or []])
    except (KeyError, TypeError, ValueError) as e:
        raise ContentError(f"invalid image manifest: {e!r}") from None


def choose_platform(index: dict, want: Platform) -> Descriptor:
    """The manifest of `index` that best matches `want` (ImageNotFound if none does)."""
    ranked = [(rank, i, d) for i, d in enumerate(index.get("manifests") or [])
              if (rank := _rank(d.get("platform") or {}, want)) is not None]
    if not ranked:
        raise ImageNotFound(f"no match for platform {want} in manifest: not found")
    return Descriptor.from_dict(min(ranked, key=lambda t: (t[0], t[1]))[2])


def _rank(p: dict, want: Platform) -> int | None:
    """0 = exact variant, 1 = no variant on either side's default; None = no match."""
    if p.get("os") != want.os or p.get("architecture") != want.architecture:
        return None
    have, need = _variant(want.architecture, p.get("variant", "")), _variant(
        want.architecture, want.variant)
    if have == need:
        return 0
    return 1 if not have or not need else None


def _variant(arch: str, variant: str) -> str:
    return "" if arch == "arm64" and variant == "v8" else variant


def config_diff_ids(config: dict) -> list[str]:
    rootfs = config.get("rootfs") or {}
    if rootfs.get("type") != "layers":
        raise ContentError(f"unsupported rootfs type {rootfs.get('type')!r}")
    return list(rootfs.get("diff_ids") or [])
