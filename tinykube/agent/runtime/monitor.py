"""The container monitor: one small process per container that outlives the agent.

Why it exists: a container started with `runc create` + `runc start` is nobody's child
once runc exits, so after an agent restart nobody could learn how it ended. Like
containerd's shim and CRI-O's conmon, the monitor makes itself a child subreaper
(PR_SET_CHILD_SUBREAPER) and runs `runc create`; when runc exits, the container's init is
re-parented to the monitor, which then wait()s for it. The monitor also holds the read
ends of the container's stdout/stderr pipes and writes them to the container log in the
CRI format ("2016-10-06T00:17:09.669794202Z stdout F message"), and when the container
exits it records the exit (code, signal, OOM kill, time), deletes the runc container
(which frees its cgroup) and only then writes exit.json: once exit.json exists, the
container is completely gone.

Protocol with the agent (runc.py):
  argv:   RUNC ROOT ID BUNDLE SHIM_DIR LOG_PATH [MEMORY_CGROUP_DIR]
  stdout: one line once `runc create` has finished, "created PID" or "error MESSAGE",
          then closed. The agent starts us in a new session; we close every inherited
          descriptor but stdio (an event loop may leak sockets into children), fork once
          more, and the first process exits at once, so the agent reaps it and we are
          re-parented to init: neither the agent's exit nor its kill -9 touches us.
  files in SHIM_DIR: monitor.pid, container.pid (runc's --pid-file), runc.log (runc's
          own JSON log), exit.json (last, atomically).
  signals: SIGHUP reopens the log file (after rotation: CRI ReopenContainerLog).
  STDIO (optional, only for containers with `stdin` or `tty`): "tty", "stdin", "once"
          joined by commas. Then the monitor also serves SHIM_DIR/attach.sock (class
          Attach): a tty container gets a pseudo-terminal (runc --console-socket; the
          monitor keeps the master), a stdin container a pipe whose write end the monitor
          keeps; attach clients read the output, write stdin and resize the terminal.
          Without STDIO nothing of this is loaded and stdin is /dev/null.

The agent starts it as `python -I -S -c "...; import monitor; monitor.main(...)"` (cached
bytecode, no site, no environment) and it imports only built-in modules (no json, re or
selectors), so it starts in about 20 ms and holds ~8 MB RSS (~4-5 MB PSS). If it is
killed, the container keeps running but its exit status is lost; the agent then reports
exit code 255, reason Unknown, as containerd does for a lost task. (A systemd unit running the agent needs
KillMode=process so stopping the agent does not kill the monitors, as for containerd.)
"""

import _signal
import ctypes
import os
import select
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_LINE = 16 * 1024       # containerd's max_container_log_line_size: longer lines are split
DRAIN_SECONDS = 2.0        # after the init exits, wait this long for the pipes to close
SIGCHLD, SIGHUP = int(_signal.SIGCHLD), int(_signal.SIGHUP)


# --- CRI log format ---------------------------------------------------------------------


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction trimmed."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


class CriLog:
    """Turns the bytes of the container's streams into CRI log lines: a complete line is
    tagged F, a piece of a line longer than MAX_LINE or a last line without newline P.
    "\\r\\n" endings lose the "\\r" too, as Go's bufio.ReadLine drops it."""

    def __init__(self, path: str, clock=time.time_ns):
        self.path, self.clock = path, clock
        self.partial = {b"stdout": b"", b"stderr": b""}
        self.fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = self._open()

    def feed(self, stream: bytes, data: bytes) -> None:
        buf = self.partial[stream] + data
        *lines, rest = buf.split(b"\n")
        records = []
        for line in lines:
            records += self._chunks(line[:-1] if line.endswith(b"\r") else line, b"F")
        while len(rest) > MAX_LINE:
            records.append((b"P", rest[:MAX_LINE]))
            rest = rest[MAX_LINE:]
        self.partial[stream] = rest
        self._write(stream, records)

    def end(self, stream: bytes) -> None:
        """The stream closed: what is left has no newline, a partial line."""
        rest, self.partial[stream] = self.partial[stream], b""
        if rest:
            self._write(stream, [(b"P", rest)])

    @staticmethod
    def _chunks(line: bytes, tag: bytes) -> list:
        pieces = [line[i:i + MAX_LINE] for i in range(0, len(line), MAX_LINE)] or [b""]
        return [(b"P", p) for p in pieces[:-1]] + [(tag, pieces[-1])]

    def _write(self, stream: bytes, records: list) -> None:
        if not records:
            return
        stamp = rfc3339_nano(self.clock()).encode()
        out = b"".join(b"%s %s %s %s\n" % (stamp, stream, tag, text) for tag, text in records)
        os.write(self.fd, out)

    def close(self) -> None:
        os.close(self.fd)


