"""Container log rotation, as the kubelet's container log manager does it.

A container writes `<logs>/<container>/<restart count>.log` (through its monitor). When
that file grows past containerLogMaxSize, the agent:
  1. removes leftover `*.tmp` files,
  2. removes the oldest rotated files so that, with the one about to be made, at most
     containerLogMaxFiles files (current included) remain,
  3. gzips the rotated files kept (`0.log.20261124-154500.gz`),
  4. renames the current file to `0.log.<YYYYmmdd-HHMMSS>` (left uncompressed until the
     next rotation: the writer may still be appending to it) and asks the monitor to
     reopen its log (SIGHUP; the CRI's ReopenContainerLog).
No line is lost: until the monitor reopens, it keeps appending to the renamed file.
Readers of `kubectl logs` read `<n>.log`, which is always the current file.
`plan` is the pure part (what to do, from the file names and size); `rotate` does it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from dataclasses import dataclass

DEFAULT_MAX_SIZE = 10 * 1024 * 1024  # containerLogMaxSize 10Mi
DEFAULT_MAX_FILES = 5                # containerLogMaxFiles
STAMP = "%Y%m%d-%H%M%S"              # Go's "20060102-150405"


@dataclass(frozen=True)
class Plan:
    remove: tuple[str, ...] = ()
    compress: tuple[str, ...] = ()
    rename_to: str = ""  # "" when the current file stays


def plan(current: str, *, size: int, siblings: list[str], max_size: int, max_files: int,
         now: float) -> Plan:
    """What rotating `current` (a path) needs, given the names in its directory."""
    if size <= max_size:
        return Plan()
    base = os.path.basename(current)
    directory = os.path.dirname(current)
    target = f"{base}.{time.strftime(STAMP, time.gmtime(now))}"
    if target in siblings:
        return Plan()  # rotated this very second (its writer may still be on it): next time
    tmp = [n for n in siblings if n.startswith(base + ".") and n.endswith(".tmp")]
    rotated = sorted(n for n in siblings if n.startswith(base + ".") and not n.endswith(".tmp"))
    keep = max(0, max_files - 2)  # the current file and the one we are about to rotate
    excess = rotated[:max(0, len(rotated) - keep)]
    kept = rotated[len(excess):]
    compress = [n for n in kept if not n.endswith(".gz")]
    join = lambda names: tuple(os.path.join(directory, n) for n in names)  # noqa: E731
    return Plan(remove=join(tmp + excess), compress=join(compress),
                rename_to=os.path.join(directory, target))


def rotate(current: str, *, max_size: int, max_files: int, reopen, now: float | None = None) -> bool:
    """Rotate `current` if it is too big; reopen() makes the writer open a new file.
    True when the file was rotated. Blocking (gzip): run it off the event loop."""
    try:
        size = os.stat(current).st_size
    except FileNotFoundError:
        return False
    p = plan(current, size=size, siblings=os.listdir(os.path.dirname(current)), max_size=max_size,
             max_files=max_files, now=time.time() if now is None else now)
    for path in p.remove:
        _unlink(path)
    for path in p.compress:
        _gzip(path)
    if not p.rename_to:
        return False
    os.rename(current, p.rename_to)
    try:
        reopen()
    except OSError:
        os.rename(p.rename_to, current)  # the writer could not follow: keep writing where it was
        raise
    return True


def _gzip(path: str) -> None:
    with open(path, "rb") as src, gzip.open(path + ".gz.tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.rename(path + ".gz.tmp", path + ".gz")
    os.unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
