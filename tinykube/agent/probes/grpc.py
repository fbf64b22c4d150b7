"""gRPC probes: one `grpc.health.v1.Health/Check` call over plaintext HTTP/2, from the
agent into the pod's network namespace, judged as the kubelet does (pkg/probe/grpc).

The pure part encodes and decodes the two tiny protobuf messages by hand
(HealthCheckRequest{1: string service}, HealthCheckResponse{1: enum status}), frames
gRPC messages (1 byte compressed flag, 4 bytes big-endian length), and turns what the
server said into (Result, message) with the kubelet's words. The shell speaks HTTP/2
with prior knowledge (h2c, no Upgrade, as grpc-go's insecure transport) through the
`h2` state machine over an asyncio stream.

Like grpc-go's blocking dial, a refused or unanswered connection is retried until the
probe's timeout, so a port nobody listens on reads
`timeout: failed to connect service "10.42.0.5:9090" within 1s: context deadline exceeded`.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from tinykube.util import netns

from .rules import Result

METHOD = "/grpc.health.v1.Health/Check"
USER_AGENT = "kube-probe/1.32"
SERVING = 1
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
# google.golang.org/grpc/codes, by number
CODE_NAMES = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
              "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
              "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"]
OK, UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 0, 2, 4, 12, 13, 14
# grpc-go's mapping of a non-200 HTTP status to a gRPC code (internal/transport/http_util.go)
HTTP_TO_CODE = {400: INTERNAL, 401: 16, 403: 7, 404: UNIMPLEMENTED, 429: UNAVAILABLE, 502: UNAVAILABLE,
                503: UNAVAILABLE, 504: UNAVAILABLE}
HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
                502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
# RST_STREAM error codes (RFC 9113 section 7) and what grpc-go makes of them
H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
             "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
             "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
RST_TO_CODE = {7: UNAVAILABLE, 8: 1, 11: 8, 12: 7}


# --- protobuf and gRPC framing (pure) --------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def encode_request(service: str) -> bytes:
    """HealthCheckRequest: field 1 (string) service; proto3 leaves out the empty string."""
    if not service:
        return b""
    raw = service.encode()
    return b"\x0a" + _varint(len(raw)) + raw


def decode_response(data: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint); unknown fields are skipped, and a
    missing status is 0 (UNKNOWN), as proto3 decoders do."""
    status, pos = 0, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if field == 1:
                status = value
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
    return status


