"""A pod's /etc/resolv.conf from its dnsPolicy and dnsConfig, as the kubelet forms it
(pkg/kubelet/network/dns) and containerd writes it (pure functions).

  ClusterFirst (default)    the cluster DNS, search NS.svc.DOMAIN svc.DOMAIN DOMAIN + the
                            node's searches, options ndots:5; a hostNetwork pod gets the
                            node's resolv.conf instead (as Default)
  ClusterFirstWithHostNet   the cluster settings, for hostNetwork pods too
  Default                   the node's resolv.conf (nameservers, searches, options)
  None                      only the pod's dnsConfig
Then dnsConfig is merged in (nameservers and searches appended without duplicates,
options by name, the pod's winning) and the limits applied: 3 nameservers, 32 search
domains of at most 253 characters and 2048 characters in all; what is cut is reported
through `warn` with the kubelet's DNSConfigForming messages. With no cluster DNS
configured, ClusterFirst falls back to Default with a MissingClusterDNS warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
MAX_DOMAIN = 253
DEFAULT_OPTIONS = ("ndots:5",)

Warn = Callable[[str, str], None]  # (reason, message)


@dataclass(frozen=True)
class ClusterDNS:
    """The node's DNS settings: --cluster-dns, --cluster-domain and the node's resolv.conf."""

    nameservers: tuple[str, ...] = ("10.43.0.10",)
    domain: str = "cluster.local"
    host_resolv_conf: str = ""


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> ResolvConf:
    """nameserver lines, the last search line (without '.' and trailing dots), options
    accumulated with later ones winning, as the kubelet's parseResolvConf."""
    nameservers, searches, options = [], [], {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            nameservers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.rstrip(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options.update(_options(fields[1:]))
    return ResolvConf(tuple(nameservers), tuple(searches), _format_options(options))


def pod_resolv_conf(pod: Mapping, dns: ClusterDNS, warn: Warn | None = None) -> str:
    """The pod's resolv.conf contents (the node's own when the result is empty, as
    containerd does)."""
    config = pod_dns_config(pod, dns, warn or (lambda reason, message: None))
    if not (config.nameservers or config.searches or config.options):
        return dns.host_resolv_conf
    return render(config)


def pod_dns_config(pod: Mapping, dns: ClusterDNS, warn: Warn) -> ResolvConf:
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host = parse_resolv_conf(dns.host_resolv_conf)
    kind = _dns_type(policy, bool(spec.get("hostNetwork")))
    if kind == "cluster" and not dns.nameservers:
        warn("MissingClusterDNS", f'pod: "{_pod_name(pod)}". kubelet does not have ClusterDNS IP configured '
             f'and cannot create Pod using "{policy}" policy. Falling back to "Default" policy.')
        kind = "host"
    if kind == "none":
        config = ResolvConf()
    elif kind == "cluster":
        config = ResolvConf(dns.nameservers, _cluster_searches(pod, dns.domain, host.searches), DEFAULT_OPTIONS)
    else:
        config = host
    if spec.get("dnsConfig"):
        config = _append(config, spec["dnsConfig"])
    return _fit_limits(config, warn)


def render(config: ResolvConf) -> str:
    """containerd's layout: search, then nameservers, then options."""
    lines = []
    if config.searches:
        lines.append("search " + " ".join(config.searches))
    lines += [f"nameserver {s}" for s in config.nameservers]
    if config.options:
        lines.append("options " + " ".join(config.options))
    return "\n".join(lines) + ("\n" if lines else "")


def _dns_type(policy: str, host_network: bool) -> str:
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network):
        return "cluster"
    return "host"  # Default, and ClusterFirst on the host network


def _cluster_searches(pod: Mapping, domain: str, host_searches: Sequence[str]) -> tuple[str, ...]:
    if not domain:
        return tuple(host_searches)
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    return _unique([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches])


def _append(config: ResolvConf, pod_config: Mapping) -> ResolvConf:
    options = _options(config.options)
    for option in pod_config.get("options") or ():
        options[option.get("name", "")] = option.get("value") or ""
    return ResolvConf(_unique([*config.nameservers, *(pod_config.get("nameservers") or ())]),
                      _unique([*config.searches, *(pod_config.get("searches") or ())]),
                      _format_options(options))


def _fit_limits(config: ResolvConf, warn: Warn) -> ResolvConf:
    nameservers = config.nameservers
    if len(nameservers) > MAX_NAMESERVERS:
        nameservers = nameservers[:MAX_NAMESERVERS]
        warn("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, "
             f"the applied nameserver line is: {' '.join(nameservers)}")
    searches = list(config.searches)
    exceeded = len(searches) > MAX_SEARCH_PATHS
    searches = searches[:MAX_SEARCH_PATHS]
    kept = [s for s in searches if len(s) <= MAX_DOMAIN]
    exceeded |= len(kept) != len(searches)
    while kept and len(" ".join(kept)) > MAX_SEARCH_CHARS:
        kept.pop()  # cut from the end, as the kubelet does
        exceeded = True
    if exceeded:
        warn("DNSConfigForming", "Search Line limits were exceeded, some search paths have been omitted, "
             f"the applied search line is: {' '.join(kept)}")
    return ResolvConf(nameservers, tuple(kept), config.options)


def _options(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition(":")
        out[name] = value
    return out


def _format_options(options: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{k}:{v}" if v else k for k, v in options.items())


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _pod_name(pod: Mapping) -> str:
    meta = pod.get("metadata") or {}
    return f'{meta.get("namespace", "")}/{meta.get("name", "")}'


def node_resolv_conf(paths: Sequence[str] = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")) -> str:
    """The node's resolv.conf for pods: /etc/resolv.conf, unless all its nameservers are
    loopback addresses (systemd-resolved's stub, unreachable from a pod) and the real
    upstream list exists (what k3s checks)."""
    texts = []
    for path in paths:
        try:
            with open(path) as f:
                texts.append(f.read())
        except OSError:
            texts.append("")
    for text in texts:
        servers = parse_resolv_conf(text).nameservers
        if servers and not all(_loopback(s) for s in servers):
            return text
    return texts[0] if texts else ""


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"
