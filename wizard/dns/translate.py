"""kube-dns's configuration → the Corefile that makes CoreDNS answer exactly as kube-dns did.

The main server block is the guide's template (procedure.md stage 3) with the cluster domain and
upstreams carried over; every stub domain and every dnsmasq `--server=` zone becomes its own
server block that keeps all of its nameservers and ports. Where the chosen CoreDNS version cannot
express what kube-dns did (federations from 1.7.0, host-name nameservers before 1.14.4) the
translation refuses rather than silently dropping configuration, unless the operator said so.

A stub nameserver given as a cluster Service name (`consul-dns.consul.svc.cluster.local`) is
resolved by CoreDNS once at start-up through the node's resolver, which knows no cluster names, so
CoreDNS may fail to start: the translation warns, or, given a `resolve_service` callable (the
migration layer's, which asks the API server), uses the Service's ClusterIP instead. This module
itself never talks to the cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.dns.corefile import Corefile, Directive, ServerBlock, format_corefile
from wizard.dns.kubedns_config import KubeDNSConfig, Nameserver
from wizard.dns.versions import Version, as_version
from wizard.errors import CheckFailed, InputError
from wizard.i18n import msg

OLDEST_TRANSLATABLE = Version(1, 2, 0)
"""The guide's template needs forward's `prefer_udp` (1.2.0); lameduck and template are older."""
READY_SINCE = Version(1, 5, 0)
FEDERATION_REMOVED_IN = Version(1, 7, 0)
KUBERNETES_UPSTREAM_REMOVED_IN = Version(1, 7, 0)
FORWARD_HOSTNAMES_SINCE = Version(1, 14, 4)
MAX_FORWARD_TARGETS = 15
"""CoreDNS's forward refuses more: `more than 15 TOs configured`."""

RESOLV_CONF = "/etc/resolv.conf"
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")


@dataclass(frozen=True)
class Translation:
    corefile: Corefile
    text: str
    warnings: list[str]


ServiceResolver = Callable[[str], str]
"""Cluster Service name → its ClusterIP; raises InputError (naming the Service) when it has none."""


def translate(
    cfg: KubeDNSConfig,
    coredns_version: str | Version,
    *,
    drop_federations: bool = False,
    resolve_service: ServiceResolver | None = None,
) -> Translation:
    """Build the Corefile for `coredns_version`; InputError when kube-dns's configuration cannot be
    carried over faithfully, with what to change. `resolve_service` turns stub nameservers that are
    cluster Service names into ClusterIPs (without it they are kept, with a warning)."""
    version = as_version(coredns_version).release
    if version < OLDEST_TRANSLATABLE:
        raise InputError(msg(
            "dns.translate-version-too-old",
            "CoreDNS version {version} is older than {oldest}, the oldest release the guide's "
            "Corefile template runs on (forward's prefer_udp); choose a newer CoreDNS version",
            version=str(version), oldest=str(OLDEST_TRANSLATABLE),
        ))
    warnings = list(cfg.notes)
    federations = _federations(cfg, version, drop_federations, warnings)
    blocks = [main_block(cfg, version, federations)]
    zones = forwarding_zones(cfg)
    for zone, servers in zones.items():
        zones[zone] = [_service_name(ns, zone, cfg, resolve_service, warnings) for ns in servers]
    for zone, servers in zones.items():
        blocks.append(stub_block(zone, servers, version, cfg))
    corefile = Corefile(items=list(blocks))
    _self_check(corefile, version, warnings)
    return Translation(corefile=corefile, text=format_corefile(corefile), warnings=warnings)


