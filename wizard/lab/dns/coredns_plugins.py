"""The CoreDNS plugins the lab emulates, each a step in a server block's chain.

CoreDNS runs a block's plugins in its compiled-in order (plugin.cfg), not in Corefile order, and
each plugin either writes the answer or calls the next one. `PLUGIN_ORDER` is that order for the
plugins known here; a plugin the lab does not emulate passes queries through unchanged.
Behaviour follows the plugin documentation at coredns.io/plugins (facts only).
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from wizard.lab.dns.forward import UpstreamError, UpstreamPool
from wizard.lab.dns.records import (
    COREDNS,
    Answer,
    ClusterIndex,
    ClusterRecords,
    with_ttl,
)
from wizard.lab.dns.transport import Client

PLUGIN_ORDER = (
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "pprof",
    "prometheus",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "cache",
    "rewrite",
    "header",
    "dnssec",
    "autopath",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "route53",
    "azure",
    "clouddns",
    "federation",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "etcd",
    "loop",
    "forward",
    "proxy",
    "grpc",
    "erratic",
    "whoami",
    "on",
    "sign",
    "view",
)


@dataclass
class Request:
    query: dns.message.Message
    client: Client
    proto: str
    zone: dns.name.Name
    """The server block zone that took the query."""

    @property
    def qname(self) -> dns.name.Name:
        return self.query.question[0].name

    @property
    def qtype(self) -> dns.rdatatype.RdataType:
        return self.query.question[0].rdtype

    @property
    def qclass(self) -> dns.rdataclass.RdataClass:
        return self.query.question[0].rdclass


@dataclass
class Reply:
    msg: dns.message.Message | None
    plugin: str
    """The plugin that wrote the answer (the `plugin` label of coredns_dns_responses_total)."""
    error: str | None = None
    """An error the plugin hit, for the errors plugin to log."""


Next = Callable[[Request], Awaitable[Reply]]


class Plugin:
    """A plugin that does nothing to queries (reload, health, ready, prometheus, loop, ...)."""

    name = "passthrough"

    def __init__(self, name: str) -> None:
        self.name = name

    async def serve(self, req: Request, next_: Next) -> Reply:
        return await next_(req)


def reply_from_answer(
    query: dns.message.Message, answer: Answer, authoritative: bool = True
) -> dns.message.Message:
    msg = dns.message.make_response(query)
    if authoritative:
        msg.flags |= dns.flags.AA
    msg.set_rcode(dns.rcode.Rcode.make(answer.rcode))
    msg.answer = list(answer.answer)
    msg.authority = list(answer.authority)
    msg.additional = list(answer.additional)
    return msg


def asking(query: dns.message.Message, name: dns.name.Name) -> dns.message.Message:
    """A copy of `query` asking about `name` instead (messages share their sections when copied
    shallowly, so the copy is made from the wire)."""
    inner = dns.message.from_wire(query.to_wire())
    question = query.question[0]
    inner.question = [dns.rrset.RRset(name, question.rdclass, question.rdtype)]
    return inner


def _renamed(rrset: dns.rrset.RRset, name: dns.name.Name) -> dns.rrset.RRset:
    renamed = dns.rrset.RRset(name, rrset.rdclass, rrset.rdtype)
    for rdata in rrset:
        renamed.add(rdata, rrset.ttl)
    return renamed


def rcode_reply(query: dns.message.Message, rcode: int) -> dns.message.Message:
    msg = dns.message.make_response(query)
    msg.set_rcode(dns.rcode.Rcode.make(rcode))
    return msg


def zones_or(args: list[str], default: list[dns.name.Name]) -> list[dns.name.Name]:
    return [dns.name.from_text(z) for z in args] if args else list(default)


def _in_zones(name: dns.name.Name, zones: list[dns.name.Name]) -> dns.name.Name | None:
    matches = [z for z in zones if name.is_subdomain(z)]
    return max(matches, key=len) if matches else None


@dataclass
class Fallthrough:
    """`fallthrough [ZONES...]`: on NXDOMAIN, hand the query on (for these zones, or all)."""

    enabled: bool = False
    zones: list[dns.name.Name] = field(default_factory=list)

    @classmethod
    def from_args(cls, present: bool, args: list[str]) -> Fallthrough:
        return cls(present, [dns.name.from_text(z) for z in args])

    def through(self, name: dns.name.Name) -> bool:
        return self.enabled and (not self.zones or _in_zones(name, self.zones) is not None)


# ---- kubernetes ----------------------------------------------------------------------------------
class KubernetesPlugin(Plugin):
    def __init__(
        self,
        zones: list[dns.name.Name],
        index: ClusterIndex,
        pods: str,
        ttl: int,
        fallthrough: Fallthrough,
        wildcards: bool,
        namespaces: list[str],
    ) -> None:
        super().__init__("kubernetes")
        self.zones = zones
        self.fallthrough = fallthrough
        self.records = ClusterRecords(index, with_ttl(COREDNS, ttl), pods, wildcards, namespaces)
        forward = [z for z in zones if not _is_reverse(z)]
        self.records.cluster_zone = forward[0] if forward else None

    async def serve(self, req: Request, next_: Next) -> Reply:
        zone = _in_zones(req.qname, self.zones)
        if zone is None:
            return await next_(req)
        answer = self.records.lookup(req.qname, req.qtype, zone)
        if answer.rcode == dns.rcode.NXDOMAIN and self.fallthrough.through(req.qname):
            return await next_(req)
        return Reply(reply_from_answer(req.query, answer), self.name)


def _is_reverse(zone: dns.name.Name) -> bool:
    return zone.is_subdomain(dns.name.from_text("in-addr.arpa")) or zone.is_subdomain(
        dns.name.from_text("ip6.arpa")
    )


# ---- federation (CoreDNS < 1.7.0) -----------------------------------------------------------------
class FederationPlugin(Plugin):
    """`svc.ns.FED.svc.<zone>`: the local service when it has ready endpoints, else a CNAME to
    `svc.ns.FED.svc.<federation domain>` (the real plugin adds the node's zone and region labels)."""

    def __init__(self, zones: list[dns.name.Name], federations: dict[str, str], index: ClusterIndex) -> None:
        super().__init__("federation")
        self.zones = zones
        self.federations = federations
        self.index = index

    async def serve(self, req: Request, next_: Next) -> Reply:
        zone = _in_zones(req.qname, self.zones)
        if zone is None:
            return await next_(req)
        labels = [label.decode().lower() for label in req.qname.relativize(zone).labels]
        if len(labels) != 4 or labels[3] != "svc" or labels[2] not in self.federations:
            return await next_(req)
        svc, ns, fed = labels[0], labels[1], labels[2]
        if self.index.service(ns, svc) is not None and self.index.ready_endpoints(ns, svc):
            local = dns.name.from_text(f"{svc}.{ns}.svc", zone)
            result = await next_(Request(asking(req.query, local), req.client, req.proto, req.zone))
            if result.msg is not None:
                result.msg.question = list(req.query.question)
                result.msg.answer = [
                    _renamed(r, req.qname) if r.name == local else r for r in result.msg.answer
                ]
            return result
        target = dns.name.from_text(f"{svc}.{ns}.{fed}.svc.{self.federations[fed]}")
        msg = dns.message.make_response(req.query)
        msg.flags |= dns.flags.AA
        msg.answer.append(dns.rrset.from_text(req.qname, 5, "IN", "CNAME", target.to_text()))
        return Reply(msg, self.name)


# ---- forward -------------------------------------------------------------------------------------
class ForwardPlugin(Plugin):
    def __init__(
        self, from_zone: dns.name.Name, except_zones: list[dns.name.Name], pool: UpstreamPool
    ) -> None:
        super().__init__("forward")
        self.from_zone = from_zone
        self.except_zones = except_zones
        self.pool = pool

    async def serve(self, req: Request, next_: Next) -> Reply:
        if not req.qname.is_subdomain(self.from_zone) or _in_zones(req.qname, self.except_zones):
            return await next_(req)
        try:
            upstream = await self.pool.exchange(req.query, req.proto)
        except UpstreamError as err:
            return Reply(rcode_reply(req.query, dns.rcode.SERVFAIL), self.name, f"plugin/forward: {err}")
        upstream.id = req.query.id
        return Reply(upstream, self.name)


# ---- cache ---------------------------------------------------------------------------------------
CACHE_CAPACITY = 9984
"""CoreDNS's default cache capacity (success and denial together here)."""


@dataclass
class _Entry:
    wire: bytes
    ttl: int
    stored: float


class CachePlugin(Plugin):
    """Positive and negative caching with TTL caps; the clock runs `speed` times faster."""

    def __init__(
        self,
        zones: list[dns.name.Name],
        success_max: int,
        denial_max: int,
        speed: float,
        success_min: int = 5,
        denial_min: int = 5,
    ) -> None:
        super().__init__("cache")
        self.zones = zones
        self.success_max, self.denial_max = success_max, denial_max
        self.success_min, self.denial_min = success_min, denial_min
        self.speed = speed
        self._entries: dict[tuple[str, int, int, bool], _Entry] = {}
        self.hits = 0
        self.misses = 0

    def _key(self, req: Request) -> tuple[str, int, int, bool]:
        return (req.qname.to_text().lower(), req.qtype, req.qclass, bool(req.query.ednsflags & dns.flags.DO))

    async def serve(self, req: Request, next_: Next) -> Reply:
        if _in_zones(req.qname, self.zones) is None:
            return await next_(req)
        key = self._key(req)
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None:
            remaining = int(entry.ttl - (now - entry.stored) * self.speed)
            if remaining > 0:
                self.hits += 1
                cached = dns.message.from_wire(entry.wire)
                cached.id = req.query.id
                cached.flags &= ~dns.flags.AA
                for section in (cached.answer, cached.authority, cached.additional):
                    for rrset in section:
                        rrset.ttl = min(rrset.ttl, remaining)
                return Reply(cached, self.name)
            del self._entries[key]
        self.misses += 1
        result = await next_(req)
        msg = result.msg
        if msg is not None and not msg.flags & dns.flags.TC:
            ttl = self._ttl(msg)
            if ttl is not None and ttl > 0:
                if len(self._entries) >= CACHE_CAPACITY:
                    del self._entries[next(iter(self._entries))]  # the oldest entry makes room
                self._entries[key] = _Entry(msg.to_wire(), ttl, now)
        return result

    def _ttl(self, msg: dns.message.Message) -> int | None:
        rcode = msg.rcode()
        if rcode == dns.rcode.NOERROR and msg.answer:
            ttl = min(r.ttl for r in msg.answer)
            return max(min(ttl, self.success_max), min(self.success_min, self.success_max))
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            soa = [r for r in msg.authority if r.rdtype == dns.rdatatype.SOA]
            ttl = min(soa[0].ttl, soa[0][0].minimum) if soa else self.denial_min
            return max(min(ttl, self.denial_max), min(self.denial_min, self.denial_max))
        return None  # SERVFAIL and the rest are not cached

    @property
    def size(self) -> int:
        return len(self._entries)


# ---- rewrite -------------------------------------------------------------------------------------
@dataclass
class NameRule:
    match: str  # exact, prefix, suffix, substring, regex
    source: str
    target: str
    stop: bool = True

    def apply(self, name: str) -> str | None:
        """The rewritten name (lower-case, with the trailing dot), or None when it does not match."""
        name = name.lower()
        src, dst = self.source.lower(), self.target.lower()
        if self.match == "exact":
            return _fqdn(dst) if name == _fqdn(src) else None
        if self.match == "prefix":
            return dst + name[len(src) :] if name.startswith(src) else None
        if self.match == "suffix":
            return name[: len(name) - len(_fqdn(src))] + _fqdn(dst) if name.endswith(_fqdn(src)) else None
        if self.match == "substring":
            return name.replace(src, dst, 1) if src in name else None
        if self.match == "regex":
            found = re.match(self.source, name, re.IGNORECASE)
            if found is None:
                return None
            return _fqdn(re.sub(r"\{(\d+)\}", lambda m: found.group(int(m.group(1))) or "", self.target))
        return None


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class RewritePlugin(Plugin):
    """Name rewriting; the answer goes back under the name the client asked."""

    def __init__(self, rules: list[NameRule]) -> None:
        super().__init__("rewrite")
        self.rules = rules

    async def serve(self, req: Request, next_: Next) -> Reply:
        original = req.qname
        name = original.to_text()
        changed = False
        for rule in self.rules:
            new = rule.apply(name)
            if new is None:
                continue
            name, changed = new, True
            if rule.stop:
                break
        if not changed:
            return await next_(req)
        rewritten = dns.name.from_text(name)
        result = await next_(Request(asking(req.query, rewritten), req.client, req.proto, req.zone))
        if result.msg is not None:
            result.msg.question = list(req.query.question)
            for section in (result.msg.answer, result.msg.authority, result.msg.additional):
                for i, rrset in enumerate(section):
                    if rrset.name == rewritten:
                        section[i] = _renamed(rrset, original)
        return result


# ---- template ------------------------------------------------------------------------------------
@dataclass
class TemplateRule:
    qclass: str
    qtype: str
    zones: list[dns.name.Name]
    regexes: list[re.Pattern[str]]
    answers: list[str]
    additionals: list[str]
    authorities: list[str]
    rcode: int
    fallthrough: Fallthrough


class TemplatePlugin(Plugin):
    def __init__(self, rules: list[TemplateRule]) -> None:
        super().__init__("template")
        self.rules = rules

    async def serve(self, req: Request, next_: Next) -> Reply:
        qclass = dns.rdataclass.to_text(dns.rdataclass.RdataClass.make(req.qclass))
        qtype = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(req.qtype))
        for rule in self.rules:
            if rule.qclass not in ("ANY", qclass) or rule.qtype not in ("ANY", qtype):
                continue
            zone = _in_zones(req.qname, rule.zones)
            if zone is None:
                continue
            name = req.qname.to_text()
            for regex in rule.regexes:
                found = regex.match(name)
                if found is None:
                    continue
                values = {
                    ".Name": name,
                    ".Zone": zone.to_text(),
                    ".Class": qclass,
                    ".Type": qtype,
                    ".Remote": req.client[0],
                }
                values.update({f".Group.{k}": v or "" for k, v in found.groupdict().items()})
                msg = dns.message.make_response(req.query)
                msg.flags |= dns.flags.AA
                msg.set_rcode(dns.rcode.Rcode.make(rule.rcode))
                for texts, section in (
                    (rule.answers, msg.answer),
                    (rule.additionals, msg.additional),
                    (rule.authorities, msg.authority),
                ):
                    for text in texts:
                        section.append(_rr_from_text(_render(text, values, found)))
                return Reply(msg, self.name)
            if not rule.fallthrough.through(req.qname):
                continue
        return await next_(req)


