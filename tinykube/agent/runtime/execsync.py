"""Run a command in a running container without a TTY (the CRI's ExecSync).

Probes and lifecycle hooks use it: `runc exec --process process.json ID` with a process
derived from the container's own (its env, cwd, user, capabilities, no_new_privileges,
rlimits, AppArmor and SELinux labels), only the argv replaced and the terminal off. The
result is the exit code with stdout and stderr, each capped at MAX_OUTPUT (CRI caps
ExecSync output at 16 MiB; a probe message only shows the start of it).

On timeout the exec'd process is SIGKILLed through its pid file (`runc exec` forwards
catchable signals only, so killing runc itself would orphan the process inside the
container) and ExecResult.timed_out is set, as containerd reports a timed-out ExecSync.
runc is started as a Child (vfork, exit seen on a pidfd), as interactive exec does.
Interactive exec (stdin, TTY, resize) lives elsewhere: this is the one-shot verb.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .child import Child
from .runc import logrus_message

MAX_OUTPUT = 64 * 1024  # bytes kept per stream

# what a process of the container may keep from its spec; the rest is fresh for the exec
_PROCESS_KEYS = ("user", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges",
                 "apparmorProfile", "selinuxLabel", "oomScoreAdj")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False

    @property
    def output(self) -> str:
        """stdout then stderr, as the kubelet's CombinedOutput gives probe and hook output."""
        return (self.stdout + self.stderr).decode(errors="replace")


class ExecError(Exception):
    """The command could not be run at all (no such container, runc refused)."""


def exec_process(container_process: dict, command: list[str]) -> dict:
    """The OCI process for an exec: the container's own process with a new argv, no TTY."""
    process = {k: container_process[k] for k in _PROCESS_KEYS if k in container_process}
    process.update(args=list(command), terminal=False)
    process.setdefault("cwd", "/")
    return process


def bundle_process(bundle: str | os.PathLike) -> dict:
    with open(Path(bundle) / "config.json", "rb") as f:
        return json.load(f).get("process") or {}


async def exec_sync(runc_binary: str, root: str | os.PathLike, id: str, *, process: dict,
                    timeout: float | None = None, scratch_dir: str | os.PathLike | None = None) -> ExecResult:
    """`runc exec` of `process` (see exec_process) in container `id`; waits for the exit
    or `timeout` seconds (None: no limit)."""
    with tempfile.TemporaryDirectory(prefix="exec-", dir=scratch_dir) as tmp:
        spec_path, pid_path = os.path.join(tmp, "process.json"), os.path.join(tmp, "pid")
        with open(spec_path, "w") as f:
            json.dump(process, f)
        argv = [runc_binary, "--root", str(root), "exec", "--process", spec_path, "--pid-file", pid_path, id]
        proc = await Child.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = _Capture(proc.stdout), _Capture(proc.stderr)
        readers = asyncio.gather(out.run(), err.run())
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(readers), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            _kill_exec(pid_path)
            await _settle(readers, proc)
        except asyncio.CancelledError:
            _kill_exec(pid_path)
            await _settle(readers, proc)
            raise
        code = await proc.wait()
    if code != 0 and not timed_out and not os.path.exists(pid_path) and _runc_failed(err.data):
        raise ExecError(_runc_message(err.data.decode(errors="replace")))
    return ExecResult(exit_code=code if not timed_out else -1, stdout=out.data, stderr=err.data,
                      timed_out=timed_out)


class _Capture:
    """Reads a stream to its end, keeping the first MAX_OUTPUT bytes."""

    def __init__(self, stream: asyncio.StreamReader):
        self.stream, self.data = stream, b""

    async def run(self) -> None:
        while chunk := await self.stream.read(65536):
            if len(self.data) < MAX_OUTPUT:
                self.data += chunk[:MAX_OUTPUT - len(self.data)]


def _kill_exec(pid_path: str) -> None:
    try:
        with open(pid_path) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass  # not started yet, or already gone


async def _settle(readers, proc) -> None:
    """After the kill: runc exits once its child did; never hang on it."""
    try:
        await asyncio.wait_for(asyncio.shield(readers), 5.0)
    except asyncio.TimeoutError:
        proc.kill()
        readers.cancel()


def _runc_failed(stderr: bytes) -> bool:
    """runc's own error (logrus format), as opposed to the command's stderr."""
    text = stderr.decode(errors="replace")
    return "level=error" in text or text.startswith("runc") or "exec failed" in text


def _runc_message(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    return logrus_message(lines[-1]) if lines else "runc exec failed"
