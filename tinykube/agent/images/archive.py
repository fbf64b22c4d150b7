"""`tinykube image import`: load OCI image-layout archives and docker-save archives.

OCI layout (a tar of a directory with `oci-layout`, `index.json`, `blobs/sha256/...`): each
entry of index.json is one image, named by its `io.containerd.image.name` annotation
(containerd, nerdctl, docker >= 25) or else `org.opencontainers.image.ref.name`. A ref.name
that is only a tag (skopeo's `oci:DIR:1.36`) needs `--base-name NAME` to become a reference.

docker-save (`manifest.json` with Config, RepoTags, Layers): the config and layer files are
copied as blobs and an OCI manifest is written for them, as containerd's importer does.

Names are normalized like the kubelet's (busybox:1.36 -> docker.io/library/busybox:1.36).
Every blob is verified against its digest on the way in; only the blobs reachable from the
images for our platform are copied. Runs under the shared store lock, so it is safe while
an agent uses the same store.
"""

from __future__ import annotations

import tarfile
import time
from dataclasses import dataclass

from tinykube.agent.images import manifest as mf
from tinykube.agent.images.errors import ContentError, ImageError, wrap
from tinykube.agent.images.locking import flocked
from tinykube.agent.images.pull import check_layer_media_type
from tinykube.agent.images.reference import normalize
from tinykube.agent.images.snapshots import Snapshotter
from tinykube.agent.images.store import ContentStore, ImageRecord
from tinykube.agent.images.unpack import clean_name
from tinykube.util.jsonutil import dumps, loads

IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImportResult:
    records: list[ImageRecord]
    skipped: list[str]  # why an entry of the archive was not imported


def import_archive(store: ContentStore, snapshots: Snapshotter, path: str, *,
                   platform: mf.Platform, base_name: str = "") -> ImportResult:
    with flocked(store.lock_path, exclusive=False), tarfile.open(path, "r:*") as tar:
        archive = _Archive(tar)
        importer = _Importer(store, snapshots, archive, platform)
        if archive.has("oci-layout") and archive.has("index.json"):
            return importer.oci_layout(base_name)
        if archive.has("manifest.json"):
            return importer.docker_save()
    raise ContentError(f"{path}: neither an OCI image layout (oci-layout, index.json) "
                       "nor a docker-save archive (manifest.json)")


class _Archive:
    """Members of the archive by cleaned name; reads them whole or into the store."""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.members = {"/".join(clean_name(m.name)): m for m in tar.getmembers()}

    def has(self, name: str) -> bool:
        return "/".join(clean_name(name)) in self.members

    def read(self, name: str) -> bytes:
        with self._open(name) as f:
            return f.read()

    def copy_to(self, name: str, store: ContentStore, digest: str | None, size: int = -1) -> str:
        """Streams member `name` into the store, verified when `digest` is known."""
        with self._open(name) as source, store.writer(digest, size) as writer:
            while chunk := source.read(_CHUNK):
                writer.write(chunk)
        return writer.digest

    def _open(self, name: str):
        member = self.members.get("/".join(clean_name(name)))
        source = self.tar.extractfile(member) if member else None  # follows links in the tar
        if source is None:
            raise ContentError(f"archive has no file {name!r}")
        return source


