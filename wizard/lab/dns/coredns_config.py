"""A CoreDNS pod's Corefile, checked for its version and compiled into plugin chains.

Reading and checking are the lab's own (corefile_reader, coredns_setup: written from CoreDNS's
sources, never the wizard's parser or checker), so the lab refuses what the pod's CoreDNS release
refuses, with the line CoreDNS itself would log. Compiling turns each server block
into its plugins in CoreDNS's execution order (see dns_coredns_plugins.PLUGIN_ORDER) and collects
the pod-wide settings: health/lameduck, ready, prometheus, reload, and forwarding loops.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import dns.name
import dns.rcode

from wizard.lab.api.store import Store
from wizard.lab.dns import coredns_plugins as p
from wizard.lab.dns.coredns_setup import SetupError, check_setup, known_directives
from wizard.lab.dns.corefile_reader import CorefileError, Directive, ServerBlock, read_corefile, server_keys
from wizard.lab.dns.forward import UpstreamPool
from wizard.lab.dns.records import ClusterIndex
from wizard.lab.dns.world import VirtualNetwork, split_host_port

NEWEST_KNOWN = (1, 11, 3)
DEFAULT_RELOAD = 30.0
DEFAULT_RELOAD_JITTER = 15.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


class PodContext(Protocol):
    """What compiling needs to know about the pod that runs the Corefile."""

    ip: str
    dns_port: int
    speed: float
    store: Store
    net: VirtualNetwork
    version: tuple[int, int, int]

    def log(self, line: str) -> None: ...


class ConfigRejected(Exception):
    """CoreDNS would refuse this Corefile; the message is the line CoreDNS would log."""


def image_version(image: str) -> tuple[int, int, int]:
    """`…/coredns:v1.8.4`, `coredns:1.11.1-tke.1` → (1, 8, 4) / (1, 11, 1); an unknown tag
    (`latest`, a digest) counts as the newest release the lab knows."""
    tag = image.rsplit("/", 1)[-1].partition("@")[0]
    found = re.search(r":v?(\d+)\.(\d+)(?:\.(\d+))?", tag)
    if found is None:
        return NEWEST_KNOWN
    return int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)


def parse_duration(text: str, what: str) -> float:
    found = _DURATION.match(text.strip())
    if found is None:
        raise ConfigRejected(f"plugin/{what}: invalid duration {text!r}")
    value, unit = float(found.group(1)), found.group(2)
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


# ---- loading and checking a Corefile --------------------------------------------------------------
def load_corefile(
    text: str, version: tuple[int, int, int], path: str, env: Mapping[str, str] | None = None
) -> list[ServerBlock]:
    """Read `text` and set it up as CoreDNS `version` would; ConfigRejected with CoreDNS's error
    line where it refuses. `env` is the container's environment (for `{$VAR}`)."""
    try:
        blocks = read_corefile(text, path, known_directives(version), env or {})
        check_setup(blocks, version, path)
    except (CorefileError, SetupError) as err:
        raise ConfigRejected(str(err)) from err
    return blocks


# ---- the compiled configuration --------------------------------------------------------------------
@dataclass
class Block:
    zones: list[dns.name.Name]
    port: int
    key_text: str
    plugins: list[p.Plugin]
    names: set[str]
    chain: p.Next = field(init=False)

    def __post_init__(self) -> None:
        ordered = sorted(
            self.plugins,
            key=lambda plugin: p.PLUGIN_ORDER.index(plugin.name) if plugin.name in p.PLUGIN_ORDER else 999,
        )

        async def end(req: p.Request) -> p.Reply:
            return p.Reply(
                p.rcode_reply(req.query, dns.rcode.SERVFAIL),
                "",
                f"plugin/{ordered[-1].name if ordered else 'none'}: no next plugin found",
            )

        chain: p.Next = end
        for plugin in reversed(ordered):
            chain = _link(plugin, chain)
        self.chain = chain


def _link(plugin: p.Plugin, next_: p.Next) -> p.Next:
    async def run(req: p.Request) -> p.Reply:
        return await plugin.serve(req, next_)

    return run


@dataclass
class Config:
    text: str
    blocks: list[Block]
    health_port: int | None = None
    lameduck: float = 0.0
    ready_port: int | None = None
    metrics_port: int | None = None
    reload: tuple[float, float] | None = None
    looped: list[tuple[str, str]] = field(default_factory=list)
    """(zone, upstream) pairs whose forwarding comes straight back to this pod."""

    def ports(self) -> set[int]:
        return {b.port for b in self.blocks}

    def http_routes(self) -> dict[int, list[str]]:
        routes: dict[int, list[str]] = {}
        for port, path in (
            (self.health_port, "/health"),
            (self.ready_port, "/ready"),
            (self.metrics_port, "/metrics"),
        ):
            if port is not None:
                routes.setdefault(port, []).append(path)
        return routes