# --- small helpers -----------------------------------------------------------------------


def json_string(text: str) -> str:
    """A JSON string literal (no json module: it would import re and cost 10 ms)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:  # no fsync: after a power loss the containers are gone too
        f.write(text)
    os.rename(tmp, path)


def exit_record(*, exit_code: int, signal: int, reason: str, message: str, finished_ns: int,
                oom_killed: bool, pid: int) -> str:
    fields = [("exitCode", str(exit_code)), ("signal", str(signal)),
              ("reason", json_string(reason)), ("message", json_string(message)),
              ("finishedAt", json_string(rfc3339_nano(finished_ns))),
              ("finishedAtNs", str(finished_ns)), ("oomKilled", "true" if oom_killed else "false"),
              ("pid", str(pid))]
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields) + "}\n"


def decode_status(status: int) -> tuple[int, int]:
    """(exit code, signal) of a wait status; a signal death is 128 + signal, as shells
    and containerd report it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.waitstatus_to_exitcode(status), 0


def oom_kills(memory_dir: str) -> int:
    """oom_kill from memory.oom_control (v1) or memory.events (v2); 0 if unknown."""
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(os.path.join(memory_dir, name)) as f:
                for line in f:
                    key, _, number = line.partition(" ")
                    if key == "oom_kill":
                        return int(number)
        except (OSError, ValueError):
            continue
    return 0


def reason_for(exit_code: int, oom_killed: bool) -> str:
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


# --- the monitor ----------------------------------------------------------------------


