"""gRPC probes: the hand-made protobuf and gRPC framing (checked against the protobuf
library's own encoding), the kubelet's judgement and words, and the real client against
a real gRPC server (grpcio, a test-only dependency) on 127.0.0.1 (netns path "")."""

import asyncio
import socket
import threading
import time
from concurrent import futures

import grpc as grpcio
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tinykube.agent.probes import grpc
from tinykube.agent.probes.grpc import Reply, RpcStatus
from tinykube.agent.probes.handlers import Target
from tinykube.agent.probes.rules import Result


def _health_messages():
    """HealthCheckRequest / HealthCheckResponse as protoc would build them
    (grpc/health/v1/health.proto), to check our hand encoding against."""
    f = descriptor_pb2.FileDescriptorProto(name="tk_health_test.proto", package="tktest.health", syntax="proto3")
    req = f.message_type.add(name="HealthCheckRequest")
    req.field.add(name="service", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    resp = f.message_type.add(name="HealthCheckResponse")
    enum = resp.enum_type.add(name="ServingStatus")
    for number, name in grpc.STATUS_NAMES.items():
        enum.value.add(name=name, number=number)
    resp.field.add(name="status", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM,
                   type_name=".tktest.health.HealthCheckResponse.ServingStatus",
                   label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    get = message_factory.GetMessageClass
    return (get(pool.FindMessageTypeByName("tktest.health.HealthCheckRequest")),
            get(pool.FindMessageTypeByName("tktest.health.HealthCheckResponse")))


Request, Response = _health_messages()


@pytest.mark.parametrize("service", ["", "a", "grpc.health.v1.Health", "x" * 200, "ünï"])
def test_encode_request_matches_protobuf(service):
    assert grpc.encode_request(service) == Request(service=service).SerializeToString()


@pytest.mark.parametrize("status", [0, 1, 2, 3])
def test_decode_response_matches_protobuf(status):
    assert grpc.decode_response(Response(status=status).SerializeToString()) == status


@pytest.mark.parametrize("data,status", [
    (b"", 0),                                   # proto3: a missing enum is its zero value
    (b"\x08\x01", 1),
    (b"\x08\x07", 7),                           # a status this version does not know
    (b"\x12\x03abc\x08\x02", 2),                # unknown length-delimited field skipped
    (b"\x18\x96\x01\x08\x02\x25\x00\x00\x00\x00\x29" + b"\x00" * 8, 2),  # varint, fixed32, fixed64
])
def test_decode_response(data, status):
    assert grpc.decode_response(data) == status


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05ab", b"\x0b"])
def test_decode_response_rejects_broken_messages(data):
    with pytest.raises(ValueError):
        grpc.decode_response(data)


def test_frames_round_trip():
    assert grpc.frame(b"\x08\x01") == b"\x00\x00\x00\x00\x02\x08\x01"
    assert grpc.unframe(grpc.frame(b"ab") + grpc.frame(b"")) == [b"ab", b""]
    for bad in (b"\x00\x00\x00\x00\x05ab", b"\x01\x00\x00\x00\x00", b"\x00\x00"):
        with pytest.raises(ValueError):
            grpc.unframe(bad)


@pytest.mark.parametrize("seconds,text", [(1, "1s"), (59, "59s"), (60, "1m0s"), (90, "1m30s"),
                                          (3600, "1h0m0s"), (3661, "1h1m1s"), (0.5, "0.5s")])
def test_go_duration(seconds, text):
    assert grpc.go_duration(seconds) == text


OK_HEADERS = {":status": "200", "content-type": "application/grpc"}


@pytest.mark.parametrize("reply,outcome", [
    (Reply(OK_HEADERS, grpc.frame(b"\x08\x01"), {"grpc-status": "0"}), 1),
    (Reply(OK_HEADERS, grpc.frame(b"\x08\x02"), {"grpc-status": "0"}), 2),
    # trailers-only: the status is in the headers
    (Reply({**OK_HEADERS, "grpc-status": "5", "grpc-message": "unknown%20service"}),
     RpcStatus(5, "unknown service")),
    (Reply(OK_HEADERS, b"", {"grpc-status": "12", "grpc-message": ""}), RpcStatus(12, "")),
    (Reply({":status": "404"}), RpcStatus(12, "unexpected HTTP status code received from server: 404 (Not Found)")),
    (Reply({":status": "503"}),
     RpcStatus(14, "unexpected HTTP status code received from server: 503 (Service Unavailable)")),
    (Reply({":status": "418"}), RpcStatus(2, "unexpected HTTP status code received from server: 418")),
    (Reply(OK_HEADERS, b"", {"grpc-status": "0"}),
     RpcStatus(13, "cardinality violation: received no response message from non-server-streaming RPC")),
    (Reply(OK_HEADERS, b"", None, eof=True), RpcStatus(14, "error reading from server: EOF")),
    (Reply(OK_HEADERS, b"", None), RpcStatus(13, "server closed the stream without sending trailers")),
    (Reply({}, reset_code=7), RpcStatus(14, "stream terminated by RST_STREAM with error code: REFUSED_STREAM")),
    (Reply({}, reset_code=2), RpcStatus(13, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR")),
])
def test_call_outcome(reply, outcome):
    assert grpc.call_outcome(reply) == outcome


@pytest.mark.parametrize("outcome,result,message", [
    (1, Result.SUCCESS, "service healthy"),
    (2, Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")'),
    (0, Result.FAILURE, 'service unhealthy (responded with "UNKNOWN")'),
    (3, Result.FAILURE, 'service unhealthy (responded with "SERVICE_UNKNOWN")'),
    (9, Result.FAILURE, 'service unhealthy (responded with "9")'),
    (RpcStatus(4, "context deadline exceeded"), Result.FAILURE, "timeout: health rpc did not complete within 1s"),
    (RpcStatus(12, "unknown service grpc.health.v1.Health"), Result.FAILURE,
     "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
     "unknown service grpc.health.v1.Health"),
    (RpcStatus(5, "unknown service"), Result.FAILURE,
     "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"),
    (RpcStatus(14, "error reading from server: EOF"), Result.FAILURE,
     "error: health rpc probe failed: rpc error: code = Unavailable desc = error reading from server: EOF"),
])
def test_probe_result(outcome, result, message):
    assert grpc.probe_result(outcome, 1) == (result, message)


def test_connect_timeout_message():
    assert grpc.connect_timeout_message("10.42.0.5:9090", 60) == \
        'timeout: failed to connect service "10.42.0.5:9090" within 1m0s: context deadline exceeded'


# --- the real client against a real gRPC server ---------------------------------------------------


class HealthServer:
    """grpcio serving grpc.health.v1.Health/Check by hand (raw bytes in and out):
    statuses[service] answers, an unknown service is NOT_FOUND, as grpc's own health
    servicer does; `delay` holds each answer back."""

    def __init__(self, *, health=True):
        self.statuses, self.delay, self.requests = {"": 1}, 0.0, []
        self.server = grpcio.server(futures.ThreadPoolExecutor(max_workers=4))
        if health:
            handler = grpcio.method_handlers_generic_handler(
                "grpc.health.v1.Health", {"Check": grpcio.unary_unary_rpc_method_handler(self.check)})
            self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def check(self, request: bytes, context) -> bytes:
        service = Request.FromString(request).service
        self.requests.append((service, dict(context.invocation_metadata())))
        time.sleep(self.delay)
        if service not in self.statuses:
            context.abort(grpcio.StatusCode.NOT_FOUND, "unknown service")
        return Response(status=self.statuses[service]).SerializeToString()

    def stop(self):
        self.server.stop(0)


@pytest.fixture
def server():
    s = HealthServer()
    yield s
    s.stop()


LOCAL = Target("", "127.0.0.1")


async def test_serving_and_not_serving(server):
    server.statuses["db"] = 2
    assert await grpc.grpc_probe({"port": server.port}, LOCAL, timeout=2) == (Result.SUCCESS, "service healthy")
    assert await grpc.grpc_probe({"port": server.port, "service": "db"}, LOCAL, timeout=2) == \
        (Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")')
    assert [r[0] for r in server.requests] == ["", "db"]
    metadata = server.requests[0][1]
    assert metadata["user-agent"].startswith("kube-probe/1.32")


async def test_unknown_service_is_a_failed_rpc(server):
    assert await grpc.grpc_probe({"port": server.port, "service": "nope"}, LOCAL, timeout=2) == \
        (Result.FAILURE, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service")


async def test_slow_answer_times_out(server):
    server.delay = 1.5
    started = time.monotonic()
    assert await grpc.grpc_probe({"port": server.port}, LOCAL, timeout=1) == \
        (Result.FAILURE, "timeout: health rpc did not complete within 1s")
    assert time.monotonic() - started < 1.4


async def test_server_without_the_health_service():
    s = HealthServer(health=False)
    try:
        result, message = await grpc.grpc_probe({"port": s.port}, LOCAL, timeout=2)
    finally:
        s.stop()
    assert result == Result.FAILURE
    assert message.startswith("error: this server does not implement the grpc health protocol "
                              "(grpc.health.v1.Health): "), message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_refused_connection_is_retried_until_the_timeout():
    port = _free_port()
    started = time.monotonic()
    assert await grpc.grpc_probe({"port": port}, LOCAL, timeout=1) == (
        Result.FAILURE, f'timeout: failed to connect service "127.0.0.1:{port}" within 1s: context deadline exceeded')
    assert 0.9 < time.monotonic() - started < 1.5


async def test_a_server_that_comes_up_within_the_timeout_is_reached():
    port = _free_port()
    holder = {}

    def late_start():
        time.sleep(0.3)
        s = grpcio.server(futures.ThreadPoolExecutor(max_workers=2))
        s.add_generic_rpc_handlers((grpcio.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpcio.unary_unary_rpc_method_handler(lambda r, c: b"\x08\x01")}),))
        s.add_insecure_port(f"127.0.0.1:{port}")
        s.start()
        holder["s"] = s

    thread = threading.Thread(target=late_start)
    thread.start()
    try:
        assert await grpc.grpc_probe({"port": port}, LOCAL, timeout=3) == (Result.SUCCESS, "service healthy")
    finally:
        thread.join()
        holder["s"].stop(0)


async def test_an_http1_server_never_becomes_ready():
    async def handle(reader, writer):
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        result, message = await grpc.grpc_probe({"port": port}, LOCAL, timeout=1)
    assert (result, message) == (
        Result.FAILURE, f'timeout: failed to connect service "127.0.0.1:{port}" within 1s: context deadline exceeded')
