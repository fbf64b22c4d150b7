"""Pure translations between Kubernetes pods and CNI: a pod's attachment parameters
(CNI_ARGS as kubelet passes them, hostPort mappings as capability arguments) and a
CNI result turned into the pod's network status."""

from __future__ import annotations

from .model import Attachment, PodNetworkStatus, PortMapping


def sandbox_id_of(pod: dict) -> str:
    """The container id CNI sees when the runtime gives none: the pod's UID, which
    is stable for the pod's life and unique on the node."""
    return pod["metadata"]["uid"]


def pod_attachment(pod: dict, *, sandbox_id: str, netns: str, ifname: str) -> Attachment:
    meta = pod.get("metadata", {})
    # kubelet's CNI_ARGS; IgnoreUnknown first so plugins that know none of them
    # (the Go libraries reject unknown keys otherwise) accept them.
    args = (("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", meta.get("namespace", "")),
            ("K8S_POD_NAME", meta.get("name", "")), ("K8S_POD_INFRA_CONTAINER_ID", sandbox_id),
            ("K8S_POD_UID", meta.get("uid", "")))
    mappings = port_mappings(pod)
    capability_args = {"portMappings": [m.to_cni() for m in mappings]} if mappings else {}
    return Attachment(container_id=sandbox_id, ifname=ifname, netns=netns, args=args,
                      capability_args=capability_args)


def port_mappings(pod: dict) -> list[PortMapping]:
    """Every containerPort with a hostPort, as kubelet hands them to the runtime."""
    found = []
    for container in pod.get("spec", {}).get("containers", []):
        for port in container.get("ports") or []:
            if int(port.get("hostPort") or 0) <= 0:
                continue
            found.append(PortMapping(host_port=int(port["hostPort"]),
                                     container_port=int(port["containerPort"]),
                                     protocol=str(port.get("protocol") or "TCP").lower(),
                                     host_ip=port.get("hostIP", "")))
    return found


def status_from_result(result: dict, *, sandbox_id: str, netns: str,
                       ifname: str) -> PodNetworkStatus:
    """The pod's IPs: those the result puts on the pod's interface (the one in the
    sandbox named `ifname`); all IPs when the result does not say which interface."""
    interfaces = result.get("interfaces") or []
    pod_if = next((i for i, itf in enumerate(interfaces)
                   if itf.get("name") == ifname and itf.get("sandbox")), None)
    ips = [ip for ip in result.get("ips") or []
           if pod_if is None or ip.get("interface") in (None, pod_if)]
    return PodNetworkStatus(
        sandbox_id=sandbox_id, netns=netns, interface=ifname,
        ips=tuple(ip["address"].split("/")[0] for ip in ips),
        mac=interfaces[pod_if].get("mac", "") if pod_if is not None else "",
        gateways=tuple(ip["gateway"] for ip in ips if ip.get("gateway")),
        dns=result.get("dns") or {}, result=result)
