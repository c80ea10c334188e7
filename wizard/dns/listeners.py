"""What each server block listens for, computed as CoreDNS computes it, to find the blocks it refuses.

CoreDNS refuses to start when two server blocks serve the same zone on the same listener ("cannot
serve dns://example.org.:53 - it is already defined"), or when a block bound to an address and an
unbound block serve the same zone and port ("zone overlap listener capacity"). Whether two keys
are "the same" depends on the release: zones are only fully qualified before 1.14.7 (`Example.org`
and `example.org` are two zones) and lower-cased from 1.14.7 on (coredns/coredns#8320); reverse
zones in CIDR form expand to one in-addr.arpa/ip6.arpa zone per octet or nibble boundary.
Facts from core/dnsserver/register.go, address.go and plugin/normalize.go, plugin/pkg/cidr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from wizard.dns.corefile import ServerBlock
from wizard.dns.versions import Version

ZONES_LOWER_CASED_SINCE = Version(1, 14, 7)

_TRANSPORTS = (("tls", "853"), ("dns", "53"), ("quic", "853"), ("grpc", "443"), ("https3", "443"),
               ("https", "443"), ("unix", ""))  # fmt: skip
"""parse.Transport's prefixes, in the order it tries them, with each one's default port."""


@dataclass(frozen=True)
class ZoneAddr:
    """CoreDNS's zoneAddr: one zone served on one listener."""

    transport: str
    zone: str
    port: str
    address: str = ""

    def __str__(self) -> str:
        text = f"{self.transport}://{self.zone}:{self.port}"
        return f"{text} on {self.address}" if self.address else text

    def unbound(self) -> ZoneAddr:
        return ZoneAddr(self.transport, self.zone, self.port)


def split_transport(key: str) -> tuple[str, str]:
    """`tls://example.org` → ('tls', 'example.org'); no known prefix → ('dns', key)."""
    for name, _ in _TRANSPORTS:
        if key.startswith(name + "://"):
            return name, key[len(name) + 3 :]
    return "dns", key


def reverse_zones(cidr: str) -> list[str] | None:
    """`10.0.0.0/24` → ['0.0.10.in-addr.arpa.']; a mask off the octet (nibble) boundary gives one zone
    per sub-network on the next boundary. None when `cidr` is not an IP network."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    boundary = 8 if net.version == 4 else 4
    new_prefix = -(-net.prefixlen // boundary) * boundary
    zones = []
    for sub in net.subnets(new_prefix=new_prefix) if new_prefix != net.prefixlen else [net]:
        labels = sub.network_address.reverse_pointer.split(".")
        keep = sub.prefixlen // boundary
        total = 4 if net.version == 4 else 32
        zones.append(".".join(labels[total - keep :]) + ".")
    return zones


def key_zones(key: str, version: Version) -> tuple[str, list[str], str]:
    """(transport, zones, port) of one server block key as CoreDNS `version` normalises it."""
    transport, rest = split_transport(key)
    host, port = rest, ""
    colon = rest.rfind(":")
    if colon != -1 and rest[colon + 1 :].isdigit():
        host, port = rest[:colon], str(int(rest[colon + 1 :]))
    if not port:
        port = dict(_TRANSPORTS).get(transport, "53")
    zones = reverse_zones(host) if "/" in host else None
    if zones is None:
        zones = [host if host.endswith(".") else host + "."]
    if version.release >= ZONES_LOWER_CASED_SINCE:
        zones = [zone.lower() for zone in zones]
    return transport, zones, port


def listen_hosts(block: ServerBlock) -> list[str]:
    """The addresses the block's `bind` lines name ([""] when it has none: every address)."""
    hosts: list[str] = []
    for bind in block.find("bind"):
        excluded = {arg for option in bind.options("except") for arg in option.args}
        hosts.extend(arg for arg in bind.args if arg not in excluded and arg not in hosts)
    return hosts or [""]


@dataclass(frozen=True)
class Clash:
    """One refusal: the block (its line) and CoreDNS's message."""

    line: int
    message: str
    first_line: int


def clashes(blocks: list[ServerBlock], version: Version) -> Iterator[Clash]:
    """Every zone/listener clash CoreDNS `version` refuses, in the order it checks them."""
    registered: dict[ZoneAddr, int] = {}
    unbound: dict[ZoneAddr, tuple[ZoneAddr, int]] = {}
    for block in blocks:
        filtered = block.directive("view") is not None  # a view may share a zone and port
        hosts = listen_hosts(block)
        for key in block.keys:
            transport, zones, port = key_zones(key, version)
            for zone in zones:
                for host in hosts:
                    addr = ZoneAddr(transport, zone, port, host)
                    if addr in registered and not filtered:
                        yield Clash(
                            block.line, f"cannot serve {addr} - it is already defined", registered[addr]
                        )
                        continue
                    plain = addr.unbound()
                    overlap = unbound.get(plain)
                    if overlap is not None and (host == "" or plain in registered):
                        other, line = overlap if host == "" else (plain, registered[plain])
                        yield Clash(
                            block.line,
                            f"cannot serve {addr} - zone overlap listener capacity with {other}",
                            line,
                        )
                        continue
                    if not filtered:
                        registered[addr] = block.line
                        unbound[plain] = (addr, block.line)
