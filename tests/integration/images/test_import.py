"""`tinykube image import/ls/rm` on OCI-layout and docker-save archives (the latter written by
skopeo), garbage collection with leases, and several processes sharing one store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tinykube.agent.images import ImageService
from tinykube.agent.images.cli import main

from . import ocibuild as ob

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def store_content(data_dir: str) -> tuple[list[str], list[str]]:
    root = os.path.join(data_dir, "images")
    return (sorted(os.listdir(os.path.join(root, "blobs/sha256"))),
            sorted(os.listdir(os.path.join(root, "snapshots/sha256"))))


@pytest.fixture
def two_images(tmp_path):
    """An OCI archive with two images sharing busybox's layer, named both ways."""
    busybox = ob.busybox_image()
    tools = ob.busybox_image(extra_layers=[ob.layer_tar({"opt/": None, "opt/tool": "t\n"})])
    ob.write_layout(tmp_path / "layout", {"busybox:1.36": busybox})
    ob.write_layout(tmp_path / "layout2", {"example.com/tools/bb:2": tools},
                    annotation="io.containerd.image.name")
    layout = ob.write_layout(tmp_path / "merged", {"busybox:1.36": busybox})
    _merge_layouts(layout, str(tmp_path / "layout2"))
    return ob.tar_dir(layout, tmp_path / "two.tar")


def _merge_layouts(into: str, other: str) -> None:
    import json
    import shutil

    for name in os.listdir(os.path.join(other, "blobs/sha256")):
        shutil.copy(os.path.join(other, "blobs/sha256", name), os.path.join(into, "blobs/sha256"))
    with open(os.path.join(into, "index.json")) as f:
        index = json.load(f)
    with open(os.path.join(other, "index.json")) as f:
        index["manifests"] += json.load(f)["manifests"]
    with open(os.path.join(into, "index.json"), "w") as f:
        json.dump(index, f)


def test_cli_import_ls_rm(two_images, tmp_path, capsys):
    data = str(tmp_path / "data")
    assert main(["import", two_images, "--data-dir", data]) == 0
    assert main(["ls", "--data-dir", data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("unpacked docker.io/library/busybox:1.36 (sha256:")
    assert out[1].startswith("unpacked example.com/tools/bb:2 (sha256:")
    assert out[2].split() == ["REF", "DIGEST", "SIZE"]
    rows = [line.split() for line in out[3:]]
    assert [r[0] for r in rows] == ["docker.io/library/busybox:1.36", "example.com/tools/bb:2"]
    assert all(len(r[1]) == 13 and r[2].endswith("MB") for r in rows)
    blobs, snapshots = store_content(data)
    assert len(snapshots) == 2  # the shared busybox layer is unpacked once

    assert main(["rm", "busybox:1.36", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "Deleted: docker.io/library/busybox:1.36\n"
    assert store_content(data)[1] == snapshots  # still used by example.com/tools/bb:2
    assert len(store_content(data)[0]) == len(blobs) - 2  # its manifest and config went

    assert main(["rm", "example.com/tools/bb:2", "--data-dir", data]) == 0
    assert store_content(data) == ([], [])
    assert main(["rm", "example.com/tools/bb:2", "--data-dir", data]) == 1


def test_busybox_archive_helper_runs(tmp_path):
    images = ImageService(str(tmp_path / "data"))
    (record,) = asyncio.run(images.import_archive(ob.busybox_archive(tmp_path))).records
    (layer,) = asyncio.run(images.rootfs_layers(record.ref))
    out = subprocess.run(["chroot", layer, "/bin/sh", "-c", "echo ok; id -u"], capture_output=True,
                         text=True, check=True).stdout
    assert out == "ok\n0\n"


def test_import_docker_save_archive_written_by_skopeo(tmp_path):
    layout = ob.write_layout(tmp_path / "layout", {"bb": ob.busybox_image(config={"Cmd": ["sleep", "1"]})})
    archive = str(tmp_path / "docker-save.tar")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:bb",
                    f"docker-archive:{archive}:busybox:1.36"], check=True, timeout=60)
    images = ImageService(str(tmp_path / "data"))
    result = asyncio.run(images.import_archive(archive))
    (record,) = result.records
    assert record.ref == "docker.io/library/busybox:1.36"
    assert images.image_config("busybox:1.36")["Cmd"] == ["sleep", "1"]
    (layer,) = asyncio.run(images.rootfs_layers("docker.io/library/busybox:1.36"))
    assert os.path.islink(os.path.join(layer, "bin/sh"))
    assert os.stat(os.path.join(layer, "tmp")).st_mode & 0o7777 == 0o1777


@pytest.mark.parametrize("ref_name,base_name,expected", [
    ("busybox:1.36", "", "docker.io/library/busybox:1.36"),
    ("1.36", "example.com/bb", "example.com/bb:1.36"),
    ("1.36", "", None),  # only a tag: no name to give it
])
def test_import_skopeo_oci_archive_names(tmp_path, capsys, ref_name, base_name, expected):
    layout = ob.write_layout(tmp_path / "layout", {"bb": ob.busybox_image()})
    archive = str(tmp_path / "oci.tar")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:bb", f"oci-archive:{archive}:{ref_name}"],
                   check=True, timeout=60)
    data = str(tmp_path / "data")
    status = main(["import", archive, "--data-dir", data, *(["--base-name", base_name] if base_name else [])])
    captured = capsys.readouterr()
    if expected is None:
        assert status == 1 and "use --base-name" in captured.err
    else:
        assert status == 0 and f"unpacked {expected} " in captured.out


async def test_rm_keeps_what_a_lease_holds(two_images, tmp_path):
    images = ImageService(str(tmp_path / "data"))
    await images.import_archive(two_images)
    layers = await images.rootfs_layers("example.com/tools/bb:2")
    await images.lease("ctr-1", "example.com/tools/bb:2")
    assert await images.remove("example.com/tools/bb:2") == ["example.com/tools/bb:2"]
    await images.remove("busybox:1.36")
    assert images.list_images() == []
    assert all(os.path.isdir(layer) for layer in layers)  # the container still runs on them
    images.release("ctr-1")
    result = await images.gc()
    assert len(result.snapshots_removed) == 2
    assert store_content(images.root[:-len("/images")]) == ([], [])


def test_concurrent_imports_from_several_processes(tmp_path):
    data = str(tmp_path / "data")
    archives = []
    for i in range(4):
        image = ob.busybox_image(extra_layers=[ob.layer_tar({f"only-{i}": str(i)})])
        layout = ob.write_layout(tmp_path / f"layout{i}", {f"example.com/concurrent/n{i}:1": image})
        archives.append(ob.tar_dir(layout, tmp_path / f"n{i}.tar"))
    procs = [subprocess.Popen([sys.executable, "-m", "tinykube.agent.images.cli", "import", a,
                               "--data-dir", data], cwd=REPO, stdout=subprocess.DEVNULL)
             for a in archives]
    images = ImageService(data)
    while any(p.poll() is None for p in procs):
        asyncio.run(images.gc())  # GC between and during imports must not eat their content
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert [r.ref for r in images.list_images()] == [f"example.com/concurrent/n{i}:1" for i in range(4)]
    for i in range(4):
        layers = asyncio.run(images.rootfs_layers(f"example.com/concurrent/n{i}:1"))
        assert os.path.exists(os.path.join(layers[-1], f"only-{i}"))
    assert asyncio.run(images.gc()).blobs_removed == []
