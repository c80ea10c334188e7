"""The arguments each plugin's setup accepts, per CoreDNS release, written as small patterns.

CoreDNS refuses a Corefile at start-up when a plugin's `setup.go` cannot parse an argument: a
duration Go's time.ParseDuration rejects, a count that is negative, a policy name it does not know,
a line with too many or too few words. Each rule here restates one such check (facts read from
coredns/coredns `plugin/*/setup.go` at the release tags; no code carried over) so the checker can
refuse what CoreDNS refuses before a pod crash-loops.

A pattern is a space-separated list of items matched against a line's arguments; `||` separates
alternatives. An item is a kind with an optional quantifier `?` (optional), `*` (any number) or
`+` (at least one). Kinds: `any`, `dur` (a Go duration), `dur0` (>= 0), `dur1` (> 0), `int`, `int0`
(>= 0), `int1` (>= 1), `int:LO:HI`, `ip`, `cidr`, `addr` (host:port, host may be empty), `zone`,
`regex`, `resolv` (@plugin or a file path), `pct` (10%..90%), and `=a|b|c` (one of these words;
`~a|b|c` ignores case).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wizard.dns.versions import Version
from wizard.i18n import msg

_DURATION_RE = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART_RE = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float | None:
    """Seconds, as Go's time.ParseDuration reads `text` ("1h20m", "0", "-1.5s"); None if it refuses."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION_RE.match(text):
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART_RE.findall(text))


def go_int(text: str) -> int | None:
    """strconv.Atoi: an optional sign and decimal digits."""
    return int(text) if re.fullmatch(r"[-+]?\d+", text) and text.isascii() else None


def is_domain_name(text: str) -> bool:
    """miekg/dns IsDomainName, roughly: no empty label (except the root), labels <= 63, name <= 255."""
    if text == ".":
        return True
    if not text or len(text) > 255 or text.startswith("."):
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return all(0 < len(label) <= 63 for label in labels)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_addr(text: str) -> bool:
    """Go's net.SplitHostPort accepts it (`:8080`, `localhost:8080`, `[::1]:53`)."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        return bool(sep) and "]" not in port and port != "" and ":" not in port
    host, sep, port = text.rpartition(":")
    return bool(sep) and ":" not in host and "[" not in host and "]" not in host


def _is_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


def _dur_min(minimum: float) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        value = go_duration(text)
        return value is not None and value >= minimum

    return check


def _int_range(low: int | None, high: int | None) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        value = go_int(text)
        return value is not None and (low is None or value >= low) and (high is None or value <= high)

    return check


_RR_TYPES_TEXT = (
    "A NS MD MF CNAME SOA MB MG MR NULL PTR HINFO MINFO MX TXT RP AFSDB X25 ISDN RT NSAPPTR SIG KEY "
    "PX GPOS AAAA LOC NXT EID NIMLOC SRV ATMA NAPTR KX CERT DNAME OPT APL DS SSHFP IPSECKEY RRSIG "
    "NSEC DNSKEY DHCID NSEC3 NSEC3PARAM TLSA SMIMEA HIP NINFO RKEY TALINK CDS CDNSKEY OPENPGPKEY "
    "CSYNC ZONEMD SVCB HTTPS SPF UINFO UID GID UNSPEC NID L32 L64 LP EUI48 EUI64 NXNAME URI CAA AVC "
    "AMTRELAY RESINFO TKEY TSIG IXFR AXFR MAILB MAILA ANY TA DLV"
)
_RR_TYPES = frozenset(_RR_TYPES_TEXT.split())
"""miekg/dns StringToType: the record type names CoreDNS knows (looked up as written: upper case)."""

_RCODES_TEXT = (
    "NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED YXDOMAIN YXRRSET NXRRSET NOTAUTH NOTZONE "
    "BADSIG BADVERS BADKEY BADTIME BADMODE BADNAME BADALG BADTRUNC BADCOOKIE"
)
_RCODES = frozenset(_RCODES_TEXT.split())
"""miekg/dns StringToRcode."""

_TEMPLATE_FUNCS_TEXT = (
    "and call html index slice js len not or print printf println urlquery eq ge gt le lt ne if else "
    "end range with define template block break continue nil true false parseInt"
)
_TEMPLATE_FUNCS = frozenset(_TEMPLATE_FUNCS_TEXT.split())
_ACTION_RE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)


def _go_template(text: str) -> bool:
    """A Go text/template the template plugin can parse: actions closed, functions known."""
    if text.count("{{") != text.count("}}"):
        return False
    for action in _ACTION_RE.findall(text):
        word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", action)
        if word and word.group(0) not in _TEMPLATE_FUNCS:
            return False
    return True


def _dns64_prefix(text: str) -> bool:
    """dns64 needs an IPv6 prefix of length 32, 40, 48, 56, 64 or 96 (RFC 6052)."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return net.version == 6 and net.prefixlen in (32, 40, 48, 56, 64, 96)