def main_block(cfg: KubeDNSConfig, version: Version, federations: dict[str, str]) -> ServerBlock:
    """The guide's `.:53` block. `loop` is left out on purpose, as in the guide: kube-dns had no
    loop check, and on nodes whose resolv.conf points at 127.0.0.53 (systemd-resolved) `loop` makes
    every CoreDNS pod exit and crash-loop mid-switch; that case is a pre-flight check instead."""
    upstream_targets = [_target_for(ns, "upstreamNameservers", version, cfg) for ns in cfg.upstreams]
    kubernetes_options = [Directive("pods", ["insecure"])]
    if version < KUBERNETES_UPSTREAM_REMOVED_IN:
        kubernetes_options.append(Directive("upstream", list(upstream_targets)))
    kubernetes_options.append(Directive("fallthrough", list(REVERSE_ZONES)))
    directives = [
        Directive("template", ["ANY", "HINFO", "."], [Directive("rcode", ["NXDOMAIN"])]),
        Directive("errors"),
        Directive("health", [], [Directive("lameduck", ["30s"])]),
    ]
    if version >= READY_SINCE:
        directives.append(Directive("ready"))
    directives.append(Directive("kubernetes", [f"{cfg.cluster_domain}.", *REVERSE_ZONES], kubernetes_options))
    if federations:
        directives.append(
            Directive(
                "federation",
                [cfg.cluster_domain],
                [Directive(name, [domain]) for name, domain in federations.items()],
            )
        )
    directives += [
        Directive("prometheus", [":9153"]),
        Directive("forward", [".", *(upstream_targets or [RESOLV_CONF])], [Directive("prefer_udp")]),
        Directive("cache", ["30"]),
        Directive("reload"),
        Directive("loadbalance"),
    ]
    return ServerBlock(keys=[".:53"], directives=directives)


def stub_block(zone: str, servers: list[Nameserver], version: Version, cfg: KubeDNSConfig) -> ServerBlock:
    targets = [_target_for(ns, f"stubDomains[{zone!r}]", version, cfg) for ns in servers]
    return ServerBlock(
        keys=[f"{zone}:53"],
        directives=[Directive("errors"), Directive("cache", ["30"]), Directive("forward", [".", *targets])],
    )


def forwarding_zones(cfg: KubeDNSConfig) -> dict[str, list[Nameserver]]:
    """Stub domains and dnsmasq `--server=` zones, merged per zone (both forwarded the same way in
    kube-dns), each nameserver once, in the order kube-dns listed them."""
    zones: dict[str, list[Nameserver]] = {}
    served = {cfg.cluster_domain, *REVERSE_ZONES}
    for zone, servers in cfg.stub_domains.items():
        if zone in served:
            raise InputError(msg(
                "dns.stub-domain-served",
                "{source}: data.stubDomains domain {zone_repr} is a zone CoreDNS's kubernetes "
                "plugin serves in the main block; a separate {zone}:53 block would hide the cluster's own "
                "records. Use a more specific zone or remove it",
                source=cfg.configmap_source, zone_repr=repr(zone), zone=zone,
            ))
        if not servers:
            raise InputError(msg(
                "dns.stub-domain-empty",
                "{source}: data.stubDomains[{zone}] lists no nameservers, which CoreDNS "
                "cannot forward to; add one or remove the domain",
                source=cfg.configmap_source, zone=repr(zone),
            ))
        zones[zone] = _unique(servers)
    for server in cfg.dnsmasq_servers:
        for zone in server.zones:
            if zone in served:
                raise InputError(msg(
                    "dns.dnsmasq-zone-served",
                    "{source}: dnsmasq --server={raw} forwards {zone}, which "
                    "CoreDNS's kubernetes plugin serves in the main block; a separate {zone}:53 block would "
                    "hide the cluster's own records. Forward a more specific zone or remove it",
                    source=cfg.deployment_source, raw=server.raw, zone=zone,
                ))
            zones[zone] = _unique([*zones.get(zone, []), server.nameserver])
    for zone, servers in zones.items():
        if len(servers) > MAX_FORWARD_TARGETS:
            raise InputError(msg(
                "dns.zone-too-many-nameservers",
                "zone {zone} has {count} nameservers across {configmap} and "
                "{deployment}; CoreDNS forwards to at most {max}: remove some",
                zone=zone, count=len(servers), configmap=cfg.configmap_source,
                deployment=cfg.deployment_source, max=MAX_FORWARD_TARGETS,
            ))
    return zones


