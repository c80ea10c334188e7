"""Would CoreDNS version V start with this Corefile? Reach CoreDNS's own verdict before the pod does.

A Corefile CoreDNS refuses makes the new pod crash-loop in the middle of the switch, so every
refusal CoreDNS would report (unknown directive, unknown property, too many upstreams, a zone
served twice ...) is an error here, worded as CoreDNS words it, followed by what to do. Things
CoreDNS accepts but that are deprecated or do nothing are warnings. The checks run on the
expanded Corefile (imports spliced, environment substituted): that is what CoreDNS runs.
Rules and sources: coredns-facts.md §2; per-release data in `wizard.dns.plugins`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wizard.dns.corefile import (
    Corefile,
    CorefileSyntaxError,
    Directive,
    ServerBlock,
    expand,
    parse,
    parse_key,
)
from wizard.dns.corefile.keys import DEFAULT_PORTS, port_number
from wizard.dns.grammar import Grammar, go_duration, grammar_for, is_domain_name, match
from wizard.dns.listeners import clashes, split_transport
from wizard.dns.plugins import (
    ARGUMENT_LIMITS,
    PLUGINS,
    Lifetime,
    Status,
    directive_status,
    once_per_block,
    option_status,
)
from wizard.dns.versions import NEWEST_KNOWN, OLDEST_KNOWN, Version, as_version
from wizard.errors import InputError

Severity = Literal["error", "warning"]

MAX_FORWARD_UPSTREAMS = 15
"""plugin/forward: "more than 15 TOs configured"."""

FORWARD_HOSTNAMES_SINCE = Version(1, 14, 4)
"""Before this release `forward` accepts only IPs and resolv.conf-style files as upstreams."""

FORWARD_HTTPS_SINCE = Version(1, 14, 5)

MAX_AGE_CHECKED_SINCE = Version(1, 14, 3)
"""forward's max_age (and its check against expire) arrived in 1.14.3."""
"""`https://` (DNS over HTTPS) upstreams in `forward`."""