def _xfr_to(text: str) -> bool:
    """transfer `to`: `*`, an IP or IP:port (no host names)."""
    if text == "*" or _is_ip(text.strip("[]")):
        return True
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        return bool(sep) and _is_ip(host) and go_int(port) is not None
    host, sep, port = text.rpartition(":")
    return bool(sep) and _is_ip(host) and go_int(port) is not None


def _ttl_seconds(text: str) -> bool:
    value = go_duration(text)
    return value is not None and 0 <= value <= 4294967295 and float(value).is_integer()


def _selector(text: str) -> bool:
    """A Kubernetes label selector, as far as its brackets go."""
    return text.count("(") == text.count(")")


def _pct(text: str) -> bool:
    value = go_int(text[:-1]) if text.endswith("%") else None
    return value is not None and 10 <= value <= 90


KINDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "any": (lambda text: True, msg("dns.wants-any", "a value")),
    "dur": (
        lambda text: go_duration(text) is not None,
        msg("dns.wants-dur", "a Go duration such as 30s, 5m or 1h30m"),
    ),
    "dur0": (_dur_min(0.0), msg("dns.wants-dur0", "a duration of 0 or more, such as 30s or 5m")),
    "dur1": (
        lambda text: (go_duration(text) or 0.0) > 0,
        msg("dns.wants-dur1", "a duration above 0, such as 30s or 5m"),
    ),
    "int": (_int_range(None, None), msg("dns.wants-int", "a whole number")),
    "int0": (_int_range(0, None), msg("dns.wants-int0", "a whole number, 0 or more")),
    "int1": (_int_range(1, None), msg("dns.wants-int1", "a whole number, 1 or more")),
    "float0": (
        lambda text: re.fullmatch(r"\+?(\d+\.?\d*|\.\d+)", text) is not None,
        msg("dns.wants-float0", "a number, 0 or more"),
    ),
    "ip": (_is_ip, msg("dns.wants-ip", "an IP address")),
    "cidr": (_is_cidr, msg("dns.wants-cidr", "a network in CIDR form such as 10.0.0.0/8")),
    "addr": (_is_addr, msg("dns.wants-addr", "an address as HOST:PORT, such as :8080 or 127.0.0.1:8080")),
    "zone": (is_domain_name, msg("dns.wants-domain-name", "a domain name")),
    "name": (
        lambda text: is_domain_name(text) and go_int(text) is None,
        msg("dns.wants-domain-name", "a domain name"),
    ),
    "regex": (_is_regex, msg("dns.wants-regex", "a regular expression")),
    "resolv": (lambda text: (text.startswith("@") and len(text) > 1) or "/" in text,
               msg("dns.wants-resolv", "@PLUGIN (e.g. @kubernetes) or the path of a resolv.conf file")),
    "pct": (_pct, msg("dns.wants-pct", "a percentage from 10% to 90%")),
    "jitter": (
        lambda text: go_duration(text) == 0.0 or (go_duration(text) or 0.0) >= 1.0,
        msg("dns.wants-jitter", "0 or a duration of 1s or more"),
    ),
    "qtype": (
        lambda text: text in _RR_TYPES,
        msg("dns.wants-qtype", "a record type such as A, AAAA, SRV or ANY"),
    ),
    "rcode": (
        lambda text: text in _RCODES,
        msg("dns.wants-rcode", "a response code such as NOERROR, NXDOMAIN or SERVFAIL"),
    ),
    "gotmpl": (
        _go_template,
        msg("dns.wants-gotmpl", "a Go template with closed {{ }} actions and known functions"),
    ),
    "dns64": (
        _dns64_prefix,
        msg("dns.wants-dns64", "an IPv6 prefix of length 32, 40, 48, 56, 64 or 96 such as 64:ff9b::/96"),
    ),
    "xfrto": (_xfr_to, msg("dns.wants-xfrto", "*, an IP address or IP:port")),
    "ttlsec": (_ttl_seconds, msg("dns.wants-ttlsec", "a whole number of seconds, such as 30s")),
    "rate": (
        lambda text: re.fullmatch(r"(0?\.\d+|[01](\.0*)?)", text) is not None,
        msg("dns.wants-rate", "a number from 0 to 1"),
    ),
    "opcode": (lambda text: text in ("QUERY", "IQUERY", "STATUS", "NOTIFY", "UPDATE"),
               msg("dns.wants-opcode", "an opcode such as QUERY, NOTIFY or UPDATE")),
    "ipport": (lambda text: (_xfr_to(text) and text != "*") or text.startswith("unix://")
               or (_xfr_to(text.split("://", 1)[-1]) and "://" in text),
               msg("dns.wants-ipport", "an IP address or IP:port")),
    "selector": (_selector, msg("dns.wants-selector", "a label selector with balanced brackets")),
}  # fmt: skip


