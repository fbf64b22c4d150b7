"""Table tests of the whole config.json: namespaces, mounts, hostname, hardening, cgroup."""

import pytest

from tinykube.agent.runtime import (ImageConfig, RuntimeConfig, SandboxPaths, VolumeMount,
                                    container_spec, pod_cgroup_path)
from tinykube.agent.runtime.mounts import merge
from tinykube.agent.runtime.security import MASKED_PATHS, READONLY_PATHS

SANDBOX = SandboxPaths(netns="/run/sb/ns/net", ipcns="/run/sb/ns/ipc", utsns="/run/sb/ns/uts",
                       shm="/run/sb/shm", hostname="web", hostname_file="/run/sb/hostname",
                       hosts_file="/run/sb/hosts", resolv_conf="/run/sb/resolv.conf")
HOST_NET = SandboxPaths(netns=None, ipcns="/run/sb/ns/ipc", utsns=None, shm="/run/sb/shm",
                        hostname="node-1", hostname_file="/run/sb/hostname")
IMAGE = ImageConfig(entrypoint=("/entry",), cmd=("serve",), env=("PATH=/img", "IMG=1"), working_dir="/srv")
RUNTIME = RuntimeConfig(cgroup_root="/tinykube", memory_capacity=16 << 30, nofile=1048576)


def pod(**spec):
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": [{"name": "app"}], **spec}}


def spec_of(container=None, *, the_pod=None, sandbox=SANDBOX, **kw):
    container = container or {"name": "app"}
    kw.setdefault("runtime", RUNTIME)
    return container_spec(pod=the_pod or pod(), container=container, image=kw.pop("image", IMAGE),
                          rootfs="/var/lib/tk/c1/rootfs", env=kw.pop("env", ["A=1"]), sandbox=sandbox,
                          container_id="c1", **kw)


def test_a_plain_container():
    config = spec_of().config
    assert config["ociVersion"] == "1.0.2"
    assert config["root"] == {"path": "/var/lib/tk/c1/rootfs", "readonly": False}
    assert config["hostname"] == "web"
    p = config["process"]
    assert p["args"] == ["/entry", "serve"] and p["cwd"] == "/srv" and p["terminal"] is False
    assert p["env"] == ["PATH=/img", "HOSTNAME=web", "IMG=1", "A=1"]
    assert p["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert p["noNewPrivileges"] is False and p["oomScoreAdj"] == 1000
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}]
    assert len(p["capabilities"]["bounding"]) == 14 and "inheritable" not in p["capabilities"]
    linux = config["linux"]
    assert linux["cgroupsPath"] == "/tinykube/podu-1/c1" == pod_cgroup_path(RUNTIME, "u-1") + "/c1"
    assert linux["maskedPaths"] == list(MASKED_PATHS) and linux["readonlyPaths"] == list(READONLY_PATHS)
    assert linux["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "devices" not in linux and "sysctl" not in linux and "rootfsPropagation" not in linux
    assert config["annotations"]["io.kubernetes.cri.sandbox-uid"] == "u-1"
    assert config["annotations"]["io.kubernetes.cri.container-name"] == "app"


@pytest.mark.parametrize("the_pod,sandbox,v2,expected", [
    (pod(), SANDBOX, False, [{"type": "pid"}, {"type": "ipc", "path": "/run/sb/ns/ipc"},
                             {"type": "uts", "path": "/run/sb/ns/uts"}, {"type": "mount"},
                             {"type": "network", "path": "/run/sb/ns/net"}]),
    (pod(hostNetwork=True), HOST_NET, False, [{"type": "pid"}, {"type": "ipc", "path": "/run/sb/ns/ipc"},
                                              {"type": "mount"}]),
    (pod(hostPID=True), SANDBOX, False, [{"type": "ipc", "path": "/run/sb/ns/ipc"},
                                         {"type": "uts", "path": "/run/sb/ns/uts"}, {"type": "mount"},
                                         {"type": "network", "path": "/run/sb/ns/net"}]),
    (pod(), SANDBOX, True, [{"type": "pid"}, {"type": "ipc", "path": "/run/sb/ns/ipc"},
                            {"type": "uts", "path": "/run/sb/ns/uts"}, {"type": "mount"},
                            {"type": "network", "path": "/run/sb/ns/net"}, {"type": "cgroup"}]),
])
def test_namespaces(the_pod, sandbox, v2, expected):
    runtime = RuntimeConfig(cgroup_v2=v2)
    assert spec_of(the_pod=the_pod, sandbox=sandbox, runtime=runtime).config["linux"]["namespaces"] == expected


def test_host_network_pods_keep_the_nodes_hostname():
    config = spec_of(the_pod=pod(hostNetwork=True), sandbox=HOST_NET).config
    assert "hostname" not in config and "HOSTNAME=node-1" in config["process"]["env"]


def _mounts(config):
    return [(m["destination"], m["type"], m["source"], m.get("options")) for m in config["mounts"]]


def test_default_and_sandbox_mounts():
    mounts = _mounts(spec_of().config)
    assert [m[0] for m in mounts] == ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
                                      "/dev/shm", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    assert mounts[4] == ("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"])
    assert mounts[5] == ("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"])
    assert mounts[6] == ("/dev/shm", "bind", "/run/sb/shm", ["rbind", "rprivate", "rw"])
    assert mounts[7] == ("/etc/hostname", "bind", "/run/sb/hostname", ["rbind", "rprivate", "rw"])


