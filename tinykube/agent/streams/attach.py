"""Attach: the running container's output, from now on, on the stdout/stderr channels.

The container's monitor owns its stdio and writes it to the CRI log as it comes, so
attaching follows the current log file from its end and splits records by stream, until
the container exits (then a Success status) or the client leaves. Containers run with
stdin on /dev/null and no TTY (tinykube does not support `stdin: true` / `tty: true`
containers yet), so there is no input to forward: stdin messages are dropped.
"""

from __future__ import annotations

import asyncio
import json
import os

from tinykube.agent.streams import channels, logs


async def attach(ws, *, log_path: str, running, stdout: bool, stderr: bool) -> None:
    lock = asyncio.Lock()

    async def write(records: list[logs.Record]) -> None:
        async with lock:
            for r in records:
                channel = channels.STDOUT if r.stream == "stdout" else channels.STDERR
                if (channel == channels.STDOUT and stdout) or (channel == channels.STDERR and stderr):
                    await ws.send_bytes(channels.encode(channel, logs.render(r, False)))

    drain = asyncio.ensure_future(_drain(ws))
    follower = asyncio.ensure_future(_follow_from_end(log_path, running, write))
    done, _ = await asyncio.wait({drain, follower}, return_when=asyncio.FIRST_COMPLETED)
    for task in (drain, follower):
        task.cancel()
    await asyncio.gather(drain, follower, return_exceptions=True)
    if follower in done and not ws.closed:
        await ws.send_bytes(channels.encode(channels.ERROR, json.dumps(channels.success_status()).encode()))


async def _drain(ws) -> None:
    async for _ in ws:  # input is not forwarded (see the module docstring)
        pass


async def _follow_from_end(path: str, running, write) -> None:
    f = open(path, "rb")  # noqa: SIM115
    try:
        f.seek(0, os.SEEK_END)
        rest = b""
        while True:
            alive = running()
            chunk = f.read()
            if chunk:
                records, rest = logs.parse_lines(rest + chunk)
                await write(records)
            elif logs.rotated(path, f):
                f.close()
                f, rest = open(path, "rb"), b""  # noqa: SIM115
            elif not alive:
                return
            else:
                await asyncio.sleep(logs.POLL_SECONDS)
    finally:
        f.close()
