"""Attach to stdin / tty containers, the pure parts: the monitor's attach-socket frames,
a client's channel messages turned into them, the STDIO mode the runtime derives from a
bundle, and the spec fields behind it."""

from __future__ import annotations

import pytest

from tinykube.agent.runtime import monitor
from tinykube.agent.runtime.runc import stdio_mode
from tinykube.agent.runtime.spec import _annotations
from tinykube.agent.streams import channels
from tinykube.agent.streams.attach import to_monitor


def test_frames_split_at_any_byte_and_keep_the_rest():
    stream = (monitor.encode_frame(monitor.STDOUT, b"hello") + monitor.encode_frame(monitor.STDERR, b"")
              + monitor.encode_frame(monitor.STDIN, b"x" * 70000))
    buffer, frames = bytearray(), []
    for i in range(0, len(stream), 7):  # fed in small pieces
        buffer += stream[i:i + 7]
        frames += monitor.take_frames(buffer)
    assert frames == [(monitor.STDOUT, b"hello"), (monitor.STDERR, b""), (monitor.STDIN, b"x" * 70000)]
    assert buffer == bytearray()
    partial = bytearray(monitor.encode_frame(monitor.STDOUT, b"abc")[:-1])
    assert monitor.take_frames(partial) == [] and len(partial) == 7


@pytest.mark.parametrize("message, frame", [
    (channels.Message(channels.STDIN, b"ls\n"), monitor.encode_frame(monitor.STDIN, b"ls\n")),
    (channels.Message(channels.STDIN, b""), b""),
    (channels.Message(channels.RESIZE, b'{"Width":120,"Height":40}'),
     monitor.encode_frame(monitor.RESIZE, bytes([0, 120, 0, 40]))),
    (channels.Message(channels.RESIZE, b'{"Width":0,"Height":40}'), b""),
    (channels.Message(channels.RESIZE, b"junk"), b""),
    (channels.Message(channels.CLOSE, bytes([channels.STDIN])), monitor.encode_frame(monitor.CLOSE, b"")),
    (channels.Message(channels.CLOSE, bytes([channels.STDOUT])), b""),
    (channels.Message(channels.STDOUT, b"x"), b""),
])
def test_client_messages_become_monitor_frames(message, frame):
    assert to_monitor(message) == frame


@pytest.mark.parametrize("container, config_mode", [
    ({}, ""),
    ({"tty": True}, "tty"),
    ({"stdin": True}, "stdin"),
    ({"stdin": True, "stdinOnce": True}, "stdin,once"),
    ({"stdinOnce": True}, ""),  # stdinOnce means nothing without stdin
    ({"stdin": True, "stdinOnce": True, "tty": True}, "tty,stdin,once"),
])
def test_stdio_mode_from_the_spec(container, config_mode):
    config = {"process": {"terminal": bool(container.get("tty"))},
              "annotations": _annotations({"metadata": {"name": "p"}}, {"name": "c", **container})}
    assert stdio_mode(config) == config_mode


def test_plain_containers_keep_their_annotations():
    assert set(_annotations({"metadata": {}}, {"name": "c"})) == {
        "io.kubernetes.cri.container-type", "io.kubernetes.cri.container-name", "io.kubernetes.cri.sandbox-name",
        "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-uid"}
    assert stdio_mode({}) == ""
