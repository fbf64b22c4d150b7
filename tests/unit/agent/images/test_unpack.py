"""Unpacking layers into snapshot dirs, as root, on the real file system: what is preserved,
how whiteouts look, which hostile members are refused."""

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from tests.integration.images import ocibuild as ob
from tinykube.agent.images.errors import ContentError, UnsafeLayerError
from tinykube.agent.images.snapshots import Snapshotter
from tinykube.agent.images.unpack import apply_layer, clean_name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking needs root (mknod, chown, trusted.* xattrs)")


@pytest.fixture
def work():
    path = tempfile.mkdtemp(prefix="tinykube-unpack-")
    yield path
    shutil.rmtree(path)


def unpack(work: str, layer: bytes, name: str = "layer") -> tuple[str, str]:
    blob, target = os.path.join(work, f"{name}.blob"), os.path.join(work, name)
    with open(blob, "wb") as f:
        f.write(layer)
    os.mkdir(target)
    return target, apply_layer(blob, target)


def test_modes_owners_links_devices_xattrs_times(work):
    layer = ob.layer_tar({
        "bin/": ob.directory(0o755),
        "bin/su": ob.file(b"x", 0o4755, uid=1000, gid=1000),
        "bin/ro": ob.file(b"ro", 0o400),
        "home/": ob.directory(0o700, uid=33, gid=33),
        "tmp/": ob.directory(0o1777),
        "bin/sh": ob.symlink("/bin/busybox"),
        "bin/su-again": ob.hardlink("bin/su"),
        "dev/": None, "dev/null": ob.chardev(1, 3), "dev/fifo": ob.fifo(0o600),
        "etc/": None, "etc/tagged": ob.file(b"t", xattrs={"user.comment": "hello",
                                                           "trusted.overlay.opaque": "y"}),
    })
    root, _ = unpack(work, layer)
    su = os.lstat(f"{root}/bin/su")
    assert (stat.S_IMODE(su.st_mode), su.st_uid, su.st_gid) == (0o4755, 1000, 1000)
    assert stat.S_IMODE(os.lstat(f"{root}/bin/ro").st_mode) == 0o400
    home = os.lstat(f"{root}/home")
    assert (stat.S_IMODE(home.st_mode), home.st_uid) == (0o700, 33)
    assert stat.S_IMODE(os.lstat(f"{root}/tmp").st_mode) == 0o1777
    assert os.readlink(f"{root}/bin/sh") == "/bin/busybox"
    assert os.lstat(f"{root}/bin/su-again").st_ino == su.st_ino
    null = os.lstat(f"{root}/dev/null")
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_ISFIFO(os.lstat(f"{root}/dev/fifo").st_mode)
    assert os.getxattr(f"{root}/etc/tagged", "user.comment") == b"hello"
    assert "trusted.overlay.opaque" not in os.listxattr(f"{root}/etc/tagged")  # dropped
    assert su.st_mtime == ob.MTIME and os.lstat(f"{root}/bin").st_mtime == ob.MTIME


def test_whiteouts_become_overlayfs_markers(work):
    root, _ = unpack(work, ob.layer_tar({
        "a/": None, "a/.wh.gone": "", "opq/": None, "opq/.wh..wh..opq": "", "opq/kept": "k",
        "implicit/.wh.x": "", ".wh..wh.plnk": "",  # aufs bookkeeping: skipped
    }))
    gone = os.lstat(f"{root}/a/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert os.getxattr(f"{root}/opq", "trusted.overlay.opaque") == b"y"
    assert os.listdir(f"{root}/opq") == ["kept"]
    assert stat.S_ISCHR(os.lstat(f"{root}/implicit/x").st_mode)  # parent created for it
    assert sorted(os.listdir(root)) == ["a", "implicit", "opq"]


def test_later_members_replace_earlier_ones(work):
    root, _ = unpack(work, ob.layer_tar({
        "x": "file", "x/": None, "x/inner": "i",        # a file replaced by a directory
        "d/": None, "d/f": "f", "d": ob.symlink("/"),   # a directory replaced by a symlink
        "same/": ob.directory(0o700), "same/kept": "k", "same": ob.directory(0o750),  # merged
        "w": "w", ".wh.w": "",                            # whiteout of an earlier entry
    }))
    assert os.path.isdir(f"{root}/x") and os.listdir(f"{root}/x") == ["inner"]
    assert os.readlink(f"{root}/d") == "/"
    assert os.listdir(f"{root}/same") == ["kept"]
    assert stat.S_IMODE(os.lstat(f"{root}/same").st_mode) == 0o750
    assert stat.S_ISCHR(os.lstat(f"{root}/w").st_mode)


def test_writing_through_a_replaced_symlink_is_refused(work):
    layer = ob.layer_tar({"d/": None, "d/f": "f", "d": ob.symlink(work), "d/escaped": "x"})
    with pytest.raises(UnsafeLayerError):
        unpack(work, layer)
    assert not os.path.exists(os.path.join(work, "escaped"))


@pytest.mark.parametrize("members", [
    [ob.RawMember("../x", b"x")],
    [ob.RawMember("a/../../x", b"x")],
    [ob.RawMember("hl", hardlink="../x")],
    [ob.RawMember("ln", symlink="/"), ob.RawMember("ln/etc/x", b"x")],
    [ob.RawMember("ln", symlink="."), ob.RawMember("other", b"o"), ob.RawMember("h2", hardlink="ln/other")],
    [ob.RawMember(".wh..", b"")],
])
def test_hostile_members_are_refused(work, members):
    with pytest.raises(UnsafeLayerError):
        unpack(work, ob.raw_tar(members))
    assert sorted(os.listdir(work)) == ["layer", "layer.blob"]


def test_names_are_cleaned_lexically():
    assert clean_name("./a//b/./c/") == ["a", "b", "c"]
    assert clean_name("/abs/x") == ["abs", "x"]
    assert clean_name("a/b/../c") == ["a", "c"]
    assert clean_name("./") == []


def test_diff_id_is_the_uncompressed_digest_for_every_compression(work):
    plain = ob.layer_tar({"f": "content"}, compress=False)
    expected = "sha256:" + hashlib.sha256(plain).hexdigest()
    variants = {"plain": plain, "gzip": gzip.compress(plain)}
    if shutil.which("zstd"):
        variants["zstd"] = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True,
                                          check=True).stdout
    for name, blob in variants.items():
        root, diff_id = unpack(work, blob, name)
        assert diff_id == expected, name
        assert open(f"{root}/f").read() == "content"


def test_corrupt_layers_are_content_errors(work):
    good = ob.layer_tar({"f": "x" * 10000})
    with pytest.raises(ContentError):
        unpack(work, good[: len(good) // 2], "truncated")


def test_snapshot_appears_only_when_complete_and_verified(work):
    snapshots = Snapshotter(work)
    layer = ob.layer_tar({"f": "x"})
    blob = os.path.join(work, "blob")
    with open(blob, "wb") as f:
        f.write(layer)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ContentError, match="diff_id"):
        snapshots.prepare(wrong, blob)
    assert not snapshots.exists(wrong)
    assert [n for n in os.listdir(snapshots.dir) if n.startswith(".tmp")] == []
    right = ob.digest(ob.uncompressed(layer))
    path = snapshots.prepare(right, blob)
    assert snapshots.prepare(right, blob) == path and os.listdir(path) == ["f"]
    snapshots.remove(right)
    assert snapshots.diff_ids() == set()
