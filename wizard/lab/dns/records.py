"""The cluster's DNS records as the CoreDNS `kubernetes` plugin serves them (kube-dns has its own:
kubedns_records.py).

Computed from Services, Endpoints, Pods and Namespaces in the lab Store and kept current from
Store watches, one small change at a time: a lab with 2,000 Services and 10,000 pods must answer
without rescanning anything per query. One index is shared by the CoreDNS pods of a Store (like
one informer cache).

What is served (DNS schema of kubernetes/dns `docs/specification.md`):
  <svc>.<ns>.svc.<zone>            A/AAAA: the ClusterIP; headless: the ready endpoint IPs;
                                   ExternalName: a CNAME
  <host>.<svc>.<ns>.svc.<zone>     A of one endpoint (its hostname, or its dashed IP)
  _<port>._<proto>.<svc>.<ns>.svc.<zone>   SRV
  <a-b-c-d>.<ns>.pod.<zone>        pods insecure / verified / disabled
  <reversed ip>.in-addr.arpa       PTR for Service and endpoint IPs
  dns-version.<zone>               TXT "1.1.0"
Names that exist with other types, and empty non-terminals (`svc.<zone>`, `<ns>.svc.<zone>` for an
existing namespace), are NODATA; everything else is NXDOMAIN; negative answers carry the SOA.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from wizard.lab.api.store import Obj, Store

COREDNS_TTL = 5
SCHEMA_VERSION = "1.1.0"



@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class ServiceEntry:
    namespace: str
    name: str
    cluster_ips: tuple[str, ...]
    headless: bool
    external_name: str | None
    ports: tuple[ServicePort, ...]


@dataclass(frozen=True)
class EndpointAddress:
    ip: str
    hostname: str | None


@dataclass(frozen=True)
class EndpointsEntry:
    namespace: str
    name: str
    ready: tuple[EndpointAddress, ...]
    ports: tuple[ServicePort, ...]


@dataclass
class Answer:
    """What a lookup produced; `rcode` NOERROR with no answer is NODATA."""

    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)

    @property
    def is_negative(self) -> bool:
        return self.rcode == dns.rcode.NXDOMAIN or (self.rcode == dns.rcode.NOERROR and not self.answer)


def _ports(raw: Iterable[Obj]) -> tuple[ServicePort, ...]:
    return tuple(
        ServicePort(str(p.get("name") or ""), str(p.get("protocol") or "TCP"), int(p.get("port") or 0))
        for p in raw
    )


def _service_entry(obj: Obj) -> ServiceEntry:
    meta, spec = obj.get("metadata", {}), obj.get("spec", {})
    ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"]
    external = spec.get("externalName") if spec.get("type") == "ExternalName" else None
    return ServiceEntry(
        namespace=meta.get("namespace", "default"),
        name=meta.get("name", ""),
        cluster_ips=tuple(ips),
        headless=not ips and external is None,
        external_name=external,
        ports=_ports(spec.get("ports") or []),
    )


def _endpoints_entry(obj: Obj) -> EndpointsEntry:
    meta = obj.get("metadata", {})
    ready: list[EndpointAddress] = []
    ports: list[ServicePort] = []
    for subset in obj.get("subsets") or []:
        for addr in subset.get("addresses") or []:
            if addr.get("ip"):
                ready.append(EndpointAddress(addr["ip"], addr.get("hostname") or None))
        ports.extend(_ports(subset.get("ports") or []))
    return EndpointsEntry(meta.get("namespace", "default"), meta.get("name", ""), tuple(ready), tuple(ports))


def dashed(ip: str) -> str:
    """`10.1.2.3` → `10-1-2-3`, `fd00::1` → `fd00--1`: the pod/endpoint label form of an IP."""
    return ip.replace(".", "-").replace(":", "-")


def undashed(label: str) -> str | None:
    """The IP a dashed label stands for, or None when it is not one."""
    for candidate in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def reverse_ip(qname: dns.name.Name) -> str | None:
    """The IP a `...in-addr.arpa`/`...ip6.arpa` name stands for, or None for a partial name."""
    try:
        return str(dns.reversename.to_address(qname))
    except Exception:
        return None


class ClusterIndex:
    """Services, Endpoints, Pods and Namespaces of one Store, indexed for DNS.

    Updated from the Store's watch callbacks (which run in the writer's thread, under the store
    lock, so the index is current the moment a write returns); read from DNS servers on the lab
    loop. Each update touches only the entries of the changed object."""

    _shared: ClassVar[weakref.WeakKeyDictionary[Store, ClusterIndex]] = weakref.WeakKeyDictionary()
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, store: Store) -> ClusterIndex:
        """The one index of `store` (created on first use)."""
        with cls._shared_lock:
            index = cls._shared.get(store)
            if index is None:
                index = cls(store)
                cls._shared[store] = index
            return index

    def __init__(self, store: Store) -> None:
        self._lock = threading.Lock()
        self.services: dict[tuple[str, str], ServiceEntry] = {}
        self.endpoints: dict[tuple[str, str], EndpointsEntry] = {}
        self.namespaces: set[str] = set()
        self._ns_service_count: dict[str, int] = {}
        self._service_by_ip: dict[str, tuple[str, str]] = {}
        self._endpoint_by_ip: dict[str, set[tuple[str, str, str]]] = {}
        self._pod_ip_of: dict[tuple[str, str], str] = {}
        self._pods_by_ip: dict[str, set[str]] = {}
        self.serial = int(time.time())
        # Subscribing with since=0 replays every existing object atomically with the subscription;
        # the callbacks keep no reference to the store, so the shared index dies with it.
        store.watch("namespaces", self._on_namespace, since=0)
        store.watch("services", self._on_service, since=0)
        store.watch("endpoints", self._on_endpoints, since=0)
        store.watch("pods", self._on_pod, since=0)

    # ---- index maintenance (store watch callbacks) ------------------------------------------
    def _touch(self) -> None:
        self.serial += 1

    def _on_namespace(self, event: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        with self._lock:
            if event == "DELETED":
                self.namespaces.discard(name)
            else:
                self.namespaces.add(name)
            self._touch()

    def _on_service(self, event: str, obj: Obj) -> None:
        entry = _service_entry(obj)
        key = (entry.namespace, entry.name)
        with self._lock:
            old = self.services.pop(key, None)
            if old is not None:
                self._ns_service_count[old.namespace] -= 1
                for ip in old.cluster_ips:
                    if self._service_by_ip.get(ip) == key:
                        del self._service_by_ip[ip]
            if event != "DELETED":
                self.services[key] = entry
                self._ns_service_count[entry.namespace] = self._ns_service_count.get(entry.namespace, 0) + 1
                for ip in entry.cluster_ips:
                    self._service_by_ip[ip] = key
            self._touch()

    def _on_endpoints(self, event: str, obj: Obj) -> None:
        entry = _endpoints_entry(obj)
        key = (entry.namespace, entry.name)
        with self._lock:
            old = self.endpoints.pop(key, None)
            if old is not None:
                for addr in old.ready:
                    refs = self._endpoint_by_ip.get(addr.ip)
                    if refs is not None:
                        refs.discard((old.namespace, old.name, addr.hostname or ""))
                        if not refs:
                            del self._endpoint_by_ip[addr.ip]
            if event != "DELETED":
                self.endpoints[key] = entry
                for addr in entry.ready:
                    self._endpoint_by_ip.setdefault(addr.ip, set()).add(
                        (entry.namespace, entry.name, addr.hostname or "")
                    )
            self._touch()

    def _on_pod(self, event: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        ip = (obj.get("status") or {}).get("podIP")
        with self._lock:
            old_ip = self._pod_ip_of.pop(key, None)
            if old_ip is not None:
                namespaces = self._pods_by_ip.get(old_ip)
                if namespaces is not None:
                    namespaces.discard(key[0])
                    if not namespaces:
                        del self._pods_by_ip[old_ip]
            if event != "DELETED" and ip:
                self._pod_ip_of[key] = ip
                self._pods_by_ip.setdefault(ip, set()).add(key[0])

    # ---- queries ------------------------------------------------------------------------------
    def namespace_exists(self, ns: str) -> bool:
        with self._lock:
            return ns in self.namespaces or self._ns_service_count.get(ns, 0) > 0

    def service(self, ns: str, name: str) -> ServiceEntry | None:
        with self._lock:
            return self.services.get((ns, name))

    def ready_endpoints(self, ns: str, name: str) -> tuple[EndpointAddress, ...]:
        with self._lock:
            entry = self.endpoints.get((ns, name))
            return entry.ready if entry else ()

    def endpoints_entry(self, ns: str, name: str) -> EndpointsEntry | None:
        with self._lock:
            return self.endpoints.get((ns, name))

    def matching_services(self, ns: str, name: str) -> list[ServiceEntry]:
        """Services for a name whose labels may be the wildcards `*` / `any`."""
        wild = ("*", "any")
        if ns not in wild and name not in wild:
            found = self.service(ns, name)
            return [found] if found else []
        with self._lock:
            return [
                s
                for (s_ns, s_name), s in sorted(self.services.items())
                if (ns in wild or s_ns == ns) and (name in wild or s_name == name)
            ]

    def pod_exists(self, ns: str, ip: str) -> bool:
        with self._lock:
            return ns in self._pods_by_ip.get(ip, set())

    def names_for_ip(self, ip: str) -> tuple[tuple[str, str] | None, list[tuple[str, str, str]]]:
        """(the Service whose ClusterIP this is, the endpoints (ns, svc, hostname) with this IP)."""
        with self._lock:
            return self._service_by_ip.get(ip), sorted(self._endpoint_by_ip.get(ip, set()))


@dataclass(frozen=True)
class Flavour:
    """How one DNS server renders the records: CoreDNS and kube-dns differ in TTL, SRV fields,
    the names of hostname-less endpoints and the SOA timers."""

    name: str
    ttl: int
    srv_priority: int
    soa_timers: tuple[int, int, int, int]  # refresh, retry, expire, minimum

    def endpoint_label(self, addr: EndpointAddress) -> str:
        if addr.hostname:
            return addr.hostname
        return dashed(addr.ip)


COREDNS = Flavour("coredns", COREDNS_TTL, 0, (7200, 1800, 86400, COREDNS_TTL))


def with_ttl(flavour: Flavour, ttl: int) -> Flavour:
    return Flavour(flavour.name, ttl, flavour.srv_priority, (*flavour.soa_timers[:3], ttl))


class ClusterRecords:
    """Answers questions about one cluster zone (e.g. `cluster.local.`) and the reverse zones."""

    def __init__(
        self,
        index: ClusterIndex,
        flavour: Flavour = COREDNS,
        pods: str = "insecure",
        wildcards: bool = True,
        namespaces: Iterable[str] = (),
    ) -> None:
        self.index = index
        self.flavour = flavour
        self.pods = pods
        self.wildcards = wildcards
        self.only_namespaces = frozenset(namespaces)
        self.cluster_zone: dns.name.Name | None = None
        """The forward zone PTR targets are named in (set by the server; else the queried zone)."""

    # ---- helpers ------------------------------------------------------------------------------
    def _rr(self, name: dns.name.Name | str, rdtype: str, *rdatas: str) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, self.flavour.ttl, "IN", rdtype, list(rdatas))

    def soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        refresh, retry, expire, minimum = self.flavour.soa_timers
        mname = dns.name.from_text("ns.dns", zone)
        rname = dns.name.from_text("hostmaster", zone)
        return self._rr(
            zone, "SOA", f"{mname} {rname} {self.index.serial} {refresh} {retry} {expire} {minimum}"
        )

    def _negative(self, zone: dns.name.Name, rcode: int) -> Answer:
        return Answer(rcode=rcode, authority=[self.soa(zone)])

    def _exposed(self, ns: str) -> bool:
        if self.only_namespaces and ns not in self.only_namespaces:
            return False
        return self.index.namespace_exists(ns)

    # ---- the lookup ---------------------------------------------------------------------------
    def lookup(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name) -> Answer:
        """Answer `qname`/`qtype` for `zone` (a forward cluster zone or a reverse zone)."""
        if qname.is_subdomain(dns.name.from_text("in-addr.arpa")) or qname.is_subdomain(
            dns.name.from_text("ip6.arpa")
        ):
            return self._reverse(qname, qtype, zone)
        labels = [label.decode().lower() for label in qname.relativize(zone).labels]
        labels.reverse()  # from the zone outwards: ["svc", "ns", "name", ...]
        if qname == zone:
            return self._apex(qname, qtype, zone)
        if labels == ["dns-version"]:
            if qtype in (dns.rdatatype.TXT, dns.rdatatype.ANY):
                return Answer(answer=[self._rr(qname, "TXT", f'"{SCHEMA_VERSION}"')])
            return self._negative(zone, dns.rcode.NOERROR)
        if labels == ["ns", "dns"] or labels == ["dns"]:
            return self._negative(zone, dns.rcode.NOERROR)
        if labels[0] == "svc":
            return self._service_name(qname, qtype, zone, labels[1:])
        if labels[0] == "pod":
            return self._pod_name(qname, qtype, zone, labels[1:])
        return self._negative(zone, dns.rcode.NXDOMAIN)

    def _apex(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name) -> Answer:
        if qtype == dns.rdatatype.SOA:
            return Answer(answer=[self.soa(zone)])
        if qtype == dns.rdatatype.NS:
            return Answer(answer=[self._rr(zone, "NS", str(dns.name.from_text("ns.dns", zone)))])
        return self._negative(zone, dns.rcode.NOERROR)

    def _service_name(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name, rest: list[str]) -> Answer:
        if not rest:
            return self._negative(zone, dns.rcode.NOERROR)  # svc.<zone>: an empty non-terminal
        ns = rest[0]
        wild = {"*", "any"} if self.wildcards else set()
        if ns not in wild and not self._exposed(ns):
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if len(rest) == 1:
            return self._negative(zone, dns.rcode.NOERROR)
        name = rest[1]
        if not wild and (ns in ("*", "any") or name in ("*", "any")):
            return self._negative(zone, dns.rcode.NXDOMAIN)
        services = self.index.matching_services(ns, name)
        if not services:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if len(rest) == 2:
            return self._service_records(qname, qtype, zone, services)
        if len(rest) == 3 and not rest[2].startswith("_"):
            return self._endpoint_host(qname, qtype, zone, services, rest[2])
        if len(rest) == 4 and rest[2].startswith("_"):
            return self._srv(qname, qtype, zone, services, [rest[3], rest[2]])  # [_port, _proto]
        return self._negative(zone, dns.rcode.NXDOMAIN)

    def _addresses(self, svc: ServiceEntry) -> list[str]:
        if svc.headless:
            return [a.ip for a in self.index.ready_endpoints(svc.namespace, svc.name)]
        return list(svc.cluster_ips)

    def _address_answer(
        self, qname: dns.name.Name, qtype: int, zone: dns.name.Name, ips: list[str]
    ) -> Answer:
        want_v6 = qtype == dns.rdatatype.AAAA
        if qtype not in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY):
            return self._negative(zone, dns.rcode.NOERROR)
        v4 = sorted({ip for ip in ips if ":" not in ip})
        v6 = sorted({ip for ip in ips if ":" in ip})
        answer = []
        if v4 and not want_v6:
            answer.append(self._rr(qname, "A", *v4))
        if v6 and (want_v6 or qtype == dns.rdatatype.ANY):
            answer.append(self._rr(qname, "AAAA", *v6))
        if not answer:
            return self._negative(zone, dns.rcode.NOERROR)
        return Answer(answer=answer)

    def _service_records(
        self, qname: dns.name.Name, qtype: int, zone: dns.name.Name, services: list[ServiceEntry]
    ) -> Answer:
        external = [s for s in services if s.external_name]
        if external and len(services) == 1:
            if qtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.ANY):
                target = dns.name.from_text(str(external[0].external_name))
                return Answer(answer=[self._rr(qname, "CNAME", str(target))])
            return self._negative(zone, dns.rcode.NOERROR)
        if qtype == dns.rdatatype.SRV:
            return self._srv(qname, qtype, zone, services, [])
        ips = [ip for svc in services for ip in self._addresses(svc)]
        return self._address_answer(qname, qtype, zone, ips)

    def _endpoint_host(
        self, qname: dns.name.Name, qtype: int, zone: dns.name.Name, services: list[ServiceEntry], host: str
    ) -> Answer:
        ips = [
            addr.ip
            for svc in services
            for addr in self.index.ready_endpoints(svc.namespace, svc.name)
            if self.flavour.endpoint_label(addr) == host or dashed(addr.ip) == host
        ]
        if not ips:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        return self._address_answer(qname, qtype, zone, ips)

    def _srv(
        self,
        qname: dns.name.Name,
        qtype: int,
        zone: dns.name.Name,
        services: list[ServiceEntry],
        port_labels: list[str],
    ) -> Answer:
        """SRV for `_port._proto.svc...` (port_labels given) or for the bare service name."""
        if port_labels and len(port_labels) != 2:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        port_name = port_labels[0][1:] if port_labels else None
        proto = port_labels[1][1:] if port_labels else None
        targets: list[tuple[int, str, str]] = []  # (port, target name, ip)
        for svc in services:
            base = dns.name.from_text(f"{svc.name}.{svc.namespace}.svc", zone)
            if svc.headless:
                entry = self.index.endpoints_entry(svc.namespace, svc.name)
                if entry is None:
                    continue
                for port in entry.ports:
                    if not _port_matches(port, port_name, proto):
                        continue
                    for addr in entry.ready:
                        target = dns.name.from_text(self.flavour.endpoint_label(addr), base)
                        targets.append((port.port, str(target), addr.ip))
            else:
                for port in svc.ports:
                    if _port_matches(port, port_name, proto):
                        for ip in svc.cluster_ips:
                            targets.append((port.port, str(base), ip))
        if not targets:
            return self._negative(zone, dns.rcode.NXDOMAIN if port_labels else dns.rcode.NOERROR)
        if qtype not in (dns.rdatatype.SRV, dns.rdatatype.ANY):
            return self._negative(zone, dns.rcode.NOERROR)
        weight = max(1, 100 // len(targets))
        prio = self.flavour.srv_priority
        srv = self._rr(qname, "SRV", *sorted({f"{prio} {weight} {p} {t}" for p, t, _ in targets}))
        extra: dict[str, set[str]] = {}
        for _, target_name, ip in targets:
            extra.setdefault(target_name, set()).add(ip)
        additional = [
            self._rr(name, "AAAA" if ":" in next(iter(ips)) else "A", *sorted(ips))
            for name, ips in sorted(extra.items())
        ]
        return Answer(answer=[srv], additional=additional)

    def _pod_name(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name, rest: list[str]) -> Answer:
        if self.pods == "disabled":
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if not rest:
            return self._negative(zone, dns.rcode.NOERROR)
        ns = rest[0]
        if len(rest) == 1:
            return self._negative(zone, dns.rcode.NOERROR if self._exposed(ns) else dns.rcode.NXDOMAIN)
        if len(rest) != 2:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        ip = undashed(rest[1])
        if ip is None:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if self.pods == "verified" and not self.index.pod_exists(ns, ip):
            return self._negative(zone, dns.rcode.NXDOMAIN)
        return self._address_answer(qname, qtype, zone, [ip])

    def _reverse(self, qname: dns.name.Name, qtype: int, zone: dns.name.Name) -> Answer:
        ip = reverse_ip(qname)
        if ip is None:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        service, endpoints = self.index.names_for_ip(ip)
        names: list[str] = []
        cluster = self.cluster_zone or zone
        if service is not None:
            names.append(str(dns.name.from_text(f"{service[1]}.{service[0]}.svc", cluster)))
        for ns, svc, host in endpoints:
            label = host or dashed(ip)
            names.append(str(dns.name.from_text(f"{label}.{svc}.{ns}.svc", cluster)))
        if not names:
            return self._negative(zone, dns.rcode.NXDOMAIN)
        if qtype not in (dns.rdatatype.PTR, dns.rdatatype.ANY):
            return self._negative(zone, dns.rcode.NOERROR)
        return Answer(answer=[self._rr(qname, "PTR", *names)])


def _port_matches(port: ServicePort, name: str | None, proto: str | None) -> bool:
    if name is None:
        return bool(port.name)
    return (
        bool(port.name)
        and (name in ("*", "any") or port.name.lower() == name)
        and (proto in ("*", "any") or port.protocol.lower() == proto)
    )
