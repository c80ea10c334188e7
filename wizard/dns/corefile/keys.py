"""Server block keys (`tls://example.org.:853`) split into transport, zone and port.

Follows CoreDNS (`plugin.SplitHostPort`, `parse.Transport`): the port is what follows the last
colon when that is a number, so reverse zones in CIDR form (`10.0.0.0/24`, `fd00::/8`) keep their
colons; the zone is compared case-insensitively and fully qualified, so it is stored lower case
with a trailing dot. CIDR zones are kept as written (CoreDNS turns them into in-addr.arpa zones).
"""

from __future__ import annotations

from wizard.dns.corefile.model import ServerKey
from wizard.errors import InputError
from wizard.i18n import msg
from wizard.textsafety import short_quote

DEFAULT_PORTS: dict[str, int] = {"dns": 53, "tls": 853, "https": 443, "grpc": 443, "quic": 853}
"""The port CoreDNS listens on when a key names none, per transport."""


def parse_key(key: str) -> ServerKey:
    """`dns://Example.ORG:1053` → ServerKey('dns', 'example.org.', 1053); InputError when the key
    has an unknown transport, no zone, or a port that is not a number in 1-65535."""
    transport, rest = "dns", key
    if "://" in key:
        transport, rest = key.split("://", 1)
        if transport not in DEFAULT_PORTS:
            known = ", ".join(f"{name}://" for name in DEFAULT_PORTS)
            raise InputError(msg(
                "corefile.key-unknown-transport",
                "server block key {key}: unknown transport '{transport}://'; use one of {known}",
                key=short_quote(key), transport=transport, known=known,
            ))
    zone, port = _split_port(key, rest)
    port_number = DEFAULT_PORTS[transport] if port is None else _port(key, port)
    if not zone:
        raise InputError(msg(
            "corefile.key-no-zone",
            "server block key {key} has no zone: write the zone before the port, e.g. '.:53'",
            key=short_quote(key),
        ))
    if "/" not in zone:
        zone = zone.lower()
        if not zone.endswith("."):
            zone += "."
    return ServerKey(transport=transport, zone=zone, port=port_number)


def _split_port(key: str, rest: str) -> tuple[str, str | None]:
    colon = rest.rfind(":")
    if colon == -1:
        return rest, None
    if colon == len(rest) - 1:
        raise InputError(msg(
            "corefile.key-colon-no-port",
            "server block key {key} ends with ':' but no port: add the port or remove the ':'",
            key=short_quote(key),
        ))
    candidate = rest[colon + 1 :]
    if "/" in candidate:  # the colon belongs to an IPv6 CIDR zone such as fd00::/8
        return rest, None
    return rest[:colon], candidate


def port_number(text: str) -> int | None:
    """`text` as a port 1-65535, or None; never converts a huge digit string (Python refuses
    over 4,300 digits with a ValueError)."""
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        return None
    return int(text)


def _port(key: str, text: str) -> int:
    port = port_number(text)
    if port is None:
        raise InputError(msg(
            "corefile.key-bad-port",
            "server block key {key}: port {port} is not a number from 1 to 65535",
            key=short_quote(key), port=short_quote(text),
        ))
    return port