@dataclass(frozen=True)
class Item:
    check: Callable[[str], bool]
    wants: str
    low: int
    high: int | None


def _item(text: str) -> Item:
    quant = text[-1] if text[-1] in "?*+" else ""
    body = text[:-1] if quant else text
    low, high = {"": (1, 1), "?": (0, 1), "*": (0, None), "+": (1, None)}[quant]
    if body[0] in "=~":
        words = body[1:].split("|")
        fold = body[0] == "~"
        allowed = {w.lower() for w in words} if fold else set(words)
        wants: str = msg("dns.wants-one-of", "one of {words}", words=", ".join(words))
        return Item(lambda t: (t.lower() if fold else t) in allowed, wants, low, high)
    if body.startswith("int:"):
        _, lo, hi = body.split(":")
        return Item(_int_range(int(lo) if lo else None, int(hi) if hi else None),
                    _int_wants(lo, hi), low, high)  # fmt: skip
    if body.startswith("dur:"):
        _, shortest, *longest = body.split(":")
        minimum = go_duration(shortest) or 0.0
        if not longest:
            return Item(_dur_min(minimum), msg("dns.wants-duration-min", "a duration of at least {shortest}",
                                               shortest=shortest), low, high)
        maximum = go_duration(longest[0]) or 0.0
        return Item(lambda t: _dur_min(minimum)(t) and (go_duration(t) or 0.0) <= maximum,
                    msg("dns.wants-duration-range", "a duration from {shortest} to {longest}",
                        shortest=shortest, longest=longest[0]), low, high)  # fmt: skip
    check, wants = KINDS[body]
    return Item(check, wants, low, high)


def _int_wants(lo: str, hi: str) -> str:
    if lo and hi:
        return msg("dns.wants-int-range", "a whole number from {lo} to {hi}", lo=lo, hi=hi)
    if lo:
        return msg("dns.wants-int-from", "a whole number from {lo} to any", lo=lo)
    if hi:
        return msg("dns.wants-int-to", "a whole number from any to {hi}", hi=hi)
    return msg("dns.wants-int-any", "a whole number from any to any")


