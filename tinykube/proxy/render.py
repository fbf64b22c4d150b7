"""The pure core of the service proxy: Services + EndpointSlices -> one nftables table.

The structure is kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go), so the cost
per packet does not grow with the number of Services:

- verdict maps `service-ips` (ClusterIP, externalIPs and LoadBalancer ingress IPs .
  protocol . port -> the Service port's chain) and `service-nodeports` (protocol . port ->
  its external chain), looked up from `services`, which the nat prerouting (pods on the
  bridge, the LAN) and output (the node itself) hooks jump to. NodePorts answer on every
  local address of the node (fib daddr type local), 127.0.0.1 included (that needs
  net.ipv4.conf.all.route_localnet=1, which the shell sets as kube-proxy does).
- one chain per Service port (`svc-...`) that marks traffic from outside the cluster CIDR
  for masquerade and picks an endpoint with `numgen random mod N` (or, with
  sessionAffinity ClientIP, first the endpoint the client's address is remembered in:
  one `affinity-...` set per endpoint, with the Service's timeout); one external chain per
  NodePort/LoadBalancer Service port (`ext-...`): masquerade for externalTrafficPolicy
  Cluster; for Local only the node's own endpoints, the client address kept, except for
  traffic from pods or the node itself, which goes to the cluster chain; one chain per
  endpoint (`sep-...`) that marks hairpin traffic (a pod reaching itself) and DNATs.
- a ClusterIP port with exactly one usable endpoint (no affinity, NodePort or external
  IP: the common case) gets no chain: an element of the dnat map `single-endpoint` and
  one of the set `single-endpoint-hairpin`, used by the one shared `single-endpoint`
  chain (masquerade from outside the cluster CIDR and for hairpin, then DNAT from the
  map). nft parses a chain ~10x slower than a map element: 10,000 such Services cost
  ~20,000 elements instead of ~20,000 chains.
- `no-endpoint-services` / `no-endpoint-nodeports`: Service ports with no usable endpoint
  are rejected (TCP reset, ICMP port unreachable otherwise) from the filter hooks, so a
  client fails at once instead of timing out.
- `masquerading` in nat postrouting masquerades what was marked (mark 0x4000).

`update(new, old)` is the partial sync: the transaction with only what changed.

Endpoints used: the ready ones; when none is ready, the serving and terminating ones
(upstream's fallback, so draining pods finish their work). internalTrafficPolicy Local
keeps only this node's endpoints for the ClusterIP. Services annotated
`tinykube.io/node-local-dns: "true"` get no rule at all: the node's DNS server answers on
their address itself. Headless and ExternalName Services have nothing to proxy.
"""

from __future__ import annotations

import base64
import gc
import hashlib
from typing import NamedTuple

NODE_LOCAL_DNS = "tinykube.io/node-local-dns"
SERVICE_NAME = "kubernetes.io/service-name"
MASQ_MARK = "0x4000"
MAPS = ("service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports", "single-endpoint")
SETS = ("single-endpoint-hairpin",)
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


class Endpoint(NamedTuple):  # NamedTuples: 10,000 of them build ~5x faster than frozen dataclasses
    ip: str
    port: int
    node_name: str
    ready: bool
    serving: bool
    terminating: bool


