"""Benchmark of the API server, with a local etcd measured in the same run as reference.

Prints: start to /readyz (fresh and restart), idle RSS, GET/s with p50/p99 (wrk),
durable creates/s, LIST of 10,000 pods, watch delivery latency with 100 watchers, RSS
under load; and etcd's put/s and range/s on 127.0.0.1 with the same clients, as ratios.

    .venv/bin/python bench/api.py [--pods 10000] [--seconds 5]

Needs wrk and etcd (make bench installs them). Everything runs on 127.0.0.1 and stops
by itself; the processes it starts are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import orjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class Tinykube:
    def __init__(self, data_dir: str):
        self.data_dir, self.port, self.proc = data_dir, free_port(), None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the server; return seconds until /readyz answered 200."""
        log = open(os.path.join(self.data_dir, "server.log"), "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "tinykube.cli.main", "server",
                                      "--data-dir", self.data_dir, "--port", str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, "TINYKUBE_LOG": "WARNING"})
        context = ssl._create_unverified_context()
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", context=context, timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.005)
            if self.proc.poll() is not None:
                raise RuntimeError("tinykube server exited")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def token(self) -> str:
        with open(os.path.join(self.data_dir, "token")) as f:
            return f.read().strip()


class Etcd:
    def __init__(self, data_dir: str):
        self.data_dir, self.port, self.peer, self.proc = data_dir, free_port(), free_port(), None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("etcd") or "/usr/bin/etcd"
        self.proc = subprocess.Popen(
            [binary, "--data-dir", self.data_dir, "--name", "bench",
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-cluster", f"bench=http://127.0.0.1:{self.peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import urllib.request

        for _ in range(500):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("etcd did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


# --- load generators -----------------------------------------------------------------------


def wrk(url: str, seconds: int, headers: dict, script: str | None = None, connections: int = 32) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for label in ("50%", "99%"):
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        figures[label] = float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = int(errors.group(1)) if errors else 0
    return figures


def tk_session(token: str, limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ssl._create_unverified_context(), limit=limit),
        headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=120))


async def create_ns(session, url: str, name: str) -> None:
    async with session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": name}}) as r:
        assert r.status in (201, 409), await r.text()


POD = {"metadata": {"labels": {"app": "bench"}},
       "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                "ports": [{"containerPort": 80}],
                                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


async def bench_list(tk: Tinykube, pods: int) -> dict:
    async with tk_session(tk.token) as s:
        await create_ns(s, tk.url, "bench-list")
        url = f"{tk.url}/api/v1/namespaces/bench-list/pods"
        names = iter(range(pods))

        async def creator() -> None:
            for i in names:
                body = {**POD, "metadata": {**POD["metadata"], "name": f"pod-{i:05d}"}}
                async with s.post(url, json=body) as r:
                    assert r.status == 201, await r.text()

        started = time.monotonic()
        await asyncio.gather(*(creator() for _ in range(64)))
        create_rate = pods / (time.monotonic() - started)
        timings = []
        for _ in range(5):
            t0 = time.monotonic()
            async with s.get(url) as r:
                body = await r.read()
            timings.append((time.monotonic() - t0) * 1000)
        assert len(orjson.loads(body)["items"]) == pods
        return {"ms_min": min(timings), "ms_median": statistics.median(timings),
                "mb": len(body) / 1e6, "create_rate": create_rate}


async def bench_watch(tk: Tinykube, watchers: int = 100, writes: int = 200) -> dict:
    async with tk_session(tk.token, limit=watchers + 10) as s:
        await create_ns(s, tk.url, "bench-watch")
        base = f"{tk.url}/api/v1/namespaces/bench-watch/configmaps"
        async with s.post(base, json={"metadata": {"name": "w"}, "data": {"i": "-1"}}) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        latencies: list[float] = []
        received = asyncio.Event()
        got = 0

        async def watch() -> None:
            nonlocal got
            async with s.get(base, params={"watch": "true", "resourceVersion": rv,
                                           "timeoutSeconds": "60"}) as r:
                async for line in r.content:
                    now = time.monotonic()
                    event = orjson.loads(line)
                    i = event["object"]["data"]["i"]
                    latencies.append((now - sent[i]) * 1000)
                    got += 1
                    if got == watchers * writes:
                        received.set()
                    if i == str(writes - 1):
                        return

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        await asyncio.sleep(1.0)  # let every watch start
        write_ms = []
        for i in range(writes):
            sent[str(i)] = t0 = time.monotonic()
            async with s.patch(f"{base}/w", data=orjson.dumps({"data": {"i": str(i)}}),
                               headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200
            write_ms.append((time.monotonic() - t0) * 1000)
            await asyncio.sleep(0.01)
        await asyncio.wait_for(received.wait(), 60)
        await asyncio.gather(*tasks)
        return {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "n": len(latencies),
                "write_p50": pct(write_ms, 50)}


def create_script(tmp: str, path: str, body_template: str, name: str) -> str:
    """A wrk Lua script POSTing bodies with a unique name per request."""
    script = os.path.join(tmp, name)
    with open(script, "w") as f:
        # 21 digits: unique per run, and valid base64 padding for etcd's keys
        f.write('counter = 0\nmath.randomseed(os.time())\nprefix = math.random(1, 999999999)\n'
                'request = function()\n  counter = counter + 1\n'
                '  local id = string.format("%010d%011d", prefix, counter)\n'
                f'  local body = string.format({body_template!r}, id)\n'
                f'  return wrk.format("POST", "{path}", nil, body)\nend\n')
    return script


def bench_creates_wrk(tk: Tinykube, seconds: int, tmp: str) -> dict:
    asyncio.run(_make_ns(tk, "bench-create"))
    script = create_script(tmp, "/api/v1/namespaces/bench-create/configmaps",
                           '{"metadata":{"name":"cm-%s"},"data":{"k":"' + "v" * 100 + '"}}', "create.lua")
    return wrk(tk.url, seconds, {"Authorization": f"Bearer {tk.token}",
                                 "Content-Type": "application/json"}, script)


def bench_etcd_puts_wrk(etcd: Etcd, seconds: int, tmp: str) -> dict:
    # etcd's JSON gateway takes base64 keys: a fixed base64 prefix plus a unique
    # hex suffix is still valid base64 for distinct keys
    script = create_script(tmp, "/v3/kv/put", '{"key":"L2JlbmNoL2tleS0%s","value":"' + "dg" * 150 + '"}',
                           "put.lua")
    return wrk(etcd.url, seconds, {"Content-Type": "application/json"}, script)


async def _make_ns(tk: Tinykube, name: str) -> None:
    async with tk_session(tk.token) as s:
        await create_ns(s, tk.url, name)


def etcd_range_script(tmp: str) -> str:
    path = os.path.join(tmp, "range.lua")
    key = base64.b64encode(b"/bench/0-0").decode()
    with open(path, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = \'{{"key":"{key}"}}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                'wrk.path = "/v3/kv/range"\n')
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="tinykube-bench-")
    tk, etcd = Tinykube(os.path.join(tmp, "tk")), Etcd(os.path.join(tmp, "etcd"))
    os.makedirs(tk.data_dir)
    try:
        run(tk, etcd, args, tmp)
    finally:
        tk.stop()
        etcd.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(tk: Tinykube, etcd: Etcd, args, tmp: str) -> None:
    fresh = tk.start()
    tk.stop()
    restart = tk.start()
    print(f"start to /readyz: fresh data dir {fresh * 1000:.0f} ms, restart {restart * 1000:.0f} ms")
    time.sleep(2)
    print(f"server idle RSS: {rss_kb(tk.proc.pid) / 1024:.1f} MB")
    auth = {"Authorization": f"Bearer {tk.token}"}
    get = wrk(f"{tk.url}/api/v1/namespaces/default", args.seconds, auth)
    print(f"GET one object: {get['rps']:.0f}/s, p50 {get['50%']:.2f} ms, p99 {get['99%']:.2f} ms "
          f"(wrk, 32 connections, errors {get['errors']})")
    light = wrk(f"{tk.url}/api/v1/namespaces/default", args.seconds, auth, connections=4)
    print(f"GET one object at light load: {light['rps']:.0f}/s, p50 {light['50%']:.2f} ms, "
          f"p99 {light['99%']:.2f} ms (wrk, 4 connections)")
    created = bench_creates_wrk(tk, args.seconds, tmp)
    creates = created["rps"]
    print(f"durable create: {creates:.0f}/s, p50 {created['50%']:.2f} ms, p99 {created['99%']:.2f} ms "
          f"(wrk, 32 connections, synchronous=FULL, errors {created['errors']})")
    listing = asyncio.run(bench_list(tk, args.pods))
    print(f"LIST {args.pods} pods: {listing['ms_median']:.0f} ms median, {listing['ms_min']:.0f} ms min "
          f"({listing['mb']:.1f} MB; created at {listing['create_rate']:.0f}/s)")
    watched = asyncio.run(bench_watch(tk))
    print(f"watch delivery, 100 watchers: p50 {watched['p50']:.1f} ms, p99 {watched['p99']:.1f} ms "
          f"from sending the write ({watched['n']} deliveries; the write itself p50 {watched['write_p50']:.1f} ms)")
    print(f"server RSS: now {rss_kb(tk.proc.pid) / 1024:.1f} MB, peak {rss_kb(tk.proc.pid, 'VmHWM') / 1024:.1f} MB")
    if not shutil.which("etcd") and not os.path.exists("/usr/bin/etcd"):
        print("etcd not installed: no reference figures (make bench installs it)")
        return
    etcd.start()
    put = bench_etcd_puts_wrk(etcd, args.seconds, tmp)
    puts = put["rps"]
    ranges = wrk(etcd.url, args.seconds, {}, etcd_range_script(tmp))
    print(f"etcd 3.4 reference (same wrk client): put {puts:.0f}/s p99 {put['99%']:.2f} ms, "
          f"range {ranges['rps']:.0f}/s p50 {ranges['50%']:.2f} ms p99 {ranges['99%']:.2f} ms")
    print(f"ratios tinykube/etcd: create/put {creates / puts:.2f}, GET/range {get['rps'] / ranges['rps']:.2f}")


if __name__ == "__main__":
    main()