def _port_of(address: str, default: int) -> int:
    if not address:
        return default
    _, port = split_host_port(address if ":" in address else f"{address}:{default}", default)
    return port


class Compiler:
    """Turns an expanded Corefile into `Config` for one pod."""

    def __init__(self, pod: PodContext) -> None:
        self.pod = pod

    def compile(self, blocks: list[ServerBlock], text: str) -> Config:
        config = Config(text, [])
        for block in blocks:
            keys = [zk for k in block.keys for zk in server_keys(k)]
            zones = [dns.name.from_text(k.zone) for k in keys]
            port = keys[0].port if keys else 53
            plugins = [self._plugin(d, zones, config) for d in block.directives]
            names = {d.name for d in block.directives}
            compiled = Block(zones, port, " ".join(block.keys), [x for x in plugins if x is not None], names)
            config.blocks.append(compiled)
            if "loop" in names:
                for plugin in compiled.plugins:
                    if isinstance(plugin, p.ForwardPlugin):
                        for up in plugin.pool.routes_to_self(self.pod.dns_port):
                            config.looped.append((zones[0].to_text() if zones else ".", up.label))
        return config

    def _plugin(self, d: Directive, zones: list[dns.name.Name], config: Config) -> p.Plugin | None:
        name: str = d.name
        args: list[str] = list(d.args)
        log = self.pod.log
        if name == "health":
            config.health_port = _port_of(args[0] if args else "", 8080)
            lameduck = d.option("lameduck")
            if lameduck is not None and lameduck.args:
                config.lameduck = parse_duration(lameduck.args[0], "health")
            return p.Plugin(name)
        if name == "ready":
            config.ready_port = _port_of(args[0] if args else "", 8181)
            return p.Plugin(name)
        if name == "prometheus":
            config.metrics_port = _port_of(args[0] if args else "", 9153)
            return p.Plugin(name)
        if name == "reload":
            interval = parse_duration(args[0], "reload") if args else DEFAULT_RELOAD
            jitter = (
                parse_duration(args[1], "reload")
                if len(args) > 1
                else min(DEFAULT_RELOAD_JITTER, interval / 2)
            )
            config.reload = (interval, jitter)
            return p.Plugin(name)
        if name == "kubernetes":
            return self._kubernetes(d, zones)
        if name == "forward":
            return self._forward(d)
        if name == "cache":
            return self._cache(d, zones)
        if name == "rewrite":
            rule = _rewrite_rule(args)
            if rule is None:
                log(f"[WARNING] lab: rewrite {' '.join(args)} is not emulated; queries pass unchanged")
                return p.Plugin(name)
            return p.RewritePlugin([rule])
        if name == "template":
            return p.TemplatePlugin([_template_rule(d, zones)])
        if name == "hosts":
            return self._hosts(d, zones)
        if name == "federation":
            feds = {o.name: o.args[0] for o in d.block or [] if o.args and o.name != "upstream"}
            return p.FederationPlugin(p.zones_or(args, zones), feds, ClusterIndex.shared(self.pod.store))
        if name == "log":
            return p.LogPlugin(log)
        if name == "errors":
            return p.ErrorsPlugin(log)
        if name == "loadbalance":
            return p.LoadbalancePlugin()
        if name == "any":
            return p.AnyPlugin()
        if name == "whoami":
            return p.WhoamiPlugin()
        return p.Plugin(name)

    def _kubernetes(self, d: Directive, zones: list[dns.name.Name]) -> p.Plugin:
        pods, ttl, namespaces = "disabled", 5, []
        fall = p.Fallthrough()
        for opt in d.block or []:
            if opt.name == "pods" and opt.args:
                pods = opt.args[0]
            elif opt.name == "ttl" and opt.args:
                ttl = int(opt.args[0])
            elif opt.name == "fallthrough":
                fall = p.Fallthrough.from_args(True, list(opt.args))
            elif opt.name == "namespaces":
                namespaces = list(opt.args)
        wildcards = self.pod.version < (1, 9, 0)
        return p.KubernetesPlugin(
            p.zones_or(list(d.args), zones),
            ClusterIndex.shared(self.pod.store),
            pods,
            ttl,
            fall,
            wildcards,
            namespaces,
        )

    def _forward(self, d: Directive) -> p.Plugin:
        args = list(d.args)
        from_zone = dns.name.from_text(args[0]) if args else dns.name.root
        targets: list[tuple[str, int]] = []
        for to in args[1:]:
            if to.startswith("/"):
                targets.extend((ns, 53) for ns in self.pod.net.resolv_conf_nameservers())
            elif to.startswith("tls://"):
                targets.append((to, 853))  # DoT is not simulated: unreachable
            else:
                targets.append(split_host_port(to))
        options: dict[str, list[str]] = {opt.name: list(opt.args) for opt in d.block or []}
        pool = UpstreamPool(
            self.pod.net,
            targets,
            self.pod.ip,
            self.pod.speed,
            policy=(options.get("policy") or ["random"])[0],
            max_fails=int((options.get("max_fails") or ["2"])[0]),
            force_tcp="force_tcp" in options,
            prefer_udp="prefer_udp" in options,
            health_interval=parse_duration((options.get("health_check") or ["0.5s"])[0], "forward"),
        )
        excepts = [dns.name.from_text(z) for z in options.get("except", [])]
        return p.ForwardPlugin(from_zone, excepts, pool)

    def _cache(self, d: Directive, zones: list[dns.name.Name]) -> p.Plugin:
        args = list(d.args)
        cap: int | None = None
        if args and args[0].isdigit():
            cap = int(args.pop(0))
        success_max = denial_max = cap
        success_min = denial_min = 5 if self.pod.version >= (1, 7, 0) else 0
        for opt in d.block or []:
            if opt.name in ("success", "denial") and len(opt.args) >= 2:
                ttl = int(opt.args[1])
                minimum = int(opt.args[2]) if len(opt.args) > 2 else None
                if opt.name == "success":
                    success_max, success_min = ttl, minimum if minimum is not None else success_min
                else:
                    denial_max, denial_min = ttl, minimum if minimum is not None else denial_min
        return p.CachePlugin(
            p.zones_or(args, zones),
            success_max or 3600,
            denial_max or 1800,
            self.pod.speed,
            success_min,
            denial_min,
        )

    def _hosts(self, d: Directive, zones: list[dns.name.Name]) -> p.Plugin:
        args = list(d.args)
        if args and not args[0].endswith(".") and "/" in args[0]:
            args.pop(0)  # the hosts file: the lab's containers have no entries in it
        entries: dict[str, list[str]] = {}
        ttl, reverse, fall = 3600, True, p.Fallthrough()
        for opt in d.block or []:
            if _is_ip(opt.name):
                for host in opt.args:
                    entries.setdefault(host, []).append(opt.name)
            elif opt.name == "ttl" and opt.args:
                ttl = int(opt.args[0])
            elif opt.name == "no_reverse":
                reverse = False
            elif opt.name == "fallthrough":
                fall = p.Fallthrough.from_args(True, list(opt.args))
        return p.HostsPlugin(p.zones_or(args, zones), entries, ttl, reverse, fall)