_HOSTNAME_RE = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
                          r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$")  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One problem. `line` is the Corefile line (0: the file as a whole); `directive` names the
    plugin involved, if any; `file` is set only when the problem is in another file (an import)."""

    severity: Severity
    line: int
    message: str
    directive: str | None = None
    file: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def format_finding(filename: str, finding: Finding) -> str:
    """`FILE:LINE: error: message` (just `FILE: ...` for a finding about the whole file)."""
    where = finding.file or filename
    if finding.line > 0:
        where = f"{where}:{finding.line}"
    return f"{where}: {finding.severity}: {finding.message}"


def has_errors(findings: list[Finding]) -> bool:
    return any(f.is_error for f in findings)


def checked_version(version: str | Version) -> Version:
    """Parse the target CoreDNS version; InputError when it is garbage or older than the wizard knows."""
    parsed = as_version(version)
    if parsed.release < OLDEST_KNOWN:
        raise InputError(
            f"CoreDNS version '{parsed}' is older than {OLDEST_KNOWN}, the oldest release the wizard knows; "
            "give a version from 1.0.0 on"
        )
    return parsed


def check_corefile(
    cf: Corefile,
    version: str | Version,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: str | Path | None = None,
    filename: str = "Corefile",
) -> list[Finding]:
    """Everything CoreDNS `version` would refuse (errors) or merely tolerate (warnings) in `cf`.

    `cf` is expanded first (`env` defaults to this process's environment, `base_dir` resolves file
    imports). A bad version raises InputError; an import expand() cannot resolve raises
    CorefileSyntaxError (see `check_corefile_text` for a variant that reports it as a finding).
    Findings come sorted by line.
    """
    target = checked_version(version)
    expanded = expand(cf, env=env, base_dir=base_dir, filename=filename)
    findings: list[Finding] = []
    if target.release > NEWEST_KNOWN:
        findings.append(
            Finding(
                "warning",
                0,
                f"CoreDNS {target} is newer than {NEWEST_KNOWN}, the newest release the wizard knows: "
                f"checked against {NEWEST_KNOWN}'s plugins, so plugins or options added since may show "
                "as unknown",
            )
        )
    findings.extend(_check_server_keys(expanded.blocks, target))
    for block in expanded.blocks:
        findings.extend(_check_block(block, target))
    return sorted(findings, key=lambda f: (f.file or "", f.line))


def check_corefile_text(
    text: str,
    version: str | Version,
    filename: str = "Corefile",
    *,
    env: Mapping[str, str] | None = None,
    base_dir: str | Path | None = None,
) -> list[Finding]:
    """Parse and check. A syntax error (in the file or in an import) does NOT raise: it comes back
    as the single error finding CoreDNS would stop at, so callers print every outcome the same way.
    A bad version still raises InputError, checked before parsing."""
    checked_version(version)
    try:
        return check_corefile(parse(text, filename), version, env=env, base_dir=base_dir, filename=filename)
    except CorefileSyntaxError as err:
        other_file = err.filename if err.filename != filename else None
        return [Finding("error", err.line, err.message, None, other_file)]


# --- server blocks -------------------------------------------------------------------------------


def _check_server_keys(blocks: list[ServerBlock], version: Version) -> Iterator[Finding]:
    """Keys CoreDNS cannot parse, and zones served twice on one listener (wizard.dns.listeners)."""
    for block in blocks:
        for key in block.keys:
            transport, rest = split_transport(key)
            try:
                parse_key(key if transport in DEFAULT_PORTS else f"dns://{rest}")
            except InputError as err:
                yield Finding("error", block.line, str(err))
                continue
            host = rest.rsplit(":", 1)[0] if rest.rsplit(":", 1)[-1].isdigit() else rest
            if "/" not in host and not is_domain_name(host):
                yield Finding(
                    "error",
                    block.line,
                    f"zone is not a valid domain name: {host} (server block key {key!r}); labels are 1 to 63 "
                    "characters between dots, the name at most 255",
                )
    for clash in clashes(blocks, version):
        where = (
            "in this block already"
            if clash.first_line == clash.line
            else f"by the block at line {clash.first_line}"
        )
        yield Finding(
            "error",
            clash.line,
            f"{clash.message} ({where}); merge the blocks, or give one another zone, port or bind address",
        )


def _check_block(block: ServerBlock, version: Version) -> Iterator[Finding]:
    first_use: dict[str, int] = {}
    for directive in block.directives:
        findings = _check_directive(block, directive, version, first_use)
        if directive.imported_from is None:
            yield from findings
        else:
            yield from _about_imported_line(findings, directive.imported_from, version)


def _about_imported_line(
    findings: Iterator[Finding], imported_from: tuple[str, int], version: Version
) -> Iterator[Finding]:
    """A finding about a line of an imported file names the file and line only: the file may be
    one that is not meant to be shown, so its text is never quoted."""
    name, import_line = imported_from
    for finding in findings:
        verdict = "refuses" if finding.is_error else "warns about"
        yield Finding(
            finding.severity,
            import_line,
            f"imported file '{name}' line {finding.line}: CoreDNS {version} {verdict} this line; "
            "fix that line (the wizard does not quote imported files)",
        )


def _check_directive(
    block: ServerBlock, directive: Directive, version: Version, first_use: dict[str, int]
) -> Iterator[Finding]:
    status = directive_status(directive.name, version)
    if status.refused:
        message = _unknown_directive(directive.name, version)
        yield Finding("error", directive.line, message, directive.name)
        return
    if status in (Status.DEPRECATED, Status.IGNORED):
        message = _tolerated(f"plugin '{directive.name}'", status, PLUGINS[directive.name].life)
        yield Finding("warning", directive.line, message, directive.name)
    if once_per_block(directive.name, version):
        if directive.name in first_use:
            yield Finding(
                "error",
                directive.line,
                f"{directive.name}: this plugin can only be used once per Server Block (it is already at "
                f"line {first_use[directive.name]}); {_once_advice(directive.name)}",
                directive.name,
            )
        else:
            first_use[directive.name] = directive.line
    yield from _check_options(directive, version)
    yield from _check_grammar(directive, version)
    if directive.name == "forward":
        yield from _check_forward(directive, version)
    if directive.name == "kubernetes":
        yield from _check_multicluster(block, directive)


def _once_advice(name: str) -> str:
    if name == "forward":  # two forward lines usually forward two zones: each needs its own block
        return (
            "give each forwarded zone its own server block (`ZONE:53 { forward . TO }`), "
            "or choose CoreDNS 1.9.4 or newer, which allows several forward lines"
        )
    return "merge the two into one"


def _unknown_directive(name: str, version: Version) -> str:
    head = f"Unknown directive '{name}'"
    spec = PLUGINS.get(name)
    if spec is None:
        return f"{head}: no CoreDNS release the wizard knows has a plugin called '{name}'; check the spelling"
    life = spec.life
    if life.removed is not None and version.release >= life.removed:
        advice = f"; {life.advice}" if life.advice else "; delete it"
        return f"{head}: CoreDNS {life.removed} removed the {name} plugin{advice}"
    return (
        f"{head}: the {name} plugin arrived in CoreDNS {life.added} and this Corefile is checked for "
        f"{version}; delete it or choose CoreDNS {life.added} or newer"
    )


def _tolerated(what: str, status: Status, life: Lifetime) -> str:
    if status is Status.IGNORED:
        text = f"{what} is accepted but does nothing since CoreDNS {life.ignored}"
    else:
        text = f"{what} is deprecated since CoreDNS {life.deprecated}"
    if life.removed is not None:
        text += f" and CoreDNS {life.removed} refuses it"
    return f"{text}; {life.advice}" if life.advice else text


# --- options -------------------------------------------------------------------------------------


def _check_options(directive: Directive, version: Version) -> Iterator[Finding]:
    spec = PLUGINS[directive.name]
    if spec.options is None or directive.block is None:
        return
    for option in directive.block:
        status = option_status(directive.name, option.name, version)
        if status is None:
            continue
        if not status.refused:
            yield from _check_argument_limit(directive.name, option, version)
        if status is Status.OK:
            continue
        life = spec.options.get(option.name)
        if status.refused:
            if spec.inline_data and (life is None or status is Status.ABSENT):
                if life is not None:  # an option of a later release: read as a data line, silently useless
                    yield Finding(
                        "warning",
                        option.line,
                        f"{directive.name}: '{option.name}' is an option only from CoreDNS {life.added}; "
                        f"CoreDNS {version} reads the line as a {directive.name} entry and ignores it",
                        directive.name,
                    )
                continue
            message = _unknown_property(directive.name, option.name, life, version)
            yield Finding("error", option.line, message, directive.name)
        elif life is not None:
            yield Finding(
                "warning",
                option.line,
                _tolerated(f"{directive.name} option '{option.name}'", status, life),
                directive.name,
            )


def _check_argument_limit(plugin: str, option: Directive, version: Version) -> Iterator[Finding]:
    limit = ARGUMENT_LIMITS.get((plugin, option.name))
    if limit is None or len(option.args) <= limit.max_args:
        return
    status = limit.life.status(version)
    if status in (Status.DEPRECATED, Status.IGNORED):
        since = limit.life.ignored if status is Status.IGNORED else limit.life.deprecated
        first = "the first" if limit.max_args == 1 else f"the first {limit.max_args}"
        verdict = f"use only {first}" if status is Status.IGNORED else f"deprecate all but {first}"
        message = (
            f"{plugin} option '{option.name}' has {len(option.args)} arguments: CoreDNS {since} and newer "
            f"{verdict}; {limit.life.advice}"
        )
        yield Finding("warning", option.line, message, plugin)


def _unknown_property(plugin: str, option: str, life: Lifetime | None, version: Version) -> str:
    head = f"{plugin}: unknown property '{option}'"
    if life is None:
        options = PLUGINS[plugin].options or {}
        known = sorted(name for name, lt in options.items() if not lt.status(version).refused)
        listing = ", ".join(known) if known else "none"
        return (
            f"{head}: CoreDNS {version}'s {plugin} has no such option (it has: {listing}); "
            "fix or delete the line"
        )
    if life.removed is not None and version.release >= life.removed:
        advice = life.advice or "delete the line"
        return f"{head}: CoreDNS {life.removed} removed it; {advice}"
    return (
        f"{head}: the option arrived in CoreDNS {life.added} and this Corefile is checked for {version}; "
        f"delete the line or choose CoreDNS {life.added} or newer"
    )


# --- argument values (wizard.dns.grammar) -------------------------------------------------------


def _check_grammar(directive: Directive, version: Version) -> Iterator[Finding]:
    grammar = grammar_for(directive.name, version)
    if grammar is None:
        return
    name = directive.name
    pattern = grammar.args
    if directive.block is not None and grammar.block_args is not None:
        pattern = f"{pattern} || {grammar.block_args}" if pattern is not None else grammar.block_args
    if pattern is not None:
        yield from _mismatch(name, name, directive.name, directive.args, pattern, directive.line)
    seen: dict[str, int] = {}
    for option in directive.block or []:
        yield from _check_option(name, option, grammar, version, seen)
    yield from _check_option_set(directive, grammar, version, seen)


def _check_option(
    name: str, option: Directive, grammar: Grammar, version: Version, seen: dict[str, int]
) -> Iterator[Finding]:
    """One line inside a plugin's block; `seen` collects the first line of each option so far."""
    spec = PLUGINS[name]
    pattern = grammar.options.get(option.name)
    is_data = spec.inline_data and (spec.options is None or option.name not in spec.options)
    if is_data and grammar.data_until is not None and grammar.data_until in seen:
        yield Finding(
            "error",
            option.line,
            f"{name}: unknown property '{option.name}': CoreDNS reads {name} entries only before "
            f"'{grammar.data_until}' (line {seen[grammar.data_until]}); move the entry above it",
            name,
        )
        return
    if pattern is None:
        if grammar.data is not None and (spec.options is None or option.name not in spec.options):
            yield from _mismatch(name, f"{name} entry", None, [option.name, *option.args], grammar.data,
                                 option.line)
        elif grammar.closed and spec.options is None:
            known = ", ".join(sorted(grammar.options)) or "none"
            yield Finding(
                "error",
                option.line,
                f"{name}: unknown property '{option.name}': "
                f"CoreDNS {version}'s {name} has no such option "
                f"(it has: {known}); fix or delete the line",
                name,
            )
        return
    if option.name in grammar.once and option.name in seen:
        yield Finding(
            "error",
            option.line,
            f"{name}: '{option.name}' can only be specified once (it is already at line "
            f"{seen[option.name]}); keep one",
            name,
        )
    seen.setdefault(option.name, option.line)
    if option_status(name, option.name, version) in (Status.ABSENT, Status.REMOVED):
        return  # already refused as an unknown property
    yield from _mismatch(name, f"option '{option.name}'", option.name, option.args, pattern, option.line)


