"""Pod volumes: what goes in them (pure) and how the files are written (atomic).

configMap, secret, downwardAPI and projected volumes are a set of files computed from
API objects by `volume_files` (items, defaultMode, per-item mode, optional, as Kubernetes
does). `AtomicWriter` writes such a set the way the kubelet does: into a fresh hidden
directory, then swaps the `..data` symlink in one rename, so a container never sees a
half-updated volume and updates reach running containers. hostPath `type` checks follow
the kubelet's; emptyDir and `medium: Memory` tmpfs are plain directories and mounts made
by the agent.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass

from tinykube.agent.env import EnvError, field_value, resource_value

DEFAULT_MODE = 0o644  # 420, the API default


class VolumeError(Exception):
    """The pod cannot start: its volume could not be set up (FailedMount)."""


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int


def volume_files(volume: dict, pod: dict, *, configmaps: dict[str, dict],
                 secrets: dict[str, dict]) -> dict[str, File] | None:
    """The files of a configMap/secret/downwardAPI/projected volume; None for other kinds.

    An optional ConfigMap or Secret that is missing gives an empty volume.
    """
    if "configMap" in volume:
        return _object_files(volume["configMap"], configmaps, "configmap", decode=False)
    if "secret" in volume:
        source = dict(volume["secret"], name=volume["secret"].get("secretName", ""))
        return _object_files(source, secrets, "secret", decode=True)
    if "downwardAPI" in volume:
        return _downward_files(volume["downwardAPI"], pod)
    if "projected" in volume:
        return _projected_files(volume["projected"], pod, configmaps, secrets)
    return None


def _object_files(source: dict, objects: dict, kind: str, *, decode: bool) -> dict[str, File]:
    default_mode = source.get("defaultMode", DEFAULT_MODE)
    obj = objects.get(source.get("name", ""))
    if obj is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'{kind} "{source.get("name", "")}" not found')
    data = _data(obj, decode)
    items = source.get("items")
    if not items:
        return {key: File(value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f'configmap references non-existent config key: {item["key"]}'
                              if kind == "configmap" else
                              f'references non-existent secret key: {item["key"]}')
        files[item["path"]] = File(data[item["key"]], item.get("mode", default_mode))
    return files


def _data(obj: dict, decode: bool) -> dict[str, bytes]:
    if decode:
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def _downward_files(source: dict, pod: dict) -> dict[str, File]:
    default_mode = source.get("defaultMode", DEFAULT_MODE)
    files = {}
    for item in source.get("items") or []:
        try:
            if "fieldRef" in item:
                value = field_value(pod, item["fieldRef"]["fieldPath"])
            else:
                container = _container(pod, item["resourceFieldRef"].get("containerName", ""))
                value = resource_value(item["resourceFieldRef"], container, pod, {})
        except EnvError as exc:
            raise VolumeError(str(exc)) from None
        files[item["path"]] = File(value.encode(), item.get("mode", default_mode))
    return files


def _container(pod: dict, name: str) -> dict:
    for c in pod.get("spec", {}).get("containers", []):
        if c["name"] == name:
            return c
    raise VolumeError(f"container {name} not found in the pod")


def _projected_files(source: dict, pod: dict, configmaps, secrets) -> dict[str, File]:
    default_mode = source.get("defaultMode", DEFAULT_MODE)
    files: dict[str, File] = {}
    for part in source.get("sources") or []:
        if "serviceAccountToken" in part:
            raise VolumeError("serviceAccountToken projections are not supported by tinykube yet")
        key = next(iter(part))
        inner = dict(part[key], defaultMode=default_mode)
        volume = {"secret": dict(inner, secretName=inner.get("name", ""))} if key == "secret" else {key: inner}
        files.update(volume_files(volume, pod, configmaps=configmaps, secrets=secrets) or {})
    return files


# --- writing -------------------------------------------------------------------------------


class AtomicWriter:
    """The kubelet's layout: dir/..data -> ..TIMESTAMP/, and dir/NAME -> ..data/NAME."""

    def __init__(self, target_dir: str):
        self.target_dir = target_dir

    def write(self, files: dict[str, File]) -> bool:
        """Publish `files`; returns False (and writes nothing) when they are unchanged."""
        os.makedirs(self.target_dir, exist_ok=True)
        if self._current() == files:
            return False
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.")
        fresh = tempfile.mkdtemp(prefix=stamp, dir=self.target_dir)
        os.chmod(fresh, 0o755)
        for path, file in files.items():
            _write_file(fresh, path, file)
        old = self._data_target()
        link = os.path.join(self.target_dir, "..data_tmp")
        os.symlink(os.path.basename(fresh), link)
        os.rename(link, os.path.join(self.target_dir, "..data"))  # the atomic switch
        self._link_top_level(files)
        if old:
            shutil.rmtree(os.path.join(self.target_dir, old), ignore_errors=True)
        return True

    def _data_target(self) -> str:
        try:
            return os.readlink(os.path.join(self.target_dir, "..data"))
        except OSError:
            return ""

    def _current(self) -> dict[str, File] | None:
        target = self._data_target()
        if not target:
            return None
        root = os.path.join(self.target_dir, target)
        current = {}
        for dirpath, _, names in os.walk(root):
            for name in names:
                full = os.path.join(dirpath, name)
                with open(full, "rb") as f:
                    current[os.path.relpath(full, root)] = File(f.read(), stat.S_IMODE(os.stat(full).st_mode))
        return current

    def _link_top_level(self, files: dict[str, File]) -> None:
        wanted = {path.split("/", 1)[0] for path in files}
        for name in os.listdir(self.target_dir):
            if name.startswith(".."):
                continue
            if name not in wanted:
                os.unlink(os.path.join(self.target_dir, name))
        for name in wanted:
            link = os.path.join(self.target_dir, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)


def _write_file(root: str, path: str, file: File) -> None:
    if path.startswith("/") or ".." in path.split("/"):
        raise VolumeError(f"invalid path {path!r} in volume")
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(file.data)
    os.chmod(full, file.mode)


# --- hostPath ------------------------------------------------------------------------------


def check_host_path(path: str, kind: str) -> None:
    """The kubelet's hostPath type checks; the *OrCreate kinds create what is missing."""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, mode=0o755)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    checks = {
        "Directory": (stat.S_ISDIR, "a directory"), "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
        "File": (stat.S_ISREG, "a file"), "FileOrCreate": (stat.S_ISREG, "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if not kind or kind not in checks:
        return
    test, what = checks[kind]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VolumeError(f"hostPath type check failed: {path} is not {what}") from None
    if not test(mode):
        raise VolumeError(f"hostPath type check failed: {path} is not {what}")
