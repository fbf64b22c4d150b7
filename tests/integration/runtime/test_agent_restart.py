"""Containers outlive the agent: an "agent" process starts a container and is killed with
SIGKILL; a new Runc over the same state directory re-adopts the container from disk,
stops it and learns its exit status from the monitor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tinykube.agent.runtime import Runc, State

from .harness import REPO, pod, wait_until

AGENT = """
import asyncio, sys
from tinykube.agent.runtime import Runc

async def main():
    state_dir, cid, bundle, log_path = sys.argv[1:5]
    runc = Runc(state_dir)
    await runc.create(cid, bundle, log_path=log_path)
    await runc.start(cid)
    print("started", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""

TICKER = {"name": "ticker", "command": ["sh", "-c", "while true; do echo tick; sleep 0.05; done"]}


async def test_a_killed_agent_leaves_the_container_running_and_a_new_one_adopts_it(h):
    p = pod("adopt")
    sandbox = await h.sandbox(p)
    cid, bundle, _ = h.bundle(p, TICKER, sandbox)
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(h.tmp / "state"), cid, str(bundle),
                              str(h.log_path(cid))], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert agent.stdout.readline() == b"started\n"
    finally:
        os.kill(agent.pid, signal.SIGKILL)  # kill -9 the agent we started
        agent.wait()

    adopter = Runc(h.tmp / "state")
    status = await adopter.status(cid)
    ticks = len(h.log_messages(cid))
    wait_until(lambda: len(h.log_messages(cid)) > ticks + 3)  # still running, still logged

    assert status.state is State.RUNNING and status.monitor_alive and status.started_at
    assert [c["id"] for c in await adopter.list()] == [cid] and adopter.ids() == [cid]
    exit = await adopter.stop(cid, grace=0.2)  # sh as pid 1 ignores SIGTERM: SIGKILL follows
    assert (exit.exit_code, exit.signal, exit.reason) == (137, 9, "Error")
    assert (await adopter.status(cid)).exit == exit


async def test_if_the_monitor_dies_the_exit_is_reported_lost(h):
    p = pod("lost")
    sandbox = await h.sandbox(p)
    cid = await h.run(p, {"name": "c", "command": ["sleep", "30"]}, sandbox)
    monitor_pid = int((h.runc.monitor_dir(cid) / "monitor.pid").read_text())

    os.kill(monitor_pid, signal.SIGKILL)  # a monitor this test's runtime started
    wait_until(lambda: not h.runc.monitor_alive(cid))
    running = await h.runc.status(cid)
    exit = await h.runc.stop(cid, grace=0.2)  # SIGTERM ignored by sleep as pid 1, then SIGKILL

    assert running.state is State.RUNNING and not running.monitor_alive
    assert (exit.exit_code, exit.reason) == (255, "Unknown")
    assert (await h.runc.state(cid))["status"] == "stopped"
