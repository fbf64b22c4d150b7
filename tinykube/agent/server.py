"""The agent's HTTPS endpoint: tinykube's kubelet API (the part the API server calls).

  GET /containerLogs/NS/POD/CONTAINER   logs (follow, previous, tailLines, sinceSeconds,
                                        sinceTime, timestamps, limitBytes)
  GET /exec/NS/POD/CONTAINER            WebSocket, v5/v4.channel.k8s.io (command, stdin,
  GET /attach/NS/POD/CONTAINER          stdout, stderr, tty as query parameters); or the
                                        SPDY/3.1 upgrade, v4.channel.k8s.io (kubectl < 1.30)
  GET /portForward/NS/POD               WebSocket, SPDY/3.1+portforward.k8s.io (SPDY tunneled);
                                        or the SPDY/3.1 upgrade, portforward.k8s.io
  GET /metrics/resource.json            cpu and memory of the node and its pods' containers
  GET /healthz

Authentication: TLS with a client certificate signed by the cluster CA is required; the
caller must be the API server's kubelet client (CN kube-apiserver-kubelet-client) or a
member of system:masters. The serving certificate is self-signed by the agent
(DATA/pki/kubelet.crt), as the kubelet's default is, and the API server does not verify
it (kube-apiserver without --kubelet-certificate-authority). The listening address and
port are --kubelet-address / --kubelet-port; the port is reported in the Node's
status.daemonEndpoints.kubeletEndpoint.Port and the address in the Node annotation
tinykube.io/kubelet-address (see docs/streaming.md).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import os
import socket
import ssl
import time

from aiohttp import web

from tinykube.agent.containers import InstanceId, instances_of
from tinykube.agent.streams import attach as attaching
from tinykube.agent.streams import channels, logs, metrics, spdy, spdyconn
from tinykube.agent.streams.exec import ExecRequest, ExecSession
from tinykube.agent.streams.portforward import PodConnection, PortForwardSession, websocket_header
from tinykube.util import netns

log = logging.getLogger(__name__)

ALLOWED_USERS = frozenset({"kube-apiserver-kubelet-client"})
ALLOWED_GROUPS = frozenset({"system:masters"})
ADDRESS_ANNOTATION = "tinykube.io/kubelet-address"
PORTFORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


class KubeletServer:
    def __init__(self, agent, *, address: str, port: int, ca_file: str, data_dir: str):
        """`agent`: the Agent (its workers, ctx and config are read per request)."""
        self.agent, self.address, self.port = agent, address, port
        self.ca_file, self.data_dir = ca_file, data_dir
        self.runner: web.AppRunner | None = None
        self.sampler: metrics.Sampler | None = None
        self.sampling: asyncio.Task | None = None

    async def start(self) -> int:
        """Listen; the port actually bound (port 0 picks a free one)."""
        app = web.Application(middlewares=[_authenticate])
        app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        app.router.add_get("/exec/{namespace}/{pod}/{container}", self.exec)
        app.router.add_get("/attach/{namespace}/{pod}/{container}", self.attach)
        app.router.add_get("/portForward/{namespace}/{pod}", self.port_forward)
        app.router.add_get("/metrics/resource.json", self.resource_metrics)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.address, self.port, ssl_context=self._tls(), reuse_address=True)
        try:
            await site.start()
        except OSError as exc:  # the node still runs pods; logs, exec, ... say the endpoint is missing
            log.error("the kubelet API cannot listen on %s:%d: %s (see --kubelet-address, --kubelet-port)",
                      self.address, self.port, exc)
            self.port = 0
            return 0
        self.port = site._server.sockets[0].getsockname()[1]
        self.sampling = asyncio.ensure_future(self._sample_forever())
        log.info("kubelet API listening on %s:%d", self.address, self.port)
        return self.port

    async def stop(self) -> None:
        if self.sampling:
            self.sampling.cancel()
            await asyncio.gather(self.sampling, return_exceptions=True)
        if self.runner:
            await self.runner.cleanup()

    def _tls(self) -> ssl.SSLContext:
        cert, key = ensure_serving_cert(self.data_dir, self.address, self.agent.node_name)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(self.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED  # only the cluster CA's clients
        return context

    # --- finding what a request names ----------------------------------------------------

    def _worker(self, request: web.Request):
        ns, name = request.match_info["namespace"], request.match_info["pod"]
        for worker in list(self.agent.workers.values()):
            md = (worker.pod or {}).get("metadata", {})
            if md.get("namespace") == ns and md.get("name") == name:
                return worker
        raise _status(404, "NotFound", f'pod "{name}" not found')

    def _instances(self, worker, container: str) -> list[InstanceId]:
        return instances_of(self.agent.ctx.runc.ids(), worker.uid).get(container, [])

    def _running(self, instance: InstanceId) -> bool:
        runc = self.agent.ctx.runc
        return runc.exit_status(str(instance)) is None and runc.monitor_alive(str(instance))

    def _running_instance(self, worker, container: str) -> InstanceId:
        instances = self._instances(worker, container)
        if not instances or not self._running(instances[-1]):
            raise _status(404, "NotFound", f'container not found ("{container}")')
        return instances[-1]

    # --- logs ------------------------------------------------------------------------------

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        worker, container, q = self._worker(request), request.match_info["container"], request.query
        options = _log_options(q)
        path, instance = self._log_file(worker, container, _flag(q.get("previous")))
        follow = _flag(q.get("follow"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await logs.follow_file(path, options, follow=follow, running=lambda: self._running(instance),
                                   write=response.write)
        except (ConnectionResetError, FileNotFoundError):
            pass
        return response

    def _log_file(self, worker, container: str, previous: bool) -> tuple[str, InstanceId]:
        """The newest attempt's log; for previous, the newest that has ended (the one
        before a running attempt, else the newest: the kubelet's lastState)."""
        attempts = _attempts(os.path.join(worker.dirs.logs, container))
        name = worker.pod["metadata"]["name"]
        if previous and attempts and self._running(InstanceId(worker.uid, container, attempts[-1])):
            attempts = attempts[:-1]
        if not attempts:
            message = (f'previous terminated container "{container}" in pod "{name}" not found' if previous
                       else f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
            raise _status(400, "BadRequest", message)
        instance = InstanceId(worker.uid, container, attempts[-1])
        return worker.dirs.log(instance), instance

    # --- exec, attach ------------------------------------------------------------------------

    async def exec(self, request: web.Request) -> web.StreamResponse:
        worker, container = self._worker(request), request.match_info["container"]
        instance = self._running_instance(worker, container)
        q = request.query
        command = q.getall("command", [])
        if not command:
            raise _status(400, "BadRequest", "you must specify at least 1 command")
        runc, wanted = self.agent.ctx.runc, _exec_request(q, command)

        def session(ws):
            return ExecSession(ws, runc=runc.binary, root=str(runc.root), container_id=str(instance),
                               bundle=worker.dirs.bundle(instance), request=wanted,
                               scratch_dir=str(runc.monitor_dir(str(instance))))
        if spdyconn.is_spdy_upgrade(request):
            return await _over_spdy(request, spdyconn.expected_streams(
                stdin=wanted.stdin, stdout=wanted.stdout, stderr=wanted.stderr, tty=wanted.tty),
                lambda conn: session(conn).run())
        ws = await _accept_channels(request)
        try:
            await session(ws).run()
        finally:
            await ws.close()
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        worker, container = self._worker(request), request.match_info["container"]
        instance = self._running_instance(worker, container)
        q, socket_path = request.query, str(self.agent.ctx.runc.monitor_dir(str(instance)) / "attach.sock")
        stdout, stderr = _flag(q.get("stdout", "true")), _flag(q.get("stderr", "true"))
        stdin, tty = _flag(q.get("stdin")), _flag(q.get("tty"))

        async def run(ws) -> None:
            if os.path.exists(socket_path):  # a stdin or tty container (its monitor serves it)
                await attaching.attach_monitor(ws, socket_path=socket_path, running=lambda: self._running(instance),
                                               stdin=stdin, stdout=stdout, stderr=stderr)
            else:
                await attaching.attach(ws, log_path=worker.dirs.log(instance), running=lambda: self._running(instance),
                                       stdout=stdout, stderr=stderr)
        if spdyconn.is_spdy_upgrade(request):
            return await _over_spdy(request, spdyconn.expected_streams(
                stdin=stdin, stdout=stdout, stderr=stderr, tty=tty), run)
        ws = await _accept_channels(request)
        try:
            await run(ws)
        finally:
            await ws.close()
        return ws

    # --- port-forward ------------------------------------------------------------------------

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        worker = self._worker(request)
        if spdyconn.is_spdy_upgrade(request):
            return await self._port_forward_spdy(request, worker)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if PORTFORWARD_PROTOCOL not in offered:
            raise _status(400, "BadRequest", f"port-forward needs the WebSocket subprotocol {PORTFORWARD_PROTOCOL}")
        ws = web.WebSocketResponse(protocols=(PORTFORWARD_PROTOCOL,), autoping=True, max_msg_size=0,
                                   compress=False)
        await ws.prepare(request)
        connect = self._pod_connector(worker)
        transport, protocol = request.transport, request.protocol

        def write(parts: list) -> None:
            """One WebSocket message straight to the connection, its parts not glued (the
            TLS layer encrypts them in one go, before this returns): aiohttp's writer would
            copy them into one."""
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the API server closed the connection")
            length = sum(len(part) for part in parts)
            transport.writelines([websocket_header(length) + parts[0], *parts[1:]])

        async def drain() -> None:
            if protocol.writing_paused:
                await protocol._drain_helper()  # what aiohttp's own WebSocket writer awaits

        session = PortForwardSession(write=write, writing_paused=lambda: protocol.writing_paused, drain=drain,
                                     connect=connect, pod_name=worker.pod["metadata"]["name"], pod_uid=worker.uid)
        try:
            async for message in ws:
                if message.type == web.WSMsgType.BINARY:
                    await session.feed(message.data)
                if session.done:
                    break
        finally:
            await session.close()
            await ws.close()
        return ws

    async def _port_forward_spdy(self, request: web.Request, worker) -> web.StreamResponse:
        """The same SPDY session on the upgraded connection itself (kubectl <= 1.30)."""
        def feed(data: bytes) -> None:  # bytes only arrive once `session` below exists
            try:
                for frame in session.reader.feed(data):
                    session.on_frame(frame)
            except spdy.ProtocolError:
                upgraded.close()
        upgraded = await spdyconn.accept_upgrade(request, spdyconn.PORTFORWARD_VERSIONS, feed)
        if upgraded is None:
            raise _status(400, "BadRequest", "port-forward over SPDY needs X-Stream-Protocol-Version "
                                             "portforward.k8s.io")
        session = PortForwardSession(
            write=upgraded.write, writing_paused=lambda: upgraded.writing_paused, drain=upgraded.drain,
            connect=self._pod_connector(worker), pod_name=worker.pod["metadata"]["name"], pod_uid=worker.uid)
        try:
            await upgraded.incoming.ended
        finally:
            await session.close()
            upgraded.close()
        return upgraded.response

    def _pod_connector(self, worker):
        """connect(port): a PodConnection to 127.0.0.1:port in the pod's network namespace."""
        netns_path = self._pod_netns(worker)

        async def connect(port: int) -> PodConnection:
            sock = await netns.new_socket(netns_path)
            try:
                loop = asyncio.get_running_loop()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 10)
                _, conn = await loop.create_connection(PodConnection, sock=sock)
            except BaseException:
                sock.close()
                raise
            return conn
        return connect

    def _pod_netns(self, worker) -> str:
        if (worker.pod or {}).get("spec", {}).get("hostNetwork"):
            return self.agent.config.host_netns
        sandbox = worker.sandbox
        if sandbox is None or not sandbox.netns_path:
            raise _status(400, "BadRequest", "the pod's network is not set up yet")
        return sandbox.netns_path

    # --- metrics -------------------------------------------------------------------------------

    def _metric_keys(self) -> dict[str, tuple[dict, str]]:
        """cgroup path -> (pod, container name) of every running container, plus the node."""
        from tinykube.agent.runtime import container_cgroup_path

        ctx = self.agent.ctx
        keys: dict[str, tuple[dict, str]] = {"/": ({}, "")}
        for worker in list(self.agent.workers.values()):
            if not worker.pod:
                continue
            for name, instances in instances_of(ctx.runc.ids(), worker.uid).items():
                if instances and ctx.runc.exit_status(str(instances[-1])) is None:
                    path = container_cgroup_path(ctx.runtime_config, worker.uid, str(instances[-1]))
                    keys[path] = (worker.pod, name)
        return keys

    def _read_usage(self, key: str):
        cgroups = self.agent.ctx.runc.cgroups
        if key == "/":
            return _node_usage(cgroups)
        if not cgroups.exists(key):
            return None
        usage = cgroups.usage(key)
        return usage.cpu_usage_ns, usage.memory_working_set_bytes

    def _ensure_sampler(self) -> metrics.Sampler:
        if self.sampler is None:
            self.sampler = metrics.Sampler(self._read_usage)
        return self.sampler

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(metrics.SAMPLE_SECONDS)
            try:
                if getattr(self.agent, "ctx", None) is not None:
                    self._ensure_sampler().sample(self._metric_keys())
            except Exception:  # metrics must never take the agent down
                log.exception("sampling resource usage")

    async def resource_metrics(self, request: web.Request) -> web.Response:
        keys = self._metric_keys()
        points = self._ensure_sampler().points(keys)
        return web.json_response(metrics_document(keys, points))


