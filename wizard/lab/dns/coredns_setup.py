"""What each CoreDNS release refuses at setup, with the words it refuses in, for the lab's CoreDNS.

The data comes from coredns/coredns itself, release by release (every v1.x tag): `plugin.cfg` for
the directives a build knows, the `plugin/*/setup.go` files that return `plugin.ErrOnce` ("this
plugin can only be used once per Server Block") for plugins a server block may name once, the
`case "option":` arms of each setup's block parser for the properties it knows, and
`core/dnsserver/register.go` for zones served twice on one port or overlapping `bind` listeners.
Versions are (major, minor, patch); a range is inclusive. It is independent of the wizard's
checker on purpose: the lab must refuse what CoreDNS refuses even where the checker is wrong.
"""

from __future__ import annotations

import ipaddress
import re

from wizard.lab.dns.corefile_reader import Directive, ServerBlock, parse_error, server_keys

V = tuple[int, int, int]
ALWAYS: tuple[V, V] = ((1, 0, 0), (99, 0, 0))

ERR_ONCE = "this plugin can only be used once per Server Block"

DIRECTIVES_ALWAYS = frozenset({
    "auto", "autopath", "bind", "cache", "chaos", "debug", "dnssec", "dnstap", "erratic", "errors",
    "etcd", "file", "health", "hosts", "kubernetes", "loadbalance", "log", "pprof", "prometheus",
    "rewrite", "root", "secondary", "tls", "trace", "whoami",
})
"""In plugin.cfg of every 1.x release."""

DIRECTIVES: dict[str, tuple[V, V]] = {
    "acl": ((1, 6, 4), ALWAYS[1]), "any": ((1, 5, 1), ALWAYS[1]), "azure": ((1, 6, 2), ALWAYS[1]),
    "bufsize": ((1, 6, 6), ALWAYS[1]), "cancel": ((1, 5, 0), ALWAYS[1]),
    "clouddns": ((1, 6, 3), ALWAYS[1]), "dns64": ((1, 7, 0), ALWAYS[1]),
    "federation": ((1, 0, 0), (1, 6, 9)), "forward": ((1, 0, 5), ALWAYS[1]),
    "geoip": ((1, 8, 5), ALWAYS[1]), "grpc": ((1, 5, 0), ALWAYS[1]), "header": ((1, 8, 5), ALWAYS[1]),
    "k8s_external": ((1, 3, 0), ALWAYS[1]), "local": ((1, 8, 1), ALWAYS[1]),
    "loop": ((1, 2, 1), ALWAYS[1]), "metadata": ((1, 2, 0), ALWAYS[1]), "minimal": ((1, 8, 4), ALWAYS[1]),
    "multisocket": ((1, 12, 0), ALWAYS[1]), "nomad": ((1, 13, 0), ALWAYS[1]), "nsid": ((1, 0, 1), ALWAYS[1]),
    "on": ((1, 0, 5), ALWAYS[1]), "proxy": ((1, 0, 0), (1, 4, 0)), "quic": ((1, 12, 2), ALWAYS[1]),
    "ready": ((1, 5, 0), ALWAYS[1]), "reload": ((1, 1, 0), ALWAYS[1]), "reverse": ((1, 0, 0), (1, 1, 4)),
    "route53": ((1, 0, 5), ALWAYS[1]), "sign": ((1, 6, 3), ALWAYS[1]), "template": ((1, 0, 3), ALWAYS[1]),
    "timeouts": ((1, 10, 1), ALWAYS[1]), "transfer": ((1, 6, 5), ALWAYS[1]), "tsig": ((1, 9, 4), ALWAYS[1]),
    "view": ((1, 10, 0), ALWAYS[1]), "startup": ((1, 0, 0), (1, 1, 0)), "shutdown": ((1, 0, 0), (1, 1, 0)),
}
"""Directives present in only some releases' plugin.cfg."""