@dataclass(frozen=True)
class Mismatch:
    """Why the arguments do not fit: `index` is the offending argument (== len(args) when one is
    missing), `wants` what was expected there ('' when the line simply has too many)."""

    index: int
    wants: str


def _match(items: list[Item], args: list[str], i: int, a: int, best: list[Mismatch]) -> bool:
    if i == len(items):
        if a == len(args):
            return True
        _note(best, Mismatch(a, ""))
        return False
    item = items[i]
    ends = [a]
    pos, count = a, 0
    while (item.high is None or count < item.high) and pos < len(args) and item.check(args[pos]):
        pos += 1
        count += 1
        ends.append(pos)
    if pos < len(args) and (item.high is None or count < item.high):
        _note(best, Mismatch(pos, item.wants))
    if count < item.low:
        _note(best, Mismatch(pos, item.wants))
        return False
    return any(_match(items, args, i + 1, end, best) for end in reversed(ends[item.low :]))


def _note(best: list[Mismatch], found: Mismatch) -> None:
    if not best or found.index > best[0].index or (found.index == best[0].index and not best[0].wants):
        best[:] = [found]


def match(pattern: str, args: list[str]) -> Mismatch | None:
    """None when `args` fit `pattern` (one of its `||` alternatives), else the furthest mismatch.
    `join:KIND` checks the arguments joined by spaces as one value (a label selector)."""
    if pattern.startswith("join:"):
        check, wants = KINDS[pattern[5:]]
        joined = " ".join(args)
        if not args:
            return Mismatch(0, wants)
        return None if check(joined) else Mismatch(0, wants)
    best: list[Mismatch] = []
    for alternative in pattern.split("||"):
        items = [_item(word) for word in alternative.split()]
        if _match(items, args, 0, 0, best):
            return None
    return best[0] if best else Mismatch(0, "")


@dataclass(frozen=True)
class Grammar:
    """One plugin's argument rules in a range of releases.

    `args`: pattern for the directive's own arguments (None: not checked). `options`: pattern per
    option line (an option not listed is not checked here; unknown options are `plugins.py`'s
    business unless `closed`). `closed`: options not listed are refused. `once`: options CoreDNS
    refuses to see twice. `required`: options that must be present. `data`: pattern for lines
    that are not options (the hosts plugin's `IP NAME...` lines).
    """

    args: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    closed: bool = False
    once: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    data: str | None = None
    block_args: str | None = None
    """Pattern for the arguments when the directive has a block (rewrite's `rewrite stop { ... }`)."""
    conflicts: tuple[tuple[str, str], ...] = ()
    """Pairs of options CoreDNS refuses together."""
    needs: tuple[tuple[str, str], ...] = ()
    """(option, other): CoreDNS refuses `option` without `other`."""
    data_until: str | None = None
    """Data lines after this option are refused as unknown properties (hosts after `fallthrough`)."""


def _g(args: str | None = None, *, closed: bool = False, once: str = "", required: str = "",
       data: str | None = None, block_args: str | None = None, conflicts: str = "", needs: str = "",
       data_until: str | None = None, extra: Mapping[str, str] | None = None,
       **options: str) -> Grammar:  # fmt: skip
    """A Grammar row; `extra` holds options whose names are not Python names (`class`, `min-lease-ttl`)."""
    options = {**options, **(extra or {})}
    return Grammar(
        args,
        options,
        closed,
        frozenset(once.split()),
        frozenset(required.split()),
        data,
        block_args,
        _pairs(conflicts),
        _pairs(needs),
        data_until,
    )


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a, _, b in (pair.partition("/") for pair in text.split()))


V = Version.parse
_ADDR_ONLY = "addr?"