class ServicePort(NamedTuple):
    """One port of one Service, with what the rules need."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # nft's: tcp, udp, sctp
    port: int
    node_port: int
    cluster_ip: str
    external_ips: tuple[str, ...]
    external_local: bool  # externalTrafficPolicy: Local
    internal_local: bool  # internalTrafficPolicy: Local
    affinity_seconds: int  # 0: no sessionAffinity

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name}"

    def chain(self, prefix: str) -> str:
        return f"{prefix}-{_hash(self.id)}-{self.id}"


# --- inputs: Services and EndpointSlices to ServicePorts and Endpoints ---------------------------


def service_ports(service: dict) -> list[ServicePort]:
    spec, md = service.get("spec") or {}, service["metadata"]
    annotations = md.get("annotations")
    if annotations and annotations.get(NODE_LOCAL_DNS) == "true":
        return []
    cluster_ip = spec.get("clusterIP") or ""
    type_ = spec.get("type")
    if type_ == "ExternalName" or cluster_ip in ("", "None") or ":" in cluster_ip:
        return []
    external: tuple[str, ...] = ()
    ingress = [i.get("ip") for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
               if i.get("ip") and ":" not in i["ip"]] if type_ == "LoadBalancer" else []
    if ingress or spec.get("externalIPs"):
        external = tuple(dict.fromkeys([*(spec.get("externalIPs") or []), *ingress]))
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        affinity = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds") or 10800)
    namespace, name = md.get("namespace", ""), md["name"]
    external_local = spec.get("externalTrafficPolicy") == "Local"
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    return [ServicePort(namespace, name, p.get("name", ""), PROTOCOLS.get(p.get("protocol", "TCP"), "tcp"),
                        int(p["port"]), int(p.get("nodePort") or 0), cluster_ip, external,
                        external_local, internal_local, affinity)
            for p in spec.get("ports") or () if p.get("port")]


def endpoints_by_port(slices: list[dict]) -> dict[tuple[str, str, str, str], list[Endpoint]]:
    """(namespace, service, port name, protocol) -> endpoints, deduplicated by address."""
    result: dict[tuple[str, str, str, str], dict[str, Endpoint]] = {}
    for slice_ in slices:
        md = slice_["metadata"]
        labels = md.get("labels")
        service = labels.get(SERVICE_NAME) if labels else None
        if not service or slice_.get("addressType", "IPv4") != "IPv4":
            continue
        namespace = md.get("namespace", "")
        endpoints = []  # (ip, node, ready, serving, terminating), the same for every port
        for ep in slice_.get("endpoints") or ():
            addresses = ep.get("addresses")
            if not addresses:
                continue
            conditions = ep.get("conditions") or {}
            ready = conditions.get("ready") is not False  # nil means ready
            serving = conditions.get("serving", ready) is not False
            endpoints.append((addresses[0], ep.get("nodeName") or "", ready, serving,
                              bool(conditions.get("terminating"))))
        for port in slice_.get("ports") or ():
            number = port.get("port")
            if not number:
                continue
            number = int(number)
            key = (namespace, service, port.get("name") or "", PROTOCOLS.get(port.get("protocol", "TCP"), "tcp"))
            bucket = result.get(key)
            if bucket is None:
                bucket = result[key] = {}
            for ip, node, ready, serving, terminating in endpoints:
                if ip not in bucket:
                    bucket[ip] = Endpoint(ip, number, node, ready, serving, terminating)
    return {key: sorted(eps.values()) if len(eps) > 1 else list(eps.values()) for key, eps in result.items()}


def usable(endpoints: list[Endpoint]) -> list[Endpoint]:
    """The ready endpoints, or (none ready) the serving terminating ones."""
    if len(endpoints) == 1 and endpoints[0].ready:
        return endpoints
    ready = [e for e in endpoints if e.ready]
    return ready or [e for e in endpoints if e.serving and e.terminating]


# --- output ------------------------------------------------------------------------------------------


def render(services: list[dict], endpoint_slices: list[dict], node: dict | str, *, table: str = "tinykube",
           cluster_cidr: str = "10.42.0.0/16") -> str:
    """The whole table, as `nft -f` text (a definition: the shell adds the flush and the
    deletion of chains and sets that are gone)."""
    return render_table(services, endpoint_slices, node, cluster_cidr=cluster_cidr).text(table)


def render_table(services: list[dict], endpoint_slices: list[dict], node: dict | str, *,
                 cluster_cidr: str = "10.42.0.0/16") -> "Table":
    """The whole table as its parts (maps' elements, chains, sets), what `update()` diffs."""
    node_name = node if isinstance(node, str) else node["metadata"]["name"]
    collecting = gc.isenabled()
    gc.disable()  # render allocates ~10 objects per Service: generational GC passes over the
    try:          # informers' caches would cost more than the render itself at 10,000 Services
        by_port = endpoints_by_port(endpoint_slices)
        out = Table(cluster_cidr)
        for svc in sorted(services, key=_namespaced_name):
            for sp in service_ports(svc):
                eps = usable(by_port.get((sp.namespace, sp.name, sp.port_name, sp.protocol), ()))
                _service_port(out, sp, eps, node_name, cluster_cidr)
        return out
    finally:
        if collecting:
            gc.enable()


def _namespaced_name(obj: dict) -> tuple[str, str]:
    md = obj["metadata"]
    return md.get("namespace", ""), md["name"]


def _service_port(out: "Table", sp: ServicePort, eps: list[Endpoint], node_name: str, cluster_cidr: str) -> None:
    cluster_eps = [e for e in eps if e.node_name == node_name] if sp.internal_local else eps
    keys = [f"{sp.cluster_ip} . {sp.protocol} . {sp.port}"]
    external_keys = [f"{ip} . {sp.protocol} . {sp.port}" for ip in sp.external_ips]
    node_key = f"{sp.protocol} . {sp.node_port}" if sp.node_port else ""
    if not eps:
        out.no_endpoint_services += [f"{k} : goto reject-chain" for k in keys + external_keys]
        if node_key:
            out.no_endpoint_nodeports.append(f"{node_key} : goto reject-chain")
        return
    if len(cluster_eps) == 1 and not (sp.affinity_seconds or external_keys or node_key):
        # the common single-endpoint ClusterIP: two map elements, no chain (nft parses a
        # chain ~10x slower than an element; 10,000 such Services sync in a fraction)
        ep = cluster_eps[0]
        out.single_endpoint.append(f"{keys[0]} : {ep.ip} . {ep.port}")
        out.single_endpoint_hairpin.append(f"{ep.ip} . {keys[0]}")
        return
    svc_chain = sp.chain("svc")
    if cluster_eps:
        out.service_ips += [f"{k} : goto {svc_chain}" for k in keys]
        out.chains[svc_chain] = _cluster_chain(out, sp, cluster_eps, cluster_cidr)
    else:  # internalTrafficPolicy Local and none here: as upstream, drop
        out.service_ips += [f"{k} : drop" for k in keys]
    if external_keys or node_key:
        ext_chain = sp.chain("ext")
        out.service_ips += [f"{k} : goto {ext_chain}" for k in external_keys]
        if node_key:
            out.service_nodeports.append(f"{node_key} : goto {ext_chain}")
        out.chains[ext_chain] = _external_chain(out, sp, eps, node_name, cluster_cidr, svc_chain if cluster_eps else "")


def _cluster_chain(out: "Table", sp: ServicePort, eps: list[Endpoint], cluster_cidr: str) -> list[str]:
    rules = [f"ip daddr {sp.cluster_ip} {sp.protocol} dport {sp.port} ip saddr != {cluster_cidr} jump mark-for-masquerade"]
    return rules + _balance(out, sp, eps)


def _external_chain(out, sp: ServicePort, eps: list[Endpoint], node_name: str, cluster_cidr: str,
                    svc_chain: str) -> list[str]:
    if not sp.external_local:
        return ["jump mark-for-masquerade", f"goto {svc_chain}" if svc_chain else "drop"]
    rules = []
    if svc_chain:  # pods and the node itself are not "external": they use every endpoint
        rules += [f"ip saddr {cluster_cidr} goto {svc_chain}",
                  "fib saddr type local jump mark-for-masquerade", f"fib saddr type local goto {svc_chain}"]
    local = [e for e in eps if e.node_name == node_name]
    if not local:
        return rules + ['drop comment "no local endpoints"']
    return rules + _balance(out, sp, local, suffix="local")


def _balance(out: "Table", sp: ServicePort, eps: list[Endpoint], suffix: str = "") -> list[str]:
    chains = [_endpoint_chain(out, sp, e) for e in eps]
    rules = []
    if sp.affinity_seconds:
        rules += [f"ip saddr @{_affinity_set(sp, e)} goto {c}" for e, c in zip(eps, chains)]
    if len(chains) == 1:
        return rules + [f"goto {chains[0]}"]
    choices = ", ".join(f"{i} : goto {c}" for i, c in enumerate(chains))
    return rules + [f"numgen random mod {len(chains)} vmap {{ {choices} }}"]


def _endpoint_chain(out: "Table", sp: ServicePort, ep: Endpoint) -> str:
    name = f"sep-{_hash(sp.id + '/' + ep.ip + ':' + str(ep.port))}-{sp.id}__{ep.ip}/{ep.port}"
    if name in out.chains:
        return name
    rules = [f"ip saddr {ep.ip} jump mark-for-masquerade"]  # hairpin: a pod reaching itself
    if sp.affinity_seconds:
        affinity = _affinity_set(sp, ep)
        out.sets[affinity] = sp.affinity_seconds
        rules.append(f"update @{affinity} {{ ip saddr }}")
    rules.append(f"meta l4proto {sp.protocol} dnat to {ep.ip}:{ep.port}")
    out.chains[name] = rules
    return name


def _affinity_set(sp: ServicePort, ep: Endpoint) -> str:
    return f"affinity-{_hash(sp.id + '/' + ep.ip + ':' + str(ep.port))}"


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:8].decode()