def frame(message: bytes) -> bytes:
    """One length-prefixed gRPC message, not compressed."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def unframe(body: bytes) -> list[bytes]:
    """The messages of a response body; ValueError if cut short or compressed (we never
    offer an encoding, so a server must not compress)."""
    out, pos = [], 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise ValueError("truncated gRPC message header")
        if body[pos] != 0:
            raise ValueError("compressed message received but no encoding was negotiated")
        length = int.from_bytes(body[pos + 1:pos + 5], "big")
        if len(body) - pos - 5 < length:
            raise ValueError("truncated gRPC message")
        out.append(body[pos + 5:pos + 5 + length])
        pos += 5 + length
    return out


def status_name(status: int) -> str:
    """HealthCheckResponse_ServingStatus.String(): the name, or the number if unknown."""
    return STATUS_NAMES.get(status, str(status))


def code_name(code: int) -> str:
    return CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else f"Code({code})"


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for whole seconds: 1s, 1m30s, 1h0m0s."""
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def go_quote(text: str) -> str:
    """Go's %q for the plain strings we quote (addresses, status names)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def request_headers(authority: str, timeout: float) -> list[tuple[str, str]]:
    return [(":method", "POST"), (":scheme", "http"), (":path", METHOD), (":authority", authority),
            ("content-type", "application/grpc"), ("user-agent", USER_AGENT), ("te", "trailers"),
            ("grpc-timeout", f"{max(1, int(timeout * 1000))}m")]


# --- what the call came to, and the kubelet's words --------------------------------------------


@dataclass(frozen=True)
class RpcStatus:
    """A failed call: a gRPC status code and its message."""

    code: int
    message: str


@dataclass(frozen=True)
class Reply:
    """What one stream brought back (headers, body, trailers as received)."""

    headers: dict
    body: bytes = b""
    trailers: dict | None = None
    reset_code: int | None = None  # RST_STREAM's error code
    eof: bool = False              # the connection ended before the stream did


def call_outcome(reply: Reply) -> RpcStatus | int:
    """The health status the server answered, or the RpcStatus the call failed with
    (grpc-go's reading of the HTTP status, grpc-status, grpc-message and the body)."""
    if reply.reset_code is not None:
        code = reply.reset_code
        name = H2_ERRORS[code] if code < len(H2_ERRORS) else str(code)
        return RpcStatus(RST_TO_CODE.get(code, INTERNAL), f"stream terminated by RST_STREAM with error code: {name}")
    http_status = reply.headers.get(":status", "")
    if http_status != "200":
        number = int(http_status) if http_status.isdigit() else 0
        reason = HTTP_REASONS.get(number, "")
        return RpcStatus(HTTP_TO_CODE.get(number, UNKNOWN),
                         f"unexpected HTTP status code received from server: {http_status}"
                         + (f" ({reason})" if reason else ""))
    # a trailers-only response carries grpc-status in its headers
    final = reply.trailers if reply.trailers is not None else (
        reply.headers if "grpc-status" in reply.headers else None)
    if final is None:
        if reply.eof:
            return RpcStatus(UNAVAILABLE, "error reading from server: EOF")
        return RpcStatus(INTERNAL, "server closed the stream without sending trailers")
    raw = final.get("grpc-status", "")
    if not raw.isdigit():
        return RpcStatus(INTERNAL, f"transport: malformed grpc-status: {raw!r}")
    code = int(raw)
    if code != OK:
        return RpcStatus(code, urllib.parse.unquote(final.get("grpc-message", "")))
    try:
        messages = unframe(reply.body)
        if len(messages) != 1:
            return RpcStatus(INTERNAL, "cardinality violation: received no response message from "
                             "non-server-streaming RPC" if not messages else
                             "cardinality violation: expected <EOF> for non server-streaming RPCs, "
                             "but received another message")
        return decode_response(messages[0])
    except ValueError as exc:
        return RpcStatus(INTERNAL, f"grpc: failed to unmarshal the received message: {exc}")


def probe_result(outcome: RpcStatus | int, timeout: float) -> tuple[Result, str]:
    """pkg/probe/grpc Probe's judgement after a successful connect."""
    if isinstance(outcome, RpcStatus):
        if outcome.code == UNIMPLEMENTED:
            return Result.FAILURE, ("error: this server does not implement the grpc health protocol "
                                    f"(grpc.health.v1.Health): {outcome.message}")
        if outcome.code == DEADLINE_EXCEEDED:
            return Result.FAILURE, f"timeout: health rpc did not complete within {go_duration(timeout)}"
        return Result.FAILURE, (f"error: health rpc probe failed: rpc error: code = {code_name(outcome.code)} "
                                f"desc = {outcome.message}")
    if outcome != SERVING:
        return Result.FAILURE, f"service unhealthy (responded with {go_quote(status_name(outcome))})"
    return Result.SUCCESS, "service healthy"


def connect_timeout_message(address: str, timeout: float) -> str:
    return (f"timeout: failed to connect service {go_quote(address)} within {go_duration(timeout)}: "
            "context deadline exceeded")


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the shell ----------------------------------------------------------------------------------


class _Connection:
    """One HTTP/2 client connection on an asyncio stream, driven by h2."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                        header_encoding="utf-8"))

    async def handshake(self) -> None:
        """Send our preface and wait for the server's SETTINGS: grpc-go's READY."""
        self.h2.initiate_connection()
        await self._flush()
        while True:
            events = await self._receive()
            if events is None:
                raise ConnectionError("the server closed the connection during the HTTP/2 handshake")
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                return

    async def unary(self, authority: str, payload: bytes, timeout: float) -> Reply:
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, request_headers(authority, timeout))
        self.h2.send_data(stream, frame(payload), end_stream=True)
        await self._flush()
        headers, body, trailers = {}, bytearray(), None
        while True:
            events = await self._receive()
            if events is None:
                return Reply(headers, bytes(body), trailers, eof=True)
            for event in events:
                if getattr(event, "stream_id", stream) != stream:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    headers = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = dict(event.headers)
                elif isinstance(event, h2.events.StreamReset):
                    return Reply(headers, bytes(body), trailers, reset_code=int(event.error_code))
                elif isinstance(event, h2.events.StreamEnded):
                    await self._flush()
                    return Reply(headers, bytes(body), trailers)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return Reply(headers, bytes(body), trailers, eof=True)
            await self._flush()

    async def _receive(self) -> list | None:
        data = await self.reader.read(65536)
        if not data:
            return None
        events = self.h2.receive_data(data)
        await self._flush()
        return events

    async def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


async def _dial(netns_path: str, host: str, port: int, deadline: float) -> _Connection:
    """Connect and finish the HTTP/2 handshake, retrying (with a growing pause) until the
    deadline as grpc-go's blocking dial does; asyncio.TimeoutError when it passes."""
    loop = asyncio.get_running_loop()
    pause = 0.05
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise asyncio.TimeoutError
        conn = None
        try:
            reader, writer = await netns.open_connection(netns_path, host, port, timeout=remaining)
            conn = _Connection(reader, writer)
            await asyncio.wait_for(conn.handshake(), deadline - loop.time())
            return conn
        except asyncio.TimeoutError:
            if conn:
                conn.close()
            raise
        except (OSError, h2.exceptions.ProtocolError):
            if conn:
                conn.close()
        await asyncio.sleep(max(0.0, min(pause, deadline - loop.time())))
        pause = min(pause * 2, 1.0)


async def grpc_probe(action: dict, target, *, timeout: float) -> tuple[Result, str]:
    """The probe: pod IP:port, service (default ""), within timeoutSeconds."""
    host, port = target.pod_ip, int(action.get("port") or 0)
    service = action.get("service") or ""
    address = host_port(host, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        conn = await _dial(target.netns_path, host, port, deadline)
    except asyncio.TimeoutError:
        return Result.FAILURE, connect_timeout_message(address, timeout)
    try:
        reply = await asyncio.wait_for(conn.unary(address, encode_request(service), timeout),
                                       max(0.0, deadline - loop.time()))
        outcome = call_outcome(reply)
    except asyncio.TimeoutError:
        outcome = RpcStatus(DEADLINE_EXCEEDED, "context deadline exceeded")
    except (OSError, h2.exceptions.ProtocolError) as exc:
        outcome = RpcStatus(UNAVAILABLE, f"connection error: {exc}")
    finally:
        conn.close()
    return probe_result(outcome, timeout)
