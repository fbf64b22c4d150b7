"""pods/log, pods/exec, pods/attach and pods/portforward: checked here, served by the agent.

As kube-apiserver does, the API server resolves the pod and the container (the messages
are upstream's), finds the node's kubelet API (kubelet.py) and passes the request on:
logs as a streamed body; exec/attach/port-forward as upgraded connections, the way
kube-apiserver's UpgradeAwareHandler does it: the API server makes the WebSocket upgrade
request to the agent itself (over a TLS socket of its own, offering the client's
subprotocols), answers the client's handshake with the agent's choice, and from then on
copies raw bytes both ways, never decoding a WebSocket frame (the agent speaks
v5/v4.channel.k8s.io, and SPDY/3.1 tunneled in WebSocket for port-forward, what kubectl
1.32 uses; see docs/streaming.md). Frames from the client arrive masked, as the agent
expects from a client; the agent's arrive unmasked, as the client expects. A plain SPDY
upgrade (kubectl before 1.30 for exec and attach, up to 1.30 for port-forward) is passed
on the same way: `Upgrade: SPDY/3.1` with the client's X-Stream-Protocol-Version offers,
the agent's choice back in the 101, then raw bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import kubelet as kubelets
from tinykube.apiserver.resources import to_external
from tinykube.util import jsonutil
from tinykube.util.buffers import next_buffer

log = logging.getLogger(__name__)

SUBRESOURCES = ("log", "exec", "attach", "portforward")
AGENT_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}
LOG_PARAMS = ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")
PORTFORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_UPGRADE = "SPDY/3.1"  # kubectl < 1.30 (exec, attach) and <= 1.30 (port-forward)


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
        upgrade = request.headers.get("Upgrade", "").lower()
        if upgrade not in ("websocket", SPDY_UPGRADE.lower()):
            raise errors.BadRequest(f"pods/{subresource} needs an upgrade of the connection to WebSocket or "
                                    f"{SPDY_UPGRADE}")
        return await self._relay(request, pod, path, spdy=upgrade != "websocket")

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

    async def _relay(self, request: web.Request, pod: dict, path: str, *, spdy: bool = False) -> web.StreamResponse:
        """The upgrade passed on to the agent (WebSocket, or SPDY/3.1 for kubectl < 1.30),
        and once it answered 101, the connection's bytes both ways."""
        if spdy:
            key, offered = "", [v.strip() for header in request.headers.getall("X-Stream-Protocol-Version", [])
                                for v in header.split(",") if v.strip()]
        else:
            key = request.headers.get("Sec-WebSocket-Key", "")
            if not valid_websocket_key(key):
                raise errors.BadRequest(f"invalid Sec-WebSocket-Key {key!r}")
            offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        address, port = await self._endpoint(pod)
        target = f"{path}?{urlencode(list(request.query.items()))}" if request.query else path
        agent = await _AgentConnection.open(self.kubelet, address, port, target, offered, spdy=spdy)
        headers = spdy_handshake_headers(agent.protocol) if spdy else client_handshake_headers(key, agent.protocol)
        client = web.StreamResponse(status=101, headers=headers)
        client.force_close()
        try:
            await client.prepare(request)
            relay = _Relay(request, agent)
            request.protocol.set_parser(relay)
            request.protocol.keep_alive(False)
            agent.start(relay)
            await relay.done
        finally:
            agent.close()
            self.kubelet.prepare_spare(address, port, _AgentConnection)  # for the next exec, off its path
        return client


# === the raw relay =============================================================================

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HANDSHAKE = 1 << 20


def valid_websocket_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def client_handshake_headers(key: str, protocol: str) -> dict:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": websocket_accept(key)}
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    return headers


def spdy_handshake_headers(version: str) -> dict:
    return {"Connection": "Upgrade", "Upgrade": SPDY_UPGRADE, "X-Stream-Protocol-Version": version}