def _check_option_set(
    directive: Directive, grammar: Grammar, version: Version, seen: dict[str, int]
) -> Iterator[Finding]:
    """Rules about the block's options together: conflicts, options that need another, required ones."""
    name = directive.name
    for first, second in grammar.conflicts:
        if first in seen and second in seen:
            yield Finding(
                "error",
                max(seen[first], seen[second]),
                f"{name}: '{first}' and '{second}' cannot be used together; keep one of them",
                name,
            )
    for option_name, other in grammar.needs:
        if option_name in seen and other not in seen:
            yield Finding(
                "error",
                seen[option_name],
                f"{name}: '{option_name}' needs '{other}' in the same block; "
                f"add '{other}' or delete the line",
                name,
            )
    for needed in sorted(grammar.required - set(seen)):
        yield Finding(
            "error",
            directive.line,
            f"{name}: '{needed}' is required: CoreDNS {version}'s {name} refuses a block without it; "
            f"add a '{needed}' line",
            name,
        )


def _mismatch(
    plugin: str, what: str, head: str | None, args: list[str], pattern: str, line: int
) -> Iterator[Finding]:
    found = match(pattern, args)
    if found is None:
        return
    words = ([head] if head else []) + args
    if found.index < len(args) and found.wants:
        value = args[found.index]
        yield Finding(
            "error",
            line,
            f"{plugin}: invalid value '{value}' for {what}: "
            f"CoreDNS expects {found.wants} there; fix the value",
            plugin,
        )
        return
    after = words[min(found.index + (1 if head else 0), len(words)) - 1] if words else plugin
    if found.index >= len(args):
        advice = f"add {found.wants}" if found.wants else "add the missing argument"
    else:
        advice = f"give {found.wants}" if found.wants else f"remove '{args[found.index]}' and what follows"
    yield Finding(
        "error",
        line,
        f"{plugin}: Wrong argument count or unexpected line ending after '{after}' ({what}); {advice}",
        plugin,
    )


