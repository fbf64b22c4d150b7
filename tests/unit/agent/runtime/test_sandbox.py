"""The sandbox's logic against a recording host: what it pins and mounts, the files it
writes, teardown, failure handling, loading after a restart."""

import pytest

from tinykube.agent.runtime import Sandbox, SandboxConfig, SandboxError
from tinykube.agent.runtime.fake import FakeHost


def config(**kw):
    return SandboxConfig(**{"id": "sb1", "hostname": "web", "hosts": "127.0.0.1\tlocalhost\n",
                            "resolv_conf": "nameserver 10.43.0.10\n", **kw})


async def test_a_pod_sandbox_pins_three_namespaces_and_mounts_shm(tmp_path):
    host = FakeHost()
    sandbox = await Sandbox(tmp_path, config(), host=host).create()
    d = tmp_path / "sb1"

    assert host.calls == [
        ("mount_tmpfs", str(d / "shm"), "mode=1777,size=67108864"),
        ("pin", {"net": str(d / "ns/net"), "uts": str(d / "ns/uts"), "ipc": str(d / "ns/ipc")}, "web", True),
    ]
    assert sandbox.netns_path == str(d / "ns/net")
    paths = sandbox.paths
    assert (paths.netns, paths.ipcns, paths.utsns, paths.shm) == (
        str(d / "ns/net"), str(d / "ns/ipc"), str(d / "ns/uts"), str(d / "shm"))
    assert (d / "hostname").read_text() == "web\n"
    assert (d / "hosts").read_text() == "127.0.0.1\tlocalhost\n" and paths.hosts_file == str(d / "hosts")
    assert (d / "resolv.conf").read_text() == "nameserver 10.43.0.10\n"


@pytest.mark.parametrize("flags,pinned,shm", [
    ({"host_network": True}, {"ipc"}, "tmpfs"),
    ({"host_ipc": True}, {"net", "uts"}, "/dev/shm"),
    ({"host_network": True, "host_ipc": True}, set(), "/dev/shm"),
])
async def test_host_namespaces_are_not_pinned(tmp_path, flags, pinned, shm):
    host = FakeHost()
    sandbox = await Sandbox(tmp_path, config(**flags), host=host).create()
    pins = [call[1] for call in host.calls if call[0] == "pin"]
    assert set(pins[0]) == pinned if pins else pinned == set()
    assert (sandbox.paths.shm == "/dev/shm") is (shm == "/dev/shm")
    assert (sandbox.netns_path is None) is flags.get("host_network", False)


async def test_no_hosts_or_resolv_conf_means_no_such_mount(tmp_path):
    sandbox = await Sandbox(tmp_path, config(hosts=None, resolv_conf=None), host=FakeHost()).create()
    assert sandbox.paths.hosts_file is None and sandbox.paths.resolv_conf is None


async def test_destroy_unmounts_everything_and_removes_the_directory(tmp_path):
    host = FakeHost()
    sandbox = await Sandbox(tmp_path, config(), host=host).create()
    await sandbox.destroy()
    await sandbox.destroy()  # again: nothing left to do
    assert host.mounted == [] and not (tmp_path / "sb1").exists()
    assert [c[0] for c in host.calls].count("unmount") == 4


async def test_write_hosts_keeps_the_inode_the_containers_bind_mounted(tmp_path):
    sandbox = await Sandbox(tmp_path, config(), host=FakeHost()).create()
    inode = (tmp_path / "sb1" / "hosts").stat().st_ino
    sandbox.write_hosts("10.42.0.7\tweb\n")
    assert (tmp_path / "sb1" / "hosts").stat().st_ino == inode
    assert (tmp_path / "sb1" / "hosts").read_text() == "10.42.0.7\tweb\n"


class FailingHost(FakeHost):
    async def pin(self, files, *, hostname, loopback):
        raise OSError(1, "unshare: Operation not permitted")


async def test_a_failed_create_undoes_itself(tmp_path):
    host = FailingHost()
    with pytest.raises(SandboxError, match="creating sandbox sb1: .*Operation not permitted"):
        await Sandbox(tmp_path, config(), host=host).create()
    assert host.mounted == [] and not (tmp_path / "sb1").exists()


async def test_a_sandbox_is_created_once(tmp_path):
    await Sandbox(tmp_path, config(), host=FakeHost()).create()
    with pytest.raises(SandboxError, match="already exists"):
        await Sandbox(tmp_path, config(), host=FakeHost()).create()


async def test_load_after_a_restart(tmp_path):
    original = await Sandbox(tmp_path, config(host_ipc=True), host=FakeHost()).create()
    loaded = Sandbox.load(tmp_path, "sb1", host=FakeHost())
    assert loaded.config == original.config and loaded.paths == original.paths and loaded.exists()
    assert Sandbox.load(tmp_path, "nope") is None
    assert Sandbox.ids(tmp_path) == ["sb1"] and Sandbox.ids(tmp_path / "missing") == []
