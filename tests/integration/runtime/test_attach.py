"""stdin and tty containers with the real runc: the monitor keeps the stdin pipe or the
terminal's master and serves attach.sock (input, output, resize, stdinOnce); output still
lands in the CRI log. The agent's side of the socket is streams/attach.py."""

from __future__ import annotations

import asyncio

from tinykube.agent.runtime import monitor
from tinykube.agent.streams.attach import open_monitor

from .harness import pod, wait_until


def sh(name: str, script: str, **extra) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


async def read_until(reader, needle: bytes, timeout: float = 10.0) -> bytes:
    buffer, seen = bytearray(), b""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            chunk = await reader.read(65536)
            assert chunk, f"attach socket closed; output so far: {seen!r}"
            buffer += chunk
            seen += b"".join(data for _, data in monitor.take_frames(buffer))
    return seen


async def test_a_tty_container_takes_input_resizes_and_logs_its_output(h):
    p = pod("tty")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, {"name": "sh", "image": "busybox", "command": ["sh"], "stdin": True, "tty": True},
                      sandbox)
    socket_path = h.runc.monitor_dir(cid) / "attach.sock"
    reader, writer = await open_monitor(str(socket_path))
    writer.write(monitor.encode_frame(monitor.STDIN, b""))
    writer.write(monitor.encode_frame(monitor.RESIZE, (123).to_bytes(2, "big") + (45).to_bytes(2, "big")))
    writer.write(monitor.encode_frame(monitor.STDIN, b"stty size; tty; echo done-$((6*7))\n"))
    seen = await read_until(reader, b"done-42")
    assert b"45 123" in seen and b"/dev/pts/" in seen
    writer.write(monitor.encode_frame(monitor.STDIN, b"exit 4\n"))
    exit = await h.runc.wait(cid, 10)
    assert exit.exit_code == 4
    async with asyncio.timeout(5):  # the monitor closes the connection as the container ends
        while await reader.read(65536):
            pass
    assert "done-42" in "\n".join(h.log_messages(cid, "stdout"))
    writer.close()
    assert not socket_path.exists()


async def test_stdin_once_closes_stdin_when_the_first_session_ends(h):
    p = pod("once")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, sh("cat", "cat; echo stdin-ended >&2", stdin=True, stdinOnce=True), sandbox)
    reader, writer = await open_monitor(str(h.runc.monitor_dir(cid) / "attach.sock"))
    writer.write(monitor.encode_frame(monitor.STDIN, b"hello\n"))
    assert b"hello" in await read_until(reader, b"hello")
    writer.close()  # the session ends: stdin closes, cat ends
    exit = await h.runc.wait(cid, 10)
    assert exit.exit_code == 0
    assert h.log_messages(cid, "stdout") == ["hello"] and h.log_messages(cid, "stderr") == ["stdin-ended"]


async def test_stdin_without_once_stays_open_for_the_next_session(h):
    p = pod("many")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, sh("cat", "cat", stdin=True), sandbox)
    path = str(h.runc.monitor_dir(cid) / "attach.sock")
    for word in (b"one", b"two"):
        reader, writer = await open_monitor(path)
        writer.write(monitor.encode_frame(monitor.STDIN, word + b"\n"))
        await read_until(reader, word)
        writer.close()
    wait_until(lambda: h.log_messages(cid, "stdout") == ["one", "two"])
    assert h.runc.exit_status(cid) is None  # still running: stdin was not closed
    await h.runc.stop(cid, grace=1)
