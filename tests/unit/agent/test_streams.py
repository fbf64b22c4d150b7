"""Pure parts of the agent's streaming: channel framing and statuses, SPDY framing, CRI
log parsing with tail/since/limit, metrics math, and a port-forward session over fakes."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest

from tinykube.agent.streams import channels, logs, metrics, spdy
from tinykube.agent.streams.portforward import PortForwardSession

# --- channels --------------------------------------------------------------------------------


@pytest.mark.parametrize("message, expected", [
    (b"\x00hello", channels.Message(0, b"hello")),
    (b"\x04{}", channels.Message(4, b"{}")),
    (b"\xff\x00", channels.Message(255, b"\x00")),
    (b"\x01", channels.Message(1, b"")),
    (b"", None),
])
def test_decode(message, expected):
    assert channels.decode(message) == expected


def test_encode_prefixes_the_channel():
    assert channels.encode(channels.STDERR, b"x") == b"\x02x"


@pytest.mark.parametrize("data, size", [
    (b'{"Width":120,"Height":40}', (120, 40)),
    (b'{"Width":0,"Height":40}', None),
    (b"not json", None),
    (b"[1,2]", None),
    (b'{"Width":"a"}', None),
])
def test_parse_resize(data, size):
    assert channels.parse_resize(data) == size


def test_exit_status_as_the_kubelet_writes_it():
    assert channels.exit_status(["true"], 0) == {"metadata": {}, "status": "Success"}
    status = channels.exit_status(["sh", "-c", "exit 3"], 3)
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"] == ("command terminated with non-zero exit code: error executing command "
                                 "[sh -c exit 3], exit code 3")
    assert json.loads(channels.status_message(status)[1:]) == status


@pytest.mark.parametrize("offered, chosen", [
    (["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"], "v5.channel.k8s.io"),
    (["v4.channel.k8s.io", "v2.channel.k8s.io"], "v4.channel.k8s.io"),
    (["channel.k8s.io"], None),
])
def test_choose_protocol(offered, chosen):
    assert channels.choose_protocol(offered) == chosen


# --- SPDY ------------------------------------------------------------------------------------


def test_dictionary_is_the_spdy3_one():
    assert len(spdy.DICTIONARY) == 1423 and spdy.DICTIONARY.endswith(b"enq=0.")


def test_header_blocks_round_trip_over_one_shared_zlib_stream():
    writer, reader = spdy.FrameWriter(), spdy.FrameReader()
    headers = [{"streamtype": "error", "port": "80", "requestid": "0"},
               {"streamtype": "data", "port": "80", "requestid": "0"}]
    wire = b"".join(writer.syn_stream(1 + 2 * i, h) for i, h in enumerate(headers))
    frames = []
    for i in range(0, len(wire), 7):  # arbitrary splits, as WebSocket messages split them
        frames += reader.feed(wire[i:i + 7])
    assert [(f.kind, f.stream_id, f.headers) for f in frames] == [
        (spdy.SYN_STREAM, 1, headers[0]), (spdy.SYN_STREAM, 3, headers[1])]


def test_data_ping_rst_goaway_frames():
    writer, reader = spdy.FrameWriter(), spdy.FrameReader()
    frames = reader.feed(writer.data(3, b"abc", fin=True) + writer.ping(7) + writer.rst_stream(5, spdy.RST_CANCEL)
                         + writer.goaway(9) + writer.data(1, b""))
    assert [(f.kind, f.stream_id, f.data, f.fin) for f in frames[:1]] == [("data", 3, b"abc", True)]
    assert frames[1].kind == spdy.PING and frames[1].ping_id == 7
    assert frames[2].kind == spdy.RST_STREAM and frames[2].stream_id == 5 and frames[2].status == spdy.RST_CANCEL
    assert frames[3].kind == spdy.GOAWAY and frames[3].stream_id == 9
    assert frames[4].kind == "data" and frames[4].data == b"" and not frames[4].fin


def test_control_frame_header_layout():
    frame = spdy.FrameWriter().ping(1)
    assert struct.unpack(">HHI", frame[:8]) == (0x8003, spdy.PING, 4)


def test_wrong_version_is_a_protocol_error():
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")


# --- logs ------------------------------------------------------------------------------------

LINES = (b"2026-11-24T10:00:00.5Z stdout F one\n"
         b"2026-11-24T10:00:01Z stderr F two\n"
         b"2026-11-24T10:00:02.000000001Z stdout P thr\n"
         b"2026-11-24T10:00:02.1Z stdout F ee\n"
         b"garbage line\n"
         b"2026-11-24T10:00:03Z stdout F \n"
         b"2026-11-24T10:00:04Z stdout F incompl")


def _records():
    records, rest = logs.parse_lines(LINES)
    return records, rest


def test_parse_lines_keeps_the_incomplete_rest_and_skips_garbage():
    records, rest = _records()
    assert [r.content for r in records] == [b"one", b"two", b"thr", b"ee", b""]
    assert [r.stream for r in records] == ["stdout", "stderr", "stdout", "stdout", "stdout"]
    assert records[2].partial and not records[3].partial
    assert rest == b"2026-11-24T10:00:04Z stdout F incompl"


@pytest.mark.parametrize("text, ns", [
    ("2026-11-24T10:00:00Z", 1795514400 * 10**9),
    ("2026-11-24T10:00:00.5Z", 1795514400 * 10**9 + 500_000_000),
    ("2026-11-24T11:00:00+01:00", 1795514400 * 10**9),
    ("2026-11-24T10:00:00.000000001Z", 1795514400 * 10**9 + 1),
])
def test_parse_time(text, ns):
    assert logs.parse_time(text) == ns


def test_render_joins_partial_lines_and_adds_timestamps():
    records, _ = _records()
    assert b"".join(logs.render(r, False) for r in records) == b"one\ntwo\nthree\n\n"
    assert logs.render(records[0], True) == b"2026-11-24T10:00:00.5Z one\n"


@pytest.mark.parametrize("options, contents", [
    (logs.LogOptions(), [b"one", b"two", b"thr", b"ee", b""]),
    (logs.LogOptions(tail_lines=2), [b"ee", b""]),
    (logs.LogOptions(tail_lines=0), []),
    (logs.LogOptions(since_ns=logs.parse_time("2026-11-24T10:00:01Z")), [b"two", b"thr", b"ee", b""]),
    (logs.LogOptions(since_ns=logs.parse_time("2026-11-24T10:00:01Z"), tail_lines=1), [b""]),
])
def test_select(options, contents):
    records, _ = _records()
    assert [r.content for r in logs.select(records, options)] == contents


def test_limiter_cuts_across_writes():
    limiter = logs.Limiter(5)
    assert limiter.take(b"abc") == b"abc" and limiter.take(b"defg") == b"de" and limiter.exhausted
    assert logs.Limiter(None).take(b"x" * 10) == b"x" * 10


def test_follow_file_reads_then_stops_when_the_container_ended(tmp_path):
    path = tmp_path / "0.log"
    path.write_bytes(LINES + b"\n")
    out = []

    async def write(data):
        out.append(data)

    asyncio.run(logs.follow_file(str(path), logs.LogOptions(tail_lines=3), follow=True, running=lambda: False,
                                 write=write))
    assert b"".join(out) == b"ee\n\nincompl\n"


def test_follow_file_sees_appends_and_rotation(tmp_path):
    path = tmp_path / "0.log"
    path.write_bytes(b"2026-11-24T10:00:00Z stdout F a\n")
    out, state = [], {"running": True}

    async def write(data):
        out.append(data)

    async def scenario():
        task = asyncio.ensure_future(logs.follow_file(str(path), logs.LogOptions(), follow=True,
                                                      running=lambda: state["running"], write=write))
        await asyncio.sleep(0.05)
        with open(path, "ab") as f:
            f.write(b"2026-11-24T10:00:01Z stdout F b\n")
        await asyncio.sleep(0.05)
        path.rename(tmp_path / "0.log.20261124-100002")  # what logrotate.py does
        path.write_bytes(b"2026-11-24T10:00:02Z stdout F c\n")
        await asyncio.sleep(0.05)
        state["running"] = False
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert b"".join(out) == b"a\nb\nc\n"


# --- metrics ---------------------------------------------------------------------------------


def test_rate_is_cpu_per_second_in_nanocores():
    point = metrics.rate(metrics.Sample(100.0, 1_000_000_000, 10), metrics.Sample(110.0, 6_000_000_000, 2048))
    assert point == metrics.Point(timestamp=110.0, window=10.0, nanocores=500_000_000, memory_bytes=2048)
    assert metrics.rate(metrics.Sample(100.0, 5, 0), metrics.Sample(100.0, 6, 0)) is None
    assert metrics.rate(metrics.Sample(100.0, 9, 0), metrics.Sample(105.0, 6, 0)) is None  # a new cgroup


def test_pick_base_prefers_the_oldest_sample_in_the_window():
    samples = [metrics.Sample(t, 0, 0) for t in (80.0, 90.0, 99.5)]
    assert metrics.pick_base(samples, 100.0).time == 90.0
    assert metrics.pick_base(samples[2:], 100.0) is None


@pytest.mark.parametrize("nanocores, text", [(250_000_000, "250000000n"), (0, "0n")])
def test_cpu_quantity(nanocores, text):
    assert metrics.cpu_quantity(nanocores) == text


def test_memory_and_window_formats():
    assert metrics.memory_quantity(10 * 1024 * 1024 + 5) == "10240Ki"
    assert metrics.window_string(10.5) == "10.5s" and metrics.window_string(15.0) == "15s"


def test_node_usage_from_proc():
    stat = "cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 1 2 3 4\n"
    meminfo = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n"
    cpu_ns, working_set = metrics.node_usage_from_proc(stat, meminfo, hz=100)
    assert cpu_ns == 160 * 10_000_000  # user+system+softirq jiffies, idle and iowait left out
    assert working_set == 600 * 1024


def test_sampler_rates_against_an_older_sample():
    clock = {"now": 100.0}
    usage = {"/a": (0, 100)}
    sampler = metrics.Sampler(lambda key: usage.get(key), clock=lambda: clock["now"])
    sampler.sample(["/a"])
    clock["now"], usage["/a"] = 102.0, (1_000_000_000, 200)
    points = sampler.points(["/a", "/gone"])
    assert points["/a"].nanocores == 500_000_000 and points["/a"].window == 2.0
    assert "/gone" not in points


# --- port-forward session ----------------------------------------------------------------------


class FakePodConnection:
    """What the pod's port answers: an echo of everything, upper-cased, then EOF."""

    def __init__(self):
        self.sink, self.closed, self.reading_paused = None, False, False
        self.ended = asyncio.Event()
        self.early: list[bytes] = []

    async def deliver(self, sink):
        self.sink = sink
        for chunk in self.early:
            sink(memoryview(chunk))
        await self.ended.wait()

    def write(self, data):
        chunk = bytes(data).upper()
        if self.sink is None:
            self.early.append(chunk)
        else:
            self.sink(memoryview(chunk))

    async def drain(self):
        pass

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.ended.set()

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False

    def close(self):
        self.closed = True


