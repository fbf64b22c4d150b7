"""Snapshots stacked by the kernel's overlayfs give the image's root filesystem: whiteouts
and opaque directories hide what they should, and busybox runs from the merged view."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from tinykube.agent.images import ImageService
from tinykube.agent.images.errors import UnsafeLayerError

from . import ocibuild as ob

BASE = {"a/": None, "a/keep": "keep\n", "a/gone": "gone\n", "a/gonedir/": None,
        "a/gonedir/deep": "deep\n", "opq/": None, "opq/old": "old\n", "opq/sub/": None,
        "opq/sub/older": "older\n", "top-gone": "x\n"}
UPPER = {"a/": None, "a/.wh.gone": "", "a/.wh.gonedir": "", ".wh.top-gone": "",
         "opq/": None, "opq/.wh..wh..opq": "", "opq/new": "new\n", "added": "added\n"}


@contextlib.contextmanager
def overlay(layers: list[str], workdir: str):
    """mount -t overlay with the snapshots as lowerdirs (top first), upper and work dirs."""
    upper, work, merged = (os.path.join(workdir, d) for d in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        os.makedirs(d)
    options = f"lowerdir={':'.join(reversed(layers))},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, merged], check=True)
    try:
        yield merged
    finally:
        subprocess.run(["umount", merged], check=True)


def tree(root: str) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        found.update(os.path.normpath(os.path.join(rel, n)) for n in dirnames + filenames)
    return found


async def import_image(images: ImageService, tmp_path, layers: list[bytes], name: str) -> str:
    layout = ob.write_layout(tmp_path / "layout", {name: ob.build_image(layers)})
    archive = ob.tar_dir(layout, tmp_path / "image.tar")
    result = await images.import_archive(archive)
    return result.records[0].ref


async def test_whiteouts_and_opaque_dirs_in_the_merged_view(images, tmp_path, session_dir):
    busybox = ob.layer_tar(ob.busybox_files())
    ref = await import_image(images, tmp_path, [busybox, ob.layer_tar(BASE), ob.layer_tar(UPPER)],
                             "example.com/whiteouts:1")
    layers = await images.rootfs_layers(ref)
    assert len(layers) == 3
    upper_snapshot = layers[2]
    assert os.getxattr(os.path.join(upper_snapshot, "opq"), "trusted.overlay.opaque") == b"y"
    st = os.lstat(os.path.join(upper_snapshot, "a/gone"))
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (0, 0) and not st.st_mode & 0o7777

    with overlay(layers, str(tmp_path / "mnt")) as merged:
        seen = tree(merged)
        assert {"a/keep", "opq/new", "added"} <= seen
        assert not seen & {"a/gone", "a/gonedir", "a/gonedir/deep", "top-gone", "opq/old",
                           "opq/sub", "opq/sub/older"}
        assert {n for n in seen if n.startswith("opq/")} == {"opq/new"}
        out = subprocess.run(["chroot", merged, "/bin/sh", "-c", "cat /a/keep /opq/new; ls /opq"],
                             capture_output=True, text=True, check=True).stdout
        assert out == "keep\nnew\nnew\n"


async def test_one_snapshot_per_layer_shared_by_images(images, tmp_path):
    busybox = ob.layer_tar(ob.busybox_files())
    first = await import_image(images, tmp_path / "1", [busybox, ob.layer_tar({"one": "1"})], "x/one:1")
    second = await import_image(images, tmp_path / "2", [busybox, ob.layer_tar({"two": "2"})], "x/two:1")
    a, b = await images.rootfs_layers(first), await images.rootfs_layers(second)
    assert a[0] == b[0] and a[1] != b[1]
    assert len(os.listdir(os.path.join(images.root, "snapshots/sha256"))) == 3


def hostile_layer(case: str, outside: str) -> bytes:
    """Layers that try to write to `outside` (a directory out of the snapshot)."""
    members = {
        "dotdot": [ob.RawMember("../../../../../../../../" + outside.lstrip("/") + "/escaped", b"x")],
        "symlink-parent": [ob.RawMember("link", symlink=outside),
                           ob.RawMember("link/escaped", b"x")],
        "relative-symlink-parent": [ob.RawMember("up", symlink="../../../../../../../.."),
                                    ob.RawMember("up" + outside + "/escaped", b"x")],
        "hardlink-out": [ob.RawMember("hl", hardlink="../../../../../../etc/passwd")],
    }[case]
    return ob.raw_tar(members)


@pytest.mark.parametrize("case", ["dotdot", "symlink-parent", "relative-symlink-parent",
                                  "hardlink-out"])
async def test_path_traversal_in_a_layer_is_refused(images, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    busybox = ob.layer_tar(ob.busybox_files())
    layout = ob.write_layout(tmp_path / "layout", {
        "example.com/evil:1": ob.build_image([busybox, hostile_layer(case, str(outside))])})
    passwd_before = os.stat("/etc/passwd")
    with pytest.raises(UnsafeLayerError) as err:
        await images.import_archive(ob.tar_dir(layout, tmp_path / "evil.tar"))
    assert str(err.value).startswith("failed to extract layer sha256:")
    assert os.listdir(outside) == []
    assert os.stat("/etc/passwd").st_nlink == passwd_before.st_nlink
    assert images.list_images() == []
    assert [n for n in os.listdir(os.path.join(images.root, "snapshots")) if n.startswith(".tmp")] == []


async def test_absolute_names_stay_inside_the_snapshot(images, tmp_path):
    target = tmp_path / "abs-target"
    layer = ob.raw_tar([ob.RawMember(f"{target}/file", b"inside")])
    ref = await import_image(images, tmp_path, [layer], "example.com/abs:1")
    (snapshot,) = await images.rootfs_layers(ref)
    assert not target.exists()
    with open(os.path.join(snapshot, str(target).lstrip("/"), "file"), "rb") as f:
        assert f.read() == b"inside"
