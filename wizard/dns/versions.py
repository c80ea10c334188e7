"""Which CoreDNS version suits a cluster, and the version arithmetic behind that choice.

The wizard never guesses silently: every recommendation names the table it came from
(kubeadm's, or the vendor's when the cluster pulls kube-dns from the vendor's registry) so the
operator can check it, and lists what the other tables would pick. Facts: coredns-facts.md §1.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from wizard.errors import InputError
from wizard.i18n import Message, msg

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?([-+.~_][0-9A-Za-z.+~_-]*)?$")


class Version(NamedTuple):
    """A version such as 1.8.4, v1.8.4 or 1.11.1-tke.1, ordered numerically (a NamedTuple, not a
    dataclass: `versions` and `--help` then start without importing dataclasses and inspect).

    `suffix` keeps a vendor build tag (`-tke.1`); it sorts after the plain release, but every
    compatibility rule looks at `release` only, because a vendor rebuild carries the same plugins.
    """

    major: int
    minor: int
    patch: int = 0
    suffix: str = ""

    @classmethod
    def parse(cls, text: str, what: str = "CoreDNS version", *, need_patch: bool = True) -> Version:
        """Parse `text`; InputError naming `what` and the value when it is not a version."""
        match = _VERSION_RE.match(text.strip())
        if match is None or (need_patch and match.group(3) is None):
            if what == "CoreDNS version":
                what = msg("dns.what-coredns-version", "CoreDNS version")
            if need_patch:
                raise InputError(msg(
                    "dns.not-a-version",
                    "{what} {text} is not a version like 1.8.4 "
                    "(a leading 'v' and a suffix such as '-tke.1' are allowed); give MAJOR.MINOR.PATCH",
                    what=what, text=repr(text),
                ))
            raise InputError(msg(
                "dns.not-a-minor-version",
                "{what} {text} is not a version like 1.22 or 1.22.3 "
                "(a leading 'v' and a suffix such as '-tke.1' are allowed); give MAJOR.MINOR[.PATCH]",
                what=what, text=repr(text),
            ))
        major, minor, patch, suffix = match.groups()
        return cls(int(major), int(minor), int(patch or 0), suffix or "")

    @property
    def release(self) -> Version:
        """The same version without a vendor suffix (what the compatibility tables are about)."""
        return Version(self.major, self.minor, self.patch)

    @property
    def minor_line(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}{self.suffix}"


def as_version(value: str | Version, what: str = "CoreDNS version") -> Version:
    """Accept either a parsed Version or its text, so callers can pass what the operator typed."""
    return value if isinstance(value, Version) else Version.parse(value, what)


def parse_kubernetes_version(text: str) -> Version:
    """Kubernetes versions come as 1.22, v1.22.3, v1.22.3-tke.5 or 1.22+ (GKE's minor): all fine."""
    cleaned = text.strip()
    if re.fullmatch(r"v?\d+\.\d+\+", cleaned):
        cleaned = cleaned[:-1]
    return Version.parse(cleaned, msg("dns.what-kubernetes-version", "Kubernetes version"), need_patch=False)


# Every CoreDNS release the wizard has plugin data for (the coredns/coredns release tags).
# 1.8.1 and 1.8.2 are tags without published images (coredns/corefile-migration says so), and
# there is no 1.11.2, so none of them is offered.
KNOWN_COREDNS_VERSIONS: tuple[str, ...] = (
    "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6",
    "1.1.0", "1.1.1", "1.1.2", "1.1.3", "1.1.4",
    "1.2.0", "1.2.1", "1.2.2", "1.2.3", "1.2.4", "1.2.5", "1.2.6",
    "1.3.0", "1.3.1", "1.4.0", "1.5.0", "1.5.1", "1.5.2",
    "1.6.0", "1.6.1", "1.6.2", "1.6.3", "1.6.4", "1.6.5", "1.6.6", "1.6.7", "1.6.8", "1.6.9",
    "1.7.0", "1.7.1", "1.8.0", "1.8.3", "1.8.4", "1.8.5", "1.8.6", "1.8.7",
    "1.9.0", "1.9.1", "1.9.2", "1.9.3", "1.9.4", "1.10.0", "1.10.1",
    "1.11.0", "1.11.1", "1.11.3", "1.11.4",
    "1.12.0", "1.12.1", "1.12.2", "1.12.3", "1.12.4", "1.13.0", "1.13.1", "1.13.2",
    "1.14.0", "1.14.1", "1.14.2", "1.14.3", "1.14.4", "1.14.5", "1.14.6", "1.14.7",
)  # fmt: skip

OLDEST_KNOWN = Version.parse(KNOWN_COREDNS_VERSIONS[0])
NEWEST_KNOWN = Version.parse(KNOWN_COREDNS_VERSIONS[-1])

MIN_KUBERNETES = Version(1, 12)
"""The seed procedure's precondition (procedure.md, stage 1)."""

# CoreDNS 1.11.0 dropped the Endpoints fallback and needs EndpointSlice v1 (Kubernetes 1.21).
_MIN_KUBERNETES_FOR_COREDNS: tuple[tuple[Version, Version], ...] = ((Version(1, 11, 0), Version(1, 21)),)


def min_kubernetes_for(coredns: str | Version) -> Version:
    """The oldest Kubernetes this CoreDNS release still runs on (as far as the wizard knows)."""
    release = as_version(coredns).release
    needed = MIN_KUBERNETES
    for since, k8s in _MIN_KUBERNETES_FOR_COREDNS:
        if release >= since:
            needed = max(needed, k8s)
    return needed


class VersionTable(NamedTuple):
    """A published Kubernetes minor → CoreDNS mapping.

    `rows` hold (Kubernetes minor, CoreDNS). A Kubernetes minor between two rows uses the row
    below it (vendors list only the minors they ship). `open_ended`: the last row applies to every
    newer Kubernetes too (the vendor says "1.24 or newer"); otherwise a newer cluster is
    "newer than the table".
    """

    source: str
    rows: tuple[tuple[tuple[int, int], str], ...]
    open_ended: bool = False

    @property
    def newest_kubernetes(self) -> tuple[int, int]:
        return self.rows[-1][0]

    def lookup(self, k8s: Version) -> tuple[str, str] | None:
        """(CoreDNS version, how the row was found) or None when the table says nothing."""
        minor = k8s.minor_line
        if minor < self.rows[0][0]:
            return None
        if minor > self.newest_kubernetes and not self.open_ended:
            return None
        chosen_minor, coredns = max((row for row in self.rows if row[0] <= minor), key=lambda row: row[0])
        if chosen_minor == minor:
            how = msg("dns.table-row", "its row for Kubernetes {k8s} → {coredns}",
                      k8s=_minor_text(minor), coredns=coredns)
        elif minor > self.newest_kubernetes:
            how = msg("dns.table-row-or-newer", "its row for Kubernetes {k8s} or newer → {coredns}",
                      k8s=_minor_text(chosen_minor), coredns=coredns)
        else:
            how = msg(
                "dns.table-row-below",
                "it has no row for Kubernetes {k8s}, so its row for {row} applies → {coredns}",
                k8s=_minor_text(minor), row=_minor_text(chosen_minor), coredns=coredns,
            )
        return coredns, how


def _minor_text(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def _rows(*pairs: tuple[str, str]) -> tuple[tuple[tuple[int, int], str], ...]:
    out = []
    for k8s, coredns in pairs:
        major, minor = k8s.split(".")
        out.append(((int(major), int(minor)), coredns))
    return tuple(out)


KUBEADM_TABLE = VersionTable(
    source=msg("dns.source-kubeadm", "kubeadm's table (coredns/deployment CoreDNS-k8s_version.md)"),
    rows=_rows(
        ("1.12", "1.2.2"), ("1.13", "1.2.6"), ("1.14", "1.3.1"), ("1.15", "1.3.1"),
        ("1.16", "1.6.2"), ("1.17", "1.6.5"), ("1.18", "1.6.7"), ("1.19", "1.7.0"),
        ("1.20", "1.7.0"), ("1.21", "1.8.0"), ("1.22", "1.8.4"), ("1.23", "1.8.6"),
        ("1.24", "1.8.6"), ("1.25", "1.9.3"), ("1.26", "1.9.3"), ("1.27", "1.10.1"),
        ("1.28", "1.10.1"), ("1.29", "1.11.1"), ("1.30", "1.11.1"), ("1.31", "1.11.3"),
        ("1.32", "1.11.3"),
    ),
)

TKE_TABLE = VersionTable(
    source=msg("dns.source-tke", "the TKE DNS best-practice table"),
    rows=_rows(
        ("1.14", "1.6.2"), ("1.16", "1.6.2"), ("1.18", "1.7.0"), ("1.20", "1.8.4"),
        ("1.22", "1.8.4"), ("1.24", "1.11.1"),
    ),
    open_ended=True,
)

ACK_TABLE = VersionTable(
    source=msg("dns.source-ack", "Alibaba ACK's table"),
    rows=_rows(("1.12", "1.2.6"), ("1.14", "1.3.1"), ("1.16", "1.6.2"), ("1.18", "1.6.7")),
)

TKE_REGISTRY_DOMAIN = "tencentyun.com"


def registry_host(image: str) -> str | None:
    """The registry host of an image reference, lower-cased, or None for Docker Hub images.

    `ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.x` → `ccr.ccs.tencentyun.com`;
    `kubedns:1.14` and `library/kubedns` → None. Follows the Docker rule: the first path part is a
    host when it has a dot or a port, or is `localhost`.
    """
    text = image.strip()
    if not text or any(ch.isspace() for ch in text) or text.startswith("/"):
        raise InputError(msg(
            "dns.kube-dns-image-invalid",
            "kube-dns image {image} is not an image reference; give e.g. registry/path/name:tag",
            image=repr(image),
        ))
    if "/" not in text:
        return None
    first = text.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return first.lower()
    return None


def is_tke_registry(host: str | None) -> bool:
    """True for the seed vendor's registries (ccr.ccs.tencentyun.com, hkccr.ccs.tencentyun.com, ...)."""
    if host is None:
        return False
    name = host.split(":", 1)[0].lower()
    return name == TKE_REGISTRY_DOMAIN or name.endswith("." + TKE_REGISTRY_DOMAIN)


class Recommendation(NamedTuple):
    """One CoreDNS version to install, the table it came from, why, and what else is reasonable."""

    version: str
    source: str
    reason: str
    alternatives: list[tuple[str, str]]
    """(version, source) pairs from the other tables, each version once, never the recommended one."""


def newest_supporting(k8s: Version) -> str:
    """The newest known CoreDNS release that runs on this Kubernetes version."""
    for text in reversed(KNOWN_COREDNS_VERSIONS):
        if min_kubernetes_for(text) <= k8s.release:
            return text
    return KNOWN_COREDNS_VERSIONS[0]


def recommend(k8s_version: str, kube_dns_image: str | None = None) -> Recommendation:
    """Pick the CoreDNS version for a cluster running `k8s_version`.

    The vendor's table wins when kube-dns is pulled from the vendor's registry (its images are
    what that registry carries); kubeadm's table otherwise, and whenever the vendor's table has no
    answer. A Kubernetes newer than kubeadm's table gets the newest known release that supports it.
    """
    k8s = parse_kubernetes_version(k8s_version)
    if k8s.release < MIN_KUBERNETES:
        raise InputError(msg(
            "dns.kubernetes-too-old",
            "Kubernetes version {version} is older than 1.12: the kube-dns → CoreDNS switch "
            "procedure needs Kubernetes 1.12 or newer; upgrade the cluster first",
            version=repr(k8s_version),
        ))
    host = registry_host(kube_dns_image) if kube_dns_image else None
    vendor = is_tke_registry(host)

    candidates: list[tuple[str, str, str]] = []  # (version, source, reason)
    vendor_pick = TKE_TABLE.lookup(k8s)
    if vendor and vendor_pick is not None:
        version, how = vendor_pick
        candidates.append(
            (
                version,
                _now(TKE_TABLE.source),
                msg("dns.reason-tke-registry",
                    "kube-dns comes from the TKE registry {host}, so the TKE table applies: {how}",
                    host=host, how=how),
            )
        )
    candidates.extend(_kubeadm_candidates(k8s, vendor and vendor_pick is None))
    if not vendor and vendor_pick is not None:
        candidates.append((vendor_pick[0], _now(TKE_TABLE.source), vendor_pick[1]))
    ack_pick = ACK_TABLE.lookup(k8s)
    if ack_pick is not None:
        candidates.append((ack_pick[0], _now(ACK_TABLE.source), ack_pick[1]))

    version, source, reason = candidates[0]
    alternatives: list[tuple[str, str]] = []
    seen = {version}
    for alt_version, alt_source, _ in candidates[1:]:
        if alt_version not in seen:
            seen.add(alt_version)
            alternatives.append((alt_version, alt_source))
    return Recommendation(version=version, source=source, reason=reason, alternatives=alternatives)


def _kubeadm_candidates(k8s: Version, vendor_table_silent: bool) -> list[tuple[str, str, str]]:
    """kubeadm's pick for `k8s`; beyond its table, the newest known release that supports `k8s`
    first and the table's newest row after it."""
    kubeadm_pick = KUBEADM_TABLE.lookup(k8s)
    if kubeadm_pick is not None:
        version, how = kubeadm_pick
        why = msg("dns.reason-kubeadm", "kubeadm's table: {how}", how=how)
        if vendor_table_silent:
            why = msg("dns.reason-kubeadm-tke-silent",
                      "kubeadm's table: {how} (the TKE table starts at Kubernetes {tke})",
                      how=how, tke=_minor_text(TKE_TABLE.rows[0][0]))
        return [(version, _now(KUBEADM_TABLE.source), why)]
    newest = newest_supporting(k8s)
    needs = _minor_text(min_kubernetes_for(newest).minor_line)
    newest_row = KUBEADM_TABLE.rows[-1][1]
    return [
        (
            newest,
            msg("dns.source-newest-known", "the newest CoreDNS release the wizard knows"),
            msg(
                "dns.reason-beyond-kubeadm",
                "Kubernetes {k8s} is newer than kubeadm's table (which ends at {last}); {newest} is the "
                "newest known CoreDNS release that supports it (it needs Kubernetes {needs} or newer)",
                k8s=_minor_text(k8s.minor_line), last=_minor_text(KUBEADM_TABLE.newest_kubernetes),
                newest=newest, needs=needs,
            ),
        ),
        (
            newest_row,
            _now(KUBEADM_TABLE.source),
            msg("dns.reason-kubeadm-newest-row", "its newest row (Kubernetes {k8s}) → {coredns}",
                k8s=_minor_text(KUBEADM_TABLE.newest_kubernetes), coredns=newest_row),
        ),
    ]


def _now(text: str) -> str:
    """A table's source (made when the module was imported) as a Message in the current language."""
    return Message(text.id, text.template, text.params) if isinstance(text, Message) else text
