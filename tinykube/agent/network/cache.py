"""The on-disk cache of attachments, so DEL and CHECK get the configuration, the
parameters and the result of the ADD they undo, even after the agent restarts.

Like libcni's /var/lib/cni/results, one JSON file per (network, container id,
interface), but under the agent's data dir. An entry is written *before* the first
plugin runs (result null: "ADD in progress") and again with the result after the
last one, so an agent killed in the middle of an ADD still knows what to DEL.
Writes are atomic (temporary file, fsync, rename): a reader sees the old or the new
entry, never half of one.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from tinykube.util import jsonutil as json

from .model import Attachment

KIND = "tinykube.cni.cache/v1"


@dataclass(frozen=True)
class CachedAttachment:
    network: str
    attachment: Attachment
    config: dict  # the network configuration list ADD ran with, as written
    result: dict | None  # None while the ADD has not completed

    def to_json(self) -> dict:
        a = self.attachment
        return {"kind": KIND, "networkName": self.network, "containerId": a.container_id,
                "ifName": a.ifname, "netns": a.netns, "cniArgs": [list(p) for p in a.args],
                "capabilityArgs": a.capability_args, "config": self.config,
                "result": self.result}

    @classmethod
    def from_json(cls, doc: dict) -> "CachedAttachment":
        attachment = Attachment(container_id=doc["containerId"], ifname=doc["ifName"],
                                netns=doc.get("netns", ""),
                                args=tuple(tuple(p) for p in doc.get("cniArgs", [])),
                                capability_args=doc.get("capabilityArgs") or {})
        return cls(doc["networkName"], attachment, doc["config"], doc.get("result"))


class ResultCache:
    """Attachment entries under `directory` (created on first write)."""

    def __init__(self, directory: str):
        self.directory = directory

    def path(self, network: str, container_id: str, ifname: str) -> str:
        # Names and ids are validated (no '/'), so the key is a plain file name.
        return os.path.join(self.directory, f"{network}-{container_id}-{ifname}")

    async def write(self, entry: CachedAttachment) -> None:
        a = entry.attachment
        path = self.path(entry.network, a.container_id, a.ifname)
        await asyncio.to_thread(_write_atomic, path, json.dumps(entry.to_json()))

    def read(self, network: str, container_id: str, ifname: str) -> CachedAttachment | None:
        return _read(self.path(network, container_id, ifname))

    async def delete(self, network: str, container_id: str, ifname: str) -> None:
        try:
            os.unlink(self.path(network, container_id, ifname))
        except FileNotFoundError:
            pass

    def find(self, container_id: str, ifname: str) -> CachedAttachment | None:
        """The entry of (container id, ifname) in whichever network: names are
        matched first (no reads), then the one candidate is confirmed."""
        suffix = f"-{container_id}-{ifname}"
        for name in self._names():
            if name.endswith(suffix):
                entry = _read(os.path.join(self.directory, name))
                if entry and (entry.attachment.container_id, entry.attachment.ifname) == (container_id, ifname):
                    return entry
        return None

    def _names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.directory) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def entries(self) -> list[CachedAttachment]:
        found = (_read(os.path.join(self.directory, n)) for n in self._names())
        return [entry for entry in found if entry is not None]


def _read(path: str) -> CachedAttachment | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        return None  # not ours (or from a future format): never act on a guess
    return CachedAttachment.from_json(doc)


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