ONCE_PER_BLOCK: dict[str, tuple[V, V]] = {
    "cache": ((1, 1, 0), ALWAYS[1]), "dnssec": ((1, 1, 0), ALWAYS[1]), "errors": ((1, 1, 0), ALWAYS[1]),
    "forward": ((1, 1, 0), (1, 9, 3)), "grpc": ((1, 5, 0), ALWAYS[1]), "hosts": ((1, 1, 0), ALWAYS[1]),
    "kubernetes": ((1, 1, 0), ALWAYS[1]), "loop": ((1, 2, 1), ALWAYS[1]),
    "prometheus": ((1, 1, 0), ALWAYS[1]), "nsid": ((1, 1, 0), ALWAYS[1]), "pprof": ((1, 1, 0), ALWAYS[1]),
    "ready": ((1, 5, 0), ALWAYS[1]), "tsig": ((1, 9, 4), ALWAYS[1]), "view": ((1, 10, 0), ALWAYS[1]),
}
"""Plugins whose setup returns plugin.ErrOnce on a second use in one server block."""

UNKNOWN_PROPERTY = "unknown property '{}'"
ARG_ERR = "Wrong argument count or unexpected line ending after '{}'"

OPTIONS: dict[str, tuple[str, dict[str, tuple[V, V]]]] = {
    # plugin: (the error its block parser gives an unknown property, {property: releases})
    "kubernetes": (UNKNOWN_PROPERTY, {
        "endpoint": ALWAYS, "endpoint_pod_names": ALWAYS, "fallthrough": ALWAYS, "labels": ALWAYS,
        "namespaces": ALWAYS, "pods": ALWAYS, "tls": ALWAYS, "ttl": ALWAYS,
        "ignore": ((1, 1, 3), ALWAYS[1]), "kubeconfig": ((1, 2, 3), ALWAYS[1]),
        "namespace_labels": ((1, 5, 0), ALWAYS[1]), "noendpoints": ((1, 0, 6), ALWAYS[1]),
        "resyncperiod": ((1, 0, 0), (1, 6, 9)), "upstream": ((1, 0, 0), (1, 6, 9)),
        "transfer": ((1, 0, 6), (1, 7, 1)), "multicluster": ((1, 12, 2), ALWAYS[1]),
        "startup_timeout": ((1, 12, 3), ALWAYS[1]), "apiserver_burst": ((1, 14, 0), ALWAYS[1]),
        "apiserver_max_inflight": ((1, 14, 0), ALWAYS[1]), "apiserver_qps": ((1, 14, 0), ALWAYS[1]),
    }),
    "forward": (UNKNOWN_PROPERTY, {
        "except": ALWAYS, "expire": ALWAYS, "force_tcp": ALWAYS, "health_check": ALWAYS, "max_fails": ALWAYS,
        "policy": ALWAYS, "tls": ALWAYS, "tls_servername": ALWAYS, "prefer_udp": ((1, 2, 0), ALWAYS[1]),
        "max_concurrent": ((1, 6, 8), ALWAYS[1]), "domain": ((1, 9, 2), ALWAYS[1]),
        "next": ((1, 11, 4), ALWAYS[1]), "failfast_all_unhealthy_upstreams": ((1, 12, 1), ALWAYS[1]),
        "failover": ((1, 13, 0), ALWAYS[1]), "max_connect_attempts": ((1, 13, 2), ALWAYS[1]),
        "max_idle_conns": ((1, 14, 1), ALWAYS[1]), "max_age": ((1, 14, 3), ALWAYS[1]),
        "next_on_nodata": ((1, 14, 4), ALWAYS[1]), "resolver": ((1, 14, 4), ALWAYS[1]),
        "doh_method": ((1, 14, 5), ALWAYS[1]), "read_timeout": ((1, 14, 5), ALWAYS[1]),
        "source_address": ((1, 14, 6), ALWAYS[1]),
    }),
    "cache": (ARG_ERR, {
        "success": ALWAYS, "denial": ALWAYS, "prefetch": ALWAYS, "serve_stale": ((1, 6, 6), ALWAYS[1]),
        "disable": ((1, 9, 4), ALWAYS[1]), "servfail": ((1, 9, 4), ALWAYS[1]),
        "keepttl": ((1, 10, 1), ALWAYS[1]),
    }),
    "health": (ARG_ERR, {"lameduck": ((1, 0, 5), ALWAYS[1])}),
    "hosts": (UNKNOWN_PROPERTY, {
        "fallthrough": ALWAYS, "no_reverse": ((1, 4, 0), ALWAYS[1]), "reload": ((1, 4, 0), ALWAYS[1]),
        "ttl": ((1, 4, 0), ALWAYS[1]),
    }),
    "errors": (ARG_ERR, {"consolidate": ((1, 9, 3), ALWAYS[1]), "stacktrace": ((1, 9, 3), ALWAYS[1])}),
    "log": (ARG_ERR, {"class": ALWAYS}),
    "ready": (ARG_ERR, {"monitor": ((1, 12, 2), ALWAYS[1]), "continuously": ((1, 12, 2), ALWAYS[1])}),
    "prometheus": (ARG_ERR, {"runtime_metrics": ((1, 14, 3), ALWAYS[1]), "tls": ((1, 14, 3), ALWAYS[1])}),
    "k8s_external": (UNKNOWN_PROPERTY, {
        "apex": ALWAYS, "ttl": ALWAYS, "headless": ((1, 9, 4), ALWAYS[1]),
        "fallthrough": ((1, 11, 0), ALWAYS[1]),
    }),
    "loop": (ARG_ERR, {}),
    "reload": (ARG_ERR, {}),
    "loadbalance": (ARG_ERR, {}),
}

