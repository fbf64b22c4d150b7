"""runc, driven through asyncio subprocesses, with one monitor per container.

`Runc` keeps no state in memory: everything is on disk, in runc's state root (`--root`,
private to this agent so it never sees other runc users' containers) and in one monitor
directory per container (see monitor.py). A new `Runc` over the same directory, in a
restarted agent, sees exactly what the old one saw: that is how containers are re-adopted.

Verbs (the CRI's, in runc's words):
  create  starts the container's monitor, which runs `runc create` and stays the
          container's parent: the process exists, stopped before exec, until `start`.
  start   `runc start`: the process execs; the start time is recorded.
  state / list / status   runc's view, merged with the monitor's exit record.
  kill    a signal to the init (or, with all=True, every process of the container).
  stop    signal, wait the grace period, SIGKILL (the kubelet's killContainer).
  wait    until the monitor recorded the exit.
  delete  `runc delete` (idempotent); remove = delete and forget the monitor directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import signal as signals
import sys
import time
from pathlib import Path

from . import monitor as monitor_module
from .child import Child
from .errors import ContainerNotFound, ContainerNotRunning, RuncError, StartError
from .model import ContainerStatus, ExitStatus, State

# The monitor runs as `python -I -S -c STUB ...`: importing it (rather than running the
# file as a script) lets Python reuse its cached bytecode, 20 ms instead of 33 ms to start.
# The directory is appended, so nothing there can shadow the standard library.
_MONITOR_DIR = os.path.dirname(os.path.abspath(monitor_module.__file__))
MONITOR_STUB = (f"import sys; sys.path.append({_MONITOR_DIR!r}); import monitor; "
                "sys.exit(monitor.main(sys.argv[1:]))")
POLL_SECONDS = 0.02          # how often wait() looks for the exit record
UNKNOWN_EXIT_CODE = 255      # containerd's code for an exit nobody saw


STDIN_ANNOTATION, STDIN_ONCE_ANNOTATION = "tinykube.io/stdin", "tinykube.io/stdin-once"


def stdio_mode(config: dict) -> str:
    """The monitor's STDIO argument for a bundle's config.json: "" for a plain container,
    else "tty", "stdin", "once" joined by commas (spec.py writes the stdin annotations)."""
    annotations = config.get("annotations") or {}
    words = [word for word, on in (("tty", (config.get("process") or {}).get("terminal")),
                                   ("stdin", annotations.get(STDIN_ANNOTATION) == "true"),
                                   ("once", annotations.get(STDIN_ONCE_ANNOTATION) == "true")) if on]
    return ",".join(words)


def _read_config(bundle) -> dict:
    try:
        with open(Path(bundle) / "config.json", "rb") as f:
            return json.load(f)
    except FileNotFoundError:  # runc itself will say so
        return {}


class Runc:
    def __init__(self, state_dir: str | os.PathLike, *, binary: str = "runc",
                 python: str = sys.executable, cgroups=None, create_timeout: float = 60.0):
        """`state_dir` holds runc/ (runc's --root) and monitors/<id>/. `cgroups` (a
        cgroups.Cgroups) lets the monitor find the memory cgroup it reads OOM kills from."""
        self.state_dir = Path(state_dir).absolute()  # the monitor runs in /
        self.root = self.state_dir / "runc"
        self.monitors = self.state_dir / "monitors"
        self.binary = shutil.which(binary) or binary
        self.python = python
        self.cgroups = cgroups
        self.create_timeout = create_timeout
        # id -> the process of its config.json, for execs (probes run one every period: a
        # `runc state` to find the bundle each time doubled their cost)
        self._processes: dict[str, dict] = {}

    def monitor_dir(self, id: str) -> Path:
        return self.monitors / id

    # --- create / start ----------------------------------------------------------------

    async def create(self, id: str, bundle: str | os.PathLike, *, log_path: str | os.PathLike) -> int:
        """Create the container (stdout/stderr to `log_path` in the CRI format); the pid
        of its init. StartError with runc's message when runc refused."""
        directory = self._new_monitor_dir(id)
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-I", "-S", "-c", MONITOR_STUB, self.binary, str(self.root), id,
                os.path.abspath(bundle), str(directory), os.path.abspath(log_path),
                self._memory_dir(bundle)]
        if stdio := stdio_mode(_read_config(bundle)):  # only stdin / tty containers get one
            argv.append(stdio)
        try:
            line = await asyncio.wait_for(self._spawn_monitor(argv, directory), self.create_timeout)
        except TimeoutError:
            raise StartError(f"runc create of {id} did not finish in {self.create_timeout:g} s") from None
        return self._created(id, line)

    def _new_monitor_dir(self, id: str) -> Path:
        directory = self.monitor_dir(id)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            raise StartError(f"container {id} already exists") from None
        return directory

    @staticmethod
    async def _spawn_monitor(argv: list[str], directory: Path) -> str:
        """Start the monitor in its own session; the one line it reports. Its stdout is a
        pipe of ours, not an asyncio subprocess pipe: event loops differ in what they
        leak into children (uvloop's socketpairs), and the monitor lives on. Its first
        process exits at once (the monitor forks), so it is reaped here."""
        read_end, write_end = os.pipe()
        try:
            with open(directory / "monitor.log", "ab") as stderr:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=write_end, stderr=stderr,
                    start_new_session=True)
        finally:
            os.close(write_end)
        try:
            return await _read_line(read_end)
        finally:
            await proc.wait()

    def _created(self, id: str, line: str) -> int:
        verb, _, rest = line.partition(" ")
        if verb == "created":
            return int(rest)
        if verb == "error":
            raise StartError(rest)
        log = _tail(self.monitor_dir(id) / "monitor.log")
        raise StartError(f"container monitor for {id} failed: {log or 'no output'}")

    def _memory_dir(self, bundle) -> str:
        if self.cgroups is None:
            return ""
        path = (_read_config(bundle).get("linux") or {}).get("cgroupsPath", "")
        return (self.cgroups.memory_dir(path) or "") if path else ""

    def attach_socket(self, id: str) -> Path:
        """The monitor's attach socket (only stdin / tty containers have one)."""
        return self.monitor_dir(id) / "attach.sock"

    async def start(self, id: str) -> None:
        await self._run("start", id)
        _write_atomic(self.monitor_dir(id) / "started", f"{time.time_ns()}\n")

    # --- runc's view ---------------------------------------------------------------------

    async def state(self, id: str) -> dict:
        """runc's state document; ContainerNotFound when runc does not know the id."""
        return json.loads(await self._run("state", id))

    async def list(self) -> list[dict]:
        """`runc list --format json` of this agent's root (runc prints null for none)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return json.loads(await self._run("list", "--format", "json")) or []

    async def kill(self, id: str, signal: str | int = "SIGTERM", *, all: bool = False) -> None:
        args = ["kill", *(["--all"] if all else []), id, _signal_name(signal)]
        await self._run(*args)

    async def delete(self, id: str, *, force: bool = False) -> None:
        """`runc delete`; a container runc does not know is already deleted."""
        try:
            await self._run("delete", *(["--force"] if force else []), id)
        except ContainerNotFound:
            pass

    # --- the merged view -------------------------------------------------------------------

    def exit_status(self, id: str) -> ExitStatus | None:
        """The monitor's exit record; once it exists the container is entirely gone."""
        try:
            with open(self.monitor_dir(id) / "exit.json", "rb") as f:
                return ExitStatus.from_record(json.load(f))
        except FileNotFoundError:
            return None

    def started_ns(self, id: str) -> int:
        """When the container's process started (Unix ns), 0 if it never did."""
        return _read_int(self.monitor_dir(id) / "started") or 0

    def monitor_alive(self, id: str) -> bool:
        pid = _read_int(self.monitor_dir(id) / "monitor.pid")
        return bool(pid) and _is_monitor(pid, id)

    async def status(self, id: str) -> ContainerStatus:
        """runc's state merged with the monitor's records. A container whose process is
        gone while its monitor is dead and left no record gets exit code 255, Unknown."""
        try:
            state = await self.state(id)
        except ContainerNotFound:
            state = {}
        alive = self.monitor_alive(id)
        exit = self.exit_status(id)  # read after `alive`: a monitor writes it, then exits
        started_ns = self.started_ns(id)
        if exit is None and not alive and state.get("status") in (None, "stopped"):
            started = (self.monitor_dir(id) / "monitor.pid").exists()  # not mid-create
            exit = _lost_exit(id) if started or state else None
        return _merge(id, state, exit, started_ns, alive)

    def ids(self) -> list[str]:
        """Every container this runtime has a monitor directory for (running or exited)."""
        if not self.monitors.is_dir():
            return []
        return sorted(p.name for p in self.monitors.iterdir() if p.is_dir())

    # --- waiting and stopping ------------------------------------------------------------

    async def wait(self, id: str, timeout: float | None = None) -> ExitStatus:
        """The exit, once the monitor recorded it (TimeoutError past `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            exit = self.exit_status(id)
            if exit is not None:
                return exit
            if not self.monitor_alive(id):  # nobody will record the exit: ask runc
                status = await self.status(id)
                if status.exit is not None:
                    return status.exit
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"container {id} still running after {timeout:g} s")
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self, id: str, *, grace: float, signal: str | int = "SIGTERM") -> ExitStatus:
        """The kubelet's killContainer: `signal` (the image's STOPSIGNAL or SIGTERM) to the
        init, up to `grace` seconds to exit, then SIGKILL to every process."""
        if await self._signal(id, signal):
            try:
                return await self.wait(id, grace)
            except TimeoutError:
                pass
        await self._signal(id, "SIGKILL", all=True)
        return await self.wait(id, 10.0)

    async def _signal(self, id: str, signal, *, all: bool = False) -> bool:
        try:
            await self.kill(id, signal, all=all)
            return True
        except (ContainerNotRunning, ContainerNotFound):
            return False

    async def remove(self, id: str) -> None:
        """Delete the container (killing what is left) and forget it."""
        await self.delete(id, force=True)
        self._processes.pop(id, None)
        if self.monitor_alive(id):
            await self.wait(id, 10.0)
        shutil.rmtree(self.monitor_dir(id), ignore_errors=True)

    async def exec_sync(self, id: str, command: list[str], *, timeout: float | None = None):
        """`command` in the running container, without a TTY (execsync.py): an ExecResult;
        ExecError when it could not be run at all."""
        from . import execsync

        container_process = self._processes.get(id)
        if container_process is None:  # created by an agent before this one: ask runc
            bundle = (await self.state(id)).get("bundle", "")
            container_process = self._processes[id] = execsync.bundle_process(bundle)
        process = execsync.exec_process(container_process, command)
        return await execsync.exec_sync(self.binary, self.root, id, process=process, timeout=timeout,
                                        scratch_dir=self.monitor_dir(id))

    def reopen_log(self, id: str) -> None:
        """After the agent rotated the log file (CRI ReopenContainerLog)."""
        pid = _read_int(self.monitor_dir(id) / "monitor.pid")
        if pid and _is_monitor(pid, id):
            os.kill(pid, signals.SIGHUP)

    # --- the runc command ------------------------------------------------------------------

    async def _run(self, *args: str) -> str:
        argv = (self.binary, "--root", str(self.root), *args)
        # a Child: vfork, exit seen on a pidfd (uvloop's fork of the agent cost ~9 ms a call)
        proc = await Child.start(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
        if await proc.wait() != 0:
            raise _error(argv, err.decode(errors="replace"))
        return out.decode()


async def _read_line(fd: int) -> str:
    """One line from a pipe (up to EOF), without blocking the loop; closes the pipe."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", buffering=0))
    try:
        return (await reader.readline()).decode(errors="replace").strip()
    finally:
        transport.close()


