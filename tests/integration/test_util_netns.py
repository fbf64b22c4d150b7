"""tinykube.util.netns: sockets created in a test network namespace reach only it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import pytest

from tinykube.util import netns

pytestmark = pytest.mark.integration


@pytest.fixture
def test_netns():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"tku{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


async def test_listen_and_connect_inside_a_namespace(test_netns):
    listener = await netns.bind_socket(test_netns, "127.0.0.1", 0)
    listener.listen()
    port = listener.getsockname()[1]

    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, sock=listener)
    try:
        reader, writer = await netns.open_connection(test_netns, "127.0.0.1", port, timeout=2)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        # the same port on the host's own loopback is a different socket (or nothing at all)
        with pytest.raises(OSError):
            await netns.open_connection("", "127.0.0.1", port, timeout=2)
    finally:
        server.close()
        await server.wait_closed()


async def test_the_calling_thread_stays_home(test_netns):
    before = os.readlink("/proc/thread-self/ns/net")
    for _ in range(20):
        (await netns.new_socket(test_netns)).close()
    assert os.readlink("/proc/thread-self/ns/net") == before
    with pytest.raises(OSError):
        await netns.new_socket("/nonexistent/netns")