def test_volumes_override_defaults_and_sandbox_files_and_come_parents_first():
    volumes = [VolumeMount("/data/cache/sub", "/cache/sub", read_only=True),
               VolumeMount("/data/cache", "/cache"),
               VolumeMount("/data/hosts", "/etc/hosts"),
               VolumeMount("/data/mq", "/dev/mqueue"),
               VolumeMount("/dev", "/host-dev", propagation="HostToContainer")]
    config = spec_of(volumes=volumes).config
    destinations = [m["destination"] for m in config["mounts"]]
    assert destinations == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup",
                            "/cache", "/host-dev", "/dev/shm", "/etc/hostname", "/etc/hosts",
                            "/etc/resolv.conf", "/cache/sub", "/dev/mqueue"]
    by_destination = {m["destination"]: m for m in config["mounts"]}
    assert by_destination["/etc/hosts"]["source"] == "/data/hosts"
    assert by_destination["/cache/sub"]["options"] == ["rbind", "rprivate", "ro"]
    assert by_destination["/host-dev"]["options"] == ["rbind", "rslave", "rw"]
    assert config["linux"]["rootfsPropagation"] == "rslave"


def test_bidirectional_propagation_makes_the_root_rshared():
    config = spec_of(volumes=[VolumeMount("/mnt", "/mnt", propagation="Bidirectional")]).config
    assert config["linux"]["rootfsPropagation"] == "rshared"
    assert [m["options"] for m in config["mounts"] if m["destination"] == "/mnt"] == [["rbind", "rshared", "rw"]]


def test_merge_keeps_the_last_cri_mount_for_a_destination():
    a = {"destination": "/x", "source": "a"}
    b = {"destination": "/x/", "source": "b"}
    assert merge([{"destination": "/x", "source": "default"}], [a, b]) == [b]


def test_read_only_root_filesystem():
    config = spec_of({"name": "app", "securityContext": {"readOnlyRootFilesystem": True}}).config
    assert config["root"]["readonly"] is True
    by_destination = {m["destination"]: m["options"][-1] for m in config["mounts"] if m["type"] == "bind"}
    assert by_destination == {"/dev/shm": "rw", "/etc/hostname": "ro", "/etc/hosts": "rw", "/etc/resolv.conf": "ro"}


def test_privileged():
    runtime = RuntimeConfig(all_capabilities=("CAP_CHOWN", "CAP_SYS_ADMIN"),
                            host_devices=({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},))
    config = spec_of({"name": "app", "securityContext": {"privileged": True}}, runtime=runtime).config
    assert config["process"]["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert config["linux"]["maskedPaths"] == [] and config["linux"]["readonlyPaths"] == []
    assert config["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert config["linux"]["devices"] == [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    sys_options = {m["destination"]: m["options"][-1] for m in config["mounts"] if m["destination"].startswith("/sys")}
    assert sys_options == {"/sys": "rw", "/sys/fs/cgroup": "rw"}


def test_security_context_and_resources_reach_the_spec():
    container = {"name": "app", "command": ["run", "$(A)"],
                 "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000, "runAsGroup": 3000,
                                     "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                 "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}}}
    the_pod = pod(containers=[container], securityContext={"supplementalGroups": [4000],
                                                           "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]})
    config = spec_of(container, the_pod=the_pod).config
    p, linux = config["process"], config["linux"]
    assert p["args"] == ["run", "1"]
    assert p["user"] == {"uid": 1000, "gid": 3000, "additionalGids": [3000, 4000]}
    assert p["noNewPrivileges"] is True
    assert p["capabilities"]["effective"] == ["CAP_NET_BIND_SERVICE"]
    assert p["oomScoreAdj"] == 1000 - 1000 * (1 << 30) // (16 << 30)
    assert linux["resources"]["cpu"] == {"shares": 256, "quota": 50000, "period": 100000}
    assert linux["resources"]["memory"] == {"limit": 2 << 30}
    assert linux["sysctl"] == {"net.core.somaxconn": "1024"}


def test_oom_score_adj_never_below_what_the_agent_may_set():
    guaranteed = {"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                               "limits": {"cpu": "1", "memory": "1Gi"}}}
    the_pod = pod(containers=[guaranteed])
    assert spec_of(guaranteed, the_pod=the_pod).config["process"]["oomScoreAdj"] == -997
    restricted = RuntimeConfig(min_oom_score_adj=0)
    assert spec_of(guaranteed, the_pod=the_pod, runtime=restricted).config["process"]["oomScoreAdj"] == 0


def test_no_rlimits_when_nofile_is_zero_inherits_like_containerd():
    assert "rlimits" not in spec_of(runtime=RuntimeConfig(nofile=0)).config["process"]


def test_warnings_come_with_the_spec():
    container = {"name": "app", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    spec = spec_of(container)
    assert len(spec.warnings) == 1 and "seccompProfile" in spec.warnings[0]
    assert "seccomp" not in spec.config["linux"]


def test_image_user_by_name_needs_passwd():
    spec = spec_of(image=ImageConfig(cmd=("x",), user="app"), passwd="app:x:7:8::/:/bin/sh\n", group="")
    assert spec.config["process"]["user"] == {"uid": 7, "gid": 8, "additionalGids": [8]}


def test_image_config_from_oci():
    image = ImageConfig.from_oci({"Entrypoint": ["/e"], "Cmd": None, "Env": ["A=1"], "WorkingDir": "/w",
                                  "User": "1:2", "StopSignal": "SIGQUIT"})
    assert image == ImageConfig(("/e",), (), ("A=1",), "/w", "1:2", "SIGQUIT")
    assert ImageConfig.from_oci(None) == ImageConfig()
