"""Running commands in the node's host network namespace.

In production the agent lives in the host's root namespace and commands run as they
are. Tests (and nodes simulated inside network namespaces) give a `HostNamespace`
with the path of a netns that plays the host: every plugin and `ip` command then
runs through `nsenter --net=PATH`, so bridges, veth host ends, routes and firewall
rules are created in that namespace and never in the machine's real one.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class HostNamespace:
    """The node's host network namespace: None is the one this process runs in."""

    netns: str | None = None

    def argv(self, argv: list[str]) -> list[str]:
        if not self.netns:
            return list(argv)
        # nsenter execs the program after setns: same PID, so a timeout kill hits it.
        return [_nsenter(), f"--net={self.netns}", "--", *argv]


def _nsenter() -> str:
    return shutil.which("nsenter") or "nsenter"


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run_process(argv: list[str], *, stdin: bytes = b"", env: dict | None = None,
                      timeout: float = 30.0) -> ProcessResult:
    """Run argv to completion. On timeout or cancellation the child (ours, by its
    handle) is killed and reaped before the exception propagates, so no plugin is
    left running unobserved."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(_communicate(proc, stdin), timeout)
    except BaseException:
        await _kill(proc)
        raise
    return ProcessResult(proc.returncode, out, err)


async def _communicate(proc: asyncio.subprocess.Process, stdin: bytes) -> tuple[bytes, bytes]:
    """communicate(), but a child that exits without reading its input is not an error
    here: its exit status and stderr say why. (uvloop raises RuntimeError where asyncio
    swallows the broken pipe, so the write is guarded for both.)"""
    if stdin:
        try:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass
        proc.stdin.close()
    out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
    await proc.wait()
    return out, err


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    await proc.wait()


async def run_checked(host: HostNamespace, argv: list[str], *, stdin: bytes = b"",
                      timeout: float = 10.0) -> bytes:
    """Run a host command (ip, nft) in the host namespace; raise with its stderr."""
    result = await run_process(host.argv(argv), stdin=stdin, timeout=timeout)
    if result.returncode != 0:
        text = result.stderr.decode(errors="replace").strip()
        raise CommandError(argv, result.returncode, text)
    return result.stdout


class CommandError(Exception):
    def __init__(self, argv: list[str], returncode: int, stderr: str):
        self.argv, self.returncode, self.stderr = argv, returncode, stderr
        super().__init__(f"{' '.join(argv)}: exit {returncode}: {stderr}")
