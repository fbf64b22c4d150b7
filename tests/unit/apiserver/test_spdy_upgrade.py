"""The API server passes a SPDY/3.1 upgrade (kubectl < 1.30) on to the agent."""

from __future__ import annotations

from tinykube.apiserver.proxy_pods import spdy_handshake_headers, upgrade_request


def test_the_api_server_passes_the_spdy_upgrade_on_with_the_offered_versions():
    request = upgrade_request("10.0.0.1:10250", "/exec/ns/p/c?command=true", "", ["v4.channel.k8s.io",
                                                                                 "v3.channel.k8s.io"], spdy=True)
    lines = request.decode().split("\r\n")
    assert "Upgrade: SPDY/3.1" in lines and "Connection: Upgrade" in lines
    assert [line for line in lines if line.startswith("X-Stream-Protocol-Version")] == [
        "X-Stream-Protocol-Version: v4.channel.k8s.io", "X-Stream-Protocol-Version: v3.channel.k8s.io"]
    assert not any(line.startswith("Sec-WebSocket") for line in lines)


def test_the_client_gets_the_agents_choice():
    assert spdy_handshake_headers("v4.channel.k8s.io") == {
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