def fake_tunnel(sent: list, client_reader):
    """write/writing_paused/drain of a session whose messages the test decodes."""
    def write(parts):
        sent.extend(client_reader.feed(b"".join(bytes(p) for p in parts)))

    async def drain():
        pass

    return {"write": write, "writing_paused": lambda: False, "drain": drain}


def test_port_forward_session_pairs_streams_and_copies_both_ways():
    async def scenario():
        sent, client_writer, client_reader = [], spdy.FrameWriter(), spdy.FrameReader()
        connection = FakePodConnection()
        ports = []

        async def connect(port):
            ports.append(port)
            return connection

        session = PortForwardSession(**fake_tunnel(sent, client_reader), connect=connect, pod_name="web",
                                     pod_uid="u1")
        await session.feed(client_writer.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"}))
        await session.feed(client_writer.syn_stream(3, {"streamtype": "data", "port": "80", "requestid": "0"})
                           + client_writer.data(3, b"hello", fin=True) + client_writer.ping(1))
        for _ in range(50):
            if any(f.kind == "data" and f.stream_id == 1 and f.fin for f in sent):
                break
            await asyncio.sleep(0.01)
        await session.close()
        return sent, ports, connection

    sent, ports, connection = asyncio.run(scenario())
    assert ports == [80]
    assert [(f.kind, f.stream_id) for f in sent[:2]] == [(spdy.SYN_REPLY, 1), (spdy.SYN_REPLY, 3)]
    assert any(f.kind == spdy.PING and f.ping_id == 1 for f in sent)
    data = b"".join(f.data for f in sent if f.kind == "data" and f.stream_id == 3)
    assert data == b"HELLO"
    assert any(f.kind == "data" and f.stream_id == 3 and f.fin for f in sent)
    assert not any(f.kind == "data" and f.stream_id == 1 and f.data for f in sent)  # no error
    assert connection.closed


def test_port_forward_pauses_the_pod_while_the_tunnel_is_full():
    async def scenario():
        sent, client_reader, full = [], spdy.FrameReader(), asyncio.Event()
        tunnel = fake_tunnel(sent, client_reader)

        async def drain():
            await full.wait()

        session = PortForwardSession(write=tunnel["write"], writing_paused=lambda: not full.is_set(), drain=drain,
                                     connect=None, pod_name="web", pod_uid="u1")
        conn = FakePodConnection()
        session.pod_data(3, memoryview(b"abc"), conn)
        paused = conn.reading_paused
        full.set()
        for _ in range(50):
            if not conn.reading_paused:
                break
            await asyncio.sleep(0.01)
        return sent, paused, conn.reading_paused

    sent, paused, still_paused = asyncio.run(scenario())
    assert [(f.stream_id, f.data) for f in sent] == [(3, b"abc")]
    assert paused and not still_paused


def test_port_forward_closes_the_pod_connection_when_the_tunnel_is_gone():
    def write(parts):
        raise ConnectionResetError("the API server closed the connection")

    async def drain():
        pass

    session = PortForwardSession(write=write, writing_paused=lambda: False, drain=drain, connect=None,
                                 pod_name="web", pod_uid="u1")
    conn = FakePodConnection()
    session.pod_data(3, memoryview(b"abc"), conn)
    assert conn.closed


def test_port_forward_failure_is_written_on_the_error_stream():
    async def scenario():
        sent, client_writer, client_reader = [], spdy.FrameWriter(), spdy.FrameReader()

        async def connect(port):
            raise ConnectionRefusedError(111, "Connection refused")

        session = PortForwardSession(**fake_tunnel(sent, client_reader), connect=connect, pod_name="web",
                                     pod_uid="u1")
        await session.feed(client_writer.syn_stream(1, {"streamtype": "error", "port": "81", "requestid": "4"})
                           + client_writer.syn_stream(3, {"streamtype": "data", "port": "81", "requestid": "4"}))
        for _ in range(50):
            if any(f.kind == "data" and f.stream_id == 1 and f.fin for f in sent):
                break
            await asyncio.sleep(0.01)
        return sent

    sent = asyncio.run(scenario())
    message = b"".join(f.data for f in sent if f.kind == "data" and f.stream_id == 1).decode()
    assert message.startswith("error forwarding port 81 to pod web, uid u1: ") and "Connection refused" in message
