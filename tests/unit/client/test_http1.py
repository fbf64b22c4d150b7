"""The small HTTP/1.1 client of unary API requests (tinykube/client/http1.py), against
scripted servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.client.http1 import Http1Client, ProtocolError


async def _serve(handler):
    """A plain-HTTP server whose `handler(request_head, reader, writer)` answers each request."""
    seen: list[bytes] = []

    async def on_client(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                seen.append(head + body)
                if not await handler(head, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, seen


async def test_keep_alive_reuses_one_connection_and_sends_headers_and_body():
    connections = []

    async def handler(head, body, writer):
        connections.append(writer.get_extra_info("peername"))
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        return True
    server, port, seen = await _serve(handler)
    client = Http1Client(f"http://127.0.0.1:{port}", None, {"Accept": "application/json", "User-Agent": "t"})
    try:
        for _ in range(3):
            status, payload, headers = await client.request("POST", "/api/v1/namespaces/a/pods",
                                                            {"fieldManager": "x y"}, b'{"a":1}',
                                                            {"Content-Type": "application/json"})
            assert (status, payload, headers["Content-Type"]) == (201, b"{}", "application/json")
        assert len(set(connections)) == 1
        first = seen[0].decode()
        assert first.startswith("POST /api/v1/namespaces/a/pods?fieldManager=x+y HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{port}\r\n" in first and "User-Agent: t\r\n" in first
        assert "Content-Length: 7\r\n" in first and first.endswith('\r\n\r\n{"a":1}')
    finally:
        await client.close()
        server.close()


async def test_chunked_answers_and_connection_close():
    async def handler(head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n")
        return False
    server, port, seen = await _serve(handler)
    client = Http1Client(f"http://127.0.0.1:{port}", None, {})
    try:
        assert (await client.request("GET", "/x", None, None, None))[:2] == (200, b"abcdefg")
        assert (await client.request("GET", "/x", None, None, None))[:2] == (200, b"abcdefg")
        assert len(seen) == 2 and not client._idle  # closed, not pooled
    finally:
        await client.close()
        server.close()


async def test_an_idle_connection_the_server_closed_is_replaced_once():
    answered = []

    async def handler(head, body, writer):
        answered.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return False  # close after each answer, without saying so (an idle timeout)
    server, port, seen = await _serve(handler)
    client = Http1Client(f"http://127.0.0.1:{port}", None, {})
    try:
        assert (await client.request("POST", "/a", None, b"1", None))[:2] == (200, b"ok")
        await asyncio.sleep(0.05)
        assert (await client.request("POST", "/b", None, b"2", None))[:2] == (200, b"ok")
        assert [s.split(b" ")[1] for s in seen] == [b"/a", b"/b"]  # each sent once
    finally:
        await client.close()
        server.close()


async def test_a_malformed_answer_is_a_protocol_error_and_the_connection_is_dropped():
    async def handler(head, body, writer):
        writer.write(b"SPDY/3 200 OK\r\nContent-Length: 0\r\n\r\n")
        return True
    server, port, _ = await _serve(handler)
    client = Http1Client(f"http://127.0.0.1:{port}", None, {})
    try:
        with pytest.raises(ProtocolError):
            await client.request("GET", "/", None, None, None)
        assert not client._idle
    finally:
        await client.close()
        server.close()


async def test_a_server_that_closes_a_fresh_connection_is_a_connection_error():
    async def handler(head, body, writer):
        return False
    server, port, _ = await _serve(handler)
    client = Http1Client(f"http://127.0.0.1:{port}", None, {})
    try:
        with pytest.raises(ConnectionError):
            await client.request("GET", "/", None, None, None)
    finally:
        await client.close()
        server.close()


async def test_eof_before_any_answer_byte_on_a_reused_connection_asks_for_a_retry():
    from tinykube.client.http1 import _Connection, _exchange

    async def close_at_once(reader, writer):
        writer.close()
    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for reused, expected in ((True, None), (False, ConnectionError)):
            conn = _Connection(*await asyncio.open_connection("127.0.0.1", port))
            try:
                if expected is None:
                    assert await _exchange(conn, b"GET / HTTP/1.1\r\n\r\n", None, reused) is None
                else:
                    with pytest.raises(expected):
                        await _exchange(conn, b"GET / HTTP/1.1\r\n\r\n", None, reused)
            finally:
                conn.close()
    finally:
        server.close()
