"""The API server's raw relay of upgraded connections, the pure parts: the handshake it
answers the client with, the upgrade request it makes to the agent, reading the agent's
answer, and the agent's refusal as a Status."""

from __future__ import annotations

import pytest

from tinykube.api import errors
from tinykube.apiserver import proxy_pods as p


def test_accept_is_rfc6455s_example():
    assert p.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert p.valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not p.valid_websocket_key("") and not p.valid_websocket_key("short") and not p.valid_websocket_key("!!")


def test_client_handshake_names_the_agents_protocol():
    headers = p.client_handshake_headers("dGhlIHNhbXBsZSBub25jZQ==", "v5.channel.k8s.io")
    assert headers["Sec-WebSocket-Protocol"] == "v5.channel.k8s.io" and headers["Upgrade"] == "websocket"
    assert "Sec-WebSocket-Protocol" not in p.client_handshake_headers("dGhlIHNhbXBsZSBub25jZQ==", "")


def test_upgrade_request_offers_the_clients_protocols_and_no_extensions():
    raw = p.upgrade_request("127.0.0.1:10250", "/exec/ns/web/app?command=sh", "a2V5",
                            ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    head = raw.decode()
    assert head.startswith("GET /exec/ns/web/app?command=sh HTTP/1.1\r\n") and head.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n" in head
    assert "Sec-WebSocket-Key: a2V5\r\n" in head and "Extensions" not in head


def test_response_head():
    status, reason, headers = p.parse_response_head(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol:  v5.channel.k8s.io ")
    assert (status, reason, headers["sec-websocket-protocol"]) == (101, "Switching Protocols", "v5.channel.k8s.io")
    with pytest.raises(ValueError):
        p.parse_response_head(b"garbage")


@pytest.mark.parametrize("status, body, kind, message", [
    (404, b'{"kind":"Status","message":"container not found (\\"app\\")"}', errors.NotFound,
     'unable to upgrade connection: container not found ("app")'),
    (400, b"plain words", errors.BadRequest, "unable to upgrade connection: plain words"),
    (500, b"", errors.InternalError, "unable to upgrade connection: Internal Server Error"),
])
def test_a_refused_upgrade_is_a_status_with_the_agents_words(status, body, kind, message):
    error = p.upgrade_failure(status, "Internal Server Error", body)
    assert isinstance(error, kind) and error.message == message
