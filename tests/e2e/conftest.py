"""End-to-end harness: a real `tinykube server` subprocess, the real kubectl and the
official Python client as black-box clients.

Each server gets a temporary data dir and a free loopback port; it is stopped by its
PID (SIGTERM, then SIGKILL) when the test or session ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    data_dir: str
    port: int
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    log_path: str = ""
    startup_seconds: float = 0.0
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubeconfig.yaml")

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = os.path.join(self.data_dir, f"server-{int(time.time() * 1000)}.log")
        cmd = [sys.executable, "-m", "tinykube.cli.main", "server", "--data-dir", self.data_dir,
               "--port", str(self.port), *self.extra_args]
        started = time.monotonic()
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        self.wait_ready(timeout)
        self.startup_seconds = time.monotonic() - started

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        context = ssl._create_unverified_context()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=context, timeout=1) as r:
                    if r.status == 200 and os.path.exists(self.kubeconfig):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "KUBECONFIG": self.kubeconfig, **(env or {})}
        result = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True,
                                timeout=timeout, env=full_env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}\nserver log:\n{self.log()}")
        return result

    def client(self):
        """An ApiClient of the official `kubernetes` package for this server."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig)


def start_server(tmp_path_factory, *extra_args: str) -> Server:
    data_dir = str(tmp_path_factory.mktemp("tinykube"))
    server = Server(data_dir, free_port(), tuple(extra_args))
    server.start()
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One shared server for tests that only add objects of their own names."""
    srv = start_server(tmp_path_factory)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server of the test module's own: its controllers act on every object, so other
    modules' objects would disturb what the module asserts."""
    server = start_server(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path_factory):
    srv = start_server(tmp_path_factory)
    yield srv
    srv.stop()


# --- the official API client of tinykube (tinykube.client), for the client's own tests ---

NS = ("v1", "Namespace")


@pytest.fixture
async def api(server):
    from tinykube.client import ApiClient

    async with ApiClient.from_kubeconfig(server.kubeconfig) as client:
        yield client


async def namespace(api, prefix: str) -> str:
    """A fresh namespace for one test."""
    name = f"client-{prefix}-{uuid.uuid4().hex[:6]}"
    await api.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name
