"""kube-dns's customisations, read the way kube-dns itself reads them, so nothing is lost in the switch.

Two objects carry them: the `kube-system/kube-dns` ConfigMap (stubDomains, upstreamNameservers,
federations) and the kube-dns Deployment (the cluster domain on the kubedns container, extra
`--server=` forwarding on the dnsmasq container, the image whose registry the CoreDNS image
should come from). Both arrive either as `kubectl get ... -o yaml` files or as dicts from the API.

Validation mirrors kube-dns (kubernetes/dns `pkg/dns/config/sync.go`, processUpdate): kube-dns
reads `federations` only as `name=domain[,name2=domain2]`, and when any key is invalid it logs
"Invalid configuration for KEY, ignoring update" and ignores the WHOLE ConfigMap (a kube-dns started
with it runs on its defaults). So by default this module returns what was live: the defaults plus one
warning saying why (`KubeDNSConfig.ignored_by_kube_dns`). Asked to read the configuration as written
(`written=True`), it accepts the JSON federations the guide and kubeadm write, and a value that no
one could translate is an InputError naming the object, the key and the value.

What was live also depends on the Deployment's shape (kubernetes/dns): only dnsmasq-nanny reads
stubDomains (kubedns reads upstreamNameservers and federations), so without a dnsmasq container they
were never served and are left out with a warning (kept with `written=True`); and a dnsmasq
`--server` that sends a zone to the kubedns container itself (kops's `/in6.arpa/127.0.0.1#10053`)
is kube-dns's own wiring, which the Corefile's main block replaces, not a loopback forward.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.dns.corefile.keys import port_number
from wizard.errors import InputError
from wizard.i18n import msg
from wizard.textsafety import short_quote

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
"""kube-dns's own `--domain` default (kubernetes/dns cmd/kube-dns/app/options): what a kubedns
container started without the flag serves. A fact about kube-dns, not a guess for a cluster."""
CONFIGMAP_NAME = "ConfigMap kube-system/kube-dns"
DEPLOYMENT_NAME = "Deployment kube-system/kube-dns"
MAX_UPSTREAMS = 3
"""kube-dns refuses more than three upstreamNameservers (validateUpstreamNameserver)."""

KNOWN_KEYS = ("stubDomains", "upstreamNameservers", "federations")

# Kubernetes' IsDNS1123Label / IsDNS1123Subdomain, written from their documented rules.
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _LABEL_RE.match(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and _SUBDOMAIN_RE.match(value) is not None


def is_ip(value: str) -> bool:
    """True for a plain IPv4/IPv6 literal, as Go's net.ParseIP accepts it (no zone, no brackets)."""
    if "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Nameserver:
    """One nameserver as kube-dns accepted it: an IP (with an optional port) or a host name."""

    host: str
    """An IP literal without brackets, or a host name."""
    port: int | None = None
    raw: str = ""

    @property
    def is_ip(self) -> bool:
        return is_ip(self.host)

    def is_cluster_service(self, cluster_domain: str) -> bool:
        """`consul-dns.consul.svc.cluster.local`: a Service name only the cluster's own DNS knows."""
        name = self.host.lower().rstrip(".")
        suffix = f".svc.{cluster_domain}"
        return not self.is_ip and name.endswith(suffix) and name[: -len(suffix)].count(".") == 1

    @property
    def is_ipv6(self) -> bool:
        return self.is_ip and ":" in self.host

    def forward_target(self) -> str:
        """The address as CoreDNS's `forward` takes it. IPv6 is always written `[addr]:port` so a
        reader never has to guess where the address ends; kube-dns's default port is 53."""
        if self.is_ipv6:
            return f"[{self.host}]:{self.port or 53}"
        return self.host if self.port is None else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DnsmasqServer:
    """One `--server=/zone[/zone...]/address[#port]` argument of kube-dns's dnsmasq container."""

    zones: tuple[str, ...]
    nameserver: Nameserver
    raw: str


@dataclass(frozen=True)
class KubeDNSConfig:
    """Everything the translation to a Corefile needs, already validated."""

    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    """Without a trailing dot."""
    stub_domains: dict[str, list[Nameserver]] = field(default_factory=dict)
    upstreams: list[Nameserver] = field(default_factory=list)
    federations: dict[str, str] = field(default_factory=dict)
    dnsmasq_servers: list[DnsmasqServer] = field(default_factory=list)
    image: str | None = None
    """The kubedns container's image, whose registry host the CoreDNS image may reuse."""
    has_dnsmasq: bool | None = None
    """Whether the Deployment runs a dnsmasq container (None: no Deployment was read). Without one,
    kubedns alone serves port 53 and nothing reads the ConfigMap's stubDomains."""
    configmap_source: str = CONFIGMAP_NAME
    deployment_source: str = DEPLOYMENT_NAME
    notes: list[str] = field(default_factory=list)
    """Things read but deliberately not carried over (unknown keys, kube-dns's internal wiring)."""
    ignored_by_kube_dns: str | None = None
    """Why kube-dns ignores the ConfigMap as a whole (then stub domains, upstreams and federations are
    kube-dns's defaults: none), or None when kube-dns applies it."""


