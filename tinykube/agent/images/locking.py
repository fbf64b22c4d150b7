"""File locks (flock) that keep the image store consistent across processes.

The agent and `tinykube image ...` commands may use one store at the same time. Two locks:
  * `lock` — shared by anything that adds content (pull, import, unpack), exclusive for
    garbage collection, so GC never removes a blob a pull has written but not yet
    referenced from the index;
  * `index.lock` — exclusive, held only while index.json is read-modified-written.
flock locks belong to an open file description, so two tasks of one process exclude each
other just like two processes do. Blocking waits run in a thread from async code.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from contextlib import asynccontextmanager, contextmanager


@contextmanager
def flocked(path: str, *, exclusive: bool):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@asynccontextmanager
async def aflocked(path: str, *, exclusive: bool):
    """`flocked` for async code: waits for the lock in a thread, never on the loop."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not _try_lock(fd, exclusive):
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int, exclusive: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
