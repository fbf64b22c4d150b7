"""Sockets that live in another network namespace.

A socket belongs to the network namespace its creating thread was in when `socket()`
ran, and stays there for its whole life. So to reach a pod's IP that only exists inside
a node's (or a pod's) namespace, or to listen on an address of that namespace, a thread
enters the namespace with setns(2), creates the socket, and leaves again; the socket is
then used from the event loop like any other. Only that thread ever changes namespace,
and it always returns before it is handed back to the pool: a failure to return is
fatal for the thread (we raise and stop using it, never leaving a pool thread in the
wrong namespace).

`netns_path` "" means the caller's own namespace (no setns at all).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
# one thread per namespace switch at a time keeps the switch cheap and bounded
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="netns")


class NetnsSwitchError(OSError):
    """setns(2) failed; the socket was not created."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsSwitchError(err, f"setns: {os.strerror(err)}")


def socket_in_netns(netns_path: str, family: int = socket.AF_INET,
                    type: int = socket.SOCK_STREAM) -> socket.socket:
    """Create (blocking call) a non-blocking socket in the namespace at netns_path."""
    if not netns_path:
        return _new_socket(family, type)
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            return _new_socket(family, type)
        finally:
            _setns(home)  # raises if we cannot return: the thread must not be reused then
    finally:
        os.close(target)
        os.close(home)


def _new_socket(family: int, type: int) -> socket.socket:
    sock = socket.socket(family, type)
    sock.setblocking(False)
    return sock


async def new_socket(netns_path: str, family: int = socket.AF_INET,
                     type: int = socket.SOCK_STREAM) -> socket.socket:
    """`socket_in_netns` off the event loop."""
    if not netns_path:
        return _new_socket(family, type)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, socket_in_netns, netns_path, family, type)


async def open_connection(netns_path: str, host: str, port: int, *, timeout: float = 10.0,
                          limit: int = 2 ** 16) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio.open_connection to host:port from inside the namespace at netns_path.
    Raises OSError (ConnectionRefusedError, ...) or asyncio.TimeoutError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = await new_socket(netns_path, family)
    try:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        return await asyncio.open_connection(sock=sock, limit=limit)
    except BaseException:
        sock.close()
        raise


async def bind_socket(netns_path: str, host: str, port: int, *, type: int = socket.SOCK_STREAM,
                      reuse_address: bool = True) -> socket.socket:
    """A socket bound to host:port inside the namespace at netns_path (listen() it for
    TCP, or hand it to loop.create_datagram_endpoint(sock=...) for UDP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = await new_socket(netns_path, family, type)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return sock
    except BaseException:
        sock.close()
        raise