MAX_ARGS = {"loop": 0, "health": 1, "ready": 1, "prometheus": 1, "errors": 1, "reload": 2, "loadbalance": 1}
"""Directives whose setup refuses more arguments (c.ArgErr)."""

MAX_FORWARD_TOS = 15
FORWARD_HOSTNAMES_SINCE: V = (1, 14, 4)
POD_MODES = ("disabled", "verified", "insecure")


class SetupError(Exception):
    """CoreDNS's setup refused the Corefile; the message is its error line."""


def _in(version: V, span: tuple[V, V]) -> bool:
    return span[0] <= version <= span[1]


def known_directives(version: V) -> frozenset[str]:
    return DIRECTIVES_ALWAYS | {name for name, span in DIRECTIVES.items() if _in(version, span)}


def check_setup(blocks: list[ServerBlock], version: V, path: str) -> None:
    """Raise SetupError with CoreDNS's words where `version` refuses to set `blocks` up."""
    for block in blocks:
        try:
            for key in block.keys:
                server_keys(key)
        except ValueError as err:
            raise SetupError(str(err)) from None
        seen: dict[str, Directive] = {}
        for directive in block.directives:
            name = directive.name
            once = ONCE_PER_BLOCK.get(name)
            if name in seen and once is not None and _in(version, once):
                raise SetupError(f"plugin/{name}: {ERR_ONCE}")
            seen.setdefault(name, directive)
            _check_directive(directive, version, path)
    _check_listeners(blocks)


def _plugin_error(name: str, path: str, line: int, message: str) -> SetupError:
    return SetupError(f"plugin/{name}: {parse_error(path, line, message)}")


def _check_directive(d: Directive, version: V, path: str) -> None:
    limit = MAX_ARGS.get(d.name)
    if limit is not None and len(d.args) > limit:
        raise _plugin_error(d.name, path, d.line, ARG_ERR.format(d.args[limit]))
    rule = OPTIONS.get(d.name)
    if rule is not None:
        message, known = rule
        fallthrough_seen = False
        for option in d.block or []:
            span = known.get(option.name)
            # hosts reads any other line as an inline hosts entry until `fallthrough` has been set
            inline_entry = d.name == "hosts" and not fallthrough_seen
            fallthrough_seen = fallthrough_seen or option.name == "fallthrough"
            if (span is None or not _in(version, span)) and not inline_entry:
                raise _plugin_error(d.name, path, option.line, message.format(option.name))
    if d.name == "forward":
        _check_forward(d, version, path)
    elif d.name == "kubernetes":
        _check_kubernetes(d, path)