def metrics_document(keys: dict, points: dict) -> dict:
    """{"node": point, "pods": [{namespace, name, timestamp, window, containers}]}."""
    def fields(p: metrics.Point) -> dict:
        return {"timestamp": p.timestamp, "window": p.window, "nanocores": p.nanocores,
                "memoryWorkingSetBytes": p.memory_bytes}

    pods: dict[str, dict] = {}
    for key, (pod, container) in keys.items():
        point = points.get(key)
        if not pod or point is None:
            continue
        md = pod["metadata"]
        entry = pods.setdefault(md["uid"], {"namespace": md.get("namespace", ""), "name": md["name"],
                                            "timestamp": point.timestamp, "window": point.window,
                                            "containers": []})
        entry["containers"].append({"name": container, **fields(point)})
    node = points.get("/")
    return {"node": fields(node) if node else None, "pods": list(pods.values())}


def _node_usage(cgroups) -> tuple[int, int]:
    usage = cgroups.usage("/")
    if usage.cpu_usage_ns and usage.memory_working_set_bytes:
        return usage.cpu_usage_ns, usage.memory_working_set_bytes
    with open("/proc/stat") as s, open("/proc/meminfo") as m:
        return metrics.node_usage_from_proc(s.read(), m.read(), os.sysconf("SC_CLK_TCK"))