class _Importer:
    def __init__(self, store: ContentStore, snapshots: Snapshotter, archive: _Archive,
                 platform: mf.Platform):
        self.store, self.snapshots, self.archive, self.platform = store, snapshots, archive, platform

    # --- OCI image layout -----------------------------------------------------------------

    def oci_layout(self, base_name: str) -> ImportResult:
        index = mf.parse_json(self.archive.read("index.json"), "index.json")
        records, skipped = [], []
        for entry in index.get("manifests") or []:
            desc = mf.Descriptor.from_dict(entry)
            name = _image_name(desc.annotations or {}, base_name)
            if not name:
                skipped.append(f"{desc.digest}: no image name (annotation "
                               f"{IMAGE_NAME_ANNOTATION} or {REF_NAME_ANNOTATION}); use --base-name")
                continue
            records.append(self._import_oci_image(normalize(name), desc))
        return ImportResult(records, skipped)

    def _import_oci_image(self, ref: str, desc: mf.Descriptor) -> ImageRecord:
        target = desc
        for _ in range(4):
            doc = mf.parse_json(self._blob(desc), "manifest")
            if mf.kind_of(desc.media_type, doc) == "manifest":
                return self._finish(ref, target, desc, doc)
            desc = mf.choose_platform(doc, self.platform)
        raise ContentError("image indexes nested too deep")

    def _blob(self, desc: mf.Descriptor) -> bytes:
        if not self.store.has_blob(desc.digest):
            self.archive.copy_to(f"blobs/sha256/{desc.digest[7:]}", self.store, desc.digest, desc.size)
        return self.store.read_blob(desc.digest)

    def _finish(self, ref: str, target: mf.Descriptor, manifest_desc: mf.Descriptor,
                doc: dict) -> ImageRecord:
        config_desc, layers = mf.manifest_parts(doc)
        config = mf.parse_json(self._blob(config_desc), "image config")
        diff_ids = mf.config_diff_ids(config)
        if len(diff_ids) != len(layers):
            raise ContentError(f"{ref}: config lists {len(diff_ids)} diff_ids for {len(layers)} layers")
        for layer, diff_id in zip(layers, diff_ids):
            self._blob(layer)
            self._unpack(layer, diff_id)
        size = sum({d.digest: max(d.size, 0) for d in [target, manifest_desc, config_desc, *layers]}.values())
        record = ImageRecord(ref, target.digest, target.media_type, manifest_desc.digest,
                             config_desc.digest, size, time.time())
        self.store.put(record)
        return record

    def _unpack(self, layer: mf.Descriptor, diff_id: str) -> None:
        check_layer_media_type(layer)
        try:
            self.snapshots.prepare(diff_id, self.store.blob_path(layer.digest))
        except ImageError as e:
            raise wrap(e, f"failed to extract layer {diff_id}") from None

    # --- docker save ------------------------------------------------------------------------

    def docker_save(self) -> ImportResult:
        records, skipped = [], []
        for entry in _json_list(self.archive.read("manifest.json")):
            tags = entry.get("RepoTags") or []
            if not tags:
                skipped.append(f"{entry.get('Config')}: no RepoTags")
                continue
            manifest_desc, doc = self._docker_manifest(entry)
            records.extend(self._finish(normalize(tag), manifest_desc, manifest_desc, doc)
                           for tag in tags)
        return ImportResult(records, skipped)

    def _docker_manifest(self, entry: dict) -> tuple[mf.Descriptor, dict]:
        """Copies config and layers in, and writes the OCI manifest that describes them."""
        if not isinstance(entry.get("Config"), str):
            raise ContentError("invalid manifest.json: an image without Config")
        config = self.archive.read(entry["Config"])
        config_digest = self.store.write_blob(config)
        layers = [self._docker_layer(name) for name in entry.get("Layers") or []]
        doc = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
               "config": {"mediaType": mf.OCI_CONFIG, "digest": config_digest, "size": len(config)},
               "layers": [layer.to_dict() for layer in layers]}
        data = dumps(doc)
        digest = self.store.write_blob(data)
        return mf.Descriptor(mf.OCI_MANIFEST, digest, len(data)), doc

    def _docker_layer(self, name: str) -> mf.Descriptor:
        digest = self.archive.copy_to(name, self.store, None)
        with open(self.store.blob_path(digest), "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"  # docker save writes plain tars, usually
            size = f.seek(0, 2)
        return mf.Descriptor(mf.OCI_LAYER_GZIP if gzipped else mf.OCI_LAYER, digest, size)


def _image_name(annotations: dict, base_name: str) -> str:
    if annotations.get(IMAGE_NAME_ANNOTATION):
        return annotations[IMAGE_NAME_ANNOTATION]
    ref_name = annotations.get(REF_NAME_ANNOTATION, "")
    if ref_name and not any(c in ref_name for c in "/:@"):  # only a tag
        return f"{base_name}:{ref_name}" if base_name else ""
    return ref_name


def _json_list(data: bytes) -> list[dict]:
    try:
        doc = loads(data)
    except ValueError as e:
        raise ContentError(f"invalid manifest.json: {e}") from None
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise ContentError("invalid manifest.json: not a list of images")
    return doc