def _check_forward(d: Directive, version: V, path: str) -> None:
    if len(d.args) < 2:
        raise _plugin_error("forward", path, d.line, ARG_ERR.format(d.args[-1] if d.args else "forward"))
    tos = d.args[1:]
    for to in tos:
        if to.startswith("/"):
            continue
        scheme, sep, host = to.partition("://")
        if not sep:
            scheme, host = "dns", to
        if scheme not in ("dns", "tls") and not (scheme == "https" and version >= (1, 14, 5)):
            raise SetupError(
                f"plugin/forward: '{scheme}' is not supported as a destination protocol in forward: {to}")
        if version < FORWARD_HOSTNAMES_SINCE and not _is_ip_port(host):
            raise SetupError(f'plugin/forward: not an IP address or file: "{to}"')
    if len(tos) > MAX_FORWARD_TOS:
        raise SetupError(f"plugin/forward: more than {MAX_FORWARD_TOS} TOs configured: {len(tos)}")
    for option in d.block or []:
        if option.name == "policy" and (len(option.args) != 1 or option.args[0] not in (
                "random", "round_robin", "sequential")):
            value = option.args[0] if option.args else ""
            raise _plugin_error("forward", path, option.line, f"unknown policy '{value}'")
        if option.name == "max_fails" and (len(option.args) != 1 or not option.args[0].isdigit()):
            raise _plugin_error("forward", path, option.line, ARG_ERR.format("max_fails"))


def _is_ip_port(text: str) -> bool:
    host = text
    if text.startswith("["):
        host = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        host = text.partition(":")[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_REVERSE = re.compile(r"(^|\.)(in-addr|ip6)\.arpa\.?$")


def _check_kubernetes(d: Directive, path: str) -> None:
    for option in d.block or []:
        if option.name == "pods":
            if len(option.args) != 1:
                raise _plugin_error("kubernetes", path, option.line, ARG_ERR.format("pods"))
            if option.args[0] not in POD_MODES:
                raise SetupError(
                    f"plugin/kubernetes: wrong value for pods: {option.args[0]},  must be one of: "
                    "disabled, verified, insecure")
        if option.name == "ttl":
            if len(option.args) != 1 or not option.args[0].lstrip("-").isdigit():
                raise _plugin_error("kubernetes", path, option.line, ARG_ERR.format("ttl"))
            ttl = int(option.args[0])
            if not 0 <= ttl <= 3600:
                raise _plugin_error("kubernetes", path, option.line, f"ttl must be in range [0, 3600]: {ttl}")
    zones = d.args
    if zones and all(_REVERSE.search(z.lower()) or "/" in z for z in zones):
        raise SetupError("plugin/kubernetes: non-reverse zone name must be used")


def _check_listeners(blocks: list[ServerBlock]) -> None:
    """register.go: one zone on one transport+port once per listen address; a zone+port served
    without `bind` overlaps the same zone+port bound to an address."""
    registered: set[tuple[str, str, int, str]] = set()
    unbound: dict[tuple[str, str, int], tuple[str, str, int, str]] = {}
    for block in blocks:
        hosts = [a for b in block.find("bind") for a in b.args] or [""]
        for key in block.keys:
            for zk in server_keys(key):
                for host in hosts:
                    here = (zk.transport, zk.zone, zk.port, host)
                    if here in registered:
                        raise SetupError(f"cannot serve {_addr(here)} - it is already defined")
                    plain = (zk.transport, zk.zone, zk.port)
                    other = unbound.get(plain)
                    if other is not None:
                        if host == "":
                            raise SetupError(f"cannot serve {_addr(here)} - zone overlap listener "
                                             f"capacity with {_addr(other)}")
                        if (*plain, "") in registered:
                            raise SetupError(
                                f"cannot serve {_addr(here)} - zone overlap listener capacity with "
                                f"{_addr((*plain, ''))}")
                    registered.add(here)
                    unbound[plain] = here


def _addr(key: tuple[str, str, int, str]) -> str:
    transport, zone, port, host = key
    text = f"{transport}://{zone}:{port}"
    return f"{text} on {host}" if host else text