# ---------------------------------------------------------------- files


def load_yaml_file(path: str | Path, what: str) -> dict[str, Any]:
    """Read one YAML object from a file (as `kubectl get ... -o yaml` prints it), within the limits
    of `wizard.safe_load` (size, nesting, aliases; regular files only)."""
    from wizard.safe_load import load_yaml_documents, read_text

    p = Path(path)
    text = read_text(p, what)
    docs = [d for d in load_yaml_documents(text, str(p)) if d is not None]
    if len(docs) != 1:
        raise InputError(msg("dns.yaml-document-count", "{path}: holds {count} YAML documents; expected "
                                                        "exactly one {what}",
                             path=str(p), count=len(docs), what=what))
    doc = docs[0]
    if not isinstance(doc, dict):
        raise InputError(msg("dns.yaml-not-object", "{path}: is a YAML {type}, not a {what} object",
                             path=str(p), type=_yaml_type(doc), what=what))
    return doc


def read_kube_dns_files(
    configmap_path: str | Path | None,
    deployment_path: str | Path | None = None,
    *,
    cluster_domain: str | None = None,
    written: bool = False,
) -> KubeDNSConfig:
    """The command line's entry point: both objects from files, each named by its path in messages."""
    cm = load_yaml_file(configmap_path, "kube-dns ConfigMap") if configmap_path is not None else None
    dep = load_yaml_file(deployment_path, "kube-dns Deployment") if deployment_path is not None else None
    return read_kube_dns_config(
        cm,
        dep,
        configmap_source=str(configmap_path) if configmap_path is not None else CONFIGMAP_NAME,
        deployment_source=str(deployment_path) if deployment_path is not None else DEPLOYMENT_NAME,
        require_kind=True,
        cluster_domain=cluster_domain,
        written=written,
    )


# ---------------------------------------------------------------- objects


def read_kube_dns_config(
    configmap: Mapping[str, Any] | None,
    deployment: Mapping[str, Any] | None = None,
    *,
    configmap_source: str = CONFIGMAP_NAME,
    deployment_source: str = DEPLOYMENT_NAME,
    require_kind: bool = False,
    cluster_domain: str | None = None,
    written: bool = False,
) -> KubeDNSConfig:
    """Validate and combine the ConfigMap and Deployment (either may be absent).

    `cluster_domain` overrides the Deployment's `--domain=`; dicts from the API may lack `kind`
    (the Python client's list results do), files may not (`require_kind`). By default the ConfigMap
    is read as kube-dns reads it (see the module docstring); `written=True` reads what it says.
    """
    notes: list[str] = []
    shape = KubeDNSDeployment()
    if deployment is not None:
        shape = parse_deployment(deployment, deployment_source, require_kind)
        notes += shape.notes
    domain = _cluster_domain(shape, deployment is not None, cluster_domain, deployment_source, notes)

    stubs: dict[str, list[Nameserver]] = {}
    upstreams: list[Nameserver] = []
    federations: dict[str, str] = {}
    ignored: str | None = None
    if configmap is not None:
        data = configmap_data(configmap, configmap_source, require_kind)
        for key in data:
            if key not in KNOWN_KEYS:
                notes.append(msg(
                    "dns.unknown-configmap-key",
                    "{source}: key {key} is not one kube-dns reads; it is not carried over",
                    source=configmap_source, key=short_quote(key),
                ))
        ignored = kube_dns_refusal(data, configmap_source)
        if ignored is None or written:
            stubs = parse_stub_domains(data.get("stubDomains", ""), configmap_source, domain)
            upstreams = parse_upstream_nameservers(data.get("upstreamNameservers", ""), configmap_source)
            federations = parse_federations(data.get("federations", ""), configmap_source)
        if ignored is not None:
            notes.append(_ignored_warning(configmap_source, ignored, written))
        if stubs:
            stubs = _served_stub_domains(stubs, shape.has_dnsmasq, configmap_source, deployment_source,
                                         written, notes)
    return KubeDNSConfig(
        cluster_domain=domain,
        stub_domains=stubs,
        upstreams=upstreams,
        federations=federations,
        dnsmasq_servers=shape.dnsmasq_servers,
        image=shape.image,
        has_dnsmasq=shape.has_dnsmasq,
        configmap_source=configmap_source,
        deployment_source=deployment_source,
        notes=notes,
        ignored_by_kube_dns=ignored,
    )


