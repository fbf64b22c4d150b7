"""The records pod networking passes around: an attachment's parameters and a pod's
network status. Plain frozen dataclasses, no behaviour beyond (de)serialising."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PortMapping:
    """One `hostPort` of a pod, in the shape the portmap plugin reads from
    runtimeConfig.portMappings (CNI CONVENTIONS.md)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"  # lower case, as the plugins expect
    host_ip: str = ""

    def to_cni(self) -> dict:
        out = {"hostPort": self.host_port, "containerPort": self.container_port,
               "protocol": self.protocol}
        if self.host_ip:
            out["hostIP"] = self.host_ip
        return out


@dataclass(frozen=True)
class Attachment:
    """What identifies one container's attachment to one network, and the parameters
    CNI hands every plugin for it (spec section 3, "Attachment parameters").

    `args` become CNI_ARGS (in order); `capability_args` are offered to plugins as
    runtimeConfig, each key only to plugins that declare that capability."""

    container_id: str
    ifname: str
    netns: str = ""
    args: tuple[tuple[str, str], ...] = ()
    capability_args: dict = field(default_factory=dict, hash=False, compare=False)

    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)

    def with_netns(self, netns: str) -> "Attachment":
        return Attachment(self.container_id, self.ifname, netns, self.args,
                          self.capability_args)


@dataclass(frozen=True)
class PodNetworkStatus:
    """A pod's network as the agent reports it: `ips` (status.podIPs, first is
    status.podIP) on `interface` inside the pod netns `netns`."""

    sandbox_id: str
    netns: str
    interface: str
    ips: tuple[str, ...]
    mac: str = ""
    gateways: tuple[str, ...] = ()
    dns: dict = field(default_factory=dict, hash=False, compare=False)
    result: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def ip(self) -> str:
        return self.ips[0] if self.ips else ""
