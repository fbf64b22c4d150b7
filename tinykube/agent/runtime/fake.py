"""Recording fakes of the runtime's side effects, for the agent's unit tests: `FakeRunc`
(the same verbs as Runc, containers in memory; tests make them exit with `finish`) and
`FakeHost` (the sandbox's mounts and namespace pinning, recorded). Every call is appended
to `calls` as a tuple, verb first."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .errors import ContainerNotFound, ContainerNotRunning, StartError
from .model import ContainerStatus, ExitStatus, State
from .monitor import rfc3339_nano

SIGNAL_EXIT = {"SIGKILL": 137, "KILL": 137, "9": 137, "SIGTERM": 143, "TERM": 143, "15": 143}


@dataclass
class _Container:
    id: str
    bundle: str
    log_path: str
    state: State = State.CREATED
    pid: int = 0
    started_ns: int = 0
    exit: ExitStatus | None = None
    ignores: set = field(default_factory=set)  # signals the fake process survives


class FakeRunc:
    def __init__(self):
        self.calls: list[tuple] = []
        self.containers: dict[str, _Container] = {}
        self.fail_create: dict[str, str] = {}  # id -> StartError message
        self.exec_results: dict = {}  # " ".join(command) -> ExecResult or exception
        self._next_pid = 1000

    async def create(self, id: str, bundle, *, log_path) -> int:
        self.calls.append(("create", id, str(bundle), str(log_path)))
        if id in self.containers:
            raise StartError(f"container {id} already exists")
        if id in self.fail_create:
            raise StartError(self.fail_create[id])
        self._next_pid += 1
        self.containers[id] = _Container(id, str(bundle), str(log_path), pid=self._next_pid)
        return self._next_pid

    async def start(self, id: str) -> None:
        self.calls.append(("start", id))
        c = self._get(id)
        c.state, c.started_ns = State.RUNNING, time.time_ns()

    async def state(self, id: str) -> dict:
        c = self._get(id)
        return {"id": id, "pid": c.pid, "status": c.state.value, "bundle": c.bundle}

    async def list(self) -> list[dict]:
        return [await self.state(i) for i in self.containers]

    async def kill(self, id: str, signal="SIGTERM", *, all: bool = False) -> None:
        self.calls.append(("kill", id, str(signal), all))
        c = self._get(id)
        if c.state is not State.RUNNING:
            raise ContainerNotRunning("container not running")
        if str(signal) not in c.ignores:
            self.finish(id, SIGNAL_EXIT.get(str(signal), 137))

    async def delete(self, id: str, *, force: bool = False) -> None:
        self.calls.append(("delete", id, force))

    def finish(self, id: str, exit_code: int, *, oom_killed: bool = False) -> None:
        """Make the container's process end (a test's doing)."""
        c = self._get(id)
        now = time.time_ns()
        reason = "OOMKilled" if oom_killed else ("Completed" if exit_code == 0 else "Error")
        c.state = State.STOPPED
        c.exit = ExitStatus(exit_code, reason, finished_at=rfc3339_nano(now),
                            finished_at_ns=now, oom_killed=oom_killed)

    def exit_status(self, id: str) -> ExitStatus | None:
        c = self.containers.get(id)
        return c.exit if c else None

    async def status(self, id: str) -> ContainerStatus:
        c = self.containers.get(id)
        if c is None:
            return ContainerStatus(id, State.UNKNOWN)
        return ContainerStatus(id=id, state=c.state, pid=c.pid, started_at=_started_at(c),
                               started_at_ns=c.started_ns, exit=c.exit,
                               monitor_alive=c.exit is None)

    def ids(self) -> list[str]:
        return sorted(self.containers)

    async def wait(self, id: str, timeout: float | None = None) -> ExitStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (exit := self.exit_status(id)) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"container {id} still running after {timeout:g} s")
            await asyncio.sleep(0.001)
        return exit

    async def stop(self, id: str, *, grace: float, signal="SIGTERM") -> ExitStatus:
        self.calls.append(("stop", id, grace, str(signal)))
        c = self._get(id)
        if c.exit is None:
            self.finish(id, 137 if str(signal) in c.ignores else SIGNAL_EXIT.get(str(signal), 137))
        return c.exit

    async def remove(self, id: str) -> None:
        self.calls.append(("remove", id))
        self.containers.pop(id, None)

    async def exec_sync(self, id: str, command: list[str], *, timeout: float | None = None):
        """Recorded; the result is exec_results[" ".join(command)] (an ExecResult, or an
        exception to raise), exit code 0 by default."""
        from .execsync import ExecResult

        self.calls.append(("exec_sync", id, tuple(command), timeout))
        if self._get(id).state is not State.RUNNING:
            raise ContainerNotRunning("container not running")
        result = self.exec_results.get(" ".join(command), ExecResult(0))
        if isinstance(result, BaseException):
            raise result
        return result

    def reopen_log(self, id: str) -> None:
        self.calls.append(("reopen_log", id))

    def _get(self, id: str) -> _Container:
        if id not in self.containers:
            raise ContainerNotFound("container does not exist")
        return self.containers[id]


def _started_at(c: _Container) -> str:
    return rfc3339_nano(c.started_ns) if c.started_ns else ""


class FakeHost:
    """Records what a Sandbox would do to the machine."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.mounted: list[str] = []

    async def pin(self, files: dict[str, str], *, hostname: str | None, loopback: bool) -> None:
        self.calls.append(("pin", dict(files), hostname, loopback))
        self.mounted += list(files.values())

    def mount_tmpfs(self, target: str, options: str) -> None:
        self.calls.append(("mount_tmpfs", target, options))
        self.mounted.append(target)

    def unmount(self, target: str) -> None:
        self.calls.append(("unmount", target))
        self.mounted.remove(target)

    def mounts_under(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return sorted((m for m in self.mounted if m.startswith(prefix)),
                      key=lambda p: p.count("/"), reverse=True)
