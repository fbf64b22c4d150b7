"""Attach: the running container's output, from now on, on the stdout/stderr channels.

The container's monitor owns its stdio and writes it to the CRI log as it comes.

- A container with `stdin: true` or `tty: true`: its monitor holds the stdin pipe or the
  terminal's master and serves attach.sock in its directory (runtime/monitor.py, class
  Attach). `attach_monitor` connects to it: stdin and resize messages go to the monitor,
  the output it broadcasts comes back on stdout/stderr (a terminal's is all stdout), and
  when the container ends the monitor closes the connection (then a Success status).
  `stdinOnce` is the monitor's business: stdin closes when the first session's ends.
- Any other container has stdin on /dev/null: attach follows the current log file from
  its end and splits records by stream, until the container exits or the client leaves;
  stdin messages are dropped.
"""

from __future__ import annotations

import asyncio
import json
import os

from aiohttp import WSMsgType

from tinykube.agent.runtime import monitor
from tinykube.agent.streams import channels, logs

READ_SIZE = 65536


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


# --- through the monitor's attach socket ------------------------------------------------


async def open_monitor(socket_path: str):
    """(reader, writer) on the monitor's attach socket; a path too long for a unix socket
    address (108 bytes) is reached through /proc/self/fd of its directory."""
    directory, name = os.path.split(socket_path)
    fd = os.open(directory, os.O_PATH | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def to_monitor(message: channels.Message) -> bytes:
    """A client's channel message as a monitor frame; b"" for what the monitor ignores."""
    if message.channel == channels.STDIN:
        return monitor.encode_frame(monitor.STDIN, message.data) if message.data else b""
    if message.channel == channels.RESIZE:
        size = channels.parse_resize(message.data)
        if size is None:
            return b""
        return monitor.encode_frame(monitor.RESIZE, size[0].to_bytes(2, "big") + size[1].to_bytes(2, "big"))
    if message.channel == channels.CLOSE and message.data[:1] == bytes((channels.STDIN,)):
        return monitor.encode_frame(monitor.CLOSE, b"")
    return b""


async def attach_monitor(ws, *, socket_path: str, running, stdin: bool, stdout: bool, stderr: bool) -> None:
    try:
        reader, writer = await open_monitor(socket_path)
    except OSError:  # the container ended between the check and now
        await ws.send_bytes(channels.status_message(channels.success_status()))
        return
    if stdin:
        writer.write(monitor.encode_frame(monitor.STDIN, b""))  # "this session attaches stdin"
    up = asyncio.ensure_future(_client_to_monitor(ws, writer, stdin))
    down = asyncio.ensure_future(_monitor_to_client(ws, reader, stdout, stderr))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        writer.close()
    if down in done and not ws.closed:
        await _until_ended(running)
        await ws.send_bytes(channels.status_message(channels.success_status()))


async def _client_to_monitor(ws, writer, stdin: bool) -> None:
    async for message in ws:
        if message.type != WSMsgType.BINARY:
            continue
        decoded = channels.decode(message.data)
        if decoded is None or (decoded.channel in (channels.STDIN, channels.CLOSE) and not stdin):
            continue
        frame = to_monitor(decoded)
        if frame:
            writer.write(frame)
            await writer.drain()


async def _monitor_to_client(ws, reader, stdout: bool, stderr: bool) -> None:
    buffer = bytearray()
    while chunk := await reader.read(READ_SIZE):
        buffer += chunk
        for kind, data in monitor.take_frames(buffer):
            if (kind == monitor.STDOUT and stdout) or (kind == monitor.STDERR and stderr):
                await ws.send_bytes(channels.encode(kind, data))  # same numbers as the channels


async def _until_ended(running, timeout: float = 5.0) -> None:
    """The monitor closes the socket as the container ends; its exit record follows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while running() and loop.time() < deadline:
        await asyncio.sleep(logs.POLL_SECONDS)