def _cluster_domain(
    shape: KubeDNSDeployment, has_deployment: bool, cluster_domain: str | None, deployment_source: str,
    notes: list[str],
) -> str:
    """The Deployment's `--domain=` (kube-dns's built-in default without one), or `--cluster-domain`
    when given (with a note when it differs from the Deployment's)."""
    domain = shape.domain if shape.domain is not None else DEFAULT_CLUSTER_DOMAIN
    if cluster_domain is None:
        return domain
    override = normalize_cluster_domain(cluster_domain, "--cluster-domain")
    if has_deployment and override != domain:
        notes.append(msg(
            "dns.cluster-domain-override",
            "--cluster-domain {override} overrides the domain {domain} that {deployment} uses",
            override=override, domain=domain, deployment=deployment_source,
        ))
    return override


def kube_dns_refusal(data: Mapping[str, str], source: str) -> str | None:
    """Why kube-dns ignores this ConfigMap data as a whole (its processUpdate returns an error on the
    first invalid key), or None when it applies it. Only the three keys kube-dns reads count."""
    try:
        if "federations" in data:
            parse_federations(data["federations"], source, kube_dns_syntax_only=True)
        if "stubDomains" in data:
            parse_stub_domains(data["stubDomains"], source, None)
        if "upstreamNameservers" in data:
            parse_upstream_nameservers(data["upstreamNameservers"], source)
    except InputError as err:
        return str(err).removeprefix(f"{source}: ")
    return None


def _served_stub_domains(
    stubs: dict[str, list[Nameserver]],
    has_dnsmasq: bool | None,
    configmap_source: str,
    deployment_source: str,
    written: bool,
    notes: list[str],
) -> dict[str, list[Nameserver]]:
    """The stub domains kube-dns really forwarded. Only dnsmasq-nanny turns stubDomains into dnsmasq
    `--server=/domain/ns` lines (kubernetes/dns pkg/dnsmasq/nanny.go); kubedns reads only
    upstreamNameservers and federations (pkg/dns/dns.go) and its SkyDNS never fills its stub table,
    so a kube-dns without a dnsmasq container sent those domains to its upstreams like any other
    name. Carrying them over would change their answers at the switch."""
    listed = ", ".join(sorted(stubs))
    key = msg("dns.where-stubdomains-key", "{source}: key stubDomains ({listed})", source=configmap_source,
              listed=listed)
    if has_dnsmasq is None:
        notes.append(msg(
            "dns.stubs-assume-dnsmasq",
            "{key}: carried over on the assumption that kube-dns runs a dnsmasq container (only "
            "dnsmasq-nanny reads stubDomains); give the kube-dns Deployment to check it",
            key=key,
        ))
        return stubs
    if has_dnsmasq:
        return stubs
    why = msg(
        "dns.stubs-no-dnsmasq-why",
        "{deployment} has no dnsmasq container, and only dnsmasq-nanny reads stubDomains: kubedns "
        "alone sent these domains to its upstreams like any other name",
        deployment=deployment_source,
    )
    if written:
        notes.append(msg(
            "dns.stubs-written-kept",
            "{key}: carried over as written, as asked, although kube-dns never served them ({why}); "
            "DNS answers for these domains change at the switch",
            key=key, why=why,
        ))
        return stubs
    notes.append(msg(
        "dns.stubs-left-out",
        "{key}: left out of the Corefile, because kube-dns never served them ({why}); CoreDNS sends them "
        "to the same upstreams, so answers do not change. To forward them as written instead (answers then "
        "change at the switch), use --translate-written-config",
        key=key, why=why,
    ))
    return {}


def _ignored_warning(source: str, reason: str, written: bool) -> str:
    """The one warning that says kube-dns never applied the ConfigMap, and what the Corefile holds."""
    log = '"Invalid configuration ..., ignoring update"'  # kube-dns's own log line: English
    params = dict(source=source, log=log, reason=reason.rstrip("."))
    if written:
        return msg(
            "dns.configmap-ignored-written",
            "{source}: kube-dns ignores this whole ConfigMap and runs with its defaults ({log}), because "
            "{reason}. Translating the configuration as written, as asked: its stub domains, upstreams and "
            "federations were NOT live under kube-dns, so DNS answers change at the switch",
            **params,
        )
    return msg(
        "dns.configmap-ignored",
        "{source}: kube-dns ignores this whole ConfigMap and runs with its defaults ({log}), because "
        "{reason}. The Corefile keeps what was live: no stub domains or federations, upstreams from the "
        "node's /etc/resolv.conf. To carry the written configuration over instead (DNS answers then "
        "change at the switch), use --translate-written-config",
        **params,
    )