# === request helpers ===========================================================================


@web.middleware
async def _authenticate(request: web.Request, handler):
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    user, groups = "", set()
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.add(value)
    if user not in ALLOWED_USERS and not groups & ALLOWED_GROUPS:
        return _status_response(403, "Forbidden", f'User "{user or "system:anonymous"}" cannot use the kubelet API')
    try:
        return await handler(request)
    except StatusError as exc:
        return _status_response(exc.code, exc.reason, exc.message)


def _status_body(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _status_response(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(_status_body(code, reason, message), status=code)


class StatusError(Exception):
    """Answered as a Kubernetes Status (the API server relays it to the user)."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _status(code: int, reason: str, message: str) -> StatusError:
    return StatusError(code, reason, message)


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _int(q, name: str) -> int | None:
    value = q.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise _status(400, "BadRequest", f'invalid {name} "{value}"') from None


def _log_options(q) -> logs.LogOptions:
    since_ns = 0
    if q.get("sinceTime"):
        try:
            since_ns = logs.parse_time(q["sinceTime"])
        except ValueError:
            raise _status(400, "BadRequest", f'invalid sinceTime "{q["sinceTime"]}"') from None
    elif (seconds := _int(q, "sinceSeconds")) is not None:
        since_ns = time.time_ns() - seconds * 1_000_000_000
    return logs.LogOptions(timestamps=_flag(q.get("timestamps")), tail_lines=_int(q, "tailLines"),
                           since_ns=since_ns, limit_bytes=_int(q, "limitBytes"))


def _attempts(directory: str) -> list[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())


async def _over_spdy(request: web.Request, wanted: set[str], run) -> web.StreamResponse:
    """exec or attach on a SPDY upgrade: the 101, the client's streams, then `run(conn)`
    with the streams as channels (streams/spdyconn.py)."""
    conn = spdyconn.SpdyChannels()
    upgraded = await spdyconn.accept_upgrade(request, spdyconn.EXEC_VERSIONS, conn.feed)
    if upgraded is None:
        raise _status(400, "BadRequest", f"over SPDY, tinykube serves {', '.join(spdyconn.EXEC_VERSIONS)} "
                                         "(X-Stream-Protocol-Version)")
    conn.upgraded = upgraded
    try:
        if await conn.wait_for_streams(wanted):
            await run(conn)
        else:
            log.info("exec/attach over SPDY: timed out waiting for the client to create streams %s", sorted(wanted))
    finally:
        await conn.close()
    return upgraded.response


def _exec_request(q, command: list[str]) -> ExecRequest:
    return ExecRequest(command=command, stdin=_flag(q.get("stdin")), stdout=_flag(q.get("stdout", "true")),
                       stderr=_flag(q.get("stderr", "true")), tty=_flag(q.get("tty")))


async def _accept_channels(request: web.Request) -> web.WebSocketResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocol = channels.choose_protocol(offered)
    if protocol is None:
        raise _status(400, "BadRequest", f"one of the WebSocket subprotocols {', '.join(channels.PROTOCOLS)} is needed")
    ws = web.WebSocketResponse(protocols=(protocol,), autoping=True, max_msg_size=0, compress=False)
    await ws.prepare(request)
    return ws


# === the serving certificate ====================================================================


def ensure_serving_cert(data_dir: str, address: str, node_name: str) -> tuple[str, str]:
    """DATA/pki/kubelet.{crt,key}: self-signed for the address and names (made once,
    remade when the address is not in it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = os.path.join(data_dir, "pki")
    cert_path, key_path = os.path.join(directory, "kubelet.crt"), os.path.join(directory, "kubelet.key")
    stamp = os.path.join(directory, "kubelet.names")
    names = sorted({address, node_name, socket.gethostname(), "localhost", "127.0.0.1"} - {""})
    if os.path.exists(cert_path) and _read(stamp) == ",".join(names):
        return cert_path, key_path
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@{int(time.time())}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(stamp, ",".join(names).encode())
    return cert_path, key_path


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
