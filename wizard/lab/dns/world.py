"""The lab's "outside world": public and stub nameservers, on loopback, and the routes to them.

A cluster's DNS forwards to addresses such as 8.8.8.8 or a company's 1.2.3.4. The lab never sends
a packet off the machine: `VirtualNetwork.route()` maps each outside IP the lab knows to a
loopback resolver (an address from `AddressPlan.outside`) that answers a small fixed zone set,
and treats every other outside IP as an unreachable host (the caller waits out its timeout).

Public resolvers answer www.baidu.com (a CNAME chain, as in the guide's nslookup check),
example.com, www.example.com and kubernetes.io. A stub nameserver answers every name under the
zones it was given (from the kube-dns ConfigMap's stubDomains, or the guide's example: abc.com on
1.2.3.4, my.cluster.local on 2.3.4.5); the public resolvers do not know those names, so a lost
stub domain shows up as NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Store
from wizard.lab.dns.transport import Client, DNSListener

PUBLIC_RESOLVERS = ("8.8.8.8", "8.8.4.4", "1.1.1.1", "114.114.114.114")
DEFAULT_NODE_NAMESERVER = "10.0.0.2"
"""The nameserver in the lab nodes' /etc/resolv.conf (a VPC resolver; public names only)."""

GUIDE_STUB_ZONES: dict[str, tuple[str, ...]] = {"1.2.3.4": ("abc.com",), "2.3.4.5": ("my.cluster.local",)}
PUBLIC_TTL = 300