def _is_ip(text: str) -> bool:

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _rewrite_rule(args: list[str]) -> p.NameRule | None:
    stop = True
    if args and args[0] in ("stop", "continue"):
        stop = args.pop(0) == "stop"
    if not args or args[0] != "name":
        return None
    args = args[1:]
    if "answer" in args:
        args = args[: args.index("answer")]
    if len(args) == 2:
        return p.NameRule("exact", args[0], args[1], stop)
    if len(args) == 3 and args[0] in ("exact", "prefix", "suffix", "substring", "regex"):
        return p.NameRule(args[0], args[1], args[2], stop)
    return None


def _template_rule(d: Directive, zones: list[dns.name.Name]) -> p.TemplateRule:
    args = list(d.args)
    qclass = (args[0] if args else "IN").upper()
    qtype = (args[1] if len(args) > 1 else "A").upper()
    regexes: list[re.Pattern[str]] = []
    answers: list[str] = []
    additionals: list[str] = []
    authorities: list[str] = []
    rcode = dns.rcode.NOERROR
    fall = p.Fallthrough()
    for opt in d.block or []:
        if opt.name == "match":
            regexes.extend(re.compile(r, re.IGNORECASE) for r in opt.args)
        elif opt.name == "answer":
            answers.append(" ".join(opt.args))
        elif opt.name == "additional":
            additionals.append(" ".join(opt.args))
        elif opt.name == "authority":
            authorities.append(" ".join(opt.args))
        elif opt.name == "rcode" and opt.args:
            rcode = dns.rcode.from_text(opt.args[0])
        elif opt.name == "fallthrough":
            fall = p.Fallthrough.from_args(True, list(opt.args))
    return p.TemplateRule(
        qclass,
        qtype,
        p.zones_or(args[2:], zones),
        regexes or [re.compile(".*")],
        answers,
        additionals,
        authorities,
        int(rcode),
        fall,
    )
