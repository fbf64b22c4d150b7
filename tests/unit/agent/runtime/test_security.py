"""Table tests: containerd's default hardening adjusted by securityContext."""

import pytest

from tinykube.agent.runtime.model import ALL_CAPABILITIES, DEFAULT_CAPABILITIES
from tinykube.agent.runtime.security import (MASKED_PATHS, READONLY_PATHS, capabilities,
                                             capabilities_oci, masked_paths, no_new_privileges,
                                             pod_warnings, readonly_paths, sysctls, warnings)

DEFAULT = list(DEFAULT_CAPABILITIES)
KERNEL = ALL_CAPABILITIES[:41]


def c(**sc):
    return {"name": "c", "securityContext": sc}


def test_the_default_set_is_containerds_fourteen():
    assert DEFAULT == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                       "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                       "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


@pytest.mark.parametrize("container,expected", [
    ({"name": "c"}, DEFAULT),
    (c(capabilities={"add": ["NET_ADMIN"]}), DEFAULT + ["CAP_NET_ADMIN"]),
    (c(capabilities={"add": ["net_admin", "CAP_SYS_TIME"]}), DEFAULT + ["CAP_NET_ADMIN", "CAP_SYS_TIME"]),
    (c(capabilities={"add": ["CHOWN"]}), DEFAULT),                                  # no duplicates
    (c(capabilities={"drop": ["NET_RAW", "MKNOD"]}), [x for x in DEFAULT if x not in ("CAP_NET_RAW", "CAP_MKNOD")]),
    (c(capabilities={"drop": ["ALL"]}), []),
    (c(capabilities={"drop": ["all"], "add": ["NET_BIND_SERVICE"]}), ["CAP_NET_BIND_SERVICE"]),
    (c(capabilities={"add": ["ALL"]}), list(KERNEL)),
    (c(capabilities={"add": ["ALL"], "drop": ["CHOWN"]}), [x for x in KERNEL if x != "CAP_CHOWN"]),
    (c(capabilities={"add": ["NET_ADMIN"], "drop": ["NET_ADMIN"]}), DEFAULT),      # drop wins
    (c(capabilities={"add": ["ALL"], "drop": ["ALL"]}), []),
    (c(privileged=True, capabilities={"drop": ["ALL"]}), list(KERNEL)),           # privileged: all
])
def test_capabilities(container, expected):
    assert capabilities(container, KERNEL) == expected


def test_capabilities_fill_bounding_effective_permitted_only():
    assert capabilities_oci(["CAP_KILL"]) == {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                             "permitted": ["CAP_KILL"]}


@pytest.mark.parametrize("csc,expected", [
    ({}, False),                                   # unset: no no_new_privs
    ({"allowPrivilegeEscalation": True}, False),
    ({"allowPrivilegeEscalation": False}, True),
])
def test_no_new_privileges(csc, expected):
    assert no_new_privileges({"securityContext": csc}) is expected


def test_masked_and_readonly_paths():
    assert masked_paths({"name": "c"}) == list(MASKED_PATHS)
    assert set(MASKED_PATHS) == {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                 "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                 "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                                 "/sys/devices/virtual/powercap"}
    assert readonly_paths({"name": "c"}) == list(READONLY_PATHS) == [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    for container in (c(privileged=True), c(procMount="Unmasked")):
        assert masked_paths(container) == readonly_paths(container) == []
    assert masked_paths(c(procMount="Default")) == list(MASKED_PATHS)


def test_sysctls():
    pod = {"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
                                                    {"name": "kernel.shm_rmid_forced", "value": 1}]}}}
    assert sysctls(pod) == {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1"}
    assert sysctls({"spec": {}}) == {}


@pytest.mark.parametrize("psc,container,fragment", [
    ({"seccompProfile": {"type": "RuntimeDefault"}}, {"name": "c"}, "seccompProfile type RuntimeDefault is not supported yet"),
    ({}, c(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}), "seccompProfile type Localhost"),
    ({}, c(appArmorProfile={"type": "RuntimeDefault"}), "appArmorProfile type RuntimeDefault"),
    ({"seLinuxOptions": {"level": "s0:c1"}}, {"name": "c"}, "seLinuxOptions are not supported yet"),
])
def test_what_is_not_supported_is_a_warning(psc, container, fragment):
    found = warnings({"spec": {"securityContext": psc}}, container)
    assert len(found) == 1 and fragment in found[0] and found[0].startswith('container "c": ')


@pytest.mark.parametrize("psc,csc", [
    ({}, {}),
    ({"seccompProfile": {"type": "Unconfined"}}, {}),
    ({"seccompProfile": {"type": "RuntimeDefault"}}, {"seccompProfile": {"type": "Unconfined"}}),  # container wins
])
def test_no_warning_when_nothing_unsupported_is_asked(psc, csc):
    assert warnings({"spec": {"securityContext": psc}}, {"name": "c", "securityContext": csc}) == []


def test_pod_warnings():
    assert pod_warnings({"spec": {}}) == []
    found = pod_warnings({"spec": {"shareProcessNamespace": True, "hostUsers": False}})
    assert len(found) == 2 and "shareProcessNamespace" in found[0] and "hostUsers" in found[1]