class Monitor:
    def __init__(self, argv: list):
        self.runc, self.root, self.id, self.bundle, self.dir, self.log_path = argv[:6]
        self.memory_dir = argv[6] if len(argv) > 6 else ""
        self.attach = Attach(self.dir, argv[7]) if len(argv) > 7 and argv[7] else None
        self.pid = 0          # the container's init
        self.status = None    # its wait status, once reaped
        self.lost = False     # it ended without being our child: status unknowable
        self.finished_ns = 0
        self.wake_r = self.wake_w = -1

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def runc_argv(self, *args: str) -> list:
        return [self.runc, "--root", self.root, "--log", self.path("runc.log"),
                "--log-format", "json", *args]

    # -- setup

    def become_subreaper(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    def install_signals(self) -> None:
        """SIGCHLD and SIGHUP only wake the poll loop (through the wakeup fd, which
        receives the signal numbers); SIGINT is ignored: it is never meant for us."""
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(self.wake_w)
        for sig in (SIGCHLD, SIGHUP):
            _signal.signal(sig, lambda *_: None)
        _signal.signal(int(_signal.SIGINT), _signal.SIG_IGN)

    # -- runc create

    def create(self, stdout_w: int, stderr_w: int, stdin_r: int = -1, console: str = "") -> int:
        """Run `runc create` with the container's stdio; its exit code."""
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        actions = [(os.POSIX_SPAWN_DUP2, devnull if stdin_r < 0 else stdin_r, 0),
                   (os.POSIX_SPAWN_DUP2, stdout_w, 1), (os.POSIX_SPAWN_DUP2, stderr_w, 2)]
        extra = ("--console-socket", console) if console else ()
        argv = self.runc_argv("create", "--bundle", self.bundle, *extra,
                              "--pid-file", self.path("container.pid"), self.id)
        child = os.posix_spawn(self.runc, argv, os.environ, file_actions=actions)
        os.close(devnull)
        _, status = os.waitpid(child, 0)
        return os.waitstatus_to_exitcode(status)

    def create_error(self, stderr_r: int) -> str:
        """What runc printed on stderr when create failed (plain text, unlike its JSON
        log); the runc log's last line if it printed nothing."""
        os.set_blocking(stderr_r, False)
        try:
            text = os.read(stderr_r, 65536).decode(errors="replace").strip()
        except BlockingIOError:
            text = ""
        if text:
            return text.splitlines()[-1]
        try:
            with open(self.path("runc.log")) as f:
                lines = f.read().strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "runc create failed"

    # -- the container's life

    def ended(self) -> bool:
        return self.status is not None or self.lost

    def reap(self) -> None:
        """Collect every exited child: the container's init, and orphans re-parented to
        us (hostPID containers); only the init's status matters. No child at all while
        the init's status is unknown means it was never re-parented to us (it died before
        runc exited): its exit is lost, which is reported, not waited for forever."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                if not self.ended():
                    self.lost, self.finished_ns = True, time.time_ns()
                return
            if pid == 0:
                return
            if pid == self.pid and self.status is None:
                self.status, self.finished_ns = status, time.time_ns()

    def pump(self, log: CriLog, streams: dict) -> None:
        """Copy the pipes to the log until the init exited and the pipes closed (or
        DRAIN_SECONDS passed since the exit)."""
        poller = select.poll()
        for fd in list(streams) + [self.wake_r]:
            poller.register(fd, select.POLLIN)
        if self.attach is not None:
            self.attach.register(poller)
        self.reap()
        while streams and not self.drained():
            events = poller.poll(100 if self.ended() else 1000)
            if not events:
                self.reap()  # a safety net: SIGCHLD is what normally wakes us
            for fd, event in events:
                if fd == self.wake_r:
                    self.on_signals(log)
                elif self.attach is not None and self.attach.owns(fd):
                    self.attach.on_event(fd, event)
                else:
                    self.on_output(log, streams, poller, fd)
        for stream in streams.values():
            log.end(stream)
        if self.attach is not None:
            self.attach.close()
        while not self.ended():  # both pipes closed early: wait for the init itself
            self.wait_signal(log)

    def drained(self) -> bool:
        return self.ended() and time.time_ns() - self.finished_ns > DRAIN_SECONDS * 1e9

    def on_signals(self, log: CriLog) -> None:
        try:
            received = os.read(self.wake_r, 512)
        except BlockingIOError:
            received = b""
        if SIGHUP in received:
            log.reopen()
        self.reap()

    def on_output(self, log: CriLog, streams: dict, poller, fd: int) -> None:
        data = os.read(fd, 65536) if self.attach is None else self.attach.read(fd)
        if data:
            log.feed(streams[fd], data)
            if self.attach is not None:
                self.attach.broadcast(streams[fd], data)
            return
        if data is None:  # attach mode: a non-blocking terminal with nothing to read
            return
        log.end(streams.pop(fd))
        poller.unregister(fd)
        os.close(fd)

    def wait_signal(self, log: CriLog) -> None:
        select.select([self.wake_r], [], [], 1.0)
        self.on_signals(log)

    # -- after the exit

    def finish(self) -> None:
        oom = bool(self.memory_dir) and oom_kills(self.memory_dir) > 0
        self.delete()
        if self.lost:
            exit_code, sig, reason = 255, 0, "Unknown"  # containerd's code for an unseen exit
            message = "the container's process ended before the monitor could wait for it"
        else:
            (exit_code, sig), message = decode_status(self.status), ""
            reason = reason_for(exit_code, oom)
        record = exit_record(exit_code=exit_code, signal=sig, reason=reason, message=message,
                             finished_ns=self.finished_ns, oom_killed=oom, pid=self.pid)
        write_atomic(self.path("exit.json"), record)

    def delete(self) -> None:
        """`runc delete --force`: removes runc's state and the container's cgroup. It
        fails harmlessly when the agent deleted the container already."""
        argv = self.runc_argv("delete", "--force", self.id)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
        child = os.posix_spawn(self.runc, argv, os.environ, file_actions=actions)
        os.close(devnull)
        self.wait_for(child)

    def wait_for(self, child: int) -> None:
        while True:
            pid, _ = os.waitpid(-1, 0)
            if pid == child:
                return

    def create_failed(self, message: str) -> None:
        self.delete()
        record = exit_record(exit_code=128, signal=0, reason="StartError", message=message,
                             finished_ns=time.time_ns(), oom_killed=False, pid=0)
        write_atomic(self.path("exit.json"), record)
        report(f"error {message}")

    def run(self) -> int:
        self.become_subreaper()
        self.install_signals()
        write_atomic(self.path("monitor.pid"), f"{os.getpid()}\n")
        log = CriLog(self.log_path)
        streams = self.start_container()
        if streams is None:
            return 1
        report(f"created {self.pid}")
        self.pump(log, streams)
        log.close()
        self.finish()
        return 0

    def start_container(self) -> dict | None:
        """`runc create` with pipes for stdout and stderr: {read end: stream name}, or
        None when runc failed (recorded and reported)."""
        if self.attach is not None:
            return self.start_attachable(self.attach)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        code = self.create(out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        if code != 0:
            self.create_failed(self.create_error(err_r))
            return None
        with open(self.path("container.pid")) as f:
            self.pid = int(f.read().strip())
        return {out_r: b"stdout", err_r: b"stderr"}

    def start_attachable(self, attach: "Attach") -> dict | None:
        """start_container for a stdin or tty container: a stdin pipe, or the terminal
        runc sends us on the console socket (whose output is all stdout, as in the CRI)."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        stdin_r = -1
        if attach.stdin and not attach.tty:
            stdin_r, attach.stdin_fd = os.pipe2(os.O_CLOEXEC)
        console = attach.console_socket() if attach.tty else ""
        code = self.create(out_w, err_w, stdin_r, console)
        for fd in (out_w, err_w, stdin_r):
            if fd >= 0:
                os.close(fd)
        if code != 0:
            self.create_failed(self.create_error(err_r))
            return None
        with open(self.path("container.pid")) as f:
            self.pid = int(f.read().strip())
        attach.listen()
        if not attach.tty:
            return {out_r: b"stdout", err_r: b"stderr"}
        os.close(out_r)  # runc's own output: the container writes to the terminal
        os.close(err_r)
        master = attach.receive_console()
        return {master: b"stdout"}


# --- attach: stdin and the terminal (only for containers with stdin or tty) ---------------

# Frames on attach.sock, both ways: kind (1 byte), length (4 bytes, big endian), payload.
# To clients: 1 stdout, 2 stderr. From clients: 0 stdin (an empty one first says the
# client attaches stdin), 4 resize (columns, rows: 2 bytes each), 255 stdin ended.
STDIN, STDOUT, STDERR, RESIZE, CLOSE = 0, 1, 2, 4, 255
MAX_PENDING = 4 << 20   # a client this far behind is disconnected, never waited for


def encode_frame(kind: int, data: bytes) -> bytes:
    return bytes((kind,)) + len(data).to_bytes(4, "big") + data


def take_frames(buffer: bytearray) -> list:
    """The complete frames at the start of `buffer` as (kind, payload), removed from it."""
    frames = []
    while len(buffer) >= 5:
        end = 5 + int.from_bytes(buffer[1:5], "big")
        if len(buffer) < end:
            break
        frames.append((buffer[0], bytes(buffer[5:end])))
        del buffer[:end]
    return frames


def short_path(dir_fd: int, name: str) -> str:
    """A path to DIR/name that fits a unix socket address (108 bytes) however long DIR is."""
    return f"/proc/{os.getpid()}/fd/{dir_fd}/{name}"


class Client:
    def __init__(self, fd: int):
        self.fd, self.inbox, self.outbox, self.stdin = fd, bytearray(), bytearray(), False


class Attach:
    """The container's stdin (pipe or terminal master) and its attach clients."""

    def __init__(self, directory: str, mode: str):
        words = mode.split(",")
        self.tty, self.stdin, self.once = "tty" in words, "stdin" in words, "once" in words
        self.dir_fd = os.open(directory, os.O_PATH | os.O_CLOEXEC)
        self.stdin_fd = -1           # where stdin goes; -1: closed or none
        self.listener = self.console = None
        self.clients = {}            # fd -> Client
        self.poller = None

    def bind(self, name: str):
        import _socket
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        path = short_path(self.dir_fd, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(16)
        return sock

    def console_socket(self) -> str:
        self.console = self.bind("console.sock")
        return short_path(self.dir_fd, "console.sock")

    def receive_console(self) -> int:
        """The terminal master runc sent while creating the container (SCM_RIGHTS)."""
        import _socket
        self.console.settimeout(10)
        fd, _ = self.console._accept()
        conn = _socket.socket(fileno=fd)
        conn.settimeout(10)
        _, ancillary, _, _ = conn.recvmsg(4096, _socket.CMSG_SPACE(4))
        conn.close()
        self.console.close()
        os.unlink(short_path(self.dir_fd, "console.sock"))
        master = int.from_bytes(ancillary[0][2][:4], sys.byteorder)
        os.set_inheritable(master, False)
        os.set_blocking(master, False)
        if self.stdin:
            self.stdin_fd = master
        self.master = master
        return master

    def listen(self) -> None:
        if self.stdin_fd >= 0:
            os.set_blocking(self.stdin_fd, False)
        self.listener = self.bind("attach.sock")
        self.listener.setblocking(False)

    def register(self, poller) -> None:
        self.poller = poller
        poller.register(self.listener.fileno(), select.POLLIN)

    def owns(self, fd: int) -> bool:
        return fd in self.clients or fd == self.listener.fileno()

    def read(self, fd: int):
        """Container output from a pipe or the terminal: b"" at its end (EIO on a
        terminal nobody holds any more), None when there is nothing yet."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data and fd == self.stdin_fd:
            self.stdin_fd = -1  # the terminal closes with it
        return data

    def on_event(self, fd: int, event: int) -> None:
        if fd == self.listener.fileno():
            try:
                conn, _ = self.listener._accept()
            except OSError:
                return
            os.set_blocking(conn, False)
            self.clients[conn] = Client(conn)
            self.poller.register(conn, select.POLLIN)
            return
        client = self.clients[fd]
        if event & select.POLLOUT:
            self.flush(client)
        if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.drop(client)
                return
            client.inbox += data
            for kind, payload in take_frames(client.inbox):
                self.on_frame(client, kind, payload)

    def on_frame(self, client: Client, kind: int, payload: bytes) -> None:
        if kind == STDIN:
            client.stdin = True
            if payload and self.stdin_fd >= 0:
                try:
                    os.write(self.stdin_fd, payload)  # a full pipe drops input rather than block
                except OSError:
                    pass
        elif kind == RESIZE and self.tty and len(payload) == 4:
            import fcntl
            import termios
            columns, rows = int.from_bytes(payload[:2], "big"), int.from_bytes(payload[2:], "big")
            size = rows.to_bytes(2, sys.byteorder) + columns.to_bytes(2, sys.byteorder) + bytes(4)
            try:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
            except OSError:
                pass
        elif kind == CLOSE and client.stdin:
            self.stdin_ended()

    def stdin_ended(self) -> None:
        """stdinOnce: stdin closes when the first attach session's stdin ends. A pipe is
        closed; a terminal gets its end-of-file character (the master stays for output)."""
        if not self.once or self.stdin_fd < 0:
            return
        if self.tty:
            try:
                os.write(self.stdin_fd, b"\x04")
            except OSError:
                pass
        else:
            os.close(self.stdin_fd)
        self.stdin_fd = -1

    def broadcast(self, stream: bytes, data: bytes) -> None:
        message = encode_frame(STDOUT if stream == b"stdout" else STDERR, data)
        for client in list(self.clients.values()):
            client.outbox += message
            self.flush(client)

    def flush(self, client: Client) -> None:
        try:
            sent = os.write(client.fd, client.outbox) if client.outbox else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop(client)
            return
        del client.outbox[:sent]
        if len(client.outbox) > MAX_PENDING:
            self.drop(client)
            return
        self.poller.modify(client.fd, select.POLLIN | (select.POLLOUT if client.outbox else 0))

    def drop(self, client: Client) -> None:
        if self.clients.pop(client.fd, None) is None:
            return
        self.poller.unregister(client.fd)
        os.close(client.fd)
        if client.stdin:
            self.stdin_ended()

    def close(self) -> None:
        """The container is gone: clients see the end of their connection."""
        for client in list(self.clients.values()):
            try:  # what is queued and fits the socket's buffer still reaches them
                os.write(client.fd, client.outbox)
            except OSError:
                pass
            self.clients.pop(client.fd)
            os.close(client.fd)
        if self.listener is not None:
            self.listener.close()
            try:
                os.unlink(short_path(self.dir_fd, "attach.sock"))
            except OSError:
                pass


def report(line: str) -> None:
    """The one line the agent waits for, then stdout is closed (the agent sees EOF)."""
    os.write(1, (line.replace("\n", " ") + "\n").encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def close_inherited_fds() -> None:
    """Keep only stdin, stdout and stderr: whatever else the agent's event loop let us
    inherit (a listening socket, the other end of a pipe) must not live as long as the
    container does."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def main(argv: list) -> int:
    if len(argv) < 6:
        sys.stderr.write("usage: monitor.py RUNC ROOT ID BUNDLE SHIM_DIR LOG_PATH [MEMORY_DIR]\n")
        return 2
    close_inherited_fds()
    if os.fork() != 0:
        os._exit(0)  # the agent reaps this one; the child is re-parented to init
    os.chdir("/")
    try:
        return Monitor(argv).run()
    except BaseException as e:  # the agent reads monitor.log (our stderr) on trouble
        sys.stderr.write(f"monitor {argv[2]}: {type(e).__name__}: {e}\n")
        report(f"error monitor failed: {e}")
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