def upgrade_request(host: str, target: str, key: str, protocols: list[str], *, spdy: bool = False) -> bytes:
    """The upgrade request to the agent: WebSocket (no extensions: frames pass untouched),
    or SPDY/3.1 with one X-Stream-Protocol-Version header per version offered."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
    if spdy:
        lines += ["Upgrade: " + SPDY_UPGRADE, "Connection: Upgrade"]
        lines += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
    else:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """(status, reason, lower-cased headers) of an HTTP/1.1 response head."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"malformed status line {status_line!r}")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def upgrade_failure(status: int, reason: str, body: bytes) -> errors.ApiError:
    """The agent refused the upgrade: its Status message, as kube-apiserver words it."""
    try:
        document = jsonutil.loads(body)
        message = document.get("message") if isinstance(document, dict) else None
    except ValueError:
        message = None
    message = f"unable to upgrade connection: {message or body.decode(errors='replace').strip() or reason}"
    if status == 404:
        return errors.NotFound(message)
    if status == 400:
        return errors.BadRequest(message)
    if status == 403:
        return errors.Forbidden(message)
    return errors.InternalError(message)


class _AgentConnection(asyncio.BufferedProtocol):
    """The API server's TLS connection to the agent: the upgrade handshake, then raw bytes
    handed to the relay (which writes them to the client as they come).

    A buffered protocol: the TLS layer decrypts the agent's bytes straight into our
    buffer (up to 1 MiB), every record that arrived at once into one chunk (a plain protocol gets a
    bytes object per record, then a join of them: an allocation and a copy per chunk).
    The chunk goes to the client as a view of the buffer, which the client's TLS transport
    encrypts before write() returns; should it keep the view instead (it can, when TLS
    itself has to wait), the buffer is left to it and the next read gets a fresh one."""

    FIRST_BUFFER, MAX_BUFFER = 64 << 10, 1 << 20

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()  # the handshake's bytes (and whatever came with them)
        self.read_buffer, self.last_read = bytearray(self.FIRST_BUFFER), 0
        self.head: tuple[int, str, dict] | None = None
        self.handshake: asyncio.Future = asyncio.get_running_loop().create_future()
        self.handshake.add_done_callback(lambda f: f.cancelled() or f.exception())  # a spare's may go unread
        self.relay: _Relay | None = None
        self.protocol = ""
        self.ended = False  # the agent closed its side (maybe before the relay started)

    @classmethod
    async def open(cls, kubelet: kubelets.KubeletClient, address: str, port: int, target: str,
                   offered: list[str], *, spdy: bool = False) -> "_AgentConnection":
        """The upgraded connection to the agent: on the spare connection when there is one
        (dialed anew if that one died meanwhile), else on a new one."""
        try:
            conn, reused = await kubelet.connect(address, port, cls)
            if reused and conn.ended:
                conn, reused = await kubelet.connect(address, port, cls)
        except (OSError, TimeoutError) as exc:
            raise errors.ServiceUnavailable(f"error dialing backend: {exc}") from None
        try:
            return await conn._upgrade(address, port, target, offered, spdy)
        except errors.ServiceUnavailable:
            if not reused:
                raise
        try:  # the spare was closed under us (the agent restarted): a new connection
            conn, _ = await kubelet.connect(address, port, cls)
        except (OSError, TimeoutError) as exc:
            raise errors.ServiceUnavailable(f"error dialing backend: {exc}") from None
        return await conn._upgrade(address, port, target, offered, spdy)

    async def _upgrade(self, address: str, port: int, target: str, offered: list[str],
                       spdy: bool = False) -> "_AgentConnection":
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        self.transport.write(upgrade_request(host, target, key, offered, spdy=spdy))
        try:
            status, reason, headers = await asyncio.wait_for(asyncio.shield(self.handshake), 30)
        except (ConnectionError, TimeoutError) as exc:
            self.close()
            raise errors.ServiceUnavailable(f"error dialing backend: {exc or 'no answer to the upgrade'}") from None
        accepted = (headers.get("upgrade", "").lower() == SPDY_UPGRADE.lower() if spdy
                    else headers.get("sec-websocket-accept") == websocket_accept(key))
        if status != 101 or not accepted:
            self.close()
            raise upgrade_failure(status, reason, bytes(self.buffer))
        self.protocol = headers.get("x-stream-protocol-version" if spdy else "sec-websocket-protocol", "")
        return self

    def start(self, relay: "_Relay") -> None:
        """From now on every byte goes to the client (first what came with the handshake)."""
        self.relay = relay
        if self.buffer:
            relay.to_client(bytes(self.buffer))
            self.buffer.clear()
        if self.ended:  # e.g. a command that finished at once: status sent, then closed
            relay.agent_ended()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        self.read_buffer = next_buffer(self.read_buffer, self.last_read, self.MAX_BUFFER)
        return self.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.last_read = nbytes
        if self.relay is not None:
            self.relay.to_client(memoryview(self.read_buffer)[:nbytes])
            return
        self._handshake_bytes(self.read_buffer[:nbytes])

    def _handshake_bytes(self, data: bytes) -> None:
        self.buffer += data
        if self.head is None and (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            try:
                self.head = parse_response_head(bytes(self.buffer[:end]))
            except ValueError as exc:
                self._fail(ConnectionError(str(exc)))
                return
            del self.buffer[:end + 4]
        if self.head is not None and not self.handshake.done():
            status, _, headers = self.head
            length = headers.get("content-length", "")
            if status == 101 or (length.isdigit() and len(self.buffer) >= int(length)):
                self.handshake.set_result(self.head)
        elif len(self.buffer) > MAX_HANDSHAKE:
            self._fail(ConnectionError("the agent's answer to the upgrade is too long"))

    def _fail(self, exc: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        self.close()

    def eof_received(self) -> bool:
        self.ended = True
        if self.relay is not None:
            self.relay.agent_ended()
        elif self.head is not None and not self.handshake.done():
            self.handshake.set_result(self.head)  # an error body without Content-Length
        return False

    def connection_lost(self, exc) -> None:
        self.ended = True
        if self.relay is not None:
            self.relay.agent_ended()
        elif not self.handshake.done():
            if self.head is not None:
                self.handshake.set_result(self.head)
            else:
                self.handshake.set_exception(ConnectionError(str(exc or "the agent closed the connection")))

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.client_transport.pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.client_transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class _Relay:
    """Raw bytes between the client's connection (aiohttp's, given to us as the payload
    parser of the upgraded request) and the agent's. Backpressure both ways: a full
    write buffer on one side pauses reading on the other."""

    def __init__(self, request: web.Request, agent: _AgentConnection):
        self.protocol, self.client_transport, self.agent = request.protocol, request.transport, agent
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting_drain = False

    # aiohttp's payload-parser interface: bytes from the client
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.agent.transport is not None and not self.agent.transport.is_closing():
            self.agent.transport.write(data)
        return False, b""

    def feed_eof(self) -> None:
        self._finish()

    def to_client(self, data) -> None:
        transport = self.client_transport
        if transport is None or transport.is_closing():
            self._finish()
            return
        transport.write(data)
        if self.protocol.writing_paused and not self.waiting_drain:
            self.waiting_drain = True
            self.agent.transport.pause_reading()
            asyncio.ensure_future(self._resume_after_drain())

    async def _resume_after_drain(self) -> None:
        try:
            await self.protocol._drain_helper()  # what aiohttp's own WebSocket writer awaits
        except ConnectionError:
            self._finish()
            return
        finally:
            self.waiting_drain = False
        if not self.agent.transport.is_closing():
            self.agent.transport.resume_reading()

    def agent_ended(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _relay_status(code: int, body: bytes) -> web.Response:
    try:
        status = jsonutil.loads(body)
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": body.decode(errors="replace")[:1000], "reason": "InternalError", "code": code}
    return web.Response(body=jsonutil.dumps(status), status=code, content_type="application/json")


