"""Remove everything a test agent left under its data dir, even when the test failed.

Only what the data dir names is touched: the monitors and containers of its runc root,
the processes in the pod cgroups of its pods, the mounts below it, then the directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _pod_uids(data_dir: str) -> set[str]:
    uids = set()
    for name in os.listdir(os.path.join(data_dir, "runtime", "monitors")) if os.path.isdir(
            os.path.join(data_dir, "runtime", "monitors")) else []:
        uids.add(name.split("_", 1)[0])
    for sub in ("pods", "sandboxes"):
        path = os.path.join(data_dir, sub)
        if os.path.isdir(path):
            uids.update(os.listdir(path))
    return uids


def _kill_monitors(data_dir: str) -> None:
    for pid_file in glob.glob(os.path.join(data_dir, "runtime", "monitors", "*", "monitor.pid")):
        pid = _read_int(pid_file)
        if pid and _cmdline_mentions(pid, data_dir):
            _kill(pid)


def _cmdline_mentions(pid: int, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_pod_processes(uids: set[str]) -> None:
    """Processes still in these pods' cgroups (containers whose monitor died)."""
    for uid in uids:
        for procs in glob.glob(f"/sys/fs/cgroup/*/tinykube/pod{uid}/**/cgroup.procs", recursive=True):
            with open(procs) as f:
                for line in f:
                    if line.strip():
                        _kill(int(line))


def _remove_cgroups(uids: set[str]) -> None:
    for uid in uids:
        dirs = glob.glob(f"/sys/fs/cgroup/*/tinykube/pod{uid}/**/", recursive=True)
        for path in sorted(dirs, key=len, reverse=True):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def _unmount_below(data_dir: str) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(data_dir)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def force_cleanup(data_dir: str) -> None:
    if not os.path.isdir(data_dir):
        return
    uids = _pod_uids(data_dir)
    _kill_monitors(data_dir)
    _kill_pod_processes(uids)
    root = os.path.join(data_dir, "runtime", "runc")
    listed = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True, text=True)
    for container in listed.stdout.split():
        subprocess.run(["runc", "--root", root, "delete", "--force", container], capture_output=True)
    _unmount_below(data_dir)
    _remove_cgroups(uids)
    shutil.rmtree(data_dir, ignore_errors=True)
