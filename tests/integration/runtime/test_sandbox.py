"""Pod sandboxes with the real runc: the containers of one pod share the network (over
localhost), IPC (SysV and /dev/shm) and UTS (hostname = pod name) namespaces; each has its
own PID namespace; hostNetwork pods use the node's network; teardown leaves nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tinykube.agent.runtime.linux import mount_points_under

from .harness import async_wait_until, pod


def sh(name: str, script: str) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script]}


async def test_two_containers_talk_over_localhost(h):
    p = pod("net")
    sandbox = await h.sandbox(p)
    # The server answers one connection: reads a line (reported on its stderr), says pong.
    answer = "read line; echo got $line >&2; echo pong"
    server = await h.run(p, {"name": "server", "command": ["nc", "-l", "-p", "8080", "-e", "sh", "-c", answer]},
                         sandbox)
    client = await h.run(p, sh("client", "until echo ping | nc 127.0.0.1 8080; do sleep 0.05; done"), sandbox)

    assert (await h.runc.wait(client, 15)).exit_code == 0
    assert (await h.runc.wait(server, 15)).exit_code == 0
    assert h.log_messages(server, "stderr") == ["got ping"], h.log(server)
    assert h.log_messages(client) == ["pong"], h.log(client)


async def test_containers_share_ipc_uts_and_net_but_not_pid_namespaces(h):
    p = pod("shared-ns")
    sandbox = await h.sandbox(p)
    _create_sysv_segment(sandbox.paths.ipcns, key=0x7ab1)
    # $$$$: Kubernetes' $(VAR) expansion turns "$$" into "$", so the shell sees "$$".
    report = ("for ns in net ipc uts pid; do echo $ns $(readlink /proc/self/ns/$ns); done; "
              "hostname; cat /etc/hostname; echo $$$$ $(ls -d /proc/[0-9]* | wc -l); "
              "awk '$1 == 31409' /proc/sysvipc/shm | wc -l; ")  # 31409 = 0x7ab1; no ipcs applet
    # Both run at once (the writer waits for the reader), so their PID namespaces coexist.
    writer = await h.run(p, sh("writer", report + "echo shared > /dev/shm/note; "
                                         "until [ -e /dev/shm/done ]; do sleep 0.05; done"), sandbox)
    reader = await h.run(p, sh("reader", "until [ -e /dev/shm/note ]; do sleep 0.05; done; " + report +
                                         "cat /dev/shm/note; touch /dev/shm/done"), sandbox)
    await h.runc.wait(reader, 10)
    await h.runc.wait(writer, 10)

    w, r = h.log_messages(writer), h.log_messages(reader)
    for kind in ("net", "ipc", "uts"):
        assert _ns(w, kind) == _ns(r, kind) == _pinned(sandbox.paths, kind)
        assert _ns(w, kind) != os.readlink(f"/proc/self/ns/{kind}")
    assert _ns(w, "pid") != _ns(r, "pid") != os.readlink("/proc/self/ns/pid")
    assert w[4:6] == r[4:6] == ["shared-ns", "shared-ns"]  # hostname, /etc/hostname
    for lines in (w, r):  # its own PID namespace: sh is pid 1, and a handful of processes
        pid, processes = lines[6].split()
        assert pid == "1" and int(processes) <= 5
    assert w[7] == r[7] == "1"  # the SysV segment made in the pod's IPC namespace
    assert r[8] == "shared"     # a POSIX shm file in the pod's /dev/shm
    assert not _host_has_sysv_key(0x7ab1)


def _ns(lines: list[str], kind: str) -> str:
    return next(line.split(" ", 1)[1] for line in lines if line.startswith(kind + " "))


def _pinned(paths, kind: str) -> str:
    path = {"net": paths.netns, "ipc": paths.ipcns, "uts": paths.utsns}[kind]
    return f"{kind}:[{os.stat(path).st_ino}]"


def _create_sysv_segment(ipcns: str, *, key: int) -> None:
    """shmget in the pod's IPC namespace, from a process we start and wait for."""
    code = f"import ctypes; assert ctypes.CDLL(None).shmget({key}, 4096, 0o1666) >= 0"
    subprocess.run(["nsenter", f"--ipc={ipcns}", sys.executable, "-c", code], check=True)


def _host_has_sysv_key(key: int) -> bool:
    with open("/proc/sysvipc/shm") as f:
        return any(line.split()[0] == str(key) for line in f.readlines()[1:])


async def test_host_network_pods_use_the_nodes_network_and_hostname(h):
    p = pod("hostnet", hostNetwork=True)
    sandbox = await h.sandbox(p, host_network=True)
    cid = await h.run(p, sh("c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts"), sandbox)
    await h.runc.wait(cid, 10)

    assert sandbox.netns_path is None
    assert h.log_messages(cid) == [os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/uts")]


async def test_teardown_releases_the_namespaces_mounts_and_files(h):
    p = pod("teardown")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, sh("c", "sleep 30"), sandbox)
    netns_inode = os.stat(sandbox.netns_path).st_ino

    await h.runc.stop(cid, grace=0)
    await h.runc.remove(cid)
    await sandbox.destroy()
    h.cgroups.remove(h.runtime.cgroup_root)

    assert not sandbox.dir.exists()
    assert mount_points_under(str(h.tmp)) == []
    assert await h.leftovers() == []
    assert not await _netns_alive(netns_inode)


async def _netns_alive(inode: int) -> bool:
    """Whether any process of ours still has that network namespace (none should)."""
    async def gone():
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    return False
            except OSError:
                continue
        return True
    try:
        await async_wait_until(gone, timeout=5)
        return False
    except TimeoutError:
        return True


async def test_sandbox_setup_is_fast(h):
    """Pinning three namespaces, a tmpfs and four small files: a few milliseconds."""
    loop = asyncio.get_running_loop()
    times = []
    for i in range(5):
        started = loop.time()
        await h.sandbox(pod(f"fast{i}"))
        times.append(loop.time() - started)
    assert sorted(times)[2] < 0.05, times
