"""A pod's hostname and its /etc/hosts, /etc/hostname and /etc/resolv.conf contents, as
the kubelet and containerd write them (pure functions; the sandbox writes the files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import CreateContainerConfigError

MAX_HOSTNAME = 63


def pod_hostname(pod: Mapping, cluster_domain: str = "cluster.local") -> tuple[str, str]:
    """(hostname, domain) by the kubelet's GeneratePodHostNameAndDomain: spec.hostname or the
    pod name cut to 63 characters (trailing '-' and '.' trimmed); the domain
    <subdomain>.<namespace>.svc.<clusterDomain> when spec.subdomain is set."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = spec.get("hostname") or _truncate(meta.get("name", ""))
    domain = ""
    if spec.get("subdomain"):
        domain = f'{spec["subdomain"]}.{meta.get("namespace", "default")}.svc.{cluster_domain}'
    return hostname, domain


def _truncate(name: str) -> str:
    if len(name) <= MAX_HOSTNAME:
        return name
    cut = name[:MAX_HOSTNAME].rstrip("-.")
    if not cut:
        raise CreateContainerConfigError(f"hostname for pod {name!r} was invalid: {cut!r}")
    return cut


def uts_hostname(pod: Mapping, cluster_domain: str = "cluster.local") -> str:
    """What `hostname` prints in the pod: the FQDN when setHostnameAsFQDN (at most 64
    characters, else an error as in the kubelet), else the short hostname."""
    hostname, domain = pod_hostname(pod, cluster_domain)
    if not ((pod.get("spec") or {}).get("setHostnameAsFQDN") and domain):
        return hostname
    fqdn = f"{hostname}.{domain}"
    if len(fqdn) > 64:
        raise CreateContainerConfigError(
            f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} "
            f"is too long (64 characters is the max, {len(fqdn)} characters requested)")
    return fqdn


def hosts_file(*, pod_ips: Sequence[str], hostname: str, domain: str = "",
               host_aliases: Sequence[Mapping] = ()) -> str:
    """The kubelet's managed /etc/hosts for a pod with its own network."""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    for ip in pod_ips:
        lines.append(f"{ip}\t{hostname}.{domain}\t{hostname}" if domain else f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n" + _aliases(host_aliases)


def host_network_hosts_file(node_hosts: str, host_aliases: Sequence[Mapping] = ()) -> str:
    """A hostNetwork pod's /etc/hosts: the node's, under the kubelet's header, plus aliases."""
    header = "# Kubernetes-managed hosts file (host network).\n"
    return header + node_hosts + _aliases(host_aliases)


def _aliases(host_aliases: Sequence[Mapping]) -> str:
    if not host_aliases:
        return ""
    lines = ["", "# Entries added by HostAliases."]
    lines += [f'{a.get("ip", "")}\t' + "\t".join(a.get("hostnames") or ()) for a in host_aliases]
    return "\n".join(lines) + "\n"


def hostname_file(hostname: str) -> str:
    return hostname + "\n"


def resolv_conf(*, nameservers: Sequence[str] = (), searches: Sequence[str] = (),
                options: Sequence[str] = ()) -> str:
    """containerd's resolv.conf layout: nameserver lines, then search, then options."""
    lines = [f"nameserver {s}" for s in nameservers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + ("\n" if lines else "")