def _check_kind(obj: Mapping[str, Any], expected: str, source: str, require_kind: bool, hint: str) -> None:
    kind = obj.get("kind")
    if kind is None and not require_kind:
        return
    if kind == "List":
        raise InputError(msg("dns.kind-list", "{source}: is a List, not a single {expected}; {hint}",
                             source=source, expected=expected, hint=hint))
    if kind is None:
        raise InputError(msg("dns.kind-missing", "{source}: has no kind, expected kind {expected}; {hint}",
                             source=source, expected=expected, hint=hint))
    if kind != expected:
        raise InputError(msg("dns.kind-wrong", "{source}: has kind {kind}, expected kind {expected}; {hint}",
                             source=source, kind=short_quote(kind), expected=expected, hint=hint))


def configmap_data(configmap: Mapping[str, Any], source: str, require_kind: bool = False) -> dict[str, str]:
    """The ConfigMap's `data`, every value a string. An absent or empty `data` is no customisation
    at all: the kube-dns addon ships its ConfigMap that way, and kube-dns then runs on defaults."""
    hint = msg("dns.hint-configmap", "give `kubectl get cm kube-dns -n kube-system -o yaml`")
    _check_kind(configmap, "ConfigMap", source, require_kind, hint)
    data = configmap.get("data")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InputError(msg("dns.configmap-data-type", "{source}: key data is a {type}, expected a mapping "
                                                        "of "
                             "key: string", source=source, type=_yaml_type(data)))
    result: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise InputError(msg(
                "dns.configmap-value-type",
                "{source}: data.{key} is a {type} ({value}), expected a string; "
                "quote the JSON value or write it as a `|` block",
                source=source, key=short_quote(key, 60, quote=False), type=_yaml_type(value),
                value=short_quote(value),
            ))
        result[str(key)] = value
    return result


def _json(value: str, source: str, key: str, expected: str, example: str) -> Any:
    from wizard.safe_load import load_json

    try:
        return load_json(value, key)
    except InputError as err:
        message = str(err).removeprefix(f"{key}: ").removeprefix("not valid JSON (").removesuffix(")")
        raise InputError(msg(
            "dns.configmap-invalid-json",
            "{source}: data.{key} is not valid JSON ({message}): {value}; write a JSON {expected}, e.g. "
            "{example}",
            source=source, key=key, message=message, value=short_quote(value.strip(), 80),
            expected=expected, example=example,
        )) from None


def parse_stub_domains(value: str, source: str, cluster_domain: str | None) -> dict[str, list[Nameserver]]:
    """`{"domain": ["ns", ...]}` as kube-dns's validateStubDomains accepts it. The cluster domain
    (when given) is refused too: kube-dns accepts it, but no Corefile can forward it elsewhere."""
    if not value.strip():
        return {}
    example = '{"acme.local": ["1.2.3.4"]}'
    obj = _json(value, source, "stubDomains", "object", example)
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InputError(msg(
            "dns.stub-domains-type",
            "{source}: data.stubDomains is a JSON {type}, expected a JSON object, e.g. {example}",
            source=source, type=_json_type(obj), example=example,
        ))
    result: dict[str, list[Nameserver]] = {}
    for domain, servers in obj.items():
        if not is_dns1123_subdomain(domain):
            raise InputError(msg(
                "dns.stub-domain-invalid",
                "{source}: data.stubDomains domain {domain} is not a valid DNS name "
                "(lower-case letters, digits, '-' and '.', no trailing dot); fix or remove it",
                source=source, domain=short_quote(domain),
            ))
        if cluster_domain is not None and domain == cluster_domain:
            raise InputError(msg(
                "dns.stub-domain-cluster-domain",
                "{source}: data.stubDomains domain {domain} is the cluster domain, which kube-dns itself "
                "serves; remove it",
                source=source, domain=short_quote(domain),
            ))
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise InputError(msg(
                "dns.stub-domain-servers-type",
                "{source}: data.stubDomains[{domain}] is {value}, expected a JSON "
                "array of nameserver strings, e.g. {example}",
                source=source, domain=short_quote(domain), value=json.dumps(servers)[:60],
                example='["1.2.3.4", "10.0.0.1:5353"]',
            ))
        result[domain] = [parse_stub_nameserver(s, source, domain) for s in servers]
    return result


