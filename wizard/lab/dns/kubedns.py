"""One kube-dns pod of the lab: kubedns, dnsmasq and the sidecar, answering as one process.

Everything here is the lab's own reading of kubernetes/dns, never the wizard's: the cluster domain
from `--domain` on the kubedns container; ConfigMap kube-system/kube-dns read by
kubedns_configmap (an invalid key makes kube-dns ignore the whole ConfigMap: defaults at start,
the previous settings on an update, with kube-dns's log lines); dnsmasq's `--server` table built
as dnsmasq-nanny builds it (the Deployment's own `--server`s, then stub domains and upstreams from
the ConfigMap), the most specific zone winning and kube-dns's own zones being `--server`s to the
local kubedns like any other; cluster records from kubedns's own cache (kubedns_records), never
the index CoreDNS uses. A pod without a dnsmasq container is kubedns alone on port 53 (stub
domains then do nothing: only dnsmasq reads them). Nothing is cached (dnsmasq runs with
--no-negcache and the lab leaves positive caching out too). kube-dns ignores SIGTERM: it answers
until it is killed.
"""
from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from wizard.lab.api.store import Obj, Store
from wizard.lab.dns.forward import UpstreamError, UpstreamPool
from wizard.lab.dns.http import HTTPEndpoints
from wizard.lab.dns.kubedns_configmap import (
    NAME_RESOLVING_NANNY,
    InvalidConfig,
    KubeDNSConfig,
    dnsmasq_options,
    dnsmasq_port_form,
    parse_dnsmasq_server,
    read_configmap,
)
from wizard.lab.dns.kubedns_records import KubeDNSRecords
from wizard.lab.dns.kubedns_records import Reply as KubeDNSReply
from wizard.lab.dns.pods import DNSPod, DNSPodStartError
from wizard.lab.dns.transport import Client, DNSListener

CONFIGMAP = ("kube-system", "kube-dns")
SOURCE = "ConfigMap kube-system/kube-dns"


@dataclass
class KubeDNSSettings:
    """What is live: the ConfigMap as kube-dns accepted it, and dnsmasq's `--server` table (the
    Deployment's own `--server`s plus those the nanny wrote from the ConfigMap)."""

    config: KubeDNSConfig = field(default_factory=KubeDNSConfig)
    routes: dict[dns.name.Name, list[str]] = field(default_factory=dict)
    """zone → dnsmasq addresses (`ip#port`; "" local-only; "#" the default servers)."""
    defaults: list[tuple[str, int]] = field(default_factory=list)
    """zone-less `--server`s; with no_resolv False the node's resolv.conf servers come too."""
    no_resolv: bool = False

    @property
    def upstreams(self) -> list[tuple[str, int]]:
        return list(self.defaults)

    @property
    def federations(self) -> dict[str, str]:
        return self.config.federations


