"""Unreachable routes for the cluster and Service CIDRs: the host's last line of
defence (DESIGN.md section 6).

Without them, a packet for a pod IP with no local route (another node's pod CIDR,
a pod that just went away) or for a Service IP that no nftables rule rewrote
follows the host's default route and leaves the machine onto a shared network.
With `unreachable 10.42.0.0/16` and `unreachable 10.43.0.0/16` in the main table
such a packet is refused on the spot (ICMP net unreachable / ENETUNREACH), while
the more specific routes keep winning by longest-prefix match: the node's own pod
CIDR via its bridge, other nodes' pod CIDRs once they are routed, Service traffic
that kube-proxy-style DNAT rewrote before routing.

Routes are tagged with protocol ROUTE_PROTO and metric ROUTE_METRIC: the metric
lets an identical-prefix real route (a bridge owning the whole CIDR) win while it
exists, and the tag means removal only ever deletes routes tinykube installed,
including those of an earlier run that died without cleaning up. A CIDR already
covered by an unreachable/blackhole/prohibit route (ours or an administrator's) is
left alone.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from tinykube.util import jsonutil as json

from .host import CommandError, HostNamespace, run_checked

log = logging.getLogger(__name__)

ROUTE_PROTO = 84  # 'T'; unassigned in /etc/iproute2/rt_protos
ROUTE_METRIC = 4242
_BLOCKING = {"unreachable", "blackhole", "prohibit"}


@dataclass(frozen=True)
class RoutePlan:
    add: tuple[str, ...]  # CIDRs to install an unreachable route for
    covered: tuple[str, ...]  # CIDRs an existing blocking route already covers
    warnings: tuple[str, ...]  # more specific routes inside a CIDR that leave the host


def plan_unreachable(cidrs, routes: list[dict]) -> RoutePlan:
    """Decide, from `ip -j route show` entries, which CIDRs need a route."""
    table = [_parse(r) for r in routes]
    add, covered, warnings = [], [], []
    for cidr in (_network(c) for c in cidrs):
        blocked = any(t in _BLOCKING and net.version == cidr.version and net.supernet_of(cidr)
                      for net, t, _ in table)
        (covered if blocked else add).append(str(cidr))
        # A gatewayed route inside the CIDR beats ours by prefix length: say so
        # (right for other nodes' pod CIDRs, a misconfiguration otherwise).
        warnings += [f"{net} (inside {cidr}) is routed via {gw}, off this host"
                     for net, t, gw in table
                     if gw and net.version == cidr.version and net.subnet_of(cidr)]
    return RoutePlan(tuple(add), tuple(covered), tuple(warnings))


def _network(cidr: str):
    return ipaddress.ip_network(cidr, strict=False)


def _parse(route: dict):
    dst = route.get("dst", "")
    if dst == "default":
        dst = "::/0" if ":" in route.get("gateway", "") else "0.0.0.0/0"
    return _network(dst), route.get("type", "unicast"), route.get("gateway", "")


async def install_unreachable_routes(cidrs, *, host: HostNamespace = HostNamespace()) -> RoutePlan:
    """Install the missing unreachable routes; returns the plan it carried out."""
    plan = plan_unreachable(cidrs, await _routes(host))
    for warning in plan.warnings:
        log.warning("route safety: %s", warning)
    for cidr in plan.add:
        try:
            await run_checked(host, ["ip", "route", "add", "unreachable", cidr, *_tag()])
        except CommandError as e:
            if "File exists" not in e.stderr:  # a concurrent agent got there first
                raise
    return plan


async def remove_unreachable_routes(cidrs, *, host: HostNamespace = HostNamespace()) -> list[str]:
    """Remove tinykube's unreachable routes for these CIDRs (never anybody else's:
    the kernel matches type, protocol and metric). Returns the CIDRs removed."""
    removed = []
    for cidr in (str(_network(c)) for c in cidrs):
        try:
            await run_checked(host, ["ip", "route", "del", "unreachable", cidr, *_tag()])
            removed.append(cidr)
        except CommandError as e:
            if "No such process" not in e.stderr:  # not there: nothing to remove
                raise
    return removed


def _tag() -> list[str]:
    return ["proto", str(ROUTE_PROTO), "metric", str(ROUTE_METRIC)]


async def _routes(host: HostNamespace) -> list[dict]:
    found = []
    for family in ("-4", "-6"):
        out = await run_checked(host, ["ip", "-j", family, "route", "show", "table", "main"])
        found += json.loads(out or b"[]")
    return found