class Table:
    def __init__(self, cluster_cidr: str):
        self.cluster_cidr = cluster_cidr
        self.service_ips: list[str] = []
        self.service_nodeports: list[str] = []
        self.no_endpoint_services: list[str] = []
        self.no_endpoint_nodeports: list[str] = []
        self.single_endpoint: list[str] = []
        self.single_endpoint_hairpin: list[str] = []
        self.chains: dict[str, list[str]] = {}
        self.sets: dict[str, int] = {}

    def text(self, table: str) -> str:
        lines = [f"table ip {table} {{", *_BASE]
        lines[_BASE.index(_MASQ_OUTSIDE) + 1] = _MASQ_OUTSIDE.replace("@cluster-cidr", self.cluster_cidr)
        for name, key, elements in self.maps():
            kind = "set" if name in SETS else "map"
            lines.append(f"  {kind} {name} {{")
            lines.append(f"    type {key}" if ":" in key or kind == "set" else f"    type {key} : verdict")
            if elements:
                lines.append("    elements = { " + ",\n      ".join(elements) + " }")
            lines.append("  }")
        lines += [_set(name, timeout) for name, timeout in sorted(self.sets.items())]
        for name, rules in self.chains.items():
            lines.append(_chain(name, rules))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def maps(self) -> tuple[tuple[str, str, list[str]], ...]:
        """(name, type, elements) of the fixed maps and sets."""
        return (("service-ips", "ipv4_addr . inet_proto . inet_service", self.service_ips),
        ("service-nodeports", "inet_proto . inet_service", self.service_nodeports),
        ("no-endpoint-services", "ipv4_addr . inet_proto . inet_service", self.no_endpoint_services),
        ("no-endpoint-nodeports", "inet_proto . inet_service", self.no_endpoint_nodeports),
        ("single-endpoint", "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
         self.single_endpoint),
        ("single-endpoint-hairpin", "ipv4_addr . ipv4_addr . inet_proto . inet_service",
         self.single_endpoint_hairpin))


