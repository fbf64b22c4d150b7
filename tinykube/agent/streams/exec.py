"""Interactive exec: `runc exec` of a command with the client's streams and exit code.

The command runs with the container's own process settings (execsync.exec_process: env,
cwd, user, capabilities...). Without a TTY, runc hands our pipes straight to the process.
With a TTY, we allocate a pseudo-terminal and give its slave to runc as stdio: a
foreground `runc exec` with `"terminal": true` makes the container's own terminal and
copies between the two, and on SIGWINCH copies our terminal's size to the container's,
so a resize is TIOCSWINSZ on our master plus SIGWINCH to runc. runc's exit code is the
command's. A command runc could not start at all (no pid file written) is a Failure
status with runc's message, as the kubelet reports a failed exec.

runc is started with subprocess.Popen (vfork + exec: well under 1 ms) and its exit is
seen through a pidfd on the event loop (Child), not with the loop's own subprocess
support: the agent runs on uvloop, whose spawn (a full fork, then a wait for the exec)
took ~9 ms and whose exit notice came later still, a third of an exec's server side.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import struct
import subprocess
import tempfile
import termios
from dataclasses import dataclass

from tinykube.agent.runtime import execsync
from tinykube.agent.runtime.child import Child
from tinykube.agent.runtime.runc import logrus_message
from tinykube.agent.streams import channels

READ_SIZE = 65536
DRAIN_SECONDS = 1.0  # after the exit, how long output still in flight is waited for


@dataclass(frozen=True)
class ExecRequest:
    command: list[str]
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


def tty_process(process: dict) -> dict:
    """The exec process with a terminal: TERM set as container runtimes do."""
    env = list(process.get("env") or [])
    if not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    return {**process, "terminal": True, "env": env}


def set_size(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class ExecSession:
    """One exec over a channel WebSocket (`ws`: an aiohttp WebSocketResponse)."""

    def __init__(self, ws, *, runc: str, root: str, container_id: str, bundle: str,
                 request: ExecRequest, scratch_dir: str):
        self.ws, self.runc, self.root, self.id = ws, runc, root, container_id
        self.bundle, self.request, self.scratch_dir = bundle, request, scratch_dir
        self.proc = None
        self.master = -1
        self.send_lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(channels.encode(channel, data))

    async def run(self) -> None:
        process = execsync.exec_process(execsync.bundle_process(self.bundle), self.request.command)
        if self.request.tty:
            process = tty_process(process)
        os.makedirs(self.scratch_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="exec-", dir=self.scratch_dir) as tmp:
            spec, pid_file = os.path.join(tmp, "process.json"), os.path.join(tmp, "pid")
            with open(spec, "w") as f:
                json.dump(process, f)
            argv = [self.runc, "--root", self.root, "--log", os.path.join(tmp, "runc.log"),
                    "exec", "--process", spec, "--pid-file", pid_file, self.id]
            code = await (self._run_tty(argv) if self.request.tty else self._run_pipes(argv))
            status = self._status(code, pid_file, os.path.join(tmp, "runc.log"))
        await self.send(channels.ERROR, json.dumps(status).encode())

    def _status(self, code: int, pid_file: str, runc_log: str) -> dict:
        if code != 0 and not os.path.exists(pid_file):
            message = _runc_error(runc_log) or f"runc exec exited with code {code}"
            return channels.failure_status(
                f"failed to exec in container: failed to start exec in {self.id}: {message}")
        return channels.exit_status(self.request.command, code)

    # --- without a terminal ---------------------------------------------------------------

    async def _run_pipes(self, argv: list[str]) -> int:
        pipe, null = subprocess.PIPE, subprocess.DEVNULL
        r = self.request
        self.proc = await Child.start(argv, stdin=pipe if r.stdin else null, stdout=pipe if r.stdout else null,
                                      stderr=pipe if r.stderr else null)
        pumps = [asyncio.ensure_future(self._pump(stream, channel))
                 for stream, channel in ((self.proc.stdout, channels.STDOUT), (self.proc.stderr, channels.STDERR))
                 if stream is not None]
        receiver = asyncio.ensure_future(self._receive())
        try:
            code = await self.proc.wait()
            await _settle(pumps, DRAIN_SECONDS)
            return code
        finally:
            receiver.cancel()
            await self._kill()

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(READ_SIZE):
            await self.send(channel, chunk)

    async def _receive(self) -> None:
        """The client's messages: stdin, stdin closed (v5), resize."""
        async for message in self.ws:
            if message.type.name != "BINARY":
                continue
            decoded = channels.decode(message.data)
            if decoded is not None:
                await self._on_message(decoded)
        await self._close_stdin()  # the client went away: no more input

    async def _on_message(self, m: channels.Message) -> None:
        if m.channel == channels.STDIN and self.request.stdin:
            await self._write_stdin(m.data)
        elif m.channel == channels.CLOSE and m.data[:1] == bytes((channels.STDIN,)):
            await self._close_stdin()
        elif m.channel == channels.RESIZE and self.master >= 0:
            size = channels.parse_resize(m.data)
            if size:
                set_size(self.master, *size)
                if self.proc and self.proc.returncode is None:
                    self.proc.send_signal(signal.SIGWINCH)  # runc copies the size inside

    async def _write_stdin(self, data: bytes) -> None:
        if self.master >= 0:
            await _write_fd(self.master, data)
        elif self.proc and self.proc.stdin and not self.proc.stdin.is_closing():
            self.proc.stdin.write(data)
            try:
                await self.proc.stdin.drain()
            except (ConnectionResetError, BrokenPipeError):
                pass

    async def _close_stdin(self) -> None:
        if self.proc and self.proc.stdin and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def _kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    # --- with a terminal ------------------------------------------------------------------

    async def _run_tty(self, argv: list[str]) -> int:
        self.master, slave = os.openpty()
        set_size(self.master, 80, 24)
        os.set_blocking(self.master, False)
        try:
            self.proc = await Child.start(argv, stdin=slave, stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        reader = asyncio.ensure_future(self._pump_master())
        receiver = asyncio.ensure_future(self._receive())
        try:
            code = await self.proc.wait()
            await _settle([reader], DRAIN_SECONDS)
            return code
        finally:
            receiver.cancel()
            await self._kill()
            os.close(self.master)

    async def _pump_master(self) -> None:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self.master, ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                try:
                    data = os.read(self.master, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: every slave end is closed
                    return
                if not data:
                    return
                await self.send(channels.STDOUT, data)
        finally:
            loop.remove_reader(self.master)


async def _write_fd(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        except OSError:
            return
        data = data[written:]


async def _settle(tasks: list, timeout: float) -> None:
    """Let output readers finish (a background child may hold the pipe open: stop then)."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _runc_error(path: str) -> str:
    """The last error runc logged (--log-format text: logrus `msg="..."`)."""
    try:
        with open(path, errors="replace") as f:
            lines = [line for line in f.read().splitlines() if "level=error" in line or "level=fatal" in line]
    except OSError:
        return ""
    return logrus_message(lines[-1]) if lines else ""