def parse_stub_nameserver(value: str, source: str, domain: str) -> Nameserver:
    """An IP, `IP:port`, `[IPv6]:port` or a host name; kube-dns refuses `hostname:port`."""
    where = msg("dns.where-stub-nameserver", "{source}: data.stubDomains[{zone}] nameserver {host}",
                source=source, zone=short_quote(domain), host=short_quote(value))
    if is_ip(value):
        return Nameserver(value, None, value)
    split = split_host_port(value)
    if split is not None:
        host, port_text = split
        port = _port(port_text, where)
        if not is_ip(host):
            raise InputError(msg(
                "dns.stub-host-port",
                "{where}: a port is allowed only after an IP address (kube-dns refuses host:port); "
                "use IP:port or a host name without a port",
                where=where,
            ))
        return Nameserver(host, port, value)
    if is_dns1123_subdomain(value):
        return Nameserver(value, None, value)
    raise InputError(msg("dns.stub-nameserver-invalid",
                         "{where} is neither an IP, IP:port, [IPv6]:port nor a host name; fix "
                         "it", where=where))


def parse_upstream_nameservers(value: str, source: str) -> list[Nameserver]:
    """`["ns", ...]`: at most three, each an IP or IP:port (no host names), as kube-dns checks."""
    if not value.strip():
        return []
    example = '["8.8.8.8", "8.8.4.4"]'
    obj = _json(value, source, "upstreamNameservers", "array", example)
    if obj is None:
        return []
    if not isinstance(obj, list) or not all(isinstance(s, str) for s in obj):
        raise InputError(msg(
            "dns.upstreams-type",
            "{source}: data.upstreamNameservers is {value}, expected a JSON array of strings, e.g. {example}",
            source=source, value=json.dumps(obj)[:60], example=example,
        ))
    if len(obj) > MAX_UPSTREAMS:
        raise InputError(msg(
            "dns.upstreams-too-many",
            "{source}: data.upstreamNameservers has {count} entries; kube-dns accepts at most {max}: remove "
            "{extra}",
            source=source, count=len(obj), max=MAX_UPSTREAMS, extra=len(obj) - MAX_UPSTREAMS,
        ))
    result: list[Nameserver] = []
    for ns in obj:
        where = msg("dns.where-upstream", "{source}: data.upstreamNameservers entry {entry}",
                    source=source, entry=short_quote(ns))
        if is_ip(ns):
            result.append(Nameserver(ns, None, ns))
            continue
        split = split_host_port(ns)
        if split is None or not is_ip(split[0]):
            raise InputError(msg("dns.upstream-not-ip",
                                 "{where} is not an IP or IP:port (kube-dns takes no host names here); fix "
                                 "it",
                                 where=where))
        result.append(Nameserver(split[0], _port(split[1], where), ns))
    return result


def parse_federations(value: str, source: str, *, kube_dns_syntax_only: bool = False) -> dict[str, str]:
    """kube-dns's own `name=domain[,name2=domain2]`, or the JSON object `{"name": "domain"}` that the
    guide, kubeadm and the Kubernetes docs write, which kube-dns itself refuses
    (`kube_dns_syntax_only`: refuse it here too, as kube-dns's ParseFederationsFlag does)."""
    text = value.strip()
    if not text:
        return {}
    pairs: list[tuple[str, Any]]
    if text.startswith("{") and kube_dns_syntax_only:
        raise InputError(msg(
            "dns.federations-json",
            "{source}: data.federations is JSON ({value}), but kube-dns reads federations only as "
            "name=domain[,name2=domain2]",
            source=source, value=text[:60],
        ))
    if text.startswith("{"):
        obj = _json(text, source, "federations", "object", '{"foo": "foo.feddomain.com"}')
        pairs = list(obj.items())
    else:
        pairs = []
        for item in text.split(","):
            name, sep, domain = item.strip().partition("=")
            if not sep:
                raise InputError(msg(
                    "dns.federations-entry",
                    "{source}: data.federations entry {entry} is not name=domain; write "
                    "name=domain[,name2=domain2] or JSON {example}",
                    source=source, entry=short_quote(item.strip()), example='{"name": "domain"}',
                ))
            pairs.append((name.strip(), domain.strip()))
    result: dict[str, str] = {}
    for name, domain in pairs:
        if not isinstance(domain, str):
            raise InputError(msg(
                "dns.federation-domain-type",
                "{source}: data.federations[{name}] is {value}, expected a domain string",
                source=source, name=short_quote(name), value=json.dumps(domain)[:40],
            ))
        if not is_dns1123_label(name):
            raise InputError(msg(
                "dns.federation-name-invalid",
                "{source}: data.federations name {name} is not a DNS-1123 label "
                "(lower-case letters, digits and '-', at most 63); fix it",
                source=source, name=short_quote(name),
            ))
        if not is_dns1123_subdomain(domain):
            raise InputError(msg(
                "dns.federation-domain-invalid",
                "{source}: data.federations[{name}] domain {domain} is not a valid DNS name; fix it",
                source=source, name=short_quote(name), domain=short_quote(domain),
            ))
        result[name] = domain
    return result