def _federations(
    cfg: KubeDNSConfig, version: Version, drop_federations: bool, warnings: list[str]
) -> dict[str, str]:
    if not cfg.federations:
        return {}
    listed = ", ".join(f"{name}={domain}" for name, domain in cfg.federations.items())
    if version < FEDERATION_REMOVED_IN:
        return dict(cfg.federations)
    if not drop_federations:
        raise InputError(msg(
            "dns.federations-not-carried",
            "{source}: data.federations ({listed}) cannot be carried over: CoreDNS "
            "{version} has no federation plugin (removed in 1.7.0). Choose a CoreDNS version before 1.7.0, "
            "or pass --drop-federations to switch without them",
            source=cfg.configmap_source, listed=listed, version=str(version),
        ))
    warnings.append(msg(
        "dns.federations-dropped",
        "federations {listed} from {source} dropped (--drop-federations): CoreDNS {version} "
        "has no federation plugin, so federated service names will no longer resolve",
        listed=listed, source=cfg.configmap_source, version=str(version),
    ))
    return {}


def _service_name(
    ns: Nameserver,
    zone: str,
    cfg: KubeDNSConfig,
    resolve_service: ServiceResolver | None,
    warnings: list[str],
) -> Nameserver:
    """A stub nameserver that is a cluster Service name: its ClusterIP when a resolver is given,
    else the name as it is, with a warning (CoreDNS resolves it through the node, which cannot)."""
    if not ns.is_cluster_service(cfg.cluster_domain):
        return ns
    where = msg("dns.where-stub-nameserver", "{source}: data.stubDomains[{zone}] nameserver {host}",
                source=cfg.configmap_source, zone=repr(zone), host=repr(ns.host))
    if resolve_service is not None:
        address = resolve_service(ns.host)
        warnings.append(msg(
            "dns.service-name-resolved",
            "{where} is a cluster Service name: forwarding to its ClusterIP {address} instead",
            where=where, address=address,
        ))
        return Nameserver(address, ns.port, ns.raw)
    warnings.append(msg(
        "dns.service-name-kept",
        "{where} is a cluster Service name: CoreDNS resolves it once at start-up through the node's "
        "resolver, which does not know cluster names, so CoreDNS may fail to start; replace it with the "
        "Service's ClusterIP, or use --resolve-service-names to look it up",
        where=where,
    ))
    return ns


def _target_for(ns: Nameserver, key: str, version: Version, cfg: KubeDNSConfig) -> str:
    if not ns.is_ip and version < FORWARD_HOSTNAMES_SINCE:
        if ns.is_cluster_service(cfg.cluster_domain):
            raise InputError(msg(
                "dns.service-name-too-old",
                "{source}: data.{key} nameserver {host} is a cluster Service name, "
                "which CoreDNS {version} cannot forward to (host names need 1.14.4 or newer, and the node "
                "cannot resolve cluster names); use --resolve-service-names or replace it with the "
                "Service's ClusterIP",
                source=cfg.configmap_source, key=key, host=repr(ns.host), version=str(version),
            ))
        raise InputError(msg(
            "dns.host-name-too-old",
            "{source}: data.{key} nameserver {host} is a host name, which CoreDNS "
            "{version} cannot forward to (host names need 1.14.4 or newer); replace it with the server's IP",
            source=cfg.configmap_source, key=key, host=repr(ns.host), version=str(version),
        ))
    return ns.forward_target()


def _unique(servers: list[Nameserver]) -> list[Nameserver]:
    seen: set[str] = set()
    result: list[Nameserver] = []
    for ns in servers:
        target = ns.forward_target()
        if target not in seen:
            seen.add(target)
            result.append(ns)
    return result


def _self_check(corefile: Corefile, version: Version, warnings: list[str]) -> None:
    """The translation must produce what CoreDNS accepts; an error here is the wizard's own bug,
    so it stops rather than hand the operator a Corefile that would crash-loop CoreDNS."""
    from wizard.dns.checker import check_corefile

    for finding in check_corefile(corefile, str(version), env={}):
        where = msg("dns.self-check-line", "line {line}: ", line=finding.line) if finding.line else ""
        if finding.severity == "error":
            raise CheckFailed(msg(
                "dns.self-check-failed",
                "internal error: the translated Corefile fails the CoreDNS {version} check ({where}"
                "{message}); this is a coredns-wizard bug: please report it with your kube-dns "
                "ConfigMap",
                version=str(version), where=where, message=finding.message,
            ))
        warnings.append(msg("dns.self-check-warning", "Corefile for CoreDNS {version}: {where}{message}",
                            version=str(version), where=where, message=finding.message))
