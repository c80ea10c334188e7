"""One kube-dns pod of the lab: kubedns, dnsmasq and the sidecar, answering as one process.

What the wizard has to carry over lives here, so it must behave like kube-dns: the cluster domain
from `--domain` on the kubedns container; stubDomains, upstreamNameservers and federations from
ConfigMap kube-system/kube-dns (watched; an invalid update is ignored and the previous
configuration kept, as kube-dns does); extra `--server=/zone/ip#port` arguments of the dnsmasq
container. Cluster records have TTL 30, nothing is cached (dnsmasq runs with --no-negcache and the
lab leaves positive caching out too). kube-dns ignores SIGTERM: it answers until it is killed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from wizard.lab.api.store import Store
from wizard.lab.dns.forward import UpstreamError, UpstreamPool
from wizard.lab.dns.http import HTTPEndpoints
from wizard.lab.dns.pods import DNSPod, DNSPodStartError
from wizard.lab.dns.records import KUBEDNS, ClusterIndex, ClusterRecords
from wizard.lab.dns.transport import Client, DNSListener

Obj = dict[str, Any]
CONFIGMAP = ("kube-system", "kube-dns")
SOURCE = "ConfigMap kube-system/kube-dns"


@dataclass
class KubeDNSSettings:
    """The forwarding kube-dns does, most specific zone first."""

    stub_domains: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    upstreams: list[tuple[str, int]] = field(default_factory=list)
    federations: dict[str, str] = field(default_factory=dict)


def settings_from_configmap(configmap: Obj | None, cluster_domain: str) -> KubeDNSSettings:
    """Read the ConfigMap as kube-dns does; raises InputError (from wizard.dns.kubedns_config) naming
    the key and value when kube-dns would refuse the update."""
    from wizard.dns.kubedns_config import parse_federations, parse_stub_domains, parse_upstream_nameservers

    data: dict[str, str] = dict((configmap or {}).get("data") or {})
    domain = cluster_domain.rstrip(".")
    stubs = parse_stub_domains(data.get("stubDomains", ""), SOURCE, domain)
    upstreams = parse_upstream_nameservers(data.get("upstreamNameservers", ""), SOURCE)
    federations = parse_federations(data.get("federations", ""), SOURCE)
    return KubeDNSSettings(
        stub_domains={
            zone: [(ns.host, ns.port or 53) for ns in servers if ns.is_ip] for zone, servers in stubs.items()
        },
        upstreams=[(ns.host, ns.port or 53) for ns in upstreams],
        federations=dict(federations),
    )


def _flag(args: list[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            values.append(arg.split("=", 1)[1])
        elif arg == name and i + 1 < len(args):
            values.append(args[i + 1])
    return values


class KubeDNSPod(DNSPod):
    kind = "kube-dns"
    exits_on_sigterm = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        all_args: list[str] = []
        for c in self.pod.get("spec", {}).get("containers") or []:
            all_args.extend(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
        domain = (_flag(all_args, "--domain") or ["cluster.local."])[0]
        self.cluster_domain = dns.name.from_text(domain if domain.endswith(".") else domain + ".")
        self.dnsmasq_servers: dict[dns.name.Name, list[tuple[str, int]]] = self._dnsmasq_servers(all_args)
        self.settings = KubeDNSSettings()
        self.records = ClusterRecords(
            ClusterIndex.shared(self.store), KUBEDNS, pods="insecure", wildcards=True
        )
        self.records.cluster_zone = self.cluster_domain
        self._listener: DNSListener | None = None
        self._http: list[HTTPEndpoints] = []
        self._unwatch: Any = None
        self._pools: dict[tuple[tuple[str, int], ...], UpstreamPool] = {}
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def _dnsmasq_servers(self, args: list[str]) -> dict[dns.name.Name, list[tuple[str, int]]]:
        """Extra `--server=/zone/ip#port` forwarding; kube-dns's own wiring (its zones sent to
        127.0.0.1#10053) is served directly here."""
        from wizard.dns.kubedns_config import parse_dnsmasq_server
        from wizard.errors import InputError

        servers: dict[dns.name.Name, list[tuple[str, int]]] = {}
        for value in _flag(args, "--server"):
            try:
                parsed = parse_dnsmasq_server(value, "dnsmasq", self.cluster_domain.to_text().rstrip("."))
            except InputError as err:
                self.log(f"dnsmasq: ignoring --server={value}: {err}")
                continue
            if parsed is None:
                continue
            target = (parsed.nameserver.host, parsed.nameserver.port or 53)
            for zone in parsed.zones:
                servers.setdefault(dns.name.from_text(zone), []).append(target)
        return servers

    # ---- configuration --------------------------------------------------------------------------
    def _klog(self, level: str, where: str, message: str) -> None:
        stamp = time.strftime("%m%d %H:%M:%S", time.gmtime())
        self.log(f"{level}{stamp}.000000       1 {where}] {message}")

    def apply_configmap(self, configmap: Obj | None) -> bool:
        """Take a new ConfigMap version; False (and the old settings kept) when it is invalid."""
        from wizard.errors import InputError

        try:
            settings = settings_from_configmap(configmap, self.cluster_domain.to_text())
        except InputError as err:
            self._klog("E", "sync.go:105", f"Invalid configuration, ignoring update: {err}")
            return False
        if settings != self.settings:
            self.settings = settings
            self._pools.clear()
            self._klog("I", "dns.go:48", f"Updated stubDomains to {settings.stub_domains}")
            self._klog("I", "dns.go:48", f"Updated upstreamNameservers to {settings.upstreams}")
            self._klog("I", "dns.go:48", f"Updated federations to {settings.federations}")
        return True

    def _watch_configmap(self, store: Store) -> None:
        loop = asyncio.get_running_loop()

        def on_change(event: str, obj: Obj) -> None:
            if obj["metadata"].get("name") != CONFIGMAP[1]:
                return
            current = None if event == "DELETED" else obj
            loop.call_soon_threadsafe(self.apply_configmap, current)

        self._unwatch = store.watch("configmaps", on_change, namespace=CONFIGMAP[0])

    # ---- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._klog("I", "dns.go:48", "version: 1.14.13")
        self._klog(
            "I", "server.go:71", "Using configuration read from directory: /kube-dns-config with period 10s"
        )
        self.apply_configmap(self.store.try_get("configmaps", *CONFIGMAP))
        self._listener = DNSListener(self.ip, self.dns_port, self._handle)
        routes = {
            8081: {"/readiness": self._ok},
            10054: {
                "/healthcheck/kubedns": self._ok,
                "/healthcheck/dnsmasq": self._ok,
                "/metrics": self._sidecar,
            },
            10055: {"/metrics": self._metrics},
        }
        try:
            await self._listener.start()
            for port, handlers in routes.items():
                server = HTTPEndpoints(self.ip, port, dict(handlers))
                await server.start()
                self._http.append(server)
        except OSError as err:
            await self._close()
            self._klog("F", "server.go:119", f"listen: {err}")
            raise DNSPodStartError(self.log_lines()) from err
        self._watch_configmap(self.store)
        self._klog("I", "server.go:150", "Skydns metrics enabled (/metrics:10055)")
        self._klog(
            "I",
            "logs.go:41",
            f"skydns: ready for queries on {self.cluster_domain} for tcp/udp://{self.ip}:53",
        )
        self.running = True

    def _ok(self) -> tuple[int, str]:
        return (200, "ok") if self.running else (503, "not ready")

    def _metrics(self) -> tuple[int, str]:
        lines = ["# TYPE skydns_skydns_dns_request_count_total counter"]
        lines += [
            f'skydns_skydns_dns_request_count_total{{system="{k}"}} {v}'
            for k, v in sorted(self.requests.items())
        ]
        lines.append("# TYPE skydns_skydns_dns_error_count_total counter")
        lines += [
            f'skydns_skydns_dns_error_count_total{{cause="{k}"}} {v}' for k, v in sorted(self.errors.items())
        ]
        return 200, "\n".join(lines) + "\n"

    def _sidecar(self) -> tuple[int, str]:
        total = sum(self.requests.values())
        return 200, (
            "# TYPE kubedns_dnsmasq_hits gauge\nkubedns_dnsmasq_hits 0\n"
            f"# TYPE kubedns_dnsmasq_misses gauge\nkubedns_dnsmasq_misses {total}\n"
            "# TYPE kubedns_probe_kubedns_errors counter\nkubedns_probe_kubedns_errors 0\n"
        )

    async def terminate_requested(self) -> None:
        """kube-dns does not handle SIGTERM: it keeps answering until the kubelet kills it."""

    async def kill(self) -> None:
        await self._close()
        self._exited.set()

    async def _close(self) -> None:
        self.running = False
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        for server in self._http:
            await server.stop()
        self._http.clear()

    # ---- queries ----------------------------------------------------------------------------------
    async def _handle(self, wire: bytes, client: Client, proto: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        self.requests[proto] += 1
        reply = await self.answer(query, proto)
        limit = 65535 if proto == "tcp" else max(512, query.payload if query.edns >= 0 else 512)
        try:
            return reply.to_wire(max_size=limit)
        except dns.exception.TooBig:
            reply.answer, reply.authority, reply.additional = [], [], []
            reply.flags |= dns.flags.TC
            return reply.to_wire()

    async def answer(self, query: dns.message.Message, proto: str) -> dns.message.Message:
        """dnsmasq's choice: the most specific `--server` zone wins, and kube-dns's own zones
        (the cluster domain, the reverse zones) are such zones too."""
        qname = query.question[0].name
        route = self._route(qname)
        reverse = _reverse_zone(qname)
        if qname.is_subdomain(self.cluster_domain) and (
            route is None or len(route[0]) <= len(self.cluster_domain)
        ):
            federated = self._federation(query)
            if federated is not None:
                return federated
            return self._local(query, self.cluster_domain)
        if reverse is not None and route is None:
            local = self._local(query, reverse)
            if local.rcode() != dns.rcode.NXDOMAIN:
                return local
        return await self._forward(query, proto, route[1] if route else None)

    def _local(self, query: dns.message.Message, zone: dns.name.Name) -> dns.message.Message:
        q = query.question[0]
        found = self.records.lookup(q.name, q.rdtype, zone)
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA | dns.flags.AA
        reply.set_rcode(dns.rcode.Rcode.make(found.rcode))
        reply.answer, reply.authority, reply.additional = found.answer, found.authority, found.additional
        if found.rcode == dns.rcode.NXDOMAIN:
            self.errors["nxdomain"] += 1
        return reply

    def _federation(self, query: dns.message.Message) -> dns.message.Message | None:
        """`svc.ns.FED.svc.<domain>`: the local service when it has endpoints, else a CNAME into
        the federation's domain."""
        q = query.question[0]
        labels = [label.decode().lower() for label in q.name.relativize(self.cluster_domain).labels]
        if len(labels) != 4 or labels[3] != "svc" or labels[2] not in self.settings.federations:
            return None
        svc, ns, fed = labels[0], labels[1], labels[2]
        index = self.records.index
        if index.service(ns, svc) is not None and index.ready_endpoints(ns, svc):
            local = self._local(query, self.cluster_domain)
            local_name = dns.name.from_text(f"{svc}.{ns}.svc", self.cluster_domain)
            found = self.records.lookup(local_name, q.rdtype, self.cluster_domain)
            local.answer = [_renamed(r, q.name) for r in found.answer]
            local.set_rcode(dns.rcode.Rcode.make(found.rcode))
            return local
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA | dns.flags.AA
        target = f"{svc}.{ns}.{fed}.svc.{self.settings.federations[fed].rstrip('.')}."
        reply.answer.append(dns.rrset.from_text(q.name, KUBEDNS.ttl, "IN", "CNAME", target))
        return reply

    def _route(self, qname: dns.name.Name) -> tuple[dns.name.Name, list[tuple[str, int]]] | None:
        """The most specific `--server` / stub domain zone of `qname` and its nameservers."""
        zones: dict[dns.name.Name, list[tuple[str, int]]] = dict(self.dnsmasq_servers)
        for zone, servers in self.settings.stub_domains.items():
            zones.setdefault(dns.name.from_text(zone), servers)
        matches = [z for z in zones if qname.is_subdomain(z)]
        if not matches:
            return None
        best = max(matches, key=len)
        return best, zones[best]

    async def _forward(
        self, query: dns.message.Message, proto: str, targets: list[tuple[str, int]] | None
    ) -> dns.message.Message:
        if targets is None:
            targets = self.settings.upstreams or [(ns, 53) for ns in self.net.resolv_conf_nameservers()]
        key = tuple(targets)
        pool = self._pools.get(key)
        if pool is None:
            pool = UpstreamPool(self.net, list(targets), self.ip, self.speed, policy="sequential")
            self._pools[key] = pool
        try:
            reply = await pool.exchange(query, proto)
        except UpstreamError:
            self.errors["forward"] += 1
            failed = dns.message.make_response(query)
            failed.flags |= dns.flags.RA
            failed.set_rcode(dns.rcode.SERVFAIL)
            return failed
        reply.id = query.id
        return reply


def _reverse_zone(qname: dns.name.Name) -> dns.name.Name | None:
    for zone in ("in-addr.arpa.", "ip6.arpa."):
        name = dns.name.from_text(zone)
        if qname.is_subdomain(name):
            return name
    return None


def _renamed(rrset: dns.rrset.RRset, name: dns.name.Name) -> dns.rrset.RRset:
    renamed = dns.rrset.RRset(name, rrset.rdclass, rrset.rdtype)
    for rdata in rrset:
        renamed.add(rdata, rrset.ttl)
    return renamed
