"""kube-dns's own records: its tree cache of Services and Endpoints, and skydns's answers from it.

Written from kubernetes/dns 1.14 (`pkg/dns/dns.go`, `pkg/dns/treecache`) and skydns, separate
from the CoreDNS kubernetes plugin's records (records.py) so that "CoreDNS answers like kube-dns"
is something the lab checks, not something it assumes. What kube-dns does, and this does too:
- it watches only Services and Endpoints (no Pods, no Namespaces): `<ns>.svc.<domain>` and
  `svc.<domain>` are NXDOMAIN, like any name with no records under it;
- a ClusterIP Service is a node `<svc>` holding one A entry keyed by a hash label, plus SRV
  entries under `_<proto>._<port>` for named ports; a headless Service holds one entry per ready
  endpoint address, keyed by its hostname or the hash label; an ExternalName Service is a CNAME
  entry in its namespace;
- a query takes every entry at the node it names (`*` matches any label not starting with `_`);
- `<a-b-c-d>.<ns>.pod.<domain>` answers the IP for any namespace (pods "insecure");
- PTR only for ClusterIPs and for endpoint addresses that have a hostname;
- federation queries `<svc>.<ns>.<fed>.svc.<domain>` CNAME to the local Service when it has
  endpoints (or is headless), else to `<svc>.<ns>.<fed>.svc.<zone>.<region>.<fed-domain>`;
- TTL 30, SRV priority 10 and weight 100/n, SOA `ns.dns.<domain> hostmaster.<domain>`.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset

from wizard.lab.api.store import Obj, Store

TTL = 30
SRV_PRIORITY = 10
SOA_TIMERS = (28800, 7200, 604800, 60)  # skydns: refresh, retry, expire, minimum
ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
REGION_LABEL = "failure-domain.beta.kubernetes.io/region"
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Record:
    """A skydns msg.Service: `host` is an IP or a name; `key` the name the entry lives at."""

    host: str
    port: int
    key: str


@dataclass
class Node:
    entries: dict[str, Record] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, label: str) -> Node:
        return self.children.setdefault(label, Node())


@dataclass
class Reply:
    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def hash_label(ip: str, port: int = 0) -> str:
    """util.GetSkyMsg's label: FNV-32a of the record, in hex."""
    value = 0x811C9DC5
    for byte in f"&{{Host:{ip} Port:{port} Priority:10 Weight:10 Ttl:30}}".encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:x}"