# ---------------------------------------------------------------- deployment


def normalize_cluster_domain(value: str, where: str) -> str:
    domain = value.strip().lower().removesuffix(".")
    if not is_dns1123_subdomain(domain):
        raise InputError(msg("dns.cluster-domain-invalid",
                             "{where}: cluster domain {value} is not a valid DNS name (e.g. cluster.local)",
                             where=where, value=short_quote(value)))
    return domain


@dataclass(frozen=True)
class KubeDNSDeployment:
    """What the kube-dns Deployment tells the translation (all empty when none was read)."""

    domain: str | None = None
    """The kubedns container's `--domain`, without the trailing dot; None when the flag is absent."""
    image: str | None = None
    dnsmasq_servers: list[DnsmasqServer] = field(default_factory=list)
    """dnsmasq's `--server` extras, without kube-dns's own wiring to kubedns."""
    has_dnsmasq: bool | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KubeDNSListener:
    """Where the kubedns container serves DNS inside the pod: `--dns-bind-address` (kube-dns's
    default 0.0.0.0, every address) and `--dns-port` (default 53; 10053 next to dnsmasq)."""

    bind: str = "0.0.0.0"
    port: int = 53

    def reaches(self, host: str, port: int) -> bool:
        """True when a query to host:port from inside the pod lands on kubedns itself."""
        if port != self.port or not is_ip(self.bind):
            return False
        bind = ipaddress.ip_address(self.bind)
        return bind.is_unspecified or bind == ipaddress.ip_address(host)


def parse_deployment(
    deployment: Mapping[str, Any], source: str, require_kind: bool = False
) -> KubeDNSDeployment:
    """The cluster domain, the kubedns image and dnsmasq's `--server` extras of the Deployment."""
    kubedns, dnsmasq = _kube_dns_containers(deployment, source, require_kind)
    domain = _kubedns_domain(kubedns, source)
    image = kubedns.get("image")
    if image is not None and not isinstance(image, str):
        raise InputError(msg("dns.kubedns-image-type", "{source}: kubedns container image is a {type}, not "
                                                       "a string",
                             source=source, type=_yaml_type(image)))
    servers: list[DnsmasqServer] = []
    notes: list[str] = []
    if dnsmasq is not None:
        listener = _kubedns_listener(kubedns, source)
        for arg in _flag_values(_container_args(dnsmasq, source), "server"):
            parsed = parse_dnsmasq_server(arg, source, domain or DEFAULT_CLUSTER_DOMAIN, listener, notes)
            if parsed is not None:  # None: kube-dns's own wiring, which the main server block replaces
                servers.append(parsed)
    return KubeDNSDeployment(domain, image, servers, dnsmasq is not None, notes)


def _kubedns_listener(kubedns: Mapping[str, Any], source: str) -> KubeDNSListener:
    args = _container_args(kubedns, source)
    listener = KubeDNSListener()
    port_text = _flag_value(args, "dns-port")
    bind = _flag_value(args, "dns-bind-address")
    where = msg("dns.where-kubedns-flag", "{source}: kubedns container {flag}", source=source,
                flag="--dns-port")
    port = listener.port if port_text is None else _port(port_text, where)
    return KubeDNSListener(bind.strip() if bind is not None else listener.bind, port)


def deployment_domain(deployment: Mapping[str, Any], source: str) -> str | None:
    """The kubedns container's `--domain` (`--domain=x.`, `--domain x.`, `-domain=x`), without
    the trailing dot; None when the flag is absent. InputError when there is no kubedns container
    or the value is not a DNS name. Reads nothing else, so a dnsmasq quirk cannot hide it."""
    kubedns, _dnsmasq = _kube_dns_containers(deployment, source, False)
    return _kubedns_domain(kubedns, source)