def _error(argv: tuple, stderr: str) -> RuncError:
    message = _runc_message(stderr) or f"{' '.join(argv[3:])} failed"
    kind = RuncError
    if "does not exist" in message:
        kind = ContainerNotFound
    elif "not running" in message:
        kind = ContainerNotRunning
    return kind(message, command=argv, stderr=stderr)


def _runc_message(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    return logrus_message(lines[-1]) if lines else ""


def logrus_message(line: str) -> str:
    """runc's logrus line `time=... level=error msg="container does not exist"` -> the msg
    (a line of another shape is returned as it is)."""
    if 'msg="' in line:
        return line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return line


def _merge(id: str, state: dict, exit: ExitStatus | None, started_ns: int, alive: bool) -> ContainerStatus:
    kind = State.STOPPED if exit is not None else _state(state.get("status"))
    return ContainerStatus(
        id=id, state=kind, pid=int(state.get("pid") or 0), created_at=state.get("created", ""),
        started_at=_rfc3339(started_ns) if started_ns else "", started_at_ns=started_ns,
        exit=exit, monitor_alive=alive, annotations=state.get("annotations") or {})


def _state(status: str | None) -> State:
    try:
        return State(status)
    except ValueError:
        return State.UNKNOWN


def _lost_exit(id: str) -> ExitStatus:
    now = time.time_ns()
    return ExitStatus(exit_code=UNKNOWN_EXIT_CODE, reason="Unknown",
                      message=f"the exit status of container {id} was lost (its monitor died)",
                      finished_at=_rfc3339(now), finished_at_ns=now)


def _rfc3339(ns: int) -> str:
    return monitor_module.rfc3339_nano(ns)


def _signal_name(signal: str | int) -> str:
    if isinstance(signal, int):
        return signals.Signals(signal).name
    return signal if signal.startswith("SIG") or signal.isdigit() else f"SIG{signal}"


def _is_monitor(pid: int, id: str) -> bool:
    """pid is alive and is the monitor of `id` (not a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return MONITOR_STUB.encode() in argv and id.encode() in argv


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except FileNotFoundError:
        return ""
