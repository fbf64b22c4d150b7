"""Build OCI images for tests, from Python dicts of files: layers, configs, manifests,
indexes, OCI image layouts and their archives. No network, no daemon.

    layer = layer_tar({"bin/": directory(), "bin/busybox": file(busybox), "bin/sh": symlink("busybox")})
    image = build_image([layer], config={"Cmd": ["sh"]})
    write_layout(tmp / "layout", {"docker.io/library/busybox:1.36": image})
    tar_dir(tmp / "layout", tmp / "busybox.tar")        # `tinykube image import busybox.tar`
    busybox_archive(tmp)                                # all of the above for busybox

`busybox_image()` is a ready small image from Debian's static busybox (/bin/busybox), useful
to anyone who needs a real image to run (the runtime's tests too).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "true", "false", "sleep", "env", "id", "hostname",
           "mkdir", "rm", "touch", "test", "ps", "wget", "nc", "head", "stat", "readlink")
MTIME = 1_700_000_000


@dataclass(frozen=True)
class Entry:
    kind: str  # file dir symlink hardlink char block fifo
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""
    major: int = 0
    minor: int = 0
    xattrs: dict = field(default_factory=dict)


def file(data: bytes | str = b"", mode: int = 0o644, uid: int = 0, gid: int = 0,
         xattrs: dict | None = None) -> Entry:
    data = data.encode() if isinstance(data, str) else data
    return Entry("file", data, mode, uid, gid, xattrs=xattrs or {})


def directory(mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry("dir", mode=mode, uid=uid, gid=gid)


def symlink(target: str) -> Entry:
    return Entry("symlink", mode=0o777, target=target)


def hardlink(target: str) -> Entry:
    return Entry("hardlink", target=target)


def chardev(major: int, minor: int, mode: int = 0o666) -> Entry:
    return Entry("char", mode=mode, major=major, minor=minor)


def fifo(mode: int = 0o644) -> Entry:
    return Entry("fifo", mode=mode)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def layer_tar(entries: dict, *, compress: bool = True) -> bytes:
    """A layer from {name: Entry | bytes | str}, in the dict's order (order matters for
    whiteouts and hardlinks). A name ending in '/' with no Entry is a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in entries.items():
            entry = _entry(name, entry)
            info = tarfile.TarInfo(name.rstrip("/") or ".")
            info.type, info.mode, info.uid, info.gid = _TYPES[entry.kind], entry.mode, entry.uid, entry.gid
            info.mtime, info.linkname = MTIME, entry.target
            info.devmajor, info.devminor = entry.major, entry.minor
            info.size = len(entry.data) if entry.kind == "file" else 0
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


@dataclass(frozen=True)
class RawMember:
    """A tar member with any name, even hostile ones the dict form would not write."""

    name: str
    data: bytes = b""
    symlink: str = ""
    hardlink: str = ""


def raw_tar(members: list[RawMember]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mtime, info.mode = MTIME, 0o644
            if m.symlink or m.hardlink:
                info.type = tarfile.SYMTYPE if m.symlink else tarfile.LNKTYPE
                info.linkname = m.symlink or m.hardlink
            info.size = len(m.data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(m.data) if info.size else None)
    return buf.getvalue()


def _entry(name: str, value) -> Entry:
    if isinstance(value, Entry):
        return value
    if value is None and name.endswith("/"):
        return directory()
    return file(value)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def uncompressed(layer: bytes) -> bytes:
    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


@dataclass
class Built:
    """An image or index with all its blobs: {digest: bytes}; `desc` names the top."""

    desc: dict
    blobs: dict


def _json(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def build_image(layers: list[bytes], *, config: dict | None = None, architecture: str = "amd64",
                os_name: str = "linux", variant: str = "", media_type: str = OCI_MANIFEST) -> Built:
    config_doc = {"architecture": architecture, "os": os_name, "config": config or {},
                  "rootfs": {"type": "layers", "diff_ids": [digest(uncompressed(l)) for l in layers]},
                  "history": [{"created_by": "tinykube tests"} for _ in layers]}
    if variant:
        config_doc["variant"] = variant
    config_bytes = _json(config_doc)
    layer_descs = [{"mediaType": OCI_LAYER_GZIP if l[:2] == b"\x1f\x8b" else OCI_LAYER,
                    "digest": digest(l), "size": len(l)} for l in layers]
    manifest = _json({"schemaVersion": 2, "mediaType": media_type,
                      "config": {"mediaType": OCI_CONFIG, "digest": digest(config_bytes),
                                 "size": len(config_bytes)}, "layers": layer_descs})
    blobs = {digest(b): b for b in [config_bytes, manifest, *layers]}
    platform = {"architecture": architecture, "os": os_name, **({"variant": variant} if variant else {})}
    desc = {"mediaType": media_type, "digest": digest(manifest), "size": len(manifest),
            "platform": platform}
    return Built(desc, blobs)


def build_index(images: list[Built]) -> Built:
    index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [image.desc for image in images]})
    blobs = {k: v for image in images for k, v in image.blobs.items()}
    blobs[digest(index)] = index
    return Built({"mediaType": OCI_INDEX, "digest": digest(index), "size": len(index)}, blobs)


def write_layout(path, images: dict, *, annotation: str = "org.opencontainers.image.ref.name") -> str:
    """An OCI image layout at `path` with {name: Built}; names go into `annotation`."""
    path = str(path)
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for name, built in images.items():
        for d, data in built.blobs.items():
            with open(os.path.join(path, "blobs", "sha256", d[7:]), "wb") as f:
                f.write(data)
        desc = {k: v for k, v in built.desc.items() if k != "platform"}
        manifests.append({**desc, "annotations": {annotation: name}})
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(os.path.join(path, "index.json"), "wb") as f:
        f.write(_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
    return path


def tar_dir(path, archive) -> str:
    """A tar of the directory's content (names relative to it), as an archive file."""
    with tarfile.open(str(archive), "w") as tar:
        for name in sorted(os.listdir(str(path))):
            tar.add(os.path.join(str(path), name), arcname=name)
    return str(archive)


def busybox_files(applets=APPLETS) -> dict:
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    files = {"bin/": directory(), "bin/busybox": file(busybox, 0o755)}
    files.update({f"bin/{name}": symlink("busybox") for name in applets})
    files.update({"etc/": directory(), "etc/passwd": file("root:x:0:0:root:/root:/bin/sh\n"
                                                         "nobody:x:65534:65534:nobody:/:/bin/false\n"),
                  "etc/group": file("root:x:0:\nnogroup:x:65534:\n"),
                  "tmp/": directory(0o1777), "root/": directory(0o700),
                  "proc/": directory(), "sys/": directory(), "dev/": directory()})
    return files


def busybox_image(*, extra_layers: list[bytes] = (), config: dict | None = None,
                  architecture: str = "amd64") -> Built:
    """A runnable image: Debian's static busybox with a few applets, Cmd ["sh"]."""
    base = layer_tar(busybox_files())
    return build_image([base, *extra_layers], architecture=architecture,
                       config=config or {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"})


def busybox_archive(workdir, name: str = "docker.io/library/busybox:1.36", **image_args) -> str:
    """`busybox_image()` as an OCI archive in `workdir`, ready for `tinykube image import`
    or `await ImageService(data_dir).import_archive(path)`."""
    layout = write_layout(os.path.join(str(workdir), "busybox-layout"), {name: busybox_image(**image_args)})
    return tar_dir(layout, os.path.join(str(workdir), "busybox.tar"))
