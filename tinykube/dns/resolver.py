"""The cluster's names, answered as CoreDNS's kubernetes plugin answers them (pure reads
of ClusterData; `resolve` returns None for names to forward upstream).

In the cluster zone (cluster.local):
  SVC.NS.svc.ZONE              A/AAAA: the ClusterIPs; headless: the ready endpoint
                               addresses (NXDOMAIN with none); ExternalName: a CNAME
  ENDPOINT.SVC.NS.svc.ZONE     an endpoint by hostname (or its address with dashes)
  _PORT._PROTO.SVC.NS.svc.ZONE SRV for a named port (headless: one per endpoint)
  SVC.NS.svc.ZONE SRV          every port of the Service
  A-B-C-D.NS.pod.ZONE          A a-b-c-d ("pods insecure": any address, if NS exists)
  ZONE SOA/NS, ns.dns.ZONE A, dns-version.ZONE TXT
A name that does not exist gets NXDOMAIN, a name that exists without the asked type (or
an empty non-terminal such as NS.svc.ZONE) NOERROR with no answer (NODATA); both carry
the zone's SOA in authority. Reverse names (in-addr.arpa, ip6.arpa) of Service IPs and
endpoint addresses get PTR records; other reverse names fall through to upstream.
Wildcard queries (`*`) are not supported (NXDOMAIN).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .cluster import ClusterData, Endpoint, Port, Service
from .message import (AAAA, ANY, CLASS_IN, CNAME, NOERROR, NS, NXDOMAIN, PTR, REFUSED, SOA, SRV,
                      TXT, A, Record, reverse_to_ip)

DNS_SCHEMA_VERSION = "1.1.0"  # the Kubernetes DNS specification's version (CoreDNS answers it)


@dataclass(frozen=True)
class Answer:
    rcode: int = NOERROR
    answers: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()


class Resolver:
    def __init__(self, data: ClusterData, *, zone: str = "cluster.local", dns_ip: str = "10.43.0.10",
                 ttl: int = 5):
        self.data, self.zone, self.dns_ip, self.ttl = data, zone.strip(".").lower(), dns_ip, ttl

    def resolve(self, qname: str, qtype: int, qclass: int = CLASS_IN) -> Answer | None:
        name = qname.lower().rstrip(".")
        if name == self.zone or name.endswith("." + self.zone):
            if qclass not in (CLASS_IN, ANY):
                return Answer(REFUSED)
            labels = name[:-len(self.zone)].rstrip(".").split(".") if name != self.zone else []
            return self._in_zone(name, labels, qtype)
        if qtype in (PTR, ANY):
            ip = reverse_to_ip(name)
            targets = self.data.names_for_ip(ip, self.zone) if ip else []
            if targets:
                return Answer(answers=tuple(self._rr(name, PTR, t) for t in targets))
        return None

    # --- the zone's layout ---------------------------------------------------------------

    def _in_zone(self, name: str, labels: list[str], qtype: int) -> Answer:
        n = len(labels)
        if n == 0:
            return self._apex(qtype)
        if labels == ["dns-version"]:
            return self._only(name, qtype, TXT, (DNS_SCHEMA_VERSION,))
        if labels == ["ns", "dns"]:
            return self._addresses(name, qtype, [self.dns_ip])
        if labels == ["dns"]:
            return self.nodata()
        if labels[-1] not in ("svc", "pod"):
            return self.nxdomain()
        if n >= 2 and not self.data.namespace_exists(labels[-2]):
            return self.nxdomain()
        if n <= 2:
            return self.nodata()  # svc.ZONE, NS.svc.ZONE: empty non-terminals
        if labels[-1] == "pod":
            return self._pod(name, labels[0], qtype) if n == 3 else self.nxdomain()
        svc = self.data.service(labels[-2], labels[-3])
        if svc is None:
            return self.nxdomain()
        if n == 3:
            return self._service(name, svc, qtype)
        if n == 4:
            return self._endpoint(name, svc, labels[0], qtype)
        if n == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
            return self._port(name, svc, labels[0][1:], labels[1][1:], qtype)
        return self.nxdomain()

    def _apex(self, qtype: int) -> Answer:
        if qtype == SOA:
            return Answer(answers=(self.soa(),))
        if qtype == NS:
            ns = f"ns.dns.{self.zone}"
            return Answer(answers=(self._rr(self.zone, NS, ns),), additional=(self._rr(ns, A, self.dns_ip),))
        return self.nodata()

    # --- Services ------------------------------------------------------------------------

    def _service(self, name: str, svc: Service, qtype: int) -> Answer:
        if svc.type == "ExternalName":
            return self._external(name, svc, qtype)
        if svc.headless:
            endpoints = self.data.endpoints(svc.namespace, svc.name)
            if not endpoints:
                return self.nxdomain()  # CoreDNS: a headless Service with no ready endpoints
            if qtype == SRV:
                return self._srv(name, svc, endpoints, "", "")
            return self._addresses(name, qtype, [e.address for e in endpoints])
        if qtype == SRV:
            return self._srv(name, svc, (), "", "")
        return self._addresses(name, qtype, svc.cluster_ips)

    def _external(self, name: str, svc: Service, qtype: int) -> Answer:
        cname = self._rr(name, CNAME, svc.external_name)
        target = svc.external_name.lower()
        if qtype != CNAME and (target == self.zone or target.endswith("." + self.zone)) and target != name:
            chased = self._in_zone(target, target[:-len(self.zone)].rstrip(".").split(".")
                                   if target != self.zone else [], qtype)
            if chased.rcode == NOERROR and chased.answers and chased.answers[0].rtype != CNAME:
                return Answer(answers=(cname, *chased.answers))
        return Answer(answers=(cname,))

    def _endpoint(self, name: str, svc: Service, label: str, qtype: int) -> Answer:
        if label.startswith("_"):  # _PROTO.SVC...: an empty non-terminal if such ports exist
            protocol = label[1:]
            exists = any(p.protocol.lower() == protocol and p.name for p in self._ports(svc))
            return self.nodata() if exists else self.nxdomain()
        matching = [e for e in self.data.endpoints(svc.namespace, svc.name) if e.hostname.lower() == label]
        if not matching:
            return self.nxdomain()
        return self._addresses(name, qtype, [e.address for e in matching])

    def _port(self, name: str, svc: Service, port: str, protocol: str, qtype: int) -> Answer:
        if not any(p.name == port and p.protocol.lower() == protocol for p in self._ports(svc)):
            return self.nxdomain()
        if qtype == SRV:
            endpoints = self.data.endpoints(svc.namespace, svc.name) if svc.headless else ()
            return self._srv(name, svc, endpoints, port, protocol)
        base = f"{svc.name}.{svc.namespace}.svc.{self.zone}"
        return self._retarget(self._service(base, svc, qtype), base, name)

    def _ports(self, svc: Service) -> tuple[Port, ...]:
        if not svc.headless:
            return svc.ports
        seen: dict[tuple, Port] = {}
        for e in self.data.endpoints(svc.namespace, svc.name):
            for p in e.ports:
                seen.setdefault((p.name, p.protocol), p)
        return tuple(seen.values())

    def _srv(self, name: str, svc: Service, endpoints: tuple[Endpoint, ...], port: str,
             protocol: str) -> Answer:
        base = f"{svc.name}.{svc.namespace}.svc.{self.zone}"
        targets: list[tuple[int, str, list[str]]] = []  # (port, target name, its addresses)
        if svc.headless:
            for e in endpoints:
                for p in e.ports:
                    if (not port or p.name == port) and (not protocol or p.protocol.lower() == protocol):
                        targets.append((p.port, f"{e.hostname}.{base}", [e.address]))
        else:
            for p in svc.ports:
                if (not port or p.name == port) and (not protocol or p.protocol.lower() == protocol):
                    targets.append((p.port, base, list(svc.cluster_ips)))
        if not targets:
            return self.nodata()
        weight = max(1, 100 // len(targets))
        answers = tuple(self._rr(name, SRV, (0, weight, number, target)) for number, target, _ in targets)
        extra, seen = [], set()
        for _, target, ips in targets:
            for ip in ips:
                if (target, ip) not in seen:
                    seen.add((target, ip))
                    extra.append(self._rr(target, AAAA if ":" in ip else A, ip))
        return Answer(answers=answers, additional=tuple(extra))

    # --- pods ----------------------------------------------------------------------------

    def _pod(self, name: str, label: str, qtype: int) -> Answer:
        text = label.replace("-", ".") if label.count("-") == 3 else label.replace("-", ":")
        try:
            ip = str(ipaddress.ip_address(text))
        except ValueError:
            return self.nxdomain()
        return self._addresses(name, qtype, [ip])

    # --- building answers ----------------------------------------------------------------

    def _addresses(self, name: str, qtype: int, ips) -> Answer:
        wanted = {A: [ip for ip in ips if ":" not in ip], AAAA: [ip for ip in ips if ":" in ip]}
        wanted[ANY] = wanted[A] + wanted[AAAA]
        chosen = wanted.get(qtype, [])
        if not chosen:
            return self.nodata()
        return Answer(answers=tuple(self._rr(name, AAAA if ":" in ip else A, ip) for ip in chosen))

    def _only(self, name: str, qtype: int, rtype: int, data) -> Answer:
        if qtype in (rtype, ANY):
            return Answer(answers=(self._rr(name, rtype, data),))
        return self.nodata()

    def _retarget(self, answer: Answer, old: str, new: str) -> Answer:
        records = tuple(Record(new if r.name == old else r.name, r.rtype, r.ttl, r.data) for r in answer.answers)
        return Answer(answer.rcode, records, answer.authority, answer.additional)

    def _rr(self, name: str, rtype: int, data) -> Record:
        return Record(name, rtype, self.ttl, data)

    def soa(self) -> Record:
        return self._rr(self.zone, SOA, (f"ns.dns.{self.zone}", f"hostmaster.{self.zone}",
                                         self.data.serial & 0xFFFFFFFF, 7200, 1800, 86400, self.ttl))

    def nxdomain(self) -> Answer:
        return Answer(NXDOMAIN, authority=(self.soa(),))

    def nodata(self) -> Answer:
        return Answer(NOERROR, authority=(self.soa(),))
