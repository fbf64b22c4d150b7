"""Handler result parsing and messages, and the real HTTP/TCP handlers against a server
on 127.0.0.1 (our own namespace: netns path "")."""

import asyncio
import errno

import pytest

from tinykube.agent.probes import handlers
from tinykube.agent.probes.handlers import HttpResponse, ProbeError, Target
from tinykube.agent.probes.rules import Result
from tinykube.agent.runtime.execsync import ExecResult
from tinykube.agent.runtime.fake import FakeRunc

CONTAINER = {"name": "app", "ports": [{"name": "web", "containerPort": 8080}]}
TARGET = Target("", "10.42.0.5")


@pytest.mark.parametrize("status,result,message", [
    (200, Result.SUCCESS, "body"),
    (204, Result.SUCCESS, "body"),
    (302, Result.WARNING, "Probe terminated redirects, Response body: body"),
    (399, Result.WARNING, "Probe terminated redirects, Response body: body"),
    (404, Result.FAILURE, "HTTP probe failed with statuscode: 404"),
    (500, Result.FAILURE, "HTTP probe failed with statuscode: 500"),
    (199, Result.FAILURE, "HTTP probe failed with statuscode: 199"),
])
def test_http_result(status, result, message):
    assert handlers.http_result(HttpResponse(status, b"body")) == (result, message)


@pytest.mark.parametrize("port,expected", [(8080, 8080), ("8081", 8081), ("web", 8080)])
def test_resolve_port(port, expected):
    assert handlers.resolve_port(port, CONTAINER) == expected


@pytest.mark.parametrize("port", ["nope", 0, 70000])
def test_resolve_port_errors(port):
    with pytest.raises(ProbeError):
        handlers.resolve_port(port, CONTAINER)


@pytest.mark.parametrize("action,url", [
    ({"port": "web"}, "http://10.42.0.5:8080/"),
    ({"port": 80, "path": "healthz", "scheme": "HTTPS"}, "https://10.42.0.5:80/healthz"),
    ({"port": 80, "host": "127.0.0.1", "path": "/a?b=c"}, "http://127.0.0.1:80/a?b=c"),
])
def test_http_url(action, url):
    assert handlers.http_url(action, CONTAINER, TARGET) == url


def test_request_headers_user_overrides_and_extras():
    headers = handlers.request_headers({"httpHeaders": [{"name": "X-Probe", "value": "1"},
                                                        {"name": "host", "value": "example.com"}]}, "10.0.0.1:80")
    assert headers == [("host", "example.com"), ("User-Agent", "kube-probe/1.32"), ("Accept", "*/*"),
                       ("X-Probe", "1"), ("Connection", "close")]
    no_agent = handlers.request_headers({"httpHeaders": [{"name": "User-Agent", "value": ""}]}, "h:1")
    assert all(k.lower() != "user-agent" for k, _ in no_agent)


@pytest.mark.parametrize("exc,message", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "dial tcp 10.42.0.5:8080: connect: connection refused"),
    (OSError(errno.EHOSTUNREACH, "x"), "dial tcp 10.42.0.5:8080: connect: no route to host"),
    (asyncio.TimeoutError(), "dial tcp 10.42.0.5:8080: i/o timeout"),
])
def test_dial_errors_read_like_go(exc, message):
    assert handlers.dial_error("10.42.0.5", 8080, exc) == message


def test_parse_response_head():
    assert handlers.parse_response_head(b"HTTP/1.1 301 Moved\r\nLocation: /x\r\nA: b") == \
        (301, {"location": "/x", "a": "b"})
    with pytest.raises(ValueError):
        handlers.parse_response_head(b"garbage")


@pytest.mark.parametrize("exec_result,expected", [
    (ExecResult(0, b"fine\n"), (Result.SUCCESS, "fine\n")),
    (ExecResult(1, b"out ", b"err"), (Result.FAILURE, "out err")),
    (ExecResult(-1, b"half", timed_out=True), (Result.FAILURE, "half")),
    (ExecResult(1, b"x" * 20000), (Result.FAILURE, "x" * 10240)),
])
async def test_exec_probe(exec_result, expected):
    runc = FakeRunc()
    await runc.create("c1", "/b", log_path="/l")
    await runc.start("c1")
    runc.exec_results["sleep 9"] = exec_result
    assert await handlers.exec_probe({"command": ["sleep", "9"]}, runc, "c1", timeout=2) == expected
    assert runc.calls[-1] == ("exec_sync", "c1", ("sleep", "9"), 2)


async def test_exec_probe_that_cannot_run_is_an_error():
    runc = FakeRunc()
    with pytest.raises(ProbeError):
        await handlers.exec_probe({"command": ["true"]}, runc, "missing", timeout=1)


async def _serve(responses: list[bytes]):
    """A tiny HTTP server on 127.0.0.1 answering each connection with the next response."""
    seen = []

    async def handle(reader, writer):
        seen.append((await reader.readuntil(b"\r\n\r\n")).decode())
        writer.write(responses.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_http_probe_follows_local_redirects_and_sends_the_user_agent():
    server, port, seen = await _serve([
        b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    async with server:
        result = await handlers.http_probe({"port": port, "path": "/start"}, CONTAINER,
                                           Target("", "127.0.0.1"), timeout=2)
    assert result == (Result.SUCCESS, "ok")
    assert seen[0].startswith("GET /start HTTP/1.1") and "User-Agent: kube-probe/1.32" in seen[0]
    assert seen[1].startswith("GET /ok HTTP/1.1")


async def test_http_probe_failure_and_refused():
    server, port, _ = await _serve([b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"])
    async with server:
        assert await handlers.http_probe({"port": port}, CONTAINER, Target("", "127.0.0.1"), timeout=2) == \
            (Result.FAILURE, "HTTP probe failed with statuscode: 500")
    result, message = await handlers.http_probe({"port": port}, CONTAINER, Target("", "127.0.0.1"), timeout=2)
    assert result == Result.FAILURE
    assert message == f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused'


async def test_tcp_probe():
    server, port, _ = await _serve([])
    async with server:
        assert await handlers.tcp_probe({"port": port}, CONTAINER, Target("", "127.0.0.1"), timeout=1) == \
            (Result.SUCCESS, "")
    assert await handlers.tcp_probe({"port": port}, CONTAINER, Target("", "127.0.0.1"), timeout=1) == \
        (Result.FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
