"""Creates keys until killed, printing each acknowledged one: `REVISION KEY` per line.

Used by test_sqlite.py's kill -9 test. A line is printed (and flushed) only after
create() returned, so every printed key is an acknowledged write that must survive.
"""

from __future__ import annotations

import asyncio
import sys

from tinykube.storage.sqlite import SqliteStore

WRITERS = 20


async def main(path: str) -> None:
    store = SqliteStore(path)  # synchronous=FULL: the durable default under test
    await store.start()
    print("ready", flush=True)
    await asyncio.gather(*(write_forever(store, n) for n in range(WRITERS)))


async def write_forever(store: SqliteStore, writer: int) -> None:
    i = 0
    while True:
        key = f"/crash/w{writer:02d}/{i:08d}"
        revision = await store.create(key, b"x" * 100)
        sys.stdout.write(f"{revision} {key}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
