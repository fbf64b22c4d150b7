"""Fixtures for the image tests: images built from Debian's static busybox, pushed with
skopeo to real docker-registry processes on 127.0.0.1 (plain, htpasswd, bearer token).

Registries are started once per session and stopped by PID; every test gets its own
empty data dir. Needs root (device nodes, trusted.* xattrs, overlay mounts).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import pytest

from tinykube.agent.images import ImageService
from tinykube.agent.images.manifest import Platform

from . import ocibuild as ob
from .registries import REGISTRY_BIN, Registry, TokenServer, htpasswd_auth

USERS = {"puller": "s3cret-pass"}
AMD64 = Platform("linux", "amd64")


def missing_prerequisites() -> str:
    if os.geteuid() != 0:
        return "image tests need root (device nodes, trusted.* xattrs, overlay mounts)"
    for tool in (REGISTRY_BIN, ob.BUSYBOX, shutil.which("skopeo") or "/usr/bin/skopeo"):
        if not os.path.exists(tool):
            return f"{tool} is missing (scripts/install-deps.sh installs it)"
    return ""


@pytest.fixture(scope="session")
def session_dir():
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    path = tempfile.mkdtemp(prefix="tinykube-images-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def marker_layer(text: str) -> bytes:
    return ob.layer_tar({"etc/": None, "etc/marker": ob.file(text + "\n")})


@pytest.fixture(scope="session")
def layout(session_dir):
    """An OCI layout with: busybox:1.36, a multi-platform index, a unique image to corrupt."""
    base = ob.layer_tar(ob.busybox_files())
    platforms = [("amd64", ""), ("arm64", ""), ("arm", "v7")]
    multi = ob.build_index([ob.build_image([base, marker_layer(f"{a}{v}")], architecture=a,
                                           variant=v) for a, v in platforms])
    images = {"busybox:1.36": ob.build_image([base], config={"Cmd": ["sh"], "Env": ["PATH=/bin"]}),
              "multi:1": multi,
              "fragile:1": ob.build_image([base, marker_layer(os.urandom(8).hex())])}
    path = ob.write_layout(os.path.join(session_dir, "layout"), images)
    return {"path": path, "images": images}


def _registry(session_dir: str, name: str, auth: str = "") -> Registry:
    return Registry(os.path.join(session_dir, name), auth).start()


@pytest.fixture(scope="session")
def registry(session_dir, layout):
    reg = _registry(session_dir, "plain")
    try:
        reg.push(layout["path"], "busybox:1.36", "library/busybox:1.36")
        reg.push(layout["path"], "multi:1", "library/multi:1", all_platforms=True)
        reg.push(layout["path"], "fragile:1", "library/fragile:1")
        reg.push(layout["path"], "multi:1", "library/multi-docker:1", all_platforms=True,
                 docker_format=True)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def basic_registry(session_dir, layout):
    workdir = os.path.join(session_dir, "basic")
    os.makedirs(workdir)
    reg = Registry(workdir, htpasswd_auth(workdir, USERS)).start()
    try:
        reg.push(layout["path"], "busybox:1.36", "private/busybox:1.36",
                 creds="puller:s3cret-pass")
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def token_registry(session_dir, layout):
    workdir = os.path.join(session_dir, "token")
    os.makedirs(workdir)
    tokens = TokenServer(workdir, USERS).start()
    reg = Registry(workdir, tokens.registry_auth())
    try:
        reg.start()
        reg.push(layout["path"], "busybox:1.36", "private/busybox:1.36",
                 creds="puller:s3cret-pass")
        reg.tokens = tokens
        yield reg
    finally:
        reg.stop()
        tokens.stop()


@pytest.fixture
def tmp_path():
    """pytest's tmp_path, but removed when the test ends (snapshots hold device nodes)."""
    path = tempfile.mkdtemp(prefix="tinykube-images-test-")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def images(tmp_path):
    service = ImageService(str(tmp_path / "data"), platform=AMD64)
    try:
        yield service
    finally:
        await service.close()


def dockerconfig_secret(host: str, user: str, password: str) -> dict:
    """A kubernetes.io/dockerconfigjson Secret as the API server stores it."""
    import base64
    import json

    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {host: {"username": user, "password": password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "regcred"},
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}
