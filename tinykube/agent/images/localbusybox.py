"""An image made on the node from Debian's static busybox, for offline clusters.

No registry is reachable on an offline machine, yet the examples and most first steps
need a small image with a shell. `tinykube image busybox` (and `make up`) writes an OCI
image layout holding one layer — /bin/busybox, a symlink per applet it lists, a minimal
/etc/passwd and /etc/group, /tmp — and imports it as `busybox:1.36` (by default), the tag
the examples use. The result is a real OCI image: digests, config, manifest, index.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile

BUSYBOX = "/bin/busybox"
DEFAULT_REF = "docker.io/library/busybox:1.36"
_MTIME = 1_700_000_000
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def applets(busybox: str = BUSYBOX) -> list[str]:
    """The applets this busybox binary provides (`busybox --list`)."""
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({name for name in out.split() if name and "/" not in name and name != "busybox"})


def _add(tar: tarfile.TarFile, name: str, *, kind: bytes = tarfile.DIRTYPE, mode: int = 0o755,
         data: bytes = b"", target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, _MTIME, target
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if info.size else None)


def layer(busybox: str = BUSYBOX) -> bytes:
    """The image's one layer, uncompressed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700),
                        ("proc", 0o755), ("sys", 0o755), ("dev", 0o755)):
            _add(tar, d, mode=mode)
        with open(busybox, "rb") as f:
            _add(tar, "bin/busybox", kind=tarfile.REGTYPE, data=f.read())
        for name in applets(busybox):
            _add(tar, f"bin/{name}", kind=tarfile.SYMTYPE, mode=0o777, target="busybox")
        _add(tar, "etc/passwd", kind=tarfile.REGTYPE, mode=0o644, data=_PASSWD.encode())
        _add(tar, "etc/group", kind=tarfile.REGTYPE, mode=0o644, data=_GROUP.encode())
    return buf.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def blobs_and_manifest(busybox: str = BUSYBOX) -> tuple[dict[str, bytes], bytes]:
    """({digest: blob}, manifest): the layer (gzipped), the config, the manifest."""
    raw = layer(busybox)
    gz = gzip.compress(raw, mtime=0)
    config = _json({"architecture": "amd64", "os": "linux",
                    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
                    "rootfs": {"type": "layers", "diff_ids": [_digest(raw)]},
                    "history": [{"created_by": "tinykube image busybox (from " + busybox + ")"}]})
    manifest = _json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": _digest(config), "size": len(config)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                  "digest": _digest(gz), "size": len(gz)}]})
    return {_digest(b): b for b in (gz, config, manifest)}, manifest


def write_archive(directory: str, ref: str = DEFAULT_REF, busybox: str = BUSYBOX) -> str:
    """An OCI image-layout tar in `directory`, naming the image `ref`."""
    blobs, manifest = blobs_and_manifest(busybox)
    index = _json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "digest": _digest(manifest), "size": len(manifest),
                                  "annotations": {"org.opencontainers.image.ref.name": ref}}]})
    path = os.path.join(directory, "busybox-oci.tar")
    with tarfile.open(path, "w") as tar:
        _add(tar, "blobs")
        _add(tar, "blobs/sha256")
        for d, data in sorted(blobs.items()):
            _add(tar, f"blobs/sha256/{d[7:]}", kind=tarfile.REGTYPE, mode=0o644, data=data)
        _add(tar, "oci-layout", kind=tarfile.REGTYPE, mode=0o644, data=b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", kind=tarfile.REGTYPE, mode=0o644, data=index)
    return path


async def import_busybox(images, ref: str = DEFAULT_REF, busybox: str = BUSYBOX):
    """Build and import the image into an ImageService; returns its ImportResult."""
    with tempfile.TemporaryDirectory(prefix="tinykube-busybox-") as tmp:
        return await images.import_archive(write_archive(tmp, ref, busybox))
