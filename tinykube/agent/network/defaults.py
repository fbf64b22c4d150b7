"""A node's network settings and the configuration tinykube writes from them.

The default network is a list of standard plugins:
- `bridge` (one bridge per node, the gateway of the node's pod CIDR, so pods on the
  node reach each other and the node reaches them), with `host-local` IPAM handing
  out the pod CIDR and keeping its allocations under the agent's data dir;
- `portmap` for `hostPort`, with the portMappings capability and snat (so a pod can
  reach its own hostPort through the node's address, and localhost works).
The loopback interface is a separate built-in attachment (as containerd does), run
for every pod whatever network configuration is in use, so `localhost` between the
containers of a pod works with user-supplied configurations too.

Masquerade is on by default (`masquerade=True`): a real cluster needs it for pod
traffic to anything outside the cluster, and it keeps private pod addresses from
appearing as sources on the host's network. tinykube installs it as one nftables
rule per node (masquerade.py) instead of the bridge plugin's per-pod `ipMasq`,
which would also masquerade pod-to-pod traffic between nodes. Masquerading changes
nothing about what *may* leave: the unreachable routes (routes.py) keep cluster and
Service addresses on the host, and the test harness runs nodes in namespaces that
have no route off the machine. A user-supplied configuration brings its own
masquerading (or not); tinykube then adds none.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from .errors import ConfigError, SafetyError
from .invoke import DEFAULT_PLUGIN_DIRS

CNI_VERSION = "1.0.0"  # the newest spec the Debian plugins (1.1.x) speak
LOOPBACK_NETWORK = {"cniVersion": CNI_VERSION, "name": "cni-loopback",
                    "plugins": [{"type": "loopback"}]}


@dataclass(frozen=True)
class NetworkSettings:
    """How a node's pod network is set up. Paths default to <data_dir>/network/..."""

    data_dir: str
    pod_cidr: str = "10.42.0.0/24"  # this node's share (Node.spec.podCIDR)
    cluster_cidr: str = "10.42.0.0/16"  # every node's pod CIDR lies in it
    service_cidr: str = "10.43.0.0/16"
    bridge: str = "tinykube0"
    network_name: str = "tinykube"
    conf_dir: str = ""  # user .conflist files (like --cni-conf-dir); "" = default
    plugin_dirs: tuple[str, ...] = DEFAULT_PLUGIN_DIRS
    masquerade: bool = True  # pod traffic leaving the cluster (default network only)
    hairpin: bool = True  # a pod reaching itself through a Service IP
    mtu: int = 0  # 0: the bridge plugin's default
    interface: str = "eth0"
    host_netns: str = ""  # "" = this process's namespace is the node's host
    timeout: float = 30.0  # seconds per plugin execution
    unreachable_routes: bool = True

    @property
    def network_dir(self) -> str:
        return os.path.join(self.data_dir, "network")

    @property
    def user_conf_dir(self) -> str:
        return self.conf_dir or os.path.join(self.network_dir, "net.d")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.network_dir, "results")

    @property
    def ipam_dir(self) -> str:
        return os.path.join(self.network_dir, "ipam")

    @property
    def default_conf_path(self) -> str:
        return os.path.join(self.network_dir, f"{self.network_name}.conflist")

    @property
    def blocked_cidrs(self) -> tuple[str, ...]:
        return (self.cluster_cidr, self.service_cidr)


def check_settings(s: NetworkSettings) -> None:
    """Refuse settings that cannot work or would route pod traffic oddly."""
    pod, cluster, service = (_cidr(c, n) for c, n in ((s.pod_cidr, "pod CIDR"),
                             (s.cluster_cidr, "cluster CIDR"), (s.service_cidr, "service CIDR")))
    if pod.version != cluster.version or not pod.subnet_of(cluster):
        raise ConfigError(f"pod CIDR {pod} is not inside the cluster CIDR {cluster}")
    if service.version == cluster.version and service.overlaps(cluster):
        raise SafetyError(f"service CIDR {service} overlaps the cluster CIDR {cluster}")
    if pod.num_addresses < 4:
        raise ConfigError(f"pod CIDR {pod} is too small")
    if not s.bridge or len(s.bridge) > 15 or "/" in s.bridge or " " in s.bridge:
        raise ConfigError(f"invalid bridge name {s.bridge!r} (at most 15 characters)")


def _cidr(value: str, what: str):
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise ConfigError(f"invalid {what} {value!r}: {e}") from None


def default_network(s: NetworkSettings) -> dict:
    """The network configuration list tinykube uses when the user gave none."""
    return {"cniVersion": CNI_VERSION, "name": s.network_name,
            "plugins": [_bridge(s), {"type": "portmap", "capabilities": {"portMappings": True},
                                     "snat": True}]}


def _bridge(s: NetworkSettings) -> dict:
    default = "::/0" if ipaddress.ip_network(s.pod_cidr).version == 6 else "0.0.0.0/0"
    bridge = {"type": "bridge", "bridge": s.bridge, "isGateway": True,
              "ipMasq": False, "hairpinMode": s.hairpin,  # masquerade.py does it per node
              "ipam": {"type": "host-local", "ranges": [[{"subnet": s.pod_cidr}]],
                       "routes": [{"dst": default}], "dataDir": s.ipam_dir}}
    if s.mtu:
        bridge["mtu"] = s.mtu
    return bridge