def _port_labels(port: Obj) -> tuple[str, str]:
    return "_" + str(port.get("protocol", "TCP")).lower(), "_" + str(port["name"])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class KubeDNSRecords:
    """One kube-dns process's cache, filled from its own watches of Services and Endpoints."""

    def __init__(self, store: Store, domain: dns.name.Name) -> None:
        self.store = store
        self.domain = domain
        self.domain_text = domain.to_text().rstrip(".")
        self._lock = threading.Lock()
        self._services: dict[tuple[str, str], Obj] = {}
        self._endpoints: dict[tuple[str, str], Obj] = {}
        self._tree = Node()  # the `svc` node: namespaces → services
        self._reverse: dict[str, str] = {}
        self._reverse_of: dict[tuple[str, str], list[str]] = {}
        self._unwatch: list[Any] = []

    # ---- the informers ----------------------------------------------------------------------------
    def start(self) -> None:
        self._unwatch.append(self.store.watch("services", self._on_service, since=0))
        self._unwatch.append(self.store.watch("endpoints", self._on_endpoints, since=0))

    def stop(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch.clear()

    def _on_service(self, event: str, obj: Obj) -> None:
        key = (obj["metadata"].get("namespace", "default"), obj["metadata"]["name"])
        with self._lock:
            if event == "DELETED":
                self._services.pop(key, None)
            else:
                self._services[key] = obj
            self._rebuild(key)

    def _on_endpoints(self, event: str, obj: Obj) -> None:
        key = (obj["metadata"].get("namespace", "default"), obj["metadata"]["name"])
        with self._lock:
            if event == "DELETED":
                self._endpoints.pop(key, None)
            else:
                self._endpoints[key] = obj
            self._rebuild(key)

    def _fqdn(self, ns: str, name: str, *sub: str) -> str:
        return ".".join([*reversed(sub), name, ns, "svc", self.domain_text]) + "."

    def _rebuild(self, key: tuple[str, str]) -> None:
        """Replace the Service's subtree (newPortalService / generateRecordsForHeadlessService)."""
        ns, name = key
        namespace = self._tree.child(ns)
        namespace.children.pop(name, None)
        namespace.entries.pop(name, None)
        for ip in self._reverse_of.pop(key, []):
            self._reverse.pop(ip, None)
        service = self._services.get(key)
        if service is None:
            return
        spec = service.get("spec") or {}
        reverse: list[str] = []
        if spec.get("type") == "ExternalName":
            namespace.entries[name] = Record(str(spec.get("externalName", "")), 0, self._fqdn(ns, name))
            return
        cluster_ip = spec.get("clusterIP")
        node = Node()
        if cluster_ip and cluster_ip != "None":
            label = hash_label(cluster_ip)
            node.entries[label] = Record(cluster_ip, 0, self._fqdn(ns, name, label))
            for port in spec.get("ports") or []:
                if port.get("name") and port.get("protocol", "TCP"):
                    labels = _port_labels(port)
                    target = node.child(labels[0]).child(labels[1])
                    target.entries[label] = Record(self._fqdn(ns, name), int(port.get("port", 0)),
                                                   self._fqdn(ns, name, *labels, label))
            self._reverse[cluster_ip] = self._fqdn(ns, name)
            reverse.append(cluster_ip)
        else:
            endpoints = self._endpoints.get(key)
            if endpoints is None:
                return  # kube-dns: records come once the endpoints show up
            for subset in endpoints.get("subsets") or []:
                for address in subset.get("addresses") or []:
                    ip = str(address.get("ip", ""))
                    hostname = str(address.get("hostname") or "")
                    label = hostname or hash_label(ip)
                    node.entries[label] = Record(ip, 0, self._fqdn(ns, name, label))
                    for port in subset.get("ports") or []:
                        if port.get("name") and port.get("protocol", "TCP"):
                            labels = _port_labels(port)
                            target = node.child(labels[0]).child(labels[1])
                            target.entries[label] = Record(
                                self._fqdn(ns, name, label), int(port.get("port", 0)),
                                self._fqdn(ns, name, *labels, label))
                    if hostname:
                        self._reverse[ip] = self._fqdn(ns, name, hostname)
                        reverse.append(ip)
        namespace.children[name] = node
        self._reverse_of[key] = reverse

    # ---- the lookups ------------------------------------------------------------------------------
    def _values(self, path: list[str]) -> list[Record]:
        """treecache GetValuesForPathWithWildcards, from the `svc` node: `path` is [ns, name, ...]."""
        nodes = [self._tree]
        for index, label in enumerate(path):
            following: list[Node] = []
            if index == len(path) - 1:
                found: list[Record] = []
                for node in nodes:
                    if label == "*":
                        following.append(node)
                    elif label in node.entries:
                        found.append(node.entries[label])
                    elif label in node.children:
                        following.append(node.children[label])
                return found + [r for node in following for r in node.entries.values()]
            for node in nodes:
                if label == "*":
                    following.extend(n for k, n in node.children.items() if not k.startswith("_"))
                elif label in node.children:
                    following.append(node.children[label])
            nodes = following
        return [r for node in nodes for r in node.entries.values()]

    def records(self, labels: list[str]) -> list[Record] | None:
        """kube-dns Records(): `labels` from the domain outwards (["svc", ns, name, ...]);
        None for an error that is not "not found" (skydns: SERVFAIL)."""
        if len(labels) == 3 and labels[0] == "pod" and "*" not in labels:
            ip = labels[2].replace("-", ".")
            return [Record(ip, 0, "")] if _is_ip(ip) else []
        if not labels or labels[0] != "svc" or len(labels) < 2:
            return []
        with self._lock:
            return self._values(labels[1:])

    def is_federation_query(self, labels: list[str], federations: dict[str, str]) -> bool:
        if len(labels) != 4:
            return False
        svc, ns, fed, sub = labels[3], labels[2], labels[1], labels[0]
        return (bool(_DNS1035.match(svc)) and bool(_DNS1123.match(ns)) and bool(_DNS1123.match(fed))
                and sub == "svc" and fed in federations)

    def federation(self, labels: list[str], federations: dict[str, str]) -> str | None:
        """The CNAME target; None when kube-dns cannot tell the cluster's zone and region (from
        the nodes' failure-domain labels): skydns then answers SERVFAIL."""
        sub, fed, ns, svc = labels
        with self._lock:
            local = self._values([ns, svc])
            cluster_ips = {str((s.get("spec") or {}).get("clusterIP")) for s in self._services.values()}
            for record in local:
                if record.host not in cluster_ips:
                    return self._fqdn(ns, svc)  # a headless record
                endpoints = self._endpoints.get((ns, svc))
                if endpoints and endpoints.get("subsets"):
                    return self._fqdn(ns, svc)
        zone, region = self._zone_and_region()
        if not zone or not region:
            return None
        return f"{svc}.{ns}.{fed}.{sub}.{zone}.{region}.{federations[fed]}."

    def _zone_and_region(self) -> tuple[str, str]:
        nodes = self.store.list("nodes")[0]
        for node in nodes:
            labels = node.get("metadata", {}).get("labels") or {}
            if labels.get(ZONE_LABEL) and labels.get(REGION_LABEL):
                return str(labels[ZONE_LABEL]), str(labels[REGION_LABEL])
        return "", ""

    def reverse(self, ip: str) -> str | None:
        with self._lock:
            return self._reverse.get(ip)

    # ---- skydns's answers -------------------------------------------------------------------------
    def soa(self) -> dns.rrset.RRset:
        serial = int(time.time()) // 3600 * 3600
        refresh, retry, expire, minimum = SOA_TIMERS
        text = f"ns.dns.{self.domain} hostmaster.{self.domain} {serial} {refresh} {retry} {expire} {minimum}"
        return dns.rrset.from_text(self.domain, TTL, "IN", "SOA", text)

    def answer(self, qname: dns.name.Name, qtype: int, federations: dict[str, str]) -> Reply:
        labels = [label.decode().lower() for label in reversed(qname.relativize(self.domain).labels)]
        if qname == self.domain:
            if qtype == dns.rdatatype.SOA:
                return Reply(answer=[self.soa()])
            if qtype == dns.rdatatype.NS:
                return Reply(answer=[dns.rrset.from_text(qname, TTL, "IN", "NS", f"ns.dns.{self.domain}")])
            return Reply(authority=[self.soa()])
        if self.is_federation_query(labels, federations):
            target = self.federation(labels, federations)
            if target is None:
                return Reply(rcode=dns.rcode.SERVFAIL)
            reply = Reply(answer=[dns.rrset.from_text(qname, TTL, "IN", "CNAME", target)])
            local = dns.name.from_text(target)
            if local.is_subdomain(self.domain):
                reply.answer += self.answer(local, qtype, {}).answer
            return reply
        found = self.records(labels)
        if found is None:
            return Reply(rcode=dns.rcode.SERVFAIL)
        if not found:
            return Reply(rcode=dns.rcode.NXDOMAIN, authority=[self.soa()])
        return self._render(qname, qtype, found)

    def _render(self, qname: dns.name.Name, qtype: int, found: list[Record]) -> Reply:
        reply = Reply()
        if qtype == dns.rdatatype.SRV:
            weight = 100 // len(found)
            rdatas: list[str] = []
            for record in found:
                target = record.key if _is_ip(record.host) else record.host
                rdatas.append(f"{SRV_PRIORITY} {weight} {record.port} {target.rstrip('.')}.")
                if _is_ip(record.host):
                    kind = "AAAA" if ":" in record.host else "A"
                    reply.additional.append(dns.rrset.from_text(target, TTL, "IN", kind, record.host))
            reply.answer.append(dns.rrset.from_text_list(qname, TTL, "IN", "SRV", sorted(set(rdatas))))
            return reply
        if qtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY, dns.rdatatype.CNAME):
            names = [r.host for r in found if not _is_ip(r.host)]
            if names and qtype != dns.rdatatype.AAAA:
                target = names[0].rstrip(".") + "."
                reply.answer.append(dns.rrset.from_text(qname, TTL, "IN", "CNAME", target))
                return reply
            want = "AAAA" if qtype == dns.rdatatype.AAAA else "A"
            ips = sorted({r.host for r in found if _is_ip(r.host) and (":" in r.host) == (want == "AAAA")})
            if ips:
                reply.answer.append(dns.rrset.from_text_list(qname, TTL, "IN", want, ips))
                return reply
        reply.authority.append(self.soa())
        return reply

    def ptr(self, qname: dns.name.Name) -> Reply | None:
        """The PTR for a ClusterIP or a hostname endpoint; None when kube-dns has none."""
        try:
            ip = dns.reversename.to_address(qname)
        except (dns.exception.SyntaxError, ValueError):
            return None
        name = self.reverse(ip)
        if name is None:
            return None
        return Reply(answer=[dns.rrset.from_text(qname, TTL, "IN", "PTR", name)])
