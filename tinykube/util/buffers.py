"""Read buffers for byte relays (port-forward, exec streams) that reuse memory safely."""

from __future__ import annotations

import sys


def next_buffer(buffer: bytearray, last_read: int, maximum: int) -> bytearray:
    """The buffer for the next read. Twice as large (up to `maximum`) when the last read
    filled it: a busy connection gets large reads, an idle one (an exec session) keeps a
    small buffer. Else the same one if no view of it is alive any more, else a new one of
    its size: a live memoryview holds a reference to the bytearray it shows (CPython), so
    between reads the buffer's only references are its owner's, this call's and
    getrefcount's own; anything more is a transport still holding a chunk it was given."""
    size = len(buffer)
    if last_read >= size and size < maximum:
        return bytearray(min(2 * size, maximum))
    return buffer if sys.getrefcount(buffer) <= 3 else bytearray(size)