def _flag(args: list[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            values.append(arg.split("=", 1)[1])
        elif arg == name and i + 1 < len(args):
            values.append(args[i + 1])
    return values


def _image_version(image: str) -> tuple[int, int, int]:
    found = re.search(r":v?(\d+)\.(\d+)(?:\.(\d+))?", image.rsplit("/", 1)[-1])
    return (int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)) if found else (1, 14, 13)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.partition("#")
    return host.partition("@")[0], int(port) if port else 53


class KubeDNSPod(DNSPod):
    kind = "kube-dns"
    exits_on_sigterm = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        containers = self.pod.get("spec", {}).get("containers") or []
        kubedns = next((c for c in containers if c.get("name") == "kubedns"),
                       containers[0] if containers else {})
        kubedns_args = [str(a) for a in (kubedns.get("command") or []) + (kubedns.get("args") or [])]
        domain = (_flag(kubedns_args, "--domain") or ["cluster.local."])[0]
        self.cluster_domain = dns.name.from_text(domain if domain.endswith(".") else domain + ".")
        self.version = _image_version(str(kubedns.get("image", "")))
        dnsmasq = next((c for c in containers if c.get("name") == "dnsmasq"), None)
        self.dnsmasq_args: list[str] = []
        if dnsmasq is not None:
            words = [str(a) for a in (dnsmasq.get("command") or []) + (dnsmasq.get("args") or [])]
            self.dnsmasq_args = words[words.index("--") + 1 :] if "--" in words else words
        self.has_dnsmasq = dnsmasq is not None
        self.dnsmasq_error = ""
        """Why dnsmasq exited (a `--server` it refuses): port 53 then answers nothing."""
        self.settings = KubeDNSSettings()
        self.records = KubeDNSRecords(self.store, self.cluster_domain)
        self._listener: DNSListener | None = None
        self._http: list[HTTPEndpoints] = []
        self._unwatch: Any = None
        self._pools: dict[tuple[tuple[str, int], ...], UpstreamPool] = {}
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    # ---- configuration --------------------------------------------------------------------------
    def _klog(self, level: str, where: str, message: str) -> None:
        stamp = time.strftime("%m%d %H:%M:%S", time.gmtime())
        self.log(f"{level}{stamp}.000000       1 {where}] {message}")

    def apply_configmap(self, configmap: Obj | None, initial: bool = False) -> bool:
        """Take a ConfigMap version as kube-dns's sync does: False when it is invalid; then kube-dns
        keeps its previous settings (at start: the defaults)."""
        data = (configmap or {}).get("data") or {}
        try:
            config = read_configmap({str(k): str(v) for k, v in data.items()})
        except InvalidConfig as err:
            if err.key is not None:
                self._klog("E", "sync.go:134", f"Invalid configuration for {err.key}, ignoring update: {err}")
            else:
                self._klog("E", "sync.go:140",
                           f"Invalid configuration: {err} (value was {data}), ignoring update")
            if initial:
                self._klog("E", "dns.go:232",
                           f"Error getting initial ConfigMap: {err}, starting with default values")
                self._configure(KubeDNSConfig())
            return False
        if initial or config != self.settings.config:
            for key, value in (("federations", config.federations), ("stubDomains", config.stub_domains),
                               ("upstreamNameservers", config.upstream_nameservers)):
                if value:
                    self._klog("I", "sync.go:167", f"Updated {key} to {value}")
            self._configure(config)
        return True

    def _configure(self, config: KubeDNSConfig) -> None:
        """The nanny's Configure: dnsmasq's arguments from the Deployment plus the ConfigMap."""
        args = list(self.dnsmasq_args) if self.has_dnsmasq else []
        for domain, servers in config.stub_domains.items():
            for server in servers:
                if not _is_ip_text(server.partition(":")[0]) and self.version >= NAME_RESOLVING_NANNY:
                    server = self._resolve_stub_name(server)
                args += ["--server", f"/{domain}/{dnsmasq_port_form(server)}"]
        for server in config.upstream_nameservers:
            args += ["--server", dnsmasq_port_form(server)]
        if config.upstream_nameservers:
            args.append("--no-resolv")
        settings = KubeDNSSettings(config=config)
        values, settings.no_resolv = dnsmasq_options(args)
        self.dnsmasq_error = ""
        for value in values:
            try:
                parsed = parse_dnsmasq_server(value)
            except ValueError as err:
                self.dnsmasq_error = f"dnsmasq: bad command line options: {err} ({value})"
                self._klog("F", "nanny.go:119", f"dnsmasq exited: {self.dnsmasq_error}")
                continue
            if not parsed.zones:
                settings.defaults.append(_address(str(parsed.address)))
            for zone in parsed.zones:
                address = "#" if parsed.address is None else parsed.address
                settings.routes.setdefault(dns.name.from_text(zone or "."), []).append(address)
        self.settings = settings
        self._pools.clear()
        self._klog("I", "nanny.go:116", f"Starting dnsmasq {args}")

    def _resolve_stub_name(self, server: str) -> str:
        """nanny.go (1.15.1+): a name ending in cluster.local is looked up through the local
        kubedns, any other through the node's resolver (which the lab's nodes do not have)."""
        name, _, port = server.partition(":")
        if name.endswith("cluster.local"):
            query = dns.message.make_query(dns.name.from_text(name), dns.rdatatype.A)
            found = self._local(query, self.cluster_domain) if dns.name.from_text(name).is_subdomain(
                self.cluster_domain) else None
            ips = [str(r) for rrset in (found.answer if found else []) if rrset.rdtype == dns.rdatatype.A
                   for r in rrset]
            if ips:
                return ips[0] + (f":{port}" if port else "")
            self._klog("E", "nanny.go:86", f'Name "{name}" does not resolve to any IPs')
            return server
        self._klog("E", "nanny.go:94", f'Error looking up IP for name "{name}": lookup {name}: no such host')
        return server

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
        self._klog("I", "dns.go:48", "version: " + ".".join(map(str, self.version)))
        self.records.start()  # the Services and Endpoints informers, synced before serving
        self._klog(
            "I", "server.go:71", "Using configuration read from directory: /kube-dns-config with period 10s"
        )
        self.apply_configmap(self.store.try_get("configmaps", *CONFIGMAP), initial=True)
        self._listener = DNSListener(self.ip, self.dns_port, self._handle)
        routes = {
            8081: {"/readiness": self._ok},
            10054: {
                "/healthcheck/kubedns": self._ok,
                "/healthcheck/dnsmasq": self._dnsmasq_ok,
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

    def _dnsmasq_ok(self) -> tuple[int, str]:
        """The sidecar's probe of dnsmasq: failing while dnsmasq is down (a --server it refused)."""
        return (503, self.dnsmasq_error) if self.dnsmasq_error else self._ok()

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
        self.records.stop()
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
        if self.dnsmasq_error and self.has_dnsmasq:
            return None  # dnsmasq owns port 53 and is not running
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
        """dnsmasq's choice: the most specific `--server` zone wins; kube-dns's own zones are
        `--server`s to the local kubedns (127.0.0.1#10053) like any other."""
        qname = query.question[0].name
        if not self.has_dnsmasq:
            return await self._kubedns(query, proto)
        route = self._route(qname)
        if route is None or "#" in route:
            return await self._forward(query, proto, None)
        if "" in route:  # /zone/: local only, dnsmasq has no data for it
            return self._reply(query, dns.rcode.NXDOMAIN)
        if any(_is_kubedns(address) for address in route):
            return await self._kubedns(query, proto)
        return await self._forward(query, proto, [_address(a) for a in route])

    async def _kubedns(self, query: dns.message.Message, proto: str) -> dns.message.Message:
        """The kubedns container (skydns): its domain and reverse names from its own cache,
        anything else forwarded to its nameservers."""
        q = query.question[0]
        if q.name.is_subdomain(self.cluster_domain):
            found = self.records.answer(q.name, q.rdtype, self.settings.config.federations)
            return self._from(query, found)
        if _reverse_zone(q.name) is not None and q.rdtype in (dns.rdatatype.PTR, dns.rdatatype.ANY):
            ptr = self.records.ptr(q.name)
            if ptr is not None:
                return self._from(query, ptr)
        return await self._forward(query, proto, self._kubedns_nameservers())

    def _kubedns_nameservers(self) -> list[tuple[str, int]] | None:
        """kubedns's upstreams: the ConfigMap's upstreamNameservers, else resolv.conf (None)."""
        upstreams = self.settings.config.upstream_nameservers
        return [_address(dnsmasq_port_form(u)) for u in upstreams] or None

    def _reply(self, query: dns.message.Message, rcode: int) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA
        reply.set_rcode(dns.rcode.Rcode.make(rcode))
        return reply

    def _from(self, query: dns.message.Message, found: KubeDNSReply) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA | dns.flags.AA
        reply.set_rcode(dns.rcode.Rcode.make(found.rcode))
        reply.answer, reply.authority, reply.additional = found.answer, found.authority, found.additional
        if found.rcode == dns.rcode.NXDOMAIN:
            self.errors["nxdomain"] += 1
        return reply

    def _local(self, query: dns.message.Message, zone: dns.name.Name) -> dns.message.Message:
        """What the local kubedns answers for a name in its domain (no forwarding)."""
        q = query.question[0]
        return self._from(query, self.records.answer(q.name, q.rdtype, self.settings.config.federations))

    def _route(self, qname: dns.name.Name) -> list[str] | None:
        """The dnsmasq addresses of the most specific `--server` zone of `qname`."""
        matches = [zone for zone in self.settings.routes if qname.is_subdomain(zone)]
        if not matches:
            return None
        return self.settings.routes[max(matches, key=len)]

    async def _forward(
        self, query: dns.message.Message, proto: str, targets: list[tuple[str, int]] | None
    ) -> dns.message.Message:
        if targets is None:
            targets = list(self.settings.defaults)
            if not self.settings.no_resolv:
                targets += [(ns, 53) for ns in self.net.resolv_conf_nameservers()]
        key = tuple(targets)
        pool = self._pools.get(key)
        if pool is None:
            pool = UpstreamPool(self.net, list(targets), self.ip, self.speed, policy="sequential")
            self._pools[key] = pool
        try:
            reply = await pool.exchange(query, proto)
        except UpstreamError:
            self.errors["forward"] += 1
            return self._reply(query, dns.rcode.SERVFAIL)
        reply.id = query.id
        return reply


def _is_kubedns(address: str) -> bool:
    """dnsmasq's wiring to the kubedns container of the same pod (127.0.0.1#10053)."""
    host, port = _address(address)
    return host.startswith("127.") and port == 10053


def _is_ip_text(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _reverse_zone(qname: dns.name.Name) -> dns.name.Name | None:
    for zone in ("in-addr.arpa.", "ip6.arpa."):
        name = dns.name.from_text(zone)
        if qname.is_subdomain(name):
            return name
    return None
