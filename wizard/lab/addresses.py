"""The lab's address plan: every pod, Service, node and "outside world" resolver gets its own
loopback address, so real sockets can bind to it without root and several labs can run side by
side (each lab takes its own second octet of 127.0.0.0/8).

    127.N.0.0/18     Service ClusterIPs (kube-dns is 127.N.0.10, like 10.96.0.10)
    127.N.64.0/18    node addresses
    127.N.96.0/19    outside-world resolvers standing in for 8.8.8.8, 1.2.3.4, ...
    127.N.128.0/17   pod IPs
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator


class AddressExhausted(RuntimeError):
    pass


class _Pool:
    def __init__(self, first: ipaddress.IPv4Address, size: int) -> None:
        self._first = int(first)
        self._size = size
        self._used: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()

    def take(self, wanted: str | None = None) -> str:
        with self._lock:
            if wanted is not None:
                offset = int(ipaddress.IPv4Address(wanted)) - self._first
                if not 0 <= offset < self._size or offset in self._used:
                    raise AddressExhausted(f"address {wanted} is outside the pool or taken")
                self._used.add(offset)
                return wanted
            for _ in range(self._size):
                offset = self._next
                self._next = (self._next + 1) % self._size
                # skip .0 and .255 of every /24: some resolvers treat them specially
                if offset in self._used or (self._first + offset) % 256 in (0, 255):
                    continue
                self._used.add(offset)
                return str(ipaddress.IPv4Address(self._first + offset))
            raise AddressExhausted("no free address left in the lab's pool")

    def release(self, address: str) -> None:
        with self._lock:
            self._used.discard(int(ipaddress.IPv4Address(address)) - self._first)

    def __contains__(self, address: str) -> bool:
        offset = int(ipaddress.IPv4Address(address)) - self._first
        return 0 <= offset < self._size


class AddressPlan:
    """Allocates the addresses of one lab instance, whose second octet is `octet` (1..254)."""

    def __init__(self, octet: int) -> None:
        if not 1 <= octet <= 254:
            raise ValueError("the lab's second octet must be 1..254")
        self.octet = octet
        base = f"127.{octet}"
        self.services = _Pool(ipaddress.IPv4Address(f"{base}.0.0"), 64 * 256)
        self.nodes = _Pool(ipaddress.IPv4Address(f"{base}.64.0"), 32 * 256)
        self.outside = _Pool(ipaddress.IPv4Address(f"{base}.96.0"), 32 * 256)
        self.pods = _Pool(ipaddress.IPv4Address(f"{base}.128.0"), 128 * 256)

    @property
    def dns_service_ip(self) -> str:
        """The kube-dns ClusterIP, reserved at start (the `.10` convention of real clusters)."""
        return f"127.{self.octet}.0.10"

    @property
    def service_cidr(self) -> str:
        return f"127.{self.octet}.0.0/18"

    @property
    def pod_cidr(self) -> str:
        return f"127.{self.octet}.128.0/17"

    def all_pools(self) -> Iterator[_Pool]:
        yield from (self.services, self.nodes, self.outside, self.pods)
