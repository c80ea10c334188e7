"""Which plugins (Corefile directives) and plugin options each CoreDNS release understands.

A Corefile that one CoreDNS release runs can crash another (`Unknown directive 'federation'`,
`unknown property 'upstream'`), and a CoreDNS pod that crash-loops in the middle of the switch is
exactly what the wizard must prevent. So this is data, one table row per plugin and option, with
the release that added, deprecated, made a no-op, or removed it. Sources (facts only):
coredns/coredns `plugin.cfg` and each plugin's `setup.go` at every release tag, and
coredns/corefile-migration `migration/versions.go` / `plugins.go` for the deprecation verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from wizard.dns.versions import Version, as_version
from wizard.i18n import msg


class Status(StrEnum):
    """Where a plugin or option stands in one CoreDNS release."""

    ABSENT = "absent"
    """Not (yet) in this release: CoreDNS refuses it."""
    OK = "ok"
    DEPRECATED = "deprecated"
    """Still works; will go away."""
    IGNORED = "ignored"
    """Accepted but does nothing (a no-op)."""
    REMOVED = "removed"
    """Gone: CoreDNS refuses it."""

    @property
    def refused(self) -> bool:
        return self in (Status.ABSENT, Status.REMOVED)


@dataclass(frozen=True)
class Lifetime:
    """The releases in which a plugin or option changed. None means "has not happened"."""

    added: Version
    deprecated: Version | None = None
    ignored: Version | None = None
    removed: Version | None = None
    advice: str = ""
    """What the operator should do instead, for messages (e.g. "use the forward plugin")."""

    def status(self, version: str | Version) -> Status:
        release = as_version(version).release
        if release < self.added:
            return Status.ABSENT
        if self.removed is not None and release >= self.removed:
            return Status.REMOVED
        if self.ignored is not None and release >= self.ignored:
            return Status.IGNORED
        if self.deprecated is not None and release >= self.deprecated:
            return Status.DEPRECATED
        return Status.OK


@dataclass(frozen=True)
class PluginSpec:
    """One plugin: its lifetime and, where the wizard knows them, its block options.

    `options` is None when the wizard does not track the plugin's options (they are then not
    checked), and empty when the plugin takes no options block at all.
    `inline_data`: unknown lines in the block are data, not options (the hosts plugin reads
    `IP NAME...` lines), so an unknown word is not a refusal.
    """

    name: str
    life: Lifetime
    options: Mapping[str, Lifetime] | None = None
    inline_data: bool = False


FIRST = "1.0.0"


def _v(text: str | None) -> Version | None:
    return None if text is None else Version.parse(text)


def _life(
    added: str = FIRST,
    *,
    deprecated: str | None = None,
    ignored: str | None = None,
    removed: str | None = None,
    advice: str = "",
) -> Lifetime:
    return Lifetime(Version.parse(added), _v(deprecated), _v(ignored), _v(removed), advice)


def _opts(*rows: tuple[str, Lifetime] | str) -> dict[str, Lifetime]:
    """Options as ("name", lifetime) rows; a bare name means "since 1.0.0, never changed"."""
    out: dict[str, Lifetime] = {}
    for row in rows:
        if isinstance(row, str):
            out[row] = _life()
        else:
            out[row[0]] = row[1]
    return out


# Advice shown in checker findings: Messages (rendered again in the language of the finding).
_UPSTREAM_NOOP = msg(
    "dns.advice-upstream-noop",
    "delete the line: CoreDNS resolves external names through its own server since 1.4.0",
)
_RESYNC_ADVICE = msg("dns.advice-resyncperiod", "delete the line (CoreDNS no longer resyncs)")
_TRANSFER_ZONE_ADVICE = msg(
    "dns.advice-transfer-plugin-zone", "use the transfer plugin (`transfer ZONE { to ADDRESS }`) instead"
)
_FEDERATION_ADVICE = msg(
    "dns.advice-federation", "delete the federation block (Kubernetes federation v1 is gone)"
)
_RELOAD_0_ADVICE = msg("dns.advice-reload-0", "use `reload 0` instead")
_TRANSFER_ADVICE = msg("dns.advice-transfer-plugin", "use the transfer plugin instead")
_REVERSE_ADVICE = msg("dns.advice-reverse", "delete it: CoreDNS 1.2.0 removed the plugin")
_ON_ADVICE = msg("dns.advice-on-plugin", "use the `on` plugin instead")
_ONE_ENDPOINT_ADVICE = msg("dns.advice-one-endpoint", "keep one endpoint (CoreDNS logs a warning)")
_PROXY_ADVICE = msg(
    "dns.advice-proxy",
    "replace `proxy` with `forward` (same FROM and TO arguments; before 1.9.4 forward is "
    "allowed once per server block, so give each further zone its own block)",
)

_PLUGINS: tuple[PluginSpec, ...] = (
    # --- the plugins the wizard emits and the ones users commonly add (coredns-facts.md §2) ---
    PluginSpec("errors", _life(), _opts(("consolidate", _life("1.2.6")), ("stacktrace", _life("1.9.3")))),
    PluginSpec("log", _life(), _opts("class")),
    PluginSpec("health", _life(), _opts(("lameduck", _life("1.0.5")))),
    PluginSpec("ready", _life("1.5.0"), _opts(("monitor", _life("1.12.2")))),
    PluginSpec(
        "kubernetes",
        _life(),
        _opts(
            "endpoint", "tls", "namespaces", "labels", "pods", "endpoint_pod_names", "ttl", "fallthrough",
            ("resyncperiod", _life(deprecated="1.5.0", ignored="1.6.0", removed="1.7.0",
                                   advice=_RESYNC_ADVICE)),
            ("upstream", _life(deprecated="1.4.0", ignored="1.5.0", removed="1.7.0", advice=_UPSTREAM_NOOP)),
            ("noendpoints", _life("1.0.6")),
            ("transfer", _life("1.0.6", removed="1.8.0",
                               advice=_TRANSFER_ZONE_ADVICE)),
            ("ignore", _life("1.1.3")),
            ("kubeconfig", _life("1.2.3")),
            ("namespace_labels", _life("1.5.0")),
            ("multicluster", _life("1.12.2")),
            ("startup_timeout", _life("1.12.3")),
            ("apiserver_qps", _life("1.14.0")),
            ("apiserver_burst", _life("1.14.0")),
            ("apiserver_max_inflight", _life("1.14.0")),
            ("zonal", _life("1.14.7")),
        ),
    ),
    PluginSpec(
        "k8s_external",
        _life("1.3.0"),
        _opts(("apex", _life("1.3.0")), ("ttl", _life("1.3.0")), ("headless", _life("1.9.4")),
              ("fallthrough", _life("1.11.0"))),
    ),
    PluginSpec("prometheus", _life(), _opts(("runtime_metrics", _life("1.14.3")), ("tls", _life("1.14.3")))),
    PluginSpec(
        "forward",
        _life("1.0.6"),  # plugin.cfg lists it at 1.0.5, but 1.0.5's zdirectives.go does not compile it in
        _opts(
            *(
                (name, _life("1.0.5"))
                for name in ("except", "force_tcp", "expire", "max_fails", "tls", "tls_servername",
                             "policy", "health_check")
            ),
            ("prefer_udp", _life("1.2.0")),
            ("max_concurrent", _life("1.6.8")),
            ("next", _life("1.11.4")),
            ("failfast_all_unhealthy_upstreams", _life("1.12.1")),
            ("failover", _life("1.13.0")),
            ("max_connect_attempts", _life("1.13.2")),
            ("max_idle_conns", _life("1.14.1")),
            ("max_age", _life("1.14.3")),
            ("next_on_nodata", _life("1.14.4")),
            ("resolver", _life("1.14.4")),
            ("doh_method", _life("1.14.5")),
            ("read_timeout", _life("1.14.5")),
            ("source_address", _life("1.14.6")),
        ),
    ),
    PluginSpec(
        "cache",
        _life(),
        _opts(
            "success", "denial", "prefetch",
            ("serve_stale", _life("1.6.6")),
            ("disable", _life("1.9.4")),
            ("servfail", _life("1.9.4")),
            ("keepttl", _life("1.10.1")),
            ("serve_stale_policy", _life("1.14.7")),
        ),
    ),
    PluginSpec("loop", _life("1.2.1"), _opts()),
    PluginSpec("reload", _life("1.1.0"), _opts()),
    PluginSpec("loadbalance", _life(), _opts(("reload", _life("1.10.1")), ("prefer", _life("1.12.4")))),
    PluginSpec(
        "hosts",
        _life(),
        _opts(
            "fallthrough",
            ("no_reverse", _life("1.4.0")),
            ("reload", _life("1.4.0")),
            ("ttl", _life("1.4.0")),
            ("fallthrough_unsupported", _life("1.14.7")),
        ),
        inline_data=True,
    ),
    # rewrite rules are arguments, not block options: its option names are not checked.
    PluginSpec("rewrite", _life()),
    PluginSpec(
        "template",
        _life("1.0.3"),
        _opts(
            *((name, _life("1.0.3")) for name in ("match", "answer", "additional", "authority", "rcode",
                                                  "fallthrough")),
            ("upstream", _life("1.0.6", deprecated="1.4.0", ignored="1.6.0", advice=_UPSTREAM_NOOP)),
            ("ederror", _life("1.10.1")),
        ),
    ),
    PluginSpec("autopath", _life(), _opts()),
    PluginSpec("transfer", _life("1.6.5"), _opts(("to", _life("1.6.5")), ("source", _life("1.14.5")))),
    PluginSpec(
        "federation",
        _life(removed="1.7.0", advice=_FEDERATION_ADVICE),
        _opts(("upstream", _life("1.2.3", deprecated="1.4.0", ignored="1.6.0", advice=_UPSTREAM_NOOP))),
        inline_data=True,  # `NAME DOMAIN` lines
    ),
    PluginSpec(
        "proxy",
        _life(deprecated="1.4.0", removed="1.5.0",
              advice=_PROXY_ADVICE),
        _opts("policy", "fail_timeout", "max_fails", "health_check", "except", "spray", "protocol"),
    ),
    PluginSpec("bind", _life(), _opts(("except", _life("1.8.4")))),
    PluginSpec("root", _life(), _opts()),
    PluginSpec(
        "file",
        _life(),
        _opts(
            ("upstream", _life(deprecated="1.4.0", ignored="1.6.0", advice=_UPSTREAM_NOOP)),
            ("reload", _life("1.2.3")),
            ("no_reload", _life(deprecated="1.2.3", removed="1.5.0", advice=_RELOAD_0_ADVICE)),
            ("transfer", _life(removed="1.8.0", advice=_TRANSFER_ADVICE)),
            ("fallthrough", _life("1.12.2")),
            ("reload_by_mtime", _life("1.14.4")),
        ),
    ),
    PluginSpec(
        "auto",
        _life(),
        _opts(
            "directory",
            ("upstream", _life(deprecated="1.4.0", ignored="1.6.0", advice=_UPSTREAM_NOOP)),
            ("reload", _life("1.2.3")),
            ("no_reload", _life(deprecated="1.2.3", removed="1.5.0", advice=_RELOAD_0_ADVICE)),
            ("transfer", _life(removed="1.8.0", advice=_TRANSFER_ADVICE)),
        ),
    ),
    PluginSpec("whoami", _life(), _opts()),
    PluginSpec("debug", _life(), _opts()),
    PluginSpec("any", _life("1.5.1"), _opts()),
    PluginSpec(
        "acl",
        _life("1.6.4"),
        _opts(("allow", _life("1.6.4")), ("block", _life("1.6.4")), ("filter", _life("1.8.2")),
              ("drop", _life("1.10.1"))),
    ),
    PluginSpec("dnssec", _life(), _opts("key", "cache_capacity")),
    PluginSpec("local", _life("1.8.1"), _opts(("localhost_prefix", _life("1.14.5")))),
    PluginSpec("minimal", _life("1.8.4"), _opts()),
    PluginSpec(
        "etcd",
        _life(),
        _opts(
            "stubzones", "fallthrough", "path", "endpoint", "tls", "debug",
            ("upstream", _life(deprecated="1.4.0", ignored="1.6.0", advice=_UPSTREAM_NOOP)),
            ("credentials", _life("1.4.0")),
            ("min-lease-ttl", _life("1.12.4")),
            ("max-lease-ttl", _life("1.12.4")),
        ),
    ),
    # `import` is the Corefile parser's own directive, always available; expand() splices it away.
    PluginSpec("import", _life()),
    # --- every other plugin in coredns/coredns plugin.cfg, by lifetime; options not tracked ---
    *(PluginSpec(name, _life()) for name in ("tls", "trace", "pprof", "dnstap", "chaos", "secondary",
                                               "erratic")),
    PluginSpec("reverse", _life(removed="1.2.0", advice=_REVERSE_ADVICE)),
    PluginSpec("startup", _life(deprecated="1.0.6", removed="1.1.1", advice=_ON_ADVICE)),
    PluginSpec("shutdown", _life(deprecated="1.0.6", removed="1.1.1", advice=_ON_ADVICE)),
    PluginSpec("nsid", _life("1.0.1")),
    *(PluginSpec(name, _life("1.0.5")) for name in ("route53", "on")),
    PluginSpec("metadata", _life("1.2.0")),
    *(PluginSpec(name, _life("1.5.0")) for name in ("cancel", "grpc")),
    PluginSpec("azure", _life("1.6.2")),
    *(PluginSpec(name, _life("1.6.3")) for name in ("clouddns", "sign")),
    PluginSpec("bufsize", _life("1.6.6")),
    PluginSpec("dns64", _life("1.7.0")),
    *(PluginSpec(name, _life("1.8.5")) for name in ("geoip", "header")),
    PluginSpec("tsig", _life("1.9.4")),
    PluginSpec("view", _life("1.10.0")),
    PluginSpec("timeouts", _life("1.10.1")),
    PluginSpec("multisocket", _life("1.12.0")),
    PluginSpec("quic", _life("1.12.2")),
    PluginSpec("nomad", _life("1.13.0")),
    *(PluginSpec(name, _life("1.14.0")) for name in ("grpc_server", "https", "https3")),
    PluginSpec("proxyproto", _life("1.14.2")),  # compiled in at 1.14.2, though plugin.cfg lists it at 1.14.3
    PluginSpec("shed", _life("1.14.7")),
)  # fmt: skip



@dataclass(frozen=True)
class ArgumentLimit:
    """An option whose arguments beyond `max_args` became deprecated or ignored (not refused)."""

    max_args: int
    life: Lifetime


ARGUMENT_LIMITS: Mapping[tuple[str, str], ArgumentLimit] = {
    ("kubernetes", "endpoint"): ArgumentLimit(
        1, _life(ignored="1.4.0", advice=_ONE_ENDPOINT_ADVICE)
    ),
}
"""(plugin, option) → limit. CoreDNS 1.4.0 made `endpoint A B` use A only (coredns/corefile-migration:
"endpoint" ignored, useFirstArgumentOnly)."""

ONCE_PER_BLOCK: Mapping[str, Lifetime] = {
    **{name: _life("1.1.0") for name in ("cache", "dnssec", "errors", "hosts", "kubernetes", "prometheus",
                                         "nsid", "pprof")},
    "forward": _life("1.1.0", removed="1.9.4"),
    "loop": _life("1.2.1"),
    "metadata": _life("1.2.0"),
    "grpc": _life("1.5.0"),
    "ready": _life("1.5.0"),
    "tsig": _life("1.9.4"),
    "view": _life("1.10.0"),
    "shed": _life("1.14.7"),
}  # fmt: skip
"""Plugins whose setup refuses a second use in one server block ("this plugin can only be used once per
Server Block", plugin.ErrOnce), and the releases in which it does: `added` is the first release with the
rule, `removed` the first without it (forward allows several lines from 1.9.4 on). Source: the
`plugin.ErrOnce` returns in each release's plugin/*/setup.go (metadata refuses any further token)."""


def once_per_block(name: str, version: str | Version) -> bool:
    """True when CoreDNS `version` refuses `name` twice in one server block."""
    life = ONCE_PER_BLOCK.get(name)
    return life is not None and life.status(version) is Status.OK


PLUGINS: Mapping[str, PluginSpec] = {spec.name: spec for spec in _PLUGINS}
"""Every plugin the wizard knows, by directive name."""


def directive_status(name: str, version: str | Version) -> Status:
    """ABSENT for names no CoreDNS release knows, or that came later than `version`."""
    spec = PLUGINS.get(name)
    return Status.ABSENT if spec is None else spec.life.status(version)


def option_status(plugin: str, option: str, version: str | Version) -> Status | None:
    """The option's status, ABSENT for an option the plugin does not have, or None when the
    wizard does not track that plugin's options (nothing can be said)."""
    spec = PLUGINS.get(plugin)
    if spec is None or spec.options is None:
        return None
    life = spec.options.get(option)
    return Status.ABSENT if life is None else life.status(version)


def directives_in(version: str | Version) -> list[str]:
    """Every directive CoreDNS `version` accepts (deprecated and no-op ones included), sorted."""
    return sorted(name for name, spec in PLUGINS.items() if not spec.life.status(version).refused)