PUBLIC_RECORDS: dict[str, list[tuple[str, str]]] = {
    "www.baidu.com.": [("CNAME", "www.a.shifen.com.")],
    "www.a.shifen.com.": [("A", "110.242.68.3"), ("A", "110.242.68.4")],
    "example.com.": [("A", "93.184.215.14"), ("AAAA", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")],
    "www.example.com.": [("A", "93.184.215.14"), ("AAAA", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")],
    "kubernetes.io.": [("A", "15.197.167.90"), ("A", "3.33.186.135")],
}


class Unreachable(OSError):
    """No route to this address: the lab does not simulate it, so packets would go nowhere."""


def stub_address(name: dns.name.Name) -> str:
    """The A record a stub nameserver returns for `name`: stable, so two DNS servers that forward
    the same name to the same stub nameserver give the same answer."""
    digest = hashlib.sha256(name.to_text().lower().encode()).digest()
    return f"10.{digest[0]}.{digest[1]}.{max(1, digest[2] % 255)}"


class OutsideResolver:
    """One nameserver of the outside world, listening on its loopback stand-in address."""

    def __init__(self, outside_ip: str, bind_ip: str, port: int, public: bool) -> None:
        self.outside_ip = outside_ip
        self.bind_ip = bind_ip
        self.port = port
        self.public = public
        self.zones: set[dns.name.Name] = set()
        self.queries: Counter[str] = Counter()
        """Names asked so far (lower-case, with the trailing dot): lets tests see who forwarded."""
        self._listener = DNSListener(bind_ip, port, self._handle)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def _handle(self, wire: bytes, client: Client, proto: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if not query.question:
            return None
        reply = self.answer(query)
        return reply.to_wire(max_size=65535 if proto == "tcp" else 512)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA
        q = query.question[0]
        self.queries[q.name.to_text().lower()] += 1
        zone = self._stub_zone(q.name)
        if zone is not None:
            reply.flags |= dns.flags.AA
            if q.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY):
                reply.answer.append(dns.rrset.from_text(q.name, PUBLIC_TTL, "IN", "A", stub_address(q.name)))
            else:
                reply.authority.append(self._soa(zone))
            return reply
        if not self.public:
            reply.set_rcode(dns.rcode.REFUSED)
            return reply
        self._public_answer(reply, q.name, q.rdtype)
        return reply

    def _stub_zone(self, name: dns.name.Name) -> dns.name.Name | None:
        matches = [z for z in self.zones if name.is_subdomain(z)]
        return max(matches, key=len) if matches else None

    @staticmethod
    def _soa(zone: dns.name.Name) -> dns.rrset.RRset:
        mname, rname = dns.name.from_text("ns1", zone), dns.name.from_text("hostmaster", zone)
        soa = f"{mname} {rname} 1 7200 900 86400 60"
        return dns.rrset.from_text(zone, PUBLIC_TTL, "IN", "SOA", soa)

    def _public_answer(self, reply: dns.message.Message, name: dns.name.Name, rdtype: int) -> None:
        """Recursive-resolver style: follow CNAMEs inside the known data, NXDOMAIN for the unknown."""
        current = name
        for _ in range(8):
            records = PUBLIC_RECORDS.get(current.to_text().lower())
            if records is None:
                if current == name:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                    reply.authority.append(self._soa(dns.name.root))
                return
            cname = [data for kind, data in records if kind == "CNAME"]
            if cname and rdtype != dns.rdatatype.CNAME:
                reply.answer.append(dns.rrset.from_text(current, PUBLIC_TTL, "IN", "CNAME", cname[0]))
                current = dns.name.from_text(cname[0])
                continue
            wanted = dns.rdatatype.RdataType.make(rdtype)
            any_type = wanted == dns.rdatatype.ANY
            found = [(kind, data) for kind, data in records if any_type or kind == wanted.name]
            if found:
                for kind in sorted({kind for kind, _ in found}):
                    datas = [data for k, data in found if k == kind]
                    reply.answer.append(dns.rrset.from_text_list(current, PUBLIC_TTL, "IN", kind, datas))
            elif not reply.answer:
                reply.authority.append(self._soa(dns.name.root))
            return


class VirtualNetwork:
    """The routes of the lab: outside IPs → loopback resolvers; lab IPs (127.N.x.y) → themselves.

    Port 53 of any address maps to the lab's `dns_port` (all lab DNS servers share it)."""

    def __init__(
        self,
        addresses: AddressPlan,
        dns_port: int,
        node_nameserver: str = DEFAULT_NODE_NAMESERVER,
        extra_resolvers: Iterable[str] = (),
    ) -> None:
        self.addresses = addresses
        self.dns_port = dns_port
        self.node_nameserver = node_nameserver
        self._extra = tuple(extra_resolvers)
        self._lock = threading.Lock()
        self.resolvers: dict[tuple[str, int], OutsideResolver] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unwatch: list[Any] = []

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self, store: Store | None = None) -> None:
        """Start the fixed resolvers; with a store, also every stub nameserver named in the
        kube-dns ConfigMap, now and whenever it changes."""
        self._loop = asyncio.get_running_loop()
        for ip in (*PUBLIC_RESOLVERS, *self._extra):
            await self.add_resolver(ip, public=True)
        if not self._is_pod_local(self.node_nameserver):
            await self.add_resolver(self.node_nameserver, public=True)
        for ip, zones in GUIDE_STUB_ZONES.items():
            await self.add_resolver(ip, zones=zones, public=False)
        if store is not None:
            cm = store.try_get("configmaps", "kube-system", "kube-dns")
            if cm is not None:
                await self.learn_kube_dns_configmap(cm)
            loop = self._loop

            def on_configmap(event: str, obj: dict[str, Any]) -> None:
                if obj["metadata"].get("name") == "kube-dns" and event != "DELETED":
                    loop.call_soon_threadsafe(lambda: loop.create_task(self.learn_kube_dns_configmap(obj)))

            self._unwatch.append(store.watch("configmaps", on_configmap, namespace="kube-system"))

    async def stop(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch.clear()
        for resolver in list(self.resolvers.values()):
            await resolver.stop()
        self.resolvers.clear()

    async def add_resolver(
        self, outside_ip: str, zones: Iterable[str] = (), public: bool = True, port: int = 53
    ) -> OutsideResolver:
        """Make `outside_ip:port` answer (public names and/or the given stub zones)."""
        key = (outside_ip, port)
        resolver = self.resolvers.get(key)
        if resolver is None:
            others = [r for (ip, _), r in self.resolvers.items() if ip == outside_ip]
            bind_ip = others[0].bind_ip if others else self.addresses.outside.take()
            resolver = OutsideResolver(outside_ip, bind_ip, self.dns_port if port == 53 else port, public)
            await resolver.start()
            with self._lock:
                self.resolvers[key] = resolver
        resolver.public = resolver.public or public
        resolver.zones.update(dns.name.from_text(z) for z in zones)
        return resolver

    async def learn_kube_dns_configmap(self, configmap: dict[str, Any]) -> None:
        """Give the nameservers a kube-dns ConfigMap names a place in the world: each stub
        domain's nameservers serve that domain, each upstream nameserver is a public resolver.
        Values kube-dns would refuse are skipped: judging them is kube-dns's job."""
        data = configmap.get("data") or {}
        stubs = _json_or_none(data.get("stubDomains"))
        for zone, servers in stubs.items() if isinstance(stubs, dict) else []:
            for server in servers if isinstance(servers, list) else []:
                host, port = _host_port_or_none(str(server))
                if host is not None and not self._is_lab_address(host):
                    await self.add_resolver(host, zones=[str(zone)], public=False, port=port)
        upstreams = _json_or_none(data.get("upstreamNameservers"))
        for server in upstreams if isinstance(upstreams, list) else []:
            host, port = _host_port_or_none(str(server))
            if host is not None and not self._is_lab_address(host):
                await self.add_resolver(host, public=True, port=port)

    # ---- routing ------------------------------------------------------------------------------
    def _is_lab_address(self, ip: str) -> bool:
        return ip.startswith(f"127.{self.addresses.octet}.")

    def _is_pod_local(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip).is_loopback and not self._is_lab_address(ip)
        except ValueError:
            return False

    def route(self, ip: str, port: int = 53, local_ip: str | None = None) -> tuple[str, int]:
        """Where a packet to `ip:port` really goes. `local_ip` is the sender's own address, which
        a pod-local loopback destination (127.0.0.1, 127.0.0.53) means. Raises Unreachable."""
        real_port = self.dns_port if port == 53 else port
        if self._is_lab_address(ip):
            return ip, real_port
        if self._is_pod_local(ip):
            if local_ip is None:
                raise Unreachable(f"{ip}:{port} is a pod-local address and no pod was named")
            return local_ip, real_port
        with self._lock:
            resolver = self.resolvers.get((ip, port))
        if resolver is None:
            raise Unreachable(f"no route to {ip}:{port} in the lab's outside world")
        return resolver.bind_ip, resolver.port

    def resolv_conf_nameservers(self) -> list[str]:
        """What `/etc/resolv.conf` of a node (and of a `dnsPolicy: Default` pod) lists."""
        return [self.node_nameserver]

    def resolver(self, outside_ip: str, port: int = 53) -> OutsideResolver | None:
        with self._lock:
            return self.resolvers.get((outside_ip, port))


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _host_port_or_none(value: str) -> tuple[str | None, int]:
    try:
        host, port = split_host_port(value)
    except ValueError:
        return None, 53
    return (host, port) if _is_ip(host) and 0 < port < 65536 else (None, 53)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def split_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """`1.2.3.4` → (1.2.3.4, 53); `1.2.3.4:5353`; `[fd00::1]:53`; `fd00::1`; `dns://1.2.3.4`;
    `1.2.3.4#5353` (dnsmasq's form)."""
    value = value.strip()
    for prefix in ("dns://", "udp://", "tcp://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if "#" in value:
        host, _, port = value.partition("#")
        return host, int(port)
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, default_port
