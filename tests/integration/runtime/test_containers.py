"""Containers with the real runc: output in the CRI log, exit codes, start errors,
resources in cgroups, OOM kills, stopping with SIGTERM then SIGKILL."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tinykube.agent.runtime import StartError, State

from .harness import pod

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) [FP] .*$")


def sh(name: str, script: str, **extra) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


async def test_output_lands_in_the_cri_log_and_exit_codes_are_recorded(h):
    p = pod("out")
    sandbox = await h.sandbox(p)
    ok = await h.run(p, sh("ok", "echo hello $(GREETING); echo oops >&2; printf no-newline"),
                     sandbox, env=["GREETING=world"])
    three = await h.run(p, sh("three", "exit 3"), sandbox)

    exit_ok, exit_three = await h.runc.wait(ok, 10), await h.runc.wait(three, 10)

    assert (exit_ok.exit_code, exit_ok.reason) == (0, "Completed")
    assert (exit_three.exit_code, exit_three.reason) == (3, "Error")
    assert h.log_messages(ok, "stdout") == ["hello world", "no-newline"]
    assert h.log_messages(ok, "stderr") == ["oops"]
    assert all(CRI_LINE.match(line) for line in h.log(ok).splitlines())
    assert h.log(ok).splitlines()[-1].split(" ")[2] == "P"  # last line had no newline
    status = await h.runc.status(ok)
    assert status.state is State.STOPPED and status.exit == exit_ok and status.started_at


async def test_a_missing_binary_is_a_start_error_with_runcs_words(h):
    p = pod("missing")
    sandbox = await h.sandbox(p)
    cid, bundle, _ = h.bundle(p, {"name": "c", "command": ["/no/such/binary"]}, sandbox)

    with pytest.raises(StartError) as err:
        await h.runc.create(cid, bundle, log_path=h.log_path(cid))

    assert "/no/such/binary" in str(err.value) and err.value.exit_code == 128
    exit = h.runc.exit_status(cid)
    assert (exit.exit_code, exit.reason) == (128, "StartError")
    assert await h.runc.list() == []


async def test_cpu_memory_and_pids_limits_are_in_the_containers_cgroup(h):
    p = pod("limits")
    sandbox = await h.sandbox(p)
    resources = {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}
    script = ("cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
              "/sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes "
              "/sys/fs/cgroup/pids/pids.max; sleep 30")
    if h.cgroups.v2:
        script = ("cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max "
                  "/sys/fs/cgroup/pids.max; sleep 30")
    cid = await h.run(p, sh("c", script, resources=resources), sandbox,
                      runtime=h.with_runtime(pids_limit=50))

    limits = h.cgroups.limits(h.container_cgroup(p, cid))
    inside = (await _wait_for_lines(h, cid, 4 if h.cgroups.v2 else 5))

    assert (limits.cpu_quota_us, limits.cpu_period_us) == (50000, 100000)
    assert (limits.memory_bytes, limits.pids) == (64 * 1024 * 1024, 50)
    if h.cgroups.v2:
        assert inside == [str(limits.cpu_weight), "50000 100000", str(64 << 20), "50"]
    else:
        assert limits.cpu_shares == 256
        assert inside == ["256", "50000", "100000", str(64 << 20), "50"]
    usage = h.cgroups.usage(h.container_cgroup(p, cid))
    assert usage.pids >= 1 and usage.memory_usage_bytes > 0 and usage.cpu_usage_ns > 0
    pod_usage = h.cgroups.usage(h.container_cgroup(p, cid).rsplit("/", 1)[0])
    assert pod_usage.cpu_usage_ns >= usage.cpu_usage_ns


async def _wait_for_lines(h, cid: str, n: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(h.log_messages(cid)) < n:
        assert time.monotonic() < deadline, h.log(cid)
        await asyncio.sleep(0.02)
    return h.log_messages(cid)


async def test_a_memory_hog_is_oom_killed_with_137(h):
    p = pod("hog")
    sandbox = await h.sandbox(p)
    hog = sh("hog", "head -c 300m /dev/zero | tail", resources={"limits": {"memory": "32Mi"}})

    cid = await h.run(p, hog, sandbox)
    exit = await h.runc.wait(cid, 30)

    assert (exit.exit_code, exit.reason, exit.oom_killed) == (137, "OOMKilled", True)


async def test_stop_sends_sigterm_then_sigkill_after_the_grace_period(h):
    p = pod("stop")
    sandbox = await h.sandbox(p)
    polite = await h.run(p, sh("polite", "trap 'echo got TERM; exit 0' TERM; echo ready; "
                                         "while true; do sleep 0.05; done"), sandbox)
    stubborn = await h.run(p, sh("stubborn", "trap 'echo ignoring TERM' TERM; echo ready; "
                                             "while true; do sleep 0.05; done"), sandbox)
    for cid in (polite, stubborn):
        await _wait_for_lines(h, cid, 1)

    exit_polite = await h.runc.stop(polite, grace=10)
    started = time.monotonic()
    exit_stubborn = await h.runc.stop(stubborn, grace=0.5)
    took = time.monotonic() - started

    assert (exit_polite.exit_code, exit_polite.reason) == (0, "Completed")
    assert "got TERM" in h.log_messages(polite)
    assert (exit_stubborn.exit_code, exit_stubborn.signal) == (137, 9)
    assert "ignoring TERM" in h.log_messages(stubborn)
    assert 0.5 <= took < 5


async def test_a_created_container_waits_for_start_and_can_be_removed(h):
    p = pod("created")
    sandbox = await h.sandbox(p)
    cid, bundle, _ = h.bundle(p, sh("c", "echo started"), sandbox)

    pid = await h.runc.create(cid, bundle, log_path=h.log_path(cid))
    status = await h.runc.status(cid)

    assert status.state is State.CREATED and status.pid == pid and status.monitor_alive
    assert status.annotations["io.kubernetes.cri.container-name"] == "c"
    await h.runc.remove(cid)
    assert h.log_messages(cid) == [] and cid not in h.runc.ids()
    assert (await h.runc.status(cid)).state is State.UNKNOWN


async def test_default_hardening_and_a_locked_down_container(h):
    """Masked files are /dev/null (1,3), masked directories empty; /proc/sys read-only."""
    p = pod("harden")
    sandbox = await h.sandbox(p)
    probe = ("grep -E '^(CapEff|CapBnd|CapInh|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '; "
             "echo keys=$(stat -c %t,%T /proc/keys) firmware=$(ls /sys/firmware | wc -l); "
             "echo 1 2>/dev/null > /proc/sys/kernel/shm_rmid_forced && echo procsys=rw || echo procsys=ro; "
             "touch /rootfs-write 2>/dev/null && echo root=rw || echo root=ro; "
             "echo uid=$(id -u) nofile=$(ulimit -n)")
    default = await h.run(p, {"name": "default", "command": ["sh", "-c", probe]}, sandbox)
    locked = await h.run(p, {"name": "locked", "command": ["sh", "-c", probe], "securityContext": {
        "runAsUser": 65534, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]}}}, sandbox)
    for cid in (default, locked):
        await h.runc.wait(cid, 10)

    assert h.log_messages(default) == [
        "CapInh: 0000000000000000", "CapEff: 00000000a80425fb", "CapBnd: 00000000a80425fb",
        "NoNewPrivs: 0", "keys=1,3 firmware=0", "procsys=ro", "root=rw", f"uid=0 nofile={h.runtime.nofile}"]
    assert h.log_messages(locked) == [
        "CapInh: 0000000000000000", "CapEff: 0000000000000000", "CapBnd: 0000000000000000",
        "NoNewPrivs: 1", "keys=1,3 firmware=0", "procsys=ro", "root=ro", f"uid=65534 nofile={h.runtime.nofile}"]


async def test_the_log_can_be_reopened_after_rotation(h):
    p = pod("rotate")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, {"name": "c", "command": ["sh", "-c", "while true; do echo tick; sleep 0.02; done"]},
                      sandbox)
    await _wait_for_lines(h, cid, 1)

    h.log_path(cid).rename(h.log_path(cid).with_suffix(".1"))
    h.runc.reopen_log(cid)
    await _wait_for_lines(h, cid, 2)  # the new file fills up

    assert h.log_path(cid).with_suffix(".1").read_text().count("stdout F tick") >= 1
    await h.runc.stop(cid, grace=0)