# --- plugin-specific rules across options ---------------------------------------------------------


def _zone_name(text: str) -> str:
    return text.lower() if text.endswith(".") else text.lower() + "."


def _check_multicluster(block: ServerBlock, directive: Directive) -> Iterator[Finding]:
    """kubernetes: every multicluster zone must be one the plugin serves (its arguments, else the
    server block's zones): "is not authoritative for the multicluster zone"."""
    zones = directive.args or [split_transport(key)[1].rsplit(":", 1)[0] for key in block.keys]
    served = {_zone_name(zone) for zone in zones}
    for option in directive.options("multicluster"):
        for zone in option.args:
            if _zone_name(zone) not in served:
                yield Finding(
                    "error",
                    option.line,
                    f"kubernetes: is not authoritative for the multicluster zone {_zone_name(zone)} "
                    f"(authoritative zones: {' '.join(sorted(served))}); add the zone to the kubernetes line "
                    "or remove it here",
                    "kubernetes",
                )


def _max_age_below_expire(directive: Directive) -> Finding | None:
    """forward (1.14.3 on): "max_age must not be less than expire"."""
    max_age, expire = directive.option("max_age"), directive.option("expire")
    if max_age is None or expire is None or len(max_age.args) != 1 or len(expire.args) != 1:
        return None
    age, exp = go_duration(max_age.args[0]), go_duration(expire.args[0])
    if age is None or exp is None or not 0 < age < exp:
        return None
    return Finding(
        "error",
        max_age.line,
        f"forward: max_age ({max_age.args[0]}) must not be less than expire ({expire.args[0]}); "
        "raise max_age or lower expire",
        "forward",
    )


# --- forward -------------------------------------------------------------------------------------


def _check_forward(directive: Directive, version: Version) -> Iterator[Finding]:
    line = directive.line
    too_young = _max_age_below_expire(directive)
    if too_young is not None and version.release >= MAX_AGE_CHECKED_SINCE:
        yield too_young
    if len(directive.args) < 2:
        what = "a zone (FROM) and " if not directive.args else ""
        yield Finding(
            "error",
            line,
            "forward: Wrong argument count or unexpected line ending after "
            f"'{directive.args[-1] if directive.args else 'forward'}': give {what}at least one upstream "
            "(an IP such as 8.8.8.8, or /etc/resolv.conf)",
            "forward",
        )
        return
    upstreams = directive.args[1:]
    if len(upstreams) > MAX_FORWARD_UPSTREAMS:
        yield Finding(
            "error",
            line,
            f"forward: more than {MAX_FORWARD_UPSTREAMS} TOs configured: {len(upstreams)}; keep at most "
            f"{MAX_FORWARD_UPSTREAMS} upstreams",
            "forward",
        )
    for upstream in upstreams:
        problem = _upstream_problem(upstream, version)
        if problem is not None:
            yield Finding("error", line, f"forward: {problem}", "forward")


def _upstream_problem(target: str, version: Version) -> str | None:
    """Why CoreDNS `version` would refuse `target` as a forward upstream, or None if it accepts it."""
    transport, _, rest = target.rpartition("://")
    allowed = {"", "dns", "tls"} | ({"https"} if version.release >= FORWARD_HTTPS_SINCE else set())
    if transport not in allowed:
        since = " before CoreDNS 1.14.5" if transport == "https" else ""
        return (
            f"'{transport}' is not supported as a destination protocol in forward{since}: {target}; "
            "use dns:// or tls://"
        )
    if not rest:
        return f'invalid address: "{target}"; give an IP, IP:port or a file such as /etc/resolv.conf'
    if transport == "https":
        return None  # a DoH URL: CoreDNS resolves and validates it at start-up
    if _is_ip_target(rest) or _is_file_target(rest):
        return None
    host = _strip_port(rest)
    if host is not None and _HOSTNAME_RE.match(host):
        if version.release >= FORWARD_HOSTNAMES_SINCE:
            return None
        return (
            f'not an IP address or file: "{rest}": host names as upstreams need CoreDNS '
            f"{FORWARD_HOSTNAMES_SINCE} or newer; use the server's IP address"
        )
    return f'not an IP address or file: "{rest}"; give an IP, IP:port, [IPv6]:port or a file path'


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is allowed
    except ValueError:
        return False
    return True


def _valid_port(text: str) -> bool:
    return port_number(text) is not None


def _is_ip_target(text: str) -> bool:
    if _is_ip(text.strip("[]")):
        return True
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        return bool(sep) and _is_ip(host) and _valid_port(port)
    host, sep, port = text.rpartition(":")
    return bool(sep) and ":" not in host and _is_ip(host) and _valid_port(port)


def _is_file_target(text: str) -> bool:
    """resolv.conf-style files: CoreDNS opens whatever is not an address; a path is what it can open."""
    return text.startswith(("/", "./", "../")) or os.sep in text


def _strip_port(text: str) -> str | None:
    """`name:53` → `name`; `name` → `name`; None when the port is not a port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text
    return host if _valid_port(port) and ":" not in host else None
