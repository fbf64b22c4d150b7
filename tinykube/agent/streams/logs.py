"""Container logs in the CRI format, read as the kubelet reads them for `kubectl logs`.

A line on disk: `<RFC3339Nano time> <stdout|stderr> <F|P> <content>`; F ends a line,
P is a piece of a longer one (or a last line without newline). The pure part turns
records into the bytes a user sees (with timestamps, tailLines, since, limitBytes); the
shell (`follow_file`) reads the current `<attempt>.log`, waits for more while the
container runs, and reopens the file when log rotation renamed it (logrotate.py).
"""

from __future__ import annotations

import asyncio
import datetime
import os
from dataclasses import dataclass

POLL_SECONDS = 0.02  # while following, how often an idle file is looked at again


@dataclass(frozen=True)
class Record:
    timestamp: str        # as written (RFC3339Nano)
    time_ns: int          # the same, Unix ns
    stream: str           # stdout | stderr
    partial: bool
    content: bytes


@dataclass(frozen=True)
class LogOptions:
    timestamps: bool = False
    tail_lines: int | None = None   # None: all
    since_ns: int = 0               # 0: from the start
    limit_bytes: int | None = None


def parse_time(text: str) -> int:
    """RFC3339(Nano) -> Unix ns; ValueError if it is not one."""
    body = text[:-1] if text.endswith("Z") else text
    offset = datetime.timedelta(0)
    if not text.endswith("Z"):
        sign_at = max(body.rfind("+"), body.rfind("-"))
        if sign_at > 10:
            sign = 1 if body[sign_at] == "+" else -1
            hours, _, minutes = body[sign_at + 1:].partition(":")
            offset = sign * datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
            body = body[:sign_at]
    main, _, fraction = body.partition(".")
    base = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return int((base - offset).timestamp()) * 1_000_000_000 + nanos


def parse_line(line: bytes) -> Record | None:
    """One CRI log line (without its newline); None if it is malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    try:
        stamp = parts[0].decode()
        time_ns = parse_time(stamp)
    except (ValueError, UnicodeDecodeError):
        return None
    content = parts[3] if len(parts) == 4 else b""
    return Record(stamp, time_ns, parts[1].decode(), parts[2] == b"P", content)


def render(record: Record, timestamps: bool) -> bytes:
    """What `kubectl logs` prints for a record: the content, a newline unless partial."""
    out = record.content if record.partial else record.content + b"\n"
    return record.timestamp.encode() + b" " + out if timestamps else out


def select(records: list[Record], options: LogOptions) -> list[Record]:
    """since first, then the last tailLines of what is left (the kubelet's order)."""
    kept = [r for r in records if r.time_ns >= options.since_ns] if options.since_ns else records
    if options.tail_lines is not None:
        kept = kept[-options.tail_lines:] if options.tail_lines > 0 else []
    return kept


class Limiter:
    """limitBytes: cut the output after that many bytes."""

    def __init__(self, limit: int | None):
        self.left = limit

    def take(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[:self.left]
        self.left -= len(data)
        return data

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


def parse_lines(data: bytes) -> tuple[list[Record], bytes]:
    """Records from complete lines of `data`, and the incomplete rest."""
    *lines, rest = data.split(b"\n")
    return [r for r in map(parse_line, lines) if r is not None], rest


async def follow_file(path: str, options: LogOptions, *, follow: bool, running, write) -> None:
    """Write the log at `path` through `write(bytes)` (a coroutine). With `follow`, keep
    writing new lines while `running()` is true, across rotations."""
    limiter = Limiter(options.limit_bytes)
    f = open(path, "rb")  # noqa: SIM115 - replaced on rotation, closed below
    try:
        records, rest = parse_lines(f.read())
        await _emit(select(records, options), options, limiter, write)
        while follow and not limiter.exhausted:
            alive = running()  # asked before reading: a line written before the exit is seen
            chunk = f.read()
            if chunk:
                records, rest = parse_lines(rest + chunk)
                await _emit([r for r in records if r.time_ns >= options.since_ns], options, limiter, write)
            elif rotated(path, f):
                f.close()
                f, rest = open(path, "rb"), b""  # noqa: SIM115
            elif not alive:
                return
            else:
                await asyncio.sleep(POLL_SECONDS)
    finally:
        f.close()


async def _emit(records: list[Record], options: LogOptions, limiter: Limiter, write) -> None:
    data = b"".join(render(r, options.timestamps) for r in records)
    data = limiter.take(data)
    if data:
        await write(data)


def rotated(path: str, f) -> bool:
    """The file at `path` is no longer the one we read (rotation renamed it)."""
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False