def _render(text: str, values: dict[str, str], found: re.Match[str]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        index = re.fullmatch(r"index \.Match (\d+)", expr)
        if index:
            return found.group(int(index.group(1))) or ""
        return values.get(expr, "")

    return re.sub(r"\{\{(.*?)\}\}", one, text)


def _rr_from_text(text: str) -> dns.rrset.RRset:
    fields = text.split()
    name, ttl, rdclass, rdtype = fields[0], int(fields[1]), fields[2], fields[3]
    return dns.rrset.from_text(name, ttl, rdclass, rdtype, " ".join(fields[4:]))


# ---- hosts ---------------------------------------------------------------------------------------
class HostsPlugin(Plugin):
    def __init__(
        self,
        zones: list[dns.name.Name],
        entries: dict[str, list[str]],
        ttl: int,
        reverse: bool,
        fallthrough: Fallthrough,
    ) -> None:
        super().__init__("hosts")
        self.zones = zones
        self.by_name = {_fqdn(k.lower()): v for k, v in entries.items()}
        self.by_ip: dict[str, list[str]] = {}
        for host, ips in self.by_name.items():
            for ip in ips:
                self.by_ip.setdefault(ip, []).append(host)
        self.ttl = ttl
        self.reverse = reverse
        self.fallthrough = fallthrough

    async def serve(self, req: Request, next_: Next) -> Reply:
        name = req.qname.to_text().lower()
        answer: list[dns.rrset.RRset] = []
        if req.qtype == dns.rdatatype.PTR and self.reverse:
            try:
                ip = str(dns.reversename.to_address(req.qname))
            except Exception:
                ip = ""
            hosts = self.by_ip.get(ip, [])
            if hosts:
                answer.append(dns.rrset.from_text_list(req.qname, self.ttl, "IN", "PTR", hosts))
        elif _in_zones(req.qname, self.zones) is not None:
            ips = self.by_name.get(name, [])
            want = "AAAA" if req.qtype == dns.rdatatype.AAAA else "A"
            chosen = [ip for ip in ips if (":" in ip) == (want == "AAAA")]
            if chosen and req.qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                answer.append(dns.rrset.from_text_list(req.qname, self.ttl, "IN", want, chosen))
        else:
            return await next_(req)
        if answer:
            msg = dns.message.make_response(req.query)
            msg.flags |= dns.flags.AA
            msg.answer = answer
            return Reply(msg, self.name)
        if self.fallthrough.through(req.qname):
            return await next_(req)
        if req.qtype == dns.rdatatype.PTR:
            return await next_(req)
        known = name in self.by_name
        return Reply(rcode_reply(req.query, dns.rcode.NOERROR if known else dns.rcode.NXDOMAIN), self.name)


# ---- small ones ----------------------------------------------------------------------------------
class LoadbalancePlugin(Plugin):
    """Shuffles the A/AAAA records of every answer (round_robin)."""

    def __init__(self) -> None:
        super().__init__("loadbalance")

    async def serve(self, req: Request, next_: Next) -> Reply:
        result = await next_(req)
        if result.msg is not None:
            for i, rrset in enumerate(result.msg.answer):
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and len(rrset) > 1:
                    items = list(rrset)
                    random.shuffle(items)
                    shuffled = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
                    for item in items:
                        shuffled.add(item, rrset.ttl)
                    result.msg.answer[i] = shuffled
        return result


class AnyPlugin(Plugin):
    """RFC 8482: ANY queries get a HINFO "RFC8482" answer."""

    def __init__(self) -> None:
        super().__init__("any")

    async def serve(self, req: Request, next_: Next) -> Reply:
        if req.qtype != dns.rdatatype.ANY:
            return await next_(req)
        msg = dns.message.make_response(req.query)
        msg.answer.append(dns.rrset.from_text(req.qname, 8482, "IN", "HINFO", '"RFC8482" ""'))
        return Reply(msg, self.name)


class WhoamiPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__("whoami")

    async def serve(self, req: Request, next_: Next) -> Reply:
        msg = dns.message.make_response(req.query)
        msg.flags |= dns.flags.AA
        rdtype = "AAAA" if ipaddress.ip_address(req.client[0]).version == 6 else "A"
        msg.additional.append(dns.rrset.from_text(req.qname, 0, "IN", rdtype, req.client[0]))
        srv_name = dns.name.from_text(f"_{req.proto}", req.qname)
        msg.additional.append(dns.rrset.from_text(srv_name, 0, "IN", "SRV", f"0 0 {req.client[1]} ."))
        return Reply(msg, self.name)


class LogPlugin(Plugin):
    """One line per query in CoreDNS's common log format."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__("log")
        self._log = log

    async def serve(self, req: Request, next_: Next) -> Reply:
        started = time.monotonic()
        result = await next_(req)
        q = req.query.question[0]
        msg = result.msg
        rcode = dns.rcode.to_text(msg.rcode()) if msg is not None else "-"
        flags = dns.flags.to_text(msg.flags).lower().replace(" ", ",") if msg is not None else "-"
        size = len(msg.to_wire()) if msg is not None else 0
        do = "true" if req.query.ednsflags & dns.flags.DO else "false"
        bufsize = req.query.payload if req.query.edns >= 0 else 512
        self._log(
            f'[INFO] {req.client[0]}:{req.client[1]} - {req.query.id} "'
            f"{dns.rdatatype.to_text(q.rdtype)} {dns.rdataclass.to_text(q.rdclass)} {q.name} {req.proto} "
            f'{len(req.query.to_wire())} {do} {bufsize}" {rcode} {flags} {size} '
            f"{time.monotonic() - started:.9f}s"
        )
        return result


class ErrorsPlugin(Plugin):
    """Logs the errors later plugins hit (`[ERROR] plugin/errors: 2 NAME TYPE: error`)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__("errors")
        self._log = log

    async def serve(self, req: Request, next_: Next) -> Reply:
        result = await next_(req)
        if result.error:
            q = req.query.question[0]
            self._log(f"[ERROR] plugin/errors: 2 {q.name} {dns.rdatatype.to_text(q.rdtype)}: {result.error}")
        return result