def _kubedns_domain(kubedns: Mapping[str, Any], source: str) -> str | None:
    raw_domain = _flag_value(_container_args(kubedns, source), "domain")
    if raw_domain is None:
        return None
    where = msg("dns.where-kubedns-flag", "{source}: kubedns container "
                                          "{flag}", source=source, flag="--domain")
    return normalize_cluster_domain(raw_domain, where)


def _kube_dns_containers(
    deployment: Mapping[str, Any], source: str, require_kind: bool
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """(the kubedns container, the dnsmasq container or None)."""
    hint = msg("dns.hint-deployment", "give `kubectl get deploy kube-dns -n kube-system -o yaml`")
    _check_kind(deployment, "Deployment", source, require_kind, hint)
    containers = _dig(deployment, ("spec", "template", "spec", "containers"))
    if not isinstance(containers, list) or not containers:
        raise InputError(msg(
            "dns.containers-missing",
            "{source}: key spec.template.spec.containers is missing or empty; is this kube-dns?",
            source=source,
        ))
    typed: list[Mapping[str, Any]] = []
    for c in containers:
        if not isinstance(c, Mapping):
            raise InputError(msg(
                "dns.container-type",
                "{source}: spec.template.spec.containers holds a {type}, not a container",
                source=source, type=_yaml_type(c),
            ))
        typed.append(c)
    kubedns = _pick_container(typed, "kubedns", _looks_like_kubedns)
    dnsmasq = _pick_container(typed, "dnsmasq", lambda image: "dnsmasq" in image)
    if kubedns is None:
        raise InputError(msg(
            "dns.no-kubedns-container",
            "{source}: no kubedns container (by name or image) in spec.template.spec.containers",
            source=source,
        ))
    return kubedns, dnsmasq


KUBE_DNS_OWN_ZONES = ("in-addr.arpa", "ip6.arpa")
"""The reverse zones kubedns answers itself (SkyDNS's ServeDNSReverse), besides its --domain."""


def parse_dnsmasq_server(
    arg: str,
    source: str,
    cluster_domain: str,
    kubedns: KubeDNSListener,
    notes: list[str] | None = None,
) -> DnsmasqServer | None:
    """`/zone[/zone...]/ip[#port]`; None for kube-dns's own wiring, which the Corefile's main block
    replaces: kubedns's own zones (its domain, the reverse zones) sent to any loopback address, and
    any zone sent to the kubedns container itself (a loopback address on its `--dns-port`, per
    `kubedns`; kops sends `in6.arpa`). Any other loopback address reaches nothing in a CoreDNS pod:
    InputError."""
    where = f"{source}: dnsmasq --server={arg}"
    if not arg.startswith("/"):
        raise InputError(msg(
            "dns.dnsmasq-no-zone",
            "{where} has no zone: a zone-less upstream is not translated; move it to upstreamNameservers "
            "in the kube-dns ConfigMap or remove it",
            where=where,
        ))
    parts = arg[1:].split("/")
    if len(parts) < 2:
        raise InputError(msg("dns.dnsmasq-shape", "{where} is not /zone/address[#port]; fix it", where=where))
    address = parts[-1]
    zones_raw = parts[:-1]
    zones: list[str] = []
    for z in zones_raw:
        zone = z.lower().removesuffix(".")
        if not is_dns1123_subdomain(zone):
            raise InputError(msg(
                "dns.dnsmasq-zone-invalid",
                "{where}: zone {zone} is not a DNS name the wizard can translate "
                "(dnsmasq's empty and wildcard zones are not supported); rewrite it as /zone/address",
                where=where, zone=short_quote(z),
            ))
        zones.append(zone)
    if not address or address == "#" or "@" in address:
        raise InputError(msg(
            "dns.dnsmasq-address-invalid",
            "{where}: address {address} is not an IP[#port] (local-only, '#' and '@interface' forms "
            "are not translated); rewrite it as /zone/IP#port",
            where=where, address=short_quote(address),
        ))
    host, _, port_text = address.partition("#")
    if not is_ip(host):
        raise InputError(msg("dns.dnsmasq-not-ip", "{where}: {host} is not an IP address; dnsmasq forwards "
                                                   "only to IPs",
                             where=where, host=short_quote(host)))
    port = _port(port_text, where) if port_text else None
    nameserver = Nameserver(host, port, address)
    if ipaddress.ip_address(host).is_loopback:
        own = {cluster_domain, *KUBE_DNS_OWN_ZONES}
        if all(z in own for z in zones):
            return None  # kubedns's own zones: the kubernetes plugin serves them, whatever the port
        if kubedns.reaches(host, port or 53):
            others = [z for z in zones if not _under(z, own)]
            if others:
                _note_kubedns_wiring(others, where, kubedns, notes)
            return None
        raise InputError(msg(
            "dns.dnsmasq-loopback",
            "{where} forwards to a loopback address ({address}) where the kubedns container "
            "does not listen (it serves DNS on port {port}); inside a CoreDNS pod it reaches "
            "nothing (or CoreDNS itself): point it at the real server's IP or remove it",
            where=where, address=f"{host}#{port or 53}", port=kubedns.port,
        ))
    return DnsmasqServer(tuple(zones), nameserver, arg)


def _under(zone: str, parents: set[str]) -> bool:
    return any(zone == parent or zone.endswith(f".{parent}") for parent in parents)


def _note_kubedns_wiring(
    others: list[str], where: str, kubedns: KubeDNSListener, notes: list[str] | None
) -> None:
    """Say why zones dnsmasq sends to kubedns, other than kubedns's own, are not carried over:
    SkyDNS answers only its domain and the reverse zones and forwards every other name to its
    upstreams (upstreamNameservers, else the pod's resolv.conf), as the Corefile's `forward .` does."""
    if notes is None:
        return
    params = dict(where=where, zones=", ".join(others), port=kubedns.port)
    if "in6.arpa" in others:
        notes.append(msg(
            "dns.dnsmasq-kubedns-wiring-in6",
            "{where} sends {zones} to the kubedns container itself (port {port}), which does not serve it "
            "(the IPv6 reverse zone is ip6.arpa, which the kubernetes plugin serves) and forwards it to its "
            "upstreams; the Corefile's main block forwards it to the same upstreams, so this line is "
            "kube-dns's own wiring and is not carried over",
            **params,
        ))
        return
    notes.append(msg(
        "dns.dnsmasq-kubedns-wiring",
        "{where} sends {zones} to the kubedns container itself (port {port}), which does not serve it "
        "and forwards it to its upstreams; the Corefile's main block forwards it to the same upstreams, "
        "so this line is kube-dns's own wiring and is not carried over",
        **params,
    ))


def _looks_like_kubedns(image: str) -> bool:
    return re.search(r"kube-?dns", image) is not None and "dnsmasq" not in image


def _pick_container(
    containers: list[Mapping[str, Any]], name: str, image_matches: Callable[[str], bool]
) -> Mapping[str, Any] | None:
    """The container called `name`, else the first whose image looks like it (renamed containers)."""
    for c in containers:
        if c.get("name") == name:
            return c
    for c in containers:
        image = str(c.get("image") or "")
        if image_matches(image):
            return c
    return None


def _container_args(container: Mapping[str, Any], source: str) -> list[str]:
    args: list[str] = []
    for key in ("command", "args"):
        value = container.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise InputError(msg(
                "dns.container-args-type", "{source}: container {name} {key} is not a list of strings",
                source=source, name=short_quote(container.get("name")), key=key,
            ))
        args.extend(value)
    return args


def _flag_values(args: Sequence[str], flag: str) -> list[str]:
    """Values of `--flag=v`, `-flag=v`, `--flag v` (Go's flag package and dnsmasq accept them all)."""
    values: list[str] = []
    for i, arg in enumerate(args):
        for prefix in (f"--{flag}", f"-{flag}"):
            if arg.startswith(prefix + "="):
                values.append(arg[len(prefix) + 1 :])
            elif arg == prefix and i + 1 < len(args):
                values.append(args[i + 1])
    return values


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    values = _flag_values(args, flag)
    return values[-1] if values else None


def _dig(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


# ---------------------------------------------------------------- helpers


def split_host_port(value: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: `host:port` (host without ':') or `[host]:port`; None otherwise."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or not value[end + 1 :].startswith(":"):
            return None
        host, port = value[1:end], value[end + 2 :]
        return (host, port) if ":" not in port else None
    if value.count(":") != 1:
        return None
    host, _, port = value.partition(":")
    return host, port


def _port(text: str, where: str) -> int:
    port = port_number(text)
    if port is None:
        raise InputError(msg("dns.port-invalid", "{where}: port {port} is not a number from 1 to 65535; fix "
                                                 "it",
                             where=where, port=short_quote(text)))
    return port


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _yaml_type(value: Any) -> str:
    """How an operator reading the YAML would name the value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names = {dict: "mapping", list: "list", str: "string", type(None): "null"}
    return names.get(type(value), type(value).__name__)
