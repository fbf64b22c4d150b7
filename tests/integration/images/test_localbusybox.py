"""`tinykube image busybox`: an image built on the node from Debian's static busybox."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile

import pytest

from tests.e2e.conftest import REPO
from tinykube.agent.images import localbusybox

pytestmark = pytest.mark.integration


@pytest.fixture
def have_busybox():
    if not os.path.exists(localbusybox.BUSYBOX):
        pytest.skip("busybox-static is not installed")


def test_the_layer_has_a_shell_and_every_applet(have_busybox):
    blobs, _ = localbusybox.blobs_and_manifest()
    layer = next(b for b in blobs.values() if b[:2] == b"\x1f\x8b")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].size > 100_000
    for applet in ("sh", "wget", "nc", "httpd", "nslookup", "tar"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777


def test_the_command_imports_it_once(have_busybox, tmp_path):
    def image(*args):
        return subprocess.run([sys.executable, "-m", "tinykube.cli.main", "image", *args,
                               "--data-dir", str(tmp_path)], capture_output=True, text=True, cwd=REPO)

    first = image("busybox")
    assert first.returncode == 0, first.stderr
    assert "unpacked docker.io/library/busybox:1.36" in first.stdout
    again = image("busybox", "--if-missing")
    assert again.returncode == 0 and "already in the store" in again.stdout
    listing = image("ls").stdout
    assert "docker.io/library/busybox:1.36" in listing
