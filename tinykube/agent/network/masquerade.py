"""Masquerade for pod traffic leaving the cluster: one nftables rule per node.

tinykube does this itself rather than with the bridge plugin's `ipMasq` because
ipMasq exempts only the node's own pod CIDR (pod-to-pod traffic between nodes
would lose its source address, which Kubernetes' network model forbids) and
because it adds and removes iptables chains for every pod (about 10 ms per ADD
and 50 ms per DEL here). The rule here is installed once at start:

    ip saddr <pod CIDR> ip daddr != { <cluster CIDR>, 224.0.0.0/4 } masquerade

Service traffic is DNATed to pod addresses before postrouting, so it is not
masqueraded either. The table is tinykube's own (one per bridge, so two agents on
one host do not collide) and is replaced atomically (`nft -f`).
"""

from __future__ import annotations

import ipaddress
import re

from .host import CommandError, HostNamespace, run_checked


def table_name(bridge: str) -> str:
    return "tinykube_masq_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)


def render(table: str, pod_cidr: str, cluster_cidr: str) -> str:
    """The nft script that (re)creates the masquerade table."""
    family, multicast = _family(pod_cidr)
    return (f"table {family} {table} {{}}\n"
            f"flush table {family} {table}\n"
            f"table {family} {table} {{\n"
            f"  chain postrouting {{\n"
            f"    type nat hook postrouting priority srcnat; policy accept;\n"
            f"    {family} saddr {pod_cidr} {family} daddr != {{ {cluster_cidr}, {multicast} }} "
            f"masquerade comment \"tinykube: pod traffic leaving the cluster\"\n"
            f"  }}\n"
            f"}}\n")


def _family(cidr: str) -> tuple[str, str]:
    if ipaddress.ip_network(cidr).version == 6:
        return "ip6", "ff00::/8"
    return "ip", "224.0.0.0/4"


async def install(host: HostNamespace, *, bridge: str, pod_cidr: str, cluster_cidr: str) -> None:
    script = render(table_name(bridge), pod_cidr, cluster_cidr)
    await run_checked(host, ["nft", "-f", "-"], stdin=script.encode())


async def remove(host: HostNamespace, *, bridge: str, pod_cidr: str) -> None:
    family, _ = _family(pod_cidr)
    try:
        await run_checked(host, ["nft", "delete", "table", family, table_name(bridge)])
    except CommandError as e:
        if "No such file or directory" not in e.stderr:  # already gone
            raise
