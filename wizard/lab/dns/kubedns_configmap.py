"""The lab kube-dns's own reading of ConfigMap kube-system/kube-dns and of dnsmasq's `--server`s.

Written from kubernetes/dns (`pkg/dns/config/sync.go` processUpdate, `config.go` Validate,
`pkg/dns/federation` ParseFederationsFlag, `pkg/dns/util` ValidateNameserverIpAndPort and
`pkg/dnsmasq/nanny.go` Configure), not shared with the wizard's translator, so a misreading
there cannot agree with itself here:
- `federations` is `name=domain[,name=domain]` only (JSON is "invalid format, must be key=value");
- `stubDomains` is a JSON object of lists, `upstreamNameservers` a JSON list (at most three, each
  an IP or IP:port); a key that is present but empty is invalid JSON too;
- any invalid key makes kube-dns ignore the whole ConfigMap: at start it runs with defaults,
  on a later update it keeps what it had, and it says so in its log;
- the dnsmasq nanny turns stub domains into `--server=/domain/ip#port` and upstreams into
  `--server=ip#port` plus `--no-resolv`; from kube-dns 1.15.1 on it resolves a stub nameserver
  given as a name once, names ending in `cluster.local` through the local kubedns.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")

NAME_RESOLVING_NANNY = (1, 15, 1)
"""The first kube-dns release whose dnsmasq nanny resolves stub nameservers given as names."""


class InvalidConfig(Exception):
    """kube-dns refuses the ConfigMap; `key` is the key it names in its log (None: Validate)."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass
class KubeDNSConfig:
    """kube-dns's config.Config: what the ConfigMap says (defaults: all empty)."""

    federations: dict[str, str] = field(default_factory=dict)
    stub_domains: dict[str, list[str]] = field(default_factory=dict)
    upstream_nameservers: list[str] = field(default_factory=list)


def is_dns1123_subdomain(text: str) -> bool:
    return len(text) <= 253 and bool(_DNS1123_SUBDOMAIN.match(text))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _go_json(value: str, kind: type) -> object:
    """json.Unmarshal into map[string][]string / []string, with Go's wording for the failures
    operators meet (empty value, wrong shape)."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError as err:
        if not value.strip():
            raise ValueError("unexpected end of JSON input") from err
        raise ValueError(f"invalid character at offset {err.pos}: {err.msg}") from err
    if data is None:
        return kind()
    if kind is dict:
        if not isinstance(data, dict) or not all(
            (isinstance(v, list) and all(isinstance(s, str) for s in v)) or v is None for v in data.values()
        ):
            raise ValueError("json: cannot unmarshal into Go value of type map[string][]string")
        return {k: list(v or []) for k, v in data.items()}
    if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
        raise ValueError("json: cannot unmarshal into Go value of type []string")
    return list(data)


def parse_federations_flag(value: str) -> dict[str, str]:
    federations: dict[str, str] = {}
    if not value.strip():
        return federations
    for item in value.split(","):
        name, sep, domain = item.strip().partition("=")
        if not sep:
            raise ValueError("invalid format, must be key=value")
        name, domain = name.strip(), domain.strip()
        if not (len(name) <= 63 and _DNS1123_LABEL.match(name)):
            raise ValueError(f'"{name}" not a valid federation name')
        if not is_dns1123_subdomain(domain):
            raise ValueError(f'"{domain}" not a valid domain name')
        federations[name] = domain
    return federations


def read_configmap(data: dict[str, str] | None) -> KubeDNSConfig:
    """processUpdate + Validate: the config, or InvalidConfig (the whole ConfigMap is ignored)."""
    config = KubeDNSConfig()
    if not data:
        return config
    for key in ("federations", "stubDomains", "upstreamNameservers"):
        if key not in data:
            continue
        value = data[key]
        try:
            if key == "federations":
                config.federations = parse_federations_flag(value)
            elif key == "stubDomains":
                stubs = _go_json(value, dict)
                assert isinstance(stubs, dict)
                config.stub_domains = stubs
            else:
                upstreams = _go_json(value, list)
                assert isinstance(upstreams, list)
                config.upstream_nameservers = upstreams
        except ValueError as err:
            raise InvalidConfig(key, str(err)) from None
    _validate(config)
    return config


def _validate(config: KubeDNSConfig) -> None:
    for domain, servers in config.stub_domains.items():
        if not is_dns1123_subdomain(domain):
            raise InvalidConfig(None, f'invalid domain name: "{domain}"')
        for server in servers:
            host, sep, port = server.partition(":")
            if sep and not (port.isdigit() and int(port) <= 65535):
                raise InvalidConfig(None, f'invalid nameserver: "{server}"')
            if not _is_ip(host) and not is_dns1123_subdomain(server):
                raise InvalidConfig(None, f'invalid nameserver: "{server}"')
    if len(config.upstream_nameservers) > 3:
        raise InvalidConfig(None, "upstreamNameserver cannot have more than three entries")
    for server in config.upstream_nameservers:
        if _is_ip(server):
            continue
        host, port = _split_host_port(server)
        if not _is_ip(host):
            raise InvalidConfig(None, f'bad IP address: "{host}"')
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            raise InvalidConfig(None, f'bad port number: "{port}"')


def _split_host_port(text: str) -> tuple[str, str]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise InvalidConfig(None, f"address {text}: missing port in address")
        return host, rest[1:]
    if text.count(":") != 1:
        raise InvalidConfig(None, f"address {text}: missing port in address"
                            if ":" not in text else f"address {text}: too many colons in address")
    host, _, port = text.partition(":")
    return host, port


def dnsmasq_port_form(server: str) -> str:
    """The nanny's munge: `ip:port` → `ip#port` (dnsmasq's port separator), `[v6]:port` too."""
    colon = server.rfind(":")
    if colon == -1:
        return server
    bracket = server.find("]")
    if server.count(":") == 1 or (bracket != -1 and colon > bracket):
        return server[:colon] + "#" + server[colon + 1 :]
    return server


# ---- dnsmasq's --server table ---------------------------------------------------------------------
@dataclass(frozen=True)
class DnsmasqServer:
    zones: tuple[str, ...]  # () for a default upstream; lower case, no trailing dot
    address: str | None  # "ip#port", "" for a local-only zone (/zone/), None for "#" (the defaults)


def dnsmasq_options(args: list[str]) -> tuple[list[str], bool]:
    """The `--server` values (`--server=X`, `--server X`, `-S X`) and whether `--no-resolv` is set."""
    servers: list[str] = []
    no_resolv = False
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--server="):
            servers.append(word.split("=", 1)[1])
        elif word in ("--server", "-S") and i + 1 < len(words):
            servers.append(words[i + 1])
            i += 1
        elif word in ("--no-resolv", "-R"):
            no_resolv = True
        i += 1
    return servers, no_resolv


def parse_dnsmasq_server(value: str) -> DnsmasqServer:
    """One `--server` value; ValueError("bad address") where dnsmasq refuses it."""
    if not value.startswith("/"):
        _check_address(value)
        return DnsmasqServer((), value)
    *zones, address = value[1:].split("/")
    if not zones:
        raise ValueError("bad address")
    names = tuple(z.lower().rstrip(".") for z in zones)
    if address == "":
        return DnsmasqServer(names, "")
    if address == "#":
        return DnsmasqServer(names, None)
    _check_address(address)
    return DnsmasqServer(names, address)


def _check_address(address: str) -> None:
    host, _, port = address.partition("#")
    host = host.partition("@")[0]
    if not _is_ip(host) or (port and not (port.isdigit() and 0 < int(port) <= 65535)):
        raise ValueError("bad address")
