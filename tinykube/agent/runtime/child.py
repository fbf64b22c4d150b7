"""A child process whose exit the event loop awaits on a pidfd (runc exec, ExecSync).

The agent runs on uvloop, whose own subprocess support spawns with a full fork of the
agent (then waits for the exec: ~9 ms with the agent's heap) and notices the exit late.
subprocess.Popen spawns with vfork + exec (well under 1 ms), and a pidfd on the loop says
at once when the child exited.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

READ_SIZE = 65536  # the StreamReaders' buffer limit


class Child:
    """A child process (subprocess.Popen) whose exit the event loop awaits on a pidfd;
    stdin/stdout/stderr, when pipes, as asyncio streams. What an exec needs of
    asyncio.subprocess.Process: wait(), returncode, send_signal(), kill(), the streams."""

    def __init__(self, popen: subprocess.Popen):
        self.popen, self.pid = popen, popen.pid
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._exited: asyncio.Future | None = None

    @classmethod
    async def start(cls, argv: list[str], *, stdin, stdout, stderr) -> "Child":
        """Start argv in a new session; PIPE streams become asyncio streams."""
        child = cls(subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True))
        loop = asyncio.get_running_loop()
        child._exited = loop.create_future()
        try:
            pidfd = os.pidfd_open(child.pid)
        except OSError:  # no pidfd (Linux < 5.3): a thread waits
            loop.run_in_executor(None, child._wait_blocking)
        else:
            def exited() -> None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
                if not child._exited.done():
                    child._exited.set_result(child.popen.wait())
            loop.add_reader(pidfd, exited)
        if child.popen.stdin is not None:
            transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, child.popen.stdin)
            child.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        child.stdout = await _reader(loop, child.popen.stdout)
        child.stderr = await _reader(loop, child.popen.stderr)
        return child

    def _wait_blocking(self) -> None:
        code = self.popen.wait()
        loop = self._exited.get_loop()
        loop.call_soon_threadsafe(lambda: self._exited.done() or self._exited.set_result(code))

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


async def _reader(loop, pipe) -> asyncio.StreamReader | None:
    if pipe is None:
        return None
    reader = asyncio.StreamReader(limit=READ_SIZE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader
