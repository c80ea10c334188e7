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
from wizard.i18n import msg

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
        raise InputError(msg(
            "dns.version-older-than-known",
            "CoreDNS version '{version}' is older than {oldest}, the oldest release the wizard knows; "
            "give a version from 1.0.0 on",
            version=str(parsed), oldest=str(OLDEST_KNOWN),
        ))
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
                msg(
                    "dns.version-newer-than-known",
                    "CoreDNS {version} is newer than {newest}, the newest release the wizard knows: "
                    "checked against {newest}'s plugins, so plugins or options added since may show "
                    "as unknown",
                    version=str(target), newest=str(NEWEST_KNOWN),
                ),
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
                    msg(
                        "dns.zone-not-domain-name",
                        "zone is not a valid domain name: {host} (server block key {key}); labels are 1 to "
                        "63 characters between dots, the name at most 255",
                        host=host, key=repr(key),
                    ),
                )
    for clash in clashes(blocks, version):
        where = (
            msg("dns.clash-same-block", "in this block already")
            if clash.first_line == clash.line
            else msg("dns.clash-other-block", "by the block at line {line}", line=clash.first_line)
        )
        yield Finding(  # clash.message is CoreDNS's own text: it stays English
            "error",
            clash.line,
            msg(
                "dns.zone-clash",
                "{coredns} ({where}); merge the blocks, or give one another zone, port or bind address",
                coredns=clash.message, where=where,
            ),
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
        if finding.is_error:
            text = msg(
                "dns.imported-line-refused",
                "imported file '{name}' line {line}: CoreDNS {version} refuses this line; "
                "fix that line (the wizard does not quote imported files)",
                name=name, line=finding.line, version=str(version),
            )
        else:
            text = msg(
                "dns.imported-line-warned",
                "imported file '{name}' line {line}: CoreDNS {version} warns about this line; "
                "fix that line (the wizard does not quote imported files)",
                name=name, line=finding.line, version=str(version),
            )
        yield Finding(finding.severity, import_line, text)


def _check_directive(
    block: ServerBlock, directive: Directive, version: Version, first_use: dict[str, int]
) -> Iterator[Finding]:
    status = directive_status(directive.name, version)
    if status.refused:
        message = _unknown_directive(directive.name, version)
        yield Finding("error", directive.line, message, directive.name)
        return
    if status in (Status.DEPRECATED, Status.IGNORED):
        what = msg("dns.what-plugin", "plugin '{name}'", name=directive.name)
        message = _tolerated(what, status, PLUGINS[directive.name].life)
        yield Finding("warning", directive.line, message, directive.name)
    if once_per_block(directive.name, version):
        if directive.name in first_use:
            yield Finding(
                "error",
                directive.line,
                msg(
                    "dns.plugin-once-per-block",
                    "{coredns} (it is already at line {line}); {advice}",
                    coredns=f"{directive.name}: this plugin can only be used once per Server Block",
                    line=first_use[directive.name], advice=_once_advice(directive.name),
                ),
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
        return msg(
            "dns.once-advice-forward",
            "give each forwarded zone its own server block (`ZONE:53 { forward . TO }`), "
            "or choose CoreDNS 1.9.4 or newer, which allows several forward lines",
        )
    return msg("dns.once-advice-merge", "merge the two into one")


def _unknown_directive(name: str, version: Version) -> str:
    head = f"Unknown directive '{name}'"  # CoreDNS's own words: English in every language
    spec = PLUGINS.get(name)
    if spec is None:
        return msg(
            "dns.unknown-directive-nowhere",
            "{coredns}: no CoreDNS release the wizard knows has a plugin called '{name}'; check the spelling",
            coredns=head, name=name,
        )
    life = spec.life
    if life.removed is not None and version.release >= life.removed:
        return msg(
            "dns.unknown-directive-removed",
            "{coredns}: CoreDNS {removed} removed the {name} plugin; {advice}",
            coredns=head, removed=str(life.removed), name=name,
            advice=life.advice or msg("dns.advice-delete-it", "delete it"),
        )
    return msg(
        "dns.unknown-directive-later",
        "{coredns}: the {name} plugin arrived in CoreDNS {added} and this Corefile is checked for "
        "{version}; delete it or choose CoreDNS {added} or newer",
        coredns=head, name=name, added=str(life.added), version=str(version),
    )


def _tolerated(what: str, status: Status, life: Lifetime) -> str:
    if status is Status.IGNORED:
        text = msg("dns.tolerated-ignored", "{what} is accepted but does nothing since CoreDNS {since}",
                   what=what, since=str(life.ignored))
        if life.removed is not None:
            text = msg("dns.tolerated-ignored-removed",
                       "{what} is accepted but does nothing since CoreDNS {since} and CoreDNS {removed} "
                       "refuses it",
                       what=what, since=str(life.ignored), removed=str(life.removed))
    else:
        text = msg("dns.tolerated-deprecated", "{what} is deprecated since CoreDNS {since}",
                   what=what, since=str(life.deprecated))
        if life.removed is not None:
            text = msg("dns.tolerated-deprecated-removed",
                       "{what} is deprecated since CoreDNS {since} and CoreDNS {removed} refuses it",
                       what=what, since=str(life.deprecated), removed=str(life.removed))
    if life.advice:
        return msg("dns.tolerated-advice", "{text}; {advice}", text=text, advice=life.advice)
    return text


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
                        msg(
                            "dns.option-read-as-entry",
                            "{plugin}: '{option}' is an option only from CoreDNS {added}; "
                            "CoreDNS {version} reads the line as a {plugin} entry and ignores it",
                            plugin=directive.name, option=option.name, added=str(life.added),
                            version=str(version),
                        ),
                        directive.name,
                    )
                continue
            message = _unknown_property(directive.name, option.name, life, version)
            yield Finding("error", option.line, message, directive.name)
        elif life is not None:
            yield Finding(
                "warning",
                option.line,
                _tolerated(
                    msg("dns.what-option", "{plugin} option "
                                           "'{option}'", plugin=directive.name, option=option.name),
                    status,
                    life,
                ),
                directive.name,
            )


def _check_argument_limit(plugin: str, option: Directive, version: Version) -> Iterator[Finding]:
    limit = ARGUMENT_LIMITS.get((plugin, option.name))
    if limit is None or len(option.args) <= limit.max_args:
        return
    status = limit.life.status(version)
    if status in (Status.DEPRECATED, Status.IGNORED):
        since = limit.life.ignored if status is Status.IGNORED else limit.life.deprecated
        params = dict(plugin=plugin, option=option.name, count=len(option.args), since=str(since),
                      max=limit.max_args, advice=limit.life.advice)
        if status is Status.IGNORED and limit.max_args == 1:
            message = msg("dns.args-ignored-one",
                          "{plugin} option '{option}' has {count} arguments: CoreDNS {since} and newer "
                          "use only the first; {advice}", **params)
        elif status is Status.IGNORED:
            message = msg("dns.args-ignored-many",
                          "{plugin} option '{option}' has {count} arguments: CoreDNS {since} and newer "
                          "use only the first {max}; {advice}", **params)
        elif limit.max_args == 1:
            message = msg("dns.args-deprecated-one",
                          "{plugin} option '{option}' has {count} arguments: CoreDNS {since} and newer "
                          "deprecate all but the first; {advice}", **params)
        else:
            message = msg("dns.args-deprecated-many",
                          "{plugin} option '{option}' has {count} arguments: CoreDNS {since} and newer "
                          "deprecate all but the first {max}; {advice}", **params)
        yield Finding("warning", option.line, message, plugin)


def _unknown_property(plugin: str, option: str, life: Lifetime | None, version: Version) -> str:
    head = f"{plugin}: unknown property '{option}'"  # CoreDNS's own words: English in every language
    if life is None:
        options = PLUGINS[plugin].options or {}
        known = sorted(name for name, lt in options.items() if not lt.status(version).refused)
        return _no_such_option(head, plugin, version, known)
    if life.removed is not None and version.release >= life.removed:
        advice = life.advice or msg("dns.advice-delete-line", "delete the line")
        return msg("dns.unknown-property-removed", "{coredns}: CoreDNS {removed} removed it; {advice}",
                   coredns=head, removed=str(life.removed), advice=advice)
    return msg(
        "dns.unknown-property-later",
        "{coredns}: the option arrived in CoreDNS {added} and this Corefile is checked for {version}; "
        "delete the line or choose CoreDNS {added} or newer",
        coredns=head, added=str(life.added), version=str(version),
    )


def _no_such_option(head: str, plugin: str, version: Version, known: list[str]) -> str:
    if not known:
        return msg(
            "dns.unknown-property-no-options",
            "{coredns}: CoreDNS {version}'s {plugin} has no such option (it has: none); "
            "fix or delete the line",
            coredns=head, version=str(version), plugin=plugin,
        )
    return msg(
        "dns.unknown-property-listing",
        "{coredns}: CoreDNS {version}'s {plugin} has no such option (it has: {listing}); "
        "fix or delete the line",
        coredns=head, version=str(version), plugin=plugin, listing=", ".join(known),
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
            msg(
                "dns.entry-after-option",
                "{coredns}: CoreDNS reads {plugin} entries only before '{option}' (line {line}); "
                "move the entry above it",
                coredns=f"{name}: unknown property '{option.name}'", plugin=name, option=grammar.data_until,
                line=seen[grammar.data_until],
            ),
            name,
        )
        return
    if pattern is None:
        if grammar.data is not None and (spec.options is None or option.name not in spec.options):
            what = msg("dns.what-entry", "{plugin} entry", plugin=name)
            yield from _mismatch(name, what, None, [option.name, *option.args], grammar.data, option.line)
        elif grammar.closed and spec.options is None:
            head = f"{name}: unknown property '{option.name}'"
            yield Finding("error", option.line, _no_such_option(head, name, version, sorted(grammar.options)),
                          name)
        return
    if option.name in grammar.once and option.name in seen:
        yield Finding(
            "error",
            option.line,
            msg(
                "dns.option-once",
                "{coredns} (it is already at line {line}); keep one",
                coredns=f"{name}: '{option.name}' can only be specified once", line=seen[option.name],
            ),
            name,
        )
    seen.setdefault(option.name, option.line)
    if option_status(name, option.name, version) in (Status.ABSENT, Status.REMOVED):
        return  # already refused as an unknown property
    what = msg("dns.what-option-short", "option '{option}'", option=option.name)
    yield from _mismatch(name, what, option.name, option.args, pattern, option.line)


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
                msg("dns.options-conflict", "{plugin}: '{first}' and '{second}' cannot be used together; "
                    "keep one of them", plugin=name, first=first, second=second),
                name,
            )
    for option_name, other in grammar.needs:
        if option_name in seen and other not in seen:
            yield Finding(
                "error",
                seen[option_name],
                msg("dns.option-needs", "{plugin}: '{option}' needs '{other}' in the same block; "
                    "add '{other}' or delete the line", plugin=name, option=option_name, other=other),
                name,
            )
    for needed in sorted(grammar.required - set(seen)):
        yield Finding(
            "error",
            directive.line,
            msg("dns.option-required", "{plugin}: '{option}' is required: CoreDNS {version}'s {plugin} "
                "refuses a block without it; add a '{option}' line", plugin=name, option=needed,
                version=str(version)),
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
            msg("dns.invalid-value", "{plugin}: invalid value '{value}' for {what}: "
                "CoreDNS expects {wants} there; fix the value", plugin=plugin, value=value, what=what,
                wants=found.wants),
            plugin,
        )
        return
    after = words[min(found.index + (1 if head else 0), len(words)) - 1] if words else plugin
    if found.index >= len(args):
        advice = (msg("dns.advice-add", "add {wants}", wants=found.wants) if found.wants
                  else msg("dns.advice-add-missing", "add the missing argument"))
    else:
        advice = (msg("dns.advice-give", "give {wants}", wants=found.wants) if found.wants
                  else msg("dns.advice-remove-rest", "remove '{arg}' and what "
                                                     "follows", arg=args[found.index]))
    yield Finding(
        "error",
        line,
        msg("dns.wrong-argument-count", "{coredns} ({what}); {advice}",
            coredns=f"{plugin}: Wrong argument count or unexpected line ending after '{after}'", what=what,
            advice=advice),
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
                    msg(
                        "dns.multicluster-zone",
                        "{coredns} (authoritative zones: {zones}); add the zone to the kubernetes line "
                        "or remove it here",
                        coredns=f"kubernetes: is not authoritative for the multicluster zone "
                                f"{_zone_name(zone)}",
                        zones=" ".join(sorted(served)),
                    ),
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
        msg(
            "dns.max-age-below-expire",
            "forward: max_age ({max_age}) must not be less than expire ({expire}); raise max_age or lower "
            "expire",
            max_age=max_age.args[0], expire=expire.args[0],
        ),
        "forward",
    )


# --- forward -------------------------------------------------------------------------------------


def _check_forward(directive: Directive, version: Version) -> Iterator[Finding]:
    line = directive.line
    too_young = _max_age_below_expire(directive)
    if too_young is not None and version.release >= MAX_AGE_CHECKED_SINCE:
        yield too_young
    if len(directive.args) < 2:
        coredns = (
            "forward: Wrong argument count or unexpected line ending after "
            f"'{directive.args[-1] if directive.args else 'forward'}'"
        )
        if not directive.args:
            text = msg("dns.forward-no-zone", "{coredns}: give a zone (FROM) and at least one upstream "
                       "(an IP such as 8.8.8.8, or /etc/resolv.conf)", coredns=coredns)
        else:
            text = msg("dns.forward-no-upstream", "{coredns}: give at least one upstream "
                       "(an IP such as 8.8.8.8, or /etc/resolv.conf)", coredns=coredns)
        yield Finding("error", line, text, "forward")
        return
    upstreams = directive.args[1:]
    if len(upstreams) > MAX_FORWARD_UPSTREAMS:
        yield Finding(
            "error",
            line,
            msg(
                "dns.forward-too-many",
                "{coredns}: {count}; keep at most {max} upstreams",
                coredns=f"forward: more than {MAX_FORWARD_UPSTREAMS} TOs configured", count=len(upstreams),
                max=MAX_FORWARD_UPSTREAMS,
            ),
            "forward",
        )
    for upstream in upstreams:
        problem = _upstream_problem(upstream, version)
        if problem is not None:
            yield Finding("error", line, msg("dns.forward-problem", "forward: {problem}", problem=problem),
                          "forward")


def _upstream_problem(target: str, version: Version) -> str | None:
    """Why CoreDNS `version` would refuse `target` as a forward upstream, or None if it accepts it."""
    transport, _, rest = target.rpartition("://")
    allowed = {"", "dns", "tls"} | ({"https"} if version.release >= FORWARD_HTTPS_SINCE else set())
    if transport not in allowed:
        since = " before CoreDNS 1.14.5" if transport == "https" else ""
        return msg(  # CoreDNS's own words as a parameter
            "dns.forward-protocol", "{coredns}; use dns:// or tls://",
            coredns=f"'{transport}' is not supported as a destination protocol in forward{since}: {target}",
        )
    if not rest:
        return msg("dns.forward-invalid-address",
                   "{coredns}; give an IP, IP:port or a file such as /etc/resolv.conf",
                   coredns=f'invalid address: "{target}"')
    if transport == "https":
        return None  # a DoH URL: CoreDNS resolves and validates it at start-up
    if _is_ip_target(rest) or _is_file_target(rest):
        return None
    host = _strip_port(rest)
    if host is not None and _HOSTNAME_RE.match(host):
        if version.release >= FORWARD_HOSTNAMES_SINCE:
            return None
        return msg(
            "dns.forward-hostname-too-old",
            "{coredns}: host names as upstreams need CoreDNS {since} or newer; use the server's IP address",
            coredns=f'not an IP address or file: "{rest}"', since=str(FORWARD_HOSTNAMES_SINCE),
        )
    return msg("dns.forward-not-address", "{coredns}; give an IP, IP:port, [IPv6]:port or a file path",
               coredns=f'not an IP address or file: "{rest}"')


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
