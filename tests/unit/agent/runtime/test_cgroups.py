"""cgroups: layouts from mountinfo, and usage/limits/OOM counts read from directory trees
laid out like v1 and v2 (in a temporary directory; no root needed)."""

import pytest

from tinykube.agent.runtime import CgroupLayout, Cgroups, Limits, Usage

HYBRID = """\
25 1 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw shared:8 - tmpfs tmpfs rw,mode=755
27 26 0:24 / /sys/fs/cgroup/unified rw shared:9 - cgroup2 cgroup2 rw
28 26 0:25 / /sys/fs/cgroup/systemd rw shared:10 - cgroup cgroup rw,name=systemd
29 26 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct
30 26 0:27 / /sys/fs/cgroup/memory rw shared:12 - cgroup cgroup rw,memory
31 26 0:28 / /sys/fs/cgroup/pids rw shared:13 - cgroup cgroup rw,pids
32 1 0:29 / /mnt/with\\040space rw - ext4 /dev/sda rw
"""
UNIFIED = "27 1 0:24 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_layout():
    layout = CgroupLayout.from_mountinfo(HYBRID)
    assert layout.version == 1 and layout.unified == "/sys/fs/cgroup/unified"
    assert layout.v1 == {"name=systemd": "/sys/fs/cgroup/systemd", "cpu": "/sys/fs/cgroup/cpu,cpuacct",
                         "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
                         "pids": "/sys/fs/cgroup/pids"}
    assert layout.hierarchies() == ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/cpu,cpuacct",
                                    "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"]
    assert layout.dir("memory", "/tk/pod1/c1") == "/sys/fs/cgroup/memory/tk/pod1/c1"
    assert layout.dir("hugetlb", "/tk") is None


def test_unified_layout():
    layout = CgroupLayout.from_mountinfo(UNIFIED)
    assert layout.version == 2 and layout.hierarchies() == ["/sys/fs/cgroup"]
    assert layout.dir("memory", "/tk/pod1") == layout.dir("cpu", "/tk/pod1") == "/sys/fs/cgroup/tk/pod1"


def write(directory, **files):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text)


@pytest.fixture
def v1(tmp_path):
    layout = CgroupLayout({c: str(tmp_path / c) for c in ("cpu", "cpuacct", "memory", "pids")}, None)
    path = "tk/pod1/c1"
    write(tmp_path / "cpu" / path, cpu__shares="256\n", cpu__cfs_quota_us="50000\n", cpu__cfs_period_us="100000\n")
    write(tmp_path / "cpuacct" / path, cpuacct__usage="123456789\n")
    write(tmp_path / "memory" / path, memory__usage_in_bytes="10000000\n",
          memory__stat="cache 100\ntotal_inactive_file 4000000\ninactive_file 1\n",
          memory__limit_in_bytes="67108864\n", memory__memsw__limit_in_bytes="9223372036854771712\n",
          memory__oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    write(tmp_path / "pids" / path, pids__current="3\n", pids__max="max\n")
    return Cgroups(layout), "/" + path


@pytest.fixture
def v2(tmp_path):
    layout = CgroupLayout({}, str(tmp_path))
    path = "tk/pod1/c1"
    write(tmp_path / path, **{"cpu.stat": "usage_usec 5000\nuser_usec 3000\n", "cpu.weight": "10\n",
                              "cpu.max": "max 100000\n", "memory.current": "2000\n",
                              "memory.stat": "inactive_file 500\n", "memory.max": "1048576\n",
                              "memory.swap.max": "0\n", "memory.events": "low 0\noom 1\noom_kill 1\n",
                              "pids.current": "2\n", "pids.max": "50\n"})
    return Cgroups(layout), path


def test_v1_usage_limits_and_oom(v1):
    cgroups, path = v1
    assert cgroups.usage(path) == Usage(cpu_usage_ns=123456789, memory_usage_bytes=10000000,
                                        memory_working_set_bytes=6000000, pids=3)
    assert cgroups.limits(path) == Limits(cpu_shares=256, cpu_quota_us=50000, cpu_period_us=100000,
                                          memory_bytes=64 << 20, memory_swap_bytes=None, pids=None)
    assert cgroups.oom_kills(path) == 2
    assert cgroups.memory_dir(path).endswith("/memory/tk/pod1/c1")


def test_v2_usage_limits_and_oom(v2):
    cgroups, path = v2
    assert cgroups.usage(path) == Usage(cpu_usage_ns=5_000_000, memory_usage_bytes=2000,
                                        memory_working_set_bytes=1500, pids=2)
    assert cgroups.limits(path) == Limits(cpu_weight=10, cpu_quota_us=None, cpu_period_us=100000,
                                          memory_bytes=1048576, memory_swap_bytes=0, pids=50)
    assert cgroups.oom_kills(path) == 1


def test_missing_files_read_as_nothing(v2):
    cgroups, _ = v2
    assert cgroups.usage("/nope") == Usage(0, 0, 0, 0)
    assert cgroups.limits("/nope") == Limits()
    assert cgroups.oom_kills("/nope") == 0 and not cgroups.exists("/nope")


def test_remove_takes_the_tree_down_children_first_in_every_hierarchy(v1, tmp_path):
    cgroups, _ = v1
    for hierarchy in cgroups.layout.hierarchies():  # cgroup dirs hold only kernel files; plain dirs here
        for leaf in ("tk/pod1/c1", "tk/pod1/c2", "tk/pod2"):
            d = tmp_path / hierarchy / leaf
            d.mkdir(parents=True, exist_ok=True)
            for f in d.iterdir():
                f.unlink()
    assert cgroups.exists("/tk")
    cgroups.remove("/tk/pod1")
    assert not cgroups.exists("/tk/pod1") and cgroups.exists("/tk/pod2")
    cgroups.remove("/tk")
    cgroups.remove("/tk")  # again: nothing to do
    assert not cgroups.exists("/tk")
