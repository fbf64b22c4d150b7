"""ApiClient's HTTP layer against a scripted aiohttp server on loopback (plain HTTP):
Retry-After retries, paging, watch line splitting, ERROR events, transport errors."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from tinykube.api import errors
from tinykube.client import ApiClient, ClientConfig, TransportError
from tinykube.client.rest import resource_path, resolve
from tinykube.util import jsonutil

CM = ("v1", "ConfigMap")


@pytest.fixture
async def serve():
    """serve(handler) -> ApiClient of a local server answering every request with handler."""
    runners, clients = [], []

    async def start(handler) -> ApiClient:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        runners.append(runner)
        client = ApiClient(ClientConfig(f"http://127.0.0.1:{port}", token="t0k"), request_timeout=5)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


def status(code: int, reason: str, headers: dict | None = None) -> web.Response:
    body = errors.ApiError(f"{reason}!", {}, code, reason).to_status()
    return web.json_response(body, status=code, headers=headers)


@pytest.mark.parametrize("resource,args,path", [
    (("v1", "Pod"), ("ns", "p", "status"), "/api/v1/namespaces/ns/pods/p/status"),
    (("apps/v1", "Deployment"), ("ns",), "/apis/apps/v1/namespaces/ns/deployments"),
    (("v1", "Node"), ("ignored", "n1"), "/api/v1/nodes/n1"),
    (("v1", "Pod"), ("",), "/api/v1/pods"),
])
def test_resource_paths(resource, args, path):
    assert resource_path(resolve(resource), *args) == path


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        resolve(("v1", "Gizmo"))


async def test_retry_after_is_honoured_then_the_answer_returned(serve):
    calls = []

    async def handler(request):
        calls.append(request.headers.get("Authorization"))
        if len(calls) < 3:
            return status(429, "TooManyRequests", {"Retry-After": "0"})
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "x"}})

    client = await serve(handler)
    assert (await client.get(CM, "x", namespace="d"))["metadata"]["name"] == "x"
    assert calls == ["Bearer t0k"] * 3


async def test_retries_give_up_and_raise_the_typed_error(serve):
    async def handler(request):
        return status(429, "TooManyRequests", {"Retry-After": "0"})

    client = await serve(handler)
    client.max_retries = 2
    with pytest.raises(errors.TooManyRequests) as exc:
        await client.create(CM, {"metadata": {"name": "x"}}, namespace="d")
    assert exc.value.headers["Retry-After"] == "0"


async def test_errors_without_retry_after_are_raised_at_once(serve):
    calls = []

    async def handler(request):
        calls.append(1)
        return status(409, "AlreadyExists")

    client = await serve(handler)
    with pytest.raises(errors.AlreadyExists):
        await client.create(CM, {"metadata": {"name": "x", "namespace": "d"}})
    assert len(calls) == 1


async def test_list_follows_continue_tokens_and_falls_back_when_they_expire(serve):
    seen = []

    async def handler(request):
        token, limit = request.query.get("continue", ""), request.query.get("limit")
        seen.append((token, limit))
        if token == "expired":
            return status(410, "Expired")
        if not limit:  # the full list after the fallback
            return web.json_response({"metadata": {"resourceVersion": "9"}, "items": [{"metadata": {"name": "all"}}]})
        if token == "":
            return web.json_response({"metadata": {"resourceVersion": "5", "continue": "p2"},
                                      "items": [{"metadata": {"name": "a"}}]})
        return web.json_response({"metadata": {"resourceVersion": "5", "continue": "expired" if token == "p2" else ""},
                                  "items": [{"metadata": {"name": "b"}}]})

    client = await serve(handler)
    result = await client.list(CM, namespace="d", limit=1)
    assert [i["metadata"]["name"] for i in result.items] == ["all"] and result.resource_version == "9"
    assert seen == [("", "1"), ("p2", "1"), ("expired", "1"), ("", None)]
    assert result.items[0]["kind"] == "ConfigMap" and result.items[0]["apiVersion"] == "v1"


async def test_watch_splits_lines_of_any_size_and_raises_error_events(serve):
    big = "x" * 400_000  # more than aiohttp's readline limit

    async def handler(request):
        assert request.query["watch"] == "true" and request.query["allowWatchBookmarks"] == "true"
        assert request.query["timeoutSeconds"] == "2"  # 1.5 rounded up
        resp = web.StreamResponse()
        await resp.prepare(request)
        for event in ({"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "2"},
                                                    "data": {"big": big}}},
                      {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}},
                      {"type": "ERROR", "object": errors.too_old_resource_version(3, 7).to_status()}):
            data = jsonutil.dumps(event) + b"\n"
            for i in range(0, len(data), 1000):  # in small pieces: events span many chunks
                await resp.write(data[i:i + 1000])
        return resp

    client = await serve(handler)
    stream = client.watch(CM, namespace="d", resource_version="1", timeout_seconds=1.5)
    seen = []
    with pytest.raises(errors.Expired):
        async for event in stream:
            seen.append(event.type)
            assert stream.resource_version == event.object["metadata"]["resourceVersion"]
    assert seen == ["ADDED", "BOOKMARK"] and stream.resource_version == "3"


async def test_watch_refused_with_a_status_raises_it(serve):
    async def handler(request):
        return status(403, "Forbidden")

    client = await serve(handler)
    with pytest.raises(errors.Forbidden):
        async with client.watch(CM):
            pass


async def test_no_server_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with ApiClient(ClientConfig(f"http://127.0.0.1:{port}"), request_timeout=2) as client:
        with pytest.raises(TransportError):
            await client.get(CM, "x", namespace="d")
        with pytest.raises(ConnectionError):  # TransportError is a ConnectionError
            async for _ in client.watch(CM):
                pass
