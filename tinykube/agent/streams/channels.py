"""The channel protocol of exec and attach over WebSocket (k8s.io remotecommand).

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
(the final metav1.Status), 4 resize (JSON {"Width": w, "Height": h}); v5.channel.k8s.io
adds 255 close ([255, channel]: the client closed that stream, i.e. stdin reached EOF).
v4.channel.k8s.io is v5 without the close message. (v1-v3 and base64 protocols are not
served: kubectl 1.30+ offers v5 and v4.) The status follows the kubelet: Success, or
Failure with reason NonZeroExitCode and the exit code as the ExitCode cause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # in order of preference


@dataclass(frozen=True)
class Message:
    channel: int
    data: bytes


def encode(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


def decode(message: bytes) -> Message | None:
    """A received message; None for an empty one (nothing to act on)."""
    if not message:
        return None
    return Message(message[0], bytes(message[1:]))


def parse_resize(data: bytes) -> tuple[int, int] | None:
    """(columns, rows) of a resize message; None if it is not a usable size."""
    try:
        size = json.loads(data)
        width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if not (0 < width < 65536 and 0 < height < 65536):
        return None
    return width, height


def success_status() -> dict:
    return {"metadata": {}, "status": "Success"}


def exit_status(command: list[str], exit_code: int) -> dict:
    """The error-channel Status for a finished command (as the kubelet writes it)."""
    if exit_code == 0:
        return success_status()
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def failure_status(message: str, reason: str = "InternalError", code: int = 500) -> dict:
    """The error-channel Status when the command could not run at all."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def status_message(status: dict) -> bytes:
    return encode(ERROR, json.dumps(status).encode())


def choose_protocol(offered: list[str]) -> str | None:
    """The subprotocol to answer with: the best one both sides speak."""
    for protocol in PROTOCOLS:
        if protocol in offered:
            return protocol
    return None
