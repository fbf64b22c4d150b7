"""pods/log, pods/exec, pods/attach and pods/portforward: checked here, served by the agent.

As kube-apiserver does, the API server resolves the pod and the container (the messages
are upstream's), finds the node's kubelet API (kubelet.py) and passes the request on:
logs as a streamed body, exec/attach/port-forward as WebSocket connections relayed
message for message (the agent speaks v5/v4.channel.k8s.io and SPDY/3.1 tunneled in
WebSocket for port-forward, what kubectl 1.32 uses; see docs/streaming.md). A plain SPDY
upgrade (kubectl's fallback when WebSocket fails) is answered with a Status saying so,
after the same checks, so a real error (no such container) reaches the user as itself.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import kubelet as kubelets
from tinykube.apiserver.resources import to_external
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

SUBRESOURCES = ("log", "exec", "attach", "portforward")
AGENT_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}
LOG_PARAMS = ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")
PORTFORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


# === pure checks ===============================================================================


def _names(containers) -> str:
    return " ".join(c["name"] for c in containers or [])


def resolve_container(pod: dict, container: str) -> str:
    """The container a request means (upstream's ValidateContainer)."""
    spec, name = pod.get("spec", {}), pod["metadata"]["name"]
    every = [*(spec.get("containers") or []), *(spec.get("initContainers") or []),
             *(spec.get("ephemeralContainers") or [])]
    if container:
        if not any(c["name"] == container for c in every):
            raise errors.BadRequest(f"container {container} is not valid for pod {name}")
        return container
    containers = spec.get("containers") or []
    if len(containers) == 1:
        return containers[0]["name"]
    if not containers:
        raise errors.BadRequest(f"pod {name} does not have a container")
    message = f"a container name must be specified for pod {name}, choose one of: [{_names(containers)}]"
    if spec.get("initContainers"):
        message += f" or one of the init containers: [{_names(spec['initContainers'])}]"
    if spec.get("ephemeralContainers"):
        message += f" or one of the ephemeral containers: [{_names(spec['ephemeralContainers'])}]"
    raise errors.BadRequest(message)


def _container_status(pod: dict, container: str) -> dict | None:
    status = pod.get("status", {})
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for s in status.get(key) or []:
            if s.get("name") == container:
                return s
    return None


def log_state_error(pod: dict, container: str, previous: bool) -> str | None:
    """Why there are no logs to read (the kubelet's validateContainerLogStatus), or None."""
    name, status = pod["metadata"]["name"], _container_status(pod, container)
    if status is None:
        return f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            return f'previous terminated container "{container}" in pod "{name}" not found'
        return None
    if "running" in state:
        return None
    if "terminated" in state:
        return None if state["terminated"].get("containerID") else f'container "{container}" in pod "{name}" is terminated'
    if last:
        return None if last.get("containerID") else f'container "{container}" in pod "{name}" is terminated'
    waiting = state.get("waiting")
    if waiting is not None:
        reason = waiting.get("reason", "")
        if reason == "ErrImagePull":
            reason = "image can't be pulled"
        elif reason == "ImagePullBackOff":
            reason = "trying and failing to pull image"
        return f'container "{container}" in pod "{name}" is waiting to start: {reason}'
    return f'container "{container}" in pod "{name}" is waiting to start - no logs yet'


def stream_error(pod: dict, subresource: str) -> str | None:
    """Why exec/attach/port-forward cannot reach the pod (upstream's checks), or None."""
    name, phase = pod["metadata"]["name"], pod.get("status", {}).get("phase", "")
    if not pod.get("spec", {}).get("nodeName"):
        return f"pod {name} does not have a host assigned"
    if subresource in ("exec", "attach") and phase in ("Succeeded", "Failed"):
        verb = "exec into" if subresource == "exec" else "attach to"
        return f"cannot {verb} a container in a completed pod; current phase is {phase}"
    return None


def validate_log_query(q) -> None:
    for key in ("tailLines", "sinceSeconds", "limitBytes"):
        value = q.get(key)
        if value not in (None, "") and (not value.lstrip("-").isdigit()):
            raise errors.BadRequest(f'invalid {key} "{value}"')
    if q.get("sinceSeconds") and q.get("sinceTime"):
        raise errors.invalid("PodLogOptions", "", [errors.Cause(
            errors.FORBIDDEN, "sinceSeconds", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")],
            "")
    for key, minimum in (("tailLines", 0), ("sinceSeconds", 1), ("limitBytes", 1)):
        value = q.get(key)
        if value not in (None, "") and int(value) < minimum:
            raise errors.invalid("PodLogOptions", "", [errors.Cause(
                errors.INVALID, key, f"Invalid value: {value}: must be greater than {'or equal to ' if minimum == 0 else ''}{minimum - 1 if minimum else 0}")],
                "")


# === the shell =================================================================================


class PodProxy:
    def __init__(self, resources, kubelet: kubelets.KubeletClient):
        self.resources, self.kubelet = resources, kubelet
        self.pods, self.nodes = REGISTRY.by_plural("", "v1", "pods"), REGISTRY.by_plural("", "v1", "nodes")

    async def serve(self, request: web.Request, namespace: str, name: str, subresource: str) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        pod = to_external(self.pods, (await self.resources.get(self.pods, namespace, name)).obj)
        if subresource == "log":
            return await self._log(request, pod)
        problem = stream_error(pod, subresource)
        if problem:
            raise errors.BadRequest(problem)
        path = f"/{AGENT_PATHS[subresource]}/{namespace}/{name}"
        if subresource != "portforward":
            path += "/" + resolve_container(pod, request.query.get("container", ""))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.BadRequest(
                f"pods/{subresource} is served over WebSocket only (kubectl 1.30+); tinykube does not "
                "support the SPDY upgrade")
        return await self._relay(request, pod, path)

    async def _endpoint(self, pod: dict) -> tuple[str, int]:
        node = (await self.resources.get(self.nodes, "", pod["spec"]["nodeName"])).obj
        return kubelets.node_endpoint(node)

    # --- logs ------------------------------------------------------------------------------

    async def _log(self, request: web.Request, pod: dict) -> web.StreamResponse:
        q = request.query
        validate_log_query(q)
        container = resolve_container(pod, q.get("container", ""))
        previous = q.get("previous", "").lower() in ("true", "1")
        if not pod.get("spec", {}).get("nodeName"):
            raise errors.BadRequest(f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to start: ContainerCreating')
        problem = log_state_error(pod, container, previous)
        if problem:
            raise errors.BadRequest(problem)
        address, port = await self._endpoint(pod)
        md = pod["metadata"]
        target = kubelets.url(address, port, f"/containerLogs/{md['namespace']}/{md['name']}/{container}")
        params = [(k, v) for k, v in q.items() if k in LOG_PARAMS]
        try:
            upstream = await self.kubelet.session.get(target, params=params)
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.ServiceUnavailable(f"the node's kubelet API is unreachable: {exc}") from None
        async with upstream:
            if upstream.status != 200:
                return _relay_status(upstream.status, await upstream.read())
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ConnectionResetError, aiohttp.ClientError):
                pass
            return response

    # --- exec, attach, port-forward ----------------------------------------------------------

    async def _relay(self, request: web.Request, pod: dict, path: str) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        address, port = await self._endpoint(pod)
        try:
            agent = await self.kubelet.session.ws_connect(
                kubelets.url(address, port, path), params=list(request.query.items()), protocols=offered,
                autoping=True, max_msg_size=0, compress=0)
        except aiohttp.WSServerHandshakeError as exc:
            raise _handshake_error(exc) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.ServiceUnavailable(f"error dialing backend: {exc}") from None
        try:
            client = web.WebSocketResponse(protocols=(agent.protocol,) if agent.protocol else (),
                                           autoping=True, max_msg_size=0, compress=False)
            await client.prepare(request)
            await _pipe_both(client, agent)
            return client
        finally:
            await agent.close()


async def _pipe_both(client, agent) -> None:
    up = asyncio.ensure_future(_pipe(client, agent))
    down = asyncio.ensure_future(_pipe(agent, client))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        await client.close()


async def _pipe(source, sink) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)


def _relay_status(code: int, body: bytes) -> web.Response:
    try:
        status = jsonutil.loads(body)
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": body.decode(errors="replace")[:1000], "reason": "InternalError", "code": code}
    return web.Response(body=jsonutil.dumps(status), status=code, content_type="application/json")


def _handshake_error(exc: aiohttp.WSServerHandshakeError) -> errors.ApiError:
    if exc.status == 404:
        return errors.NotFound(f"unable to upgrade connection: {exc.message}")
    if exc.status == 400:
        return errors.BadRequest(f"unable to upgrade connection: {exc.message}")
    return errors.InternalError(f"unable to upgrade connection: {exc.message}")