# (plugin, first release this rule applies to, grammar); the newest row not after the target wins.
_RULES: tuple[tuple[str, str, Grammar], ...] = (
    ("errors", "1.0.0", _g("=stdout?", consolidate="dur regex")),
    ("errors", "1.9.0", _g("=stdout?", consolidate="dur regex =warning|error|info|debug?", stacktrace="")),
    ("errors", "1.14.0", _g("=stdout?", consolidate="dur regex =warning|error|info|debug? =show_first?",
                          stacktrace="")),
    ("health", "1.0.0", _g(_ADDR_ONLY, lameduck="dur")),
    ("ready", "1.5.0", _g(_ADDR_ONLY)),
    ("ready", "1.12.2", _g(_ADDR_ONLY, monitor="=until-ready|continuously")),
    ("log", "1.0.0", _g(None, extra={"class": "=all|denial|error|success+"})),
    ("prometheus", "1.0.0", _g(_ADDR_ONLY)),
    ("prometheus", "1.14.3", _g(_ADDR_ONLY, runtime_metrics="", tls="any")),
    ("reload", "1.1.0", _g(" || dur:2s || dur:2s jitter")),
    ("loop", "1.2.1", _g("")),
    ("loadbalance", "1.0.0", _g("=round_robin?")),
    ("loadbalance", "1.10.1", _g("=round_robin? || =weighted any", reload="dur")),
    ("loadbalance", "1.12.4", _g("=round_robin|random? || =weighted any", reload="dur", prefer="cidr+")),
    ("autopath", "1.0.0", _g("zone* resolv")),
    ("cache", "1.0.0", _g("int1? name*", success="int0 int1? int0?", denial="int0 int1? int0?",
                          prefetch="int0 dur? pct?")),
    ("cache", "1.6.6", _g("int1? name*", success="int0 int1? int0?", denial="int0 int1? int0?",
                          prefetch="int0 dur? pct?", serve_stale="dur0?")),
    ("cache", "1.9.4", _g("int1? name*", success="int0 int1? int0?", denial="int0 int1? int0?",
                          prefetch="int0 dur? pct?", serve_stale="dur0? ~immediate|verify?",
                          servfail="dur:0s:5m", disable="=success|denial zone*")),
    ("cache", "1.10.1", _g("int1? name*", success="int0 int1? int0?", denial="int0 int1? int0?",
                           prefetch="int0 dur? pct?", serve_stale="dur0? ~immediate|verify?",
                           servfail="dur:0s:5m", disable="=success|denial zone*", keepttl="")),
    ("cache", "1.14.7", _g("int1? name*", success="int0 int1? int0?", denial="int0 int1? int0?",
                           prefetch="int0 dur? pct?",
                           serve_stale="dur0? || dur0 ~immediate || dur0 ~immediate ttlsec dur:0s:5m? "
                                       "|| dur0 ~verify dur0? "
                                       "|| dur0 ~verify dur0 ttlsec dur:0s:5m?",
                           servfail="dur:0s:5m", disable="=success|denial zone*", keepttl="",
                           serve_stale_policy="~prefer_positive", once="serve_stale_policy",
                           needs="serve_stale_policy/serve_stale")),
    ("forward", "1.0.5", _g("zone any* ||", except_="zone+", force_tcp="", expire="dur", max_fails="int0",
                            tls="any? any? any?", tls_servername="any",
                            policy="=random|round_robin|sequential", health_check="dur")),
    ("forward", "1.2.0", _g("zone any* ||", except_="zone+", force_tcp="", prefer_udp="", expire="dur",
                            max_fails="int0", tls="any? any? any?", tls_servername="any",
                            policy="=random|round_robin|sequential", health_check="dur")),
    ("forward", "1.6.8", _g("zone any* ||", except_="zone+", force_tcp="", prefer_udp="", expire="dur",
                            max_fails="int0", tls="any? any? any?", tls_servername="any",
                            policy="=random|round_robin|sequential", health_check="dur",
                            max_concurrent="int0")),
    ("forward", "1.8.4", _g("zone any* ||", except_="zone+", force_tcp="", prefer_udp="", expire="dur",
                            max_fails="int0", tls="any? any? any?", tls_servername="any",
                            policy="=random|round_robin|sequential", health_check="dur =no_rec?",
                            max_concurrent="int0")),
    ("forward", "1.11.0", _g("zone any* ||", except_="zone+", force_tcp="", prefer_udp="", expire="dur",
                             max_fails="int0", tls="any? any? any?", tls_servername="any",
                             policy="=random|round_robin|sequential",
                             health_check="dur =no_rec? || dur =no_rec? =domain zone",
                             max_concurrent="int0", next="any+", failfast_all_unhealthy_upstreams="",
                             failover="any+", max_connect_attempts="int0", max_idle_conns="int0",
                             max_age="dur0", read_timeout="dur1", source_address="ip", resolver="any+")),
    ("kubernetes", "1.0.0", _g("zone*", endpoint="any+", tls="any any any", namespaces="any+",
                               labels="join:selector",
                               pods="=disabled|insecure|verified", ttl="int:0:3600", resyncperiod="dur",
                               noendpoints="", endpoint_pod_names="", ignore="=empty_service any*",
                               kubeconfig="any any?", namespace_labels="join:selector", upstream="any*",
                               fallthrough="zone*", transfer="any*", multicluster="zone*",
                               startup_timeout="dur", apiserver_qps="float0", apiserver_burst="int0",
                               apiserver_max_inflight="int0", zonal="",
                               conflicts="namespaces/namespace_labels zonal/noendpoints")),
    ("k8s_external", "1.3.0", _g("zone*", apex="any", ttl="int:0:3600", headless="", fallthrough="zone*")),
    ("transfer", "1.6.5", _g("zone*", to="xfrto+", required="to")),
    ("transfer", "1.14.5", _g("zone*", to="xfrto+", source="ip", required="to", once="source")),
    ("etcd", "1.0.0", _g("zone*", credentials="any any", path="any", tls="any? any? any?", endpoint="any+")),
    ("etcd", "1.12.4", _g("zone*", credentials="any any", path="any", tls="any? any? any?", endpoint="any+",
                          extra={"min-lease-ttl": "any", "max-lease-ttl": "any"})),
    ("hosts", "1.0.0", _g("any? zone*", fallthrough="zone*", data_until="fallthrough")),
    ("hosts", "1.4.0", _g("any? zone*", reload="dur0", ttl="int:1:65535", no_reverse="", fallthrough="zone*",
                          data_until="fallthrough")),
    ("hosts", "1.14.7", _g("any? zone*", reload="dur0", ttl="int:1:65535", no_reverse="", fallthrough="zone*",
                           fallthrough_unsupported="", needs="fallthrough_unsupported/fallthrough",
                           data_until="fallthrough")),
    ("template", "1.0.3", _g("=IN|CS|CH|HS|NONE|ANY qtype zone*", answer="gotmpl+", additional="gotmpl+",
                             authority="gotmpl+", rcode="rcode", ederror="int0 any?", match="regex+",
                             fallthrough="zone*",
                             upstream="any*")),
    ("rewrite", "1.0.0", _g("=stop|continue? any any any*", block_args="=stop|continue?")),
    ("grpc", "1.5.0", _g("zone ipport+", except_="zone+", tls="any? any? any?", tls_servername="any",
                         policy="=random|round_robin|sequential", fallthrough="zone*", closed=True)),
    ("proxy", "1.0.0", _g("zone any+", policy="=random|least_conn|round_robin|first|sequential",
                          fail_timeout="dur", max_fails="int", health_check="addr dur?", except_="zone+",
                          spray="", protocol="=dns|grpc|https_google any*")),
    ("federation", "1.0.0", _g("zone*", data="any any", upstream="any*")),
    ("pprof", "1.0.0", _g(_ADDR_ONLY)),
    ("pprof", "1.6.0", _g("addr? int0?", block="int0?", closed=True)),
    ("nsid", "1.0.1", _g("any*")),
    ("quic", "1.12.2", _g("", max_streams="int1", worker_pool_size="int1", closed=True,
                          once="max_streams worker_pool_size")),
    ("https", "1.14.0", _g("", max_connections="int0", closed=True, once="max_connections")),
    ("https3", "1.14.0", _g("", max_streams="int0", closed=True, once="max_streams")),
    ("grpc_server", "1.14.0", _g("", max_streams="int0", max_connections="int0", closed=True,
                                 once="max_streams max_connections")),
    ("shed", "1.14.7", _g("", closed=True)),
    ("metadata", "1.2.0", _g("zone*", closed=True)),
    ("dns64", "1.7.0", _g("dns64?", prefix="dns64", translate_all="", allow_ipv4="", closed=True)),
    ("bufsize", "1.6.6", _g("int:512:4096?")),
    ("erratic", "1.0.0", _g("", drop="int0?", truncate="int0?", delay="int0? dur?", large="", closed=True)),
    ("proxyproto", "1.14.2", _g("", allow="cidr*", default="=use|ignore|reject|skip",
                                udp_session_tracking="dur1 int1?", closed=True)),
    ("view", "1.10.0", _g("any", expr="any+", closed=True)),
    ("chaos", "1.0.0", _g("any*", closed=True)),
    ("dnssec", "1.0.0", _g("zone*", key="=file any+", cache_capacity="int0", closed=True)),
    ("tsig", "1.9.4", _g("zone*", secret="any any", secrets="any", require="=all|none || qtype+",
                       require_opcode="=all|none || opcode+", closed=True)),
    ("header", "1.8.5", _g("", set="~aa|ra|rd+", clear="~aa|ra|rd+", closed=True)),
    ("header", "1.9.4", _g("", set="~aa|ra|rd+", clear="~aa|ra|rd+", query="=set|clear ~aa|ra|rd+",
                           response="=set|clear ~aa|ra|rd+", closed=True)),
    ("header", "1.12.4", _g("", query="=set|clear ~aa|ra|rd+", response="=set|clear ~aa|ra|rd+",
                            closed=True)),
    ("trace", "1.0.0", _g("any? || =zipkin|datadog any", every="int0", service="any",
                          client_server="=true|false?", datadog_analytics_rate="rate", closed=True,
                          zipkin_max_backlog_size="int0",
                          zipkin_max_batch_size="int0", zipkin_max_batch_interval="dur")),
    ("secondary", "1.0.0", _g("zone*", transfer="=from|to any+")),
    ("secondary", "1.14.7", _g("zone*", transfer="=from|to any+", fallthrough="zone*", catalog="zone*",
                               closed=True, required="transfer")),
    ("file", "1.0.0", _g("any zone*")),
    ("auto", "1.0.0", _g("zone*", directory="any || any regex any || any regex any dur")),
    ("nomad", "1.13.0", _g("zone*", address="any+", token="any", ttl="int:0:3600", filter="any+",
                           closed=True)),
)  # fmt: skip


def _fix_keywords(grammar: Grammar) -> Grammar:
    """`except_` in the table above stands for the `except` option (a Python keyword)."""
    if "except_" not in grammar.options:
        return grammar
    options = {("except" if k == "except_" else k): v for k, v in grammar.options.items()}
    return dataclasses.replace(grammar, options=options)


def _by_plugin() -> dict[str, tuple[tuple[Version, Grammar], ...]]:
    table: dict[str, tuple[tuple[Version, Grammar], ...]] = {}
    for plugin, since, grammar in _RULES:
        table[plugin] = (*table.get(plugin, ()), (V(since), _fix_keywords(grammar)))
    return table


GRAMMARS: Mapping[str, tuple[tuple[Version, Grammar], ...]] = _by_plugin()
"""plugin → (first release, grammar) rows, oldest first."""


def grammar_for(plugin: str, version: Version) -> Grammar | None:
    """The rules CoreDNS `version`'s setup applies to `plugin`, or None when the wizard has none."""
    chosen = None
    for since, grammar in GRAMMARS.get(plugin, ()):
        if since <= version.release:
            chosen = grammar
    return chosen