def _set(name: str, timeout: int) -> str:
    return f"  set {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"


def _chain(name: str, rules: list[str]) -> str:
    return "\n".join([f"  chain {name} {{", *[f"    {rule}" for rule in rules], "  }"])



_MASQ_OUTSIDE = "    ip saddr != @cluster-cidr jump mark-for-masquerade"  # the CIDR filled in by Table
_BASE = [
    "  chain filter-input {",
    "    type filter hook input priority -110; policy accept;",
    "    ct state new jump nodeport-endpoints-check",
    "    ct state new jump service-endpoints-check",
    "  }",
    "  chain filter-forward {",
    "    type filter hook forward priority -110; policy accept;",
    "    ct state new jump service-endpoints-check",
    "  }",
    "  chain filter-output {",
    "    type filter hook output priority -110; policy accept;",
    "    ct state new jump service-endpoints-check",
    "  }",
    "  chain service-endpoints-check {",
    "    ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
    "  }",
    "  chain nodeport-endpoints-check {",
    "    fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports",
    "  }",
    "  chain reject-chain {",
    "    meta l4proto tcp reject with tcp reset",
    "    reject",
    "  }",
    "  chain nat-prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    "    jump services",
    "  }",
    "  chain nat-output {",
    "    type nat hook output priority -100; policy accept;",
    "    jump services",
    "  }",
    "  chain nat-postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    "    jump masquerading",
    "  }",
    "  chain mark-for-masquerade {",
    f"    meta mark set meta mark | {MASQ_MARK}",
    "  }",
    "  chain masquerading {",
    f"    meta mark & {MASQ_MARK} == 0 return",
    f"    meta mark set meta mark ^ {MASQ_MARK}",
    "    masquerade fully-random",
    "  }",
    "  chain services {",
    "    ip daddr . meta l4proto . th dport vmap @service-ips",
    "    ip daddr . meta l4proto . th dport @single-endpoint goto single-endpoint",
    "    fib daddr type local meta l4proto . th dport vmap @service-nodeports",
    "  }",
    "  chain single-endpoint {",
    _MASQ_OUTSIDE,
    "    ip saddr . ip daddr . meta l4proto . th dport @single-endpoint-hairpin jump mark-for-masquerade",
    "    dnat to ip daddr . meta l4proto . th dport map @single-endpoint",
    "  }",
]

