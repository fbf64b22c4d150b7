"""NodeUnschedulable, NodeName and NodePorts: the simple per-node filters."""

from __future__ import annotations

from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.taints import tolerates

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    """A cordoned node (spec.unschedulable) takes only pods tolerating its taint."""
    name = "NodeUnschedulable"
    REASON = "node(s) were unschedulable"

    def pre_filter(self, state: CycleState):
        if not state.cache.counts["unschedulable"] or any(
                tolerates(t, UNSCHEDULABLE_TAINT) for t in state.pod.tolerations):
            return None
        reason = self.REASON
        return lambda node: reason if node.unschedulable else None

    def unresolvable(self, reason: str) -> bool:
        return True


class NodeName:
    """A pod naming its node (spec.nodeName) fits only there (nominated pods, mostly)."""
    name = "NodeName"
    REASON = "node(s) didn't match the requested node name"

    def pre_filter(self, state: CycleState):
        wanted = state.pod.node_name
        if not wanted:
            return None
        reason = self.REASON
        return lambda node: None if node.name == wanted else reason

    def unresolvable(self, reason: str) -> bool:
        return True


def ports_conflict(wanted: tuple, used: dict) -> bool:
    """A hostPort is taken when protocol and port match and either address is 0.0.0.0
    or both are the same (upstream HostPortInfo.CheckConflict)."""
    for ip, protocol, port in wanted:
        for used_ip, used_protocol, used_port in used:
            if used_port == port and used_protocol == protocol and (
                    ip == used_ip or ip == "0.0.0.0" or used_ip == "0.0.0.0"):
                return True
    return False


class NodePorts:
    name = "NodePorts"
    REASON = "node(s) didn't have free ports for the requested pod ports"

    def pre_filter(self, state: CycleState):
        wanted = state.pod.host_ports
        if not wanted:
            return None
        reason = self.REASON
        return lambda node: reason if node.ports and ports_conflict(wanted, node.ports) else None

    def unresolvable(self, reason: str) -> bool:
        return False