BASE_CHAINS = ("filter-input", "filter-forward", "filter-output", "service-endpoints-check",
               "nodeport-endpoints-check", "reject-chain", "nat-prerouting", "nat-output", "nat-postrouting",
               "mark-for-masquerade", "masquerading", "services", "single-endpoint")


def names(text: str) -> tuple[set[str], set[str]]:
    """The chains and (affinity) sets a rendered table defines."""
    chains, sets = set(), set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "chain":
            chains.add(words[1])
        elif len(words) >= 2 and words[0] == "set":
            sets.add(words[1])
    return chains, sets


def transaction(text: str, table: str, previous: str | None) -> str:
    """The one `nft -f` script that turns the table into `text` atomically: create it if
    missing, empty its chains and maps, delete the chains and sets that are gone (affinity
    sets that stay keep their entries), then add the new definition. With no previous
    text, whatever an earlier run left is deleted first."""
    if previous is None:
        return f"table ip {table} {{}}\ndelete table ip {table}\n{text}"
    old_chains, old_sets = names(previous)
    new_chains, new_sets = names(text)
    lines = [f"table ip {table} {{}}", f"flush table ip {table}"]
    lines += [f"flush map ip {table} {m}" for m in MAPS]
    lines += [f"flush set ip {table} {s}" for s in SETS]
    lines += [f"delete chain ip {table} {c}" for c in sorted(old_chains - new_chains)]
    lines += [f"delete set ip {table} {s}" for s in sorted(old_sets - new_sets)]
    return "\n".join(lines) + "\n" + text


def update(new: Table, old: Table, table: str) -> str | None:
    """A partial sync: the one `nft -f` script that turns the applied `old` into `new` by
    touching only what changed (kube-proxy's nftables mode does the same between its
    periodic full syncs): new and changed chains (re)written, map and set elements
    deleted and added one by one, gone chains and sets deleted last, once nothing refers
    to them. None when nothing changed; the caller does a full sync when the fixed part
    (the cluster CIDR) differs."""
    if new.cluster_cidr != old.cluster_cidr:
        raise ValueError("the fixed chains changed: a full sync is needed")
    lines: list[str] = []
    changed = {name: rules for name, rules in new.chains.items() if old.chains.get(name) != rules}
    lines += [f"flush chain ip {table} {name}" for name in changed if name in old.chains]
    added_sets = {name: t for name, t in new.sets.items() if old.sets.get(name) != t}
    if any(name in old.sets for name in added_sets):  # an affinity timeout changed: its chains still use it
        raise ValueError("an affinity set changed: a full sync is needed")
    if changed or added_sets:
        lines.append(f"table ip {table} {{")
        lines += [_set(name, timeout) for name, timeout in sorted(added_sets.items())]
        lines += [_chain(name, rules) for name, rules in changed.items()]
        lines.append("}")
    adds: list[str] = []
    for (name, _, elements), (_, _, before) in zip(new.maps(), old.maps()):
        now, then = set(elements), set(before)
        gone = {element.split(" : ")[0] for element in then - now}
        if gone:
            lines.append(f"delete element ip {table} {name} {{ {', '.join(sorted(gone))} }}")
        if now - then:
            adds.append(f"add element ip {table} {name} {{ {', '.join(e for e in elements if e not in then)} }}")
    lines += adds
    gone_chains = sorted(set(old.chains) - set(new.chains))
    lines += [f"flush chain ip {table} {name}" for name in gone_chains]
    lines += [f"delete chain ip {table} {name}" for name in gone_chains]
    lines += [f"delete set ip {table} {name}" for name in sorted(set(old.sets) - set(new.sets))]
    return "\n".join(lines) + "\n" if lines else None
