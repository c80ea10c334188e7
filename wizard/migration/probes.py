"""DNS probes: ask one DNS pod a question and compare CoreDNS's answer with kube-dns's.

Why real queries: a pod's `/ready` only says it started; the guide's check is `nslookup NAME
<pod-ip>`, and that is what these do, per pod, over UDP, TCP, or DNS-over-TCP through an API
server port-forward when the wizard's host cannot reach the pod network.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from wizard.errors import CheckFailed, InputError, WizardError
from wizard.i18n import msg

if TYPE_CHECKING:
    import dns.message

    from wizard.k8s.gateway import Gateway, PortForwardSocket

Transport = Literal["udp", "tcp", "port-forward"]
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "port-forward")
DEFAULT_EXTERNAL_NAME = "www.baidu.com"
DEFINITE_RCODES = frozenset({"NOERROR", "NXDOMAIN"})
"""Answers that mean the server decided (whether the decision is right is the verdict's job)."""


@dataclass(frozen=True)
class ProbeTarget:
    """One DNS server to ask: a pod (by IP, and by name for port-forward) or a Service IP."""

    label: str  # shown to the operator, e.g. "coredns-7d9f-abcde (127.1.128.7)"
    ip: str | None
    port: int = 53
    pod: str | None = None
    namespace: str = "kube-system"


@dataclass(frozen=True)
class ProbeResult:
    """One answer (or the lack of one). `answers` are `name TYPE rdata` without TTLs, sorted."""

    target: str
    name: str
    rdtype: str
    rcode: str
    answers: tuple[str, ...]
    latency_ms: float
    error: str | None
    transport: Transport
    authority: tuple[str, ...] = ()
    """Owner names of SOA records in the authority section (`zone.`): who answered a NODATA."""

    @property
    def ok(self) -> bool:
        """A positive answer (NOERROR). NXDOMAIN is not "ok": whether it is right depends on the
        name, which only the verdict (wizard.migration.verdicts) knows."""
        return self.error is None and self.rcode == "NOERROR"

    @property
    def answered(self) -> bool:
        """The server decided (NOERROR or NXDOMAIN): it is up, right or wrong."""
        return self.error is None and self.rcode in DEFINITE_RCODES

    def records(self, rdtype: str | None = None) -> frozenset[str]:
        """The rdata of the answers of `rdtype` (the question's type by default), e.g. {"10.96.0.1"}."""
        want = (rdtype or self.rdtype).upper()
        found = set()
        for line in self.answers:
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1].upper() == want:
                found.add(parts[2].lower() if want in ("PTR", "CNAME") else parts[2])
        return frozenset(found)

    def summary(self) -> str:
        if self.error is not None:
            return msg(
                "verify.result-error", "{target}: {name} {rdtype} via {transport}: {error}",
                target=self.target, name=self.name, rdtype=self.rdtype, transport=self.transport,
                    error=self.error,
            )
        shown = ", ".join(self.answers) if self.answers else msg("verify.no-records", "no records")
        return msg(
            "verify.result-answer", "{target}: {name} {rdtype} via {transport}: {rcode} "
            "({shown}) in {latency_ms:.1f} ms",
            target=self.target, name=self.name, rdtype=self.rdtype, transport=self.transport,
            rcode=self.rcode, shown=shown, latency_ms=self.latency_ms,
        )


Purpose = Literal["cluster", "business", "external", "stub", "reverse"]


@dataclass(frozen=True)
class ProbeQuery:
    """A question of the plan's probe set, with why it is asked and what decides its verdict."""

    name: str
    rdtype: str
    purpose: Purpose
    note: str = ""
    service: str | None = None
    """`namespace/name` of the Service whose API record the answer must match (cluster, business,
    reverse); None for outside and stub names."""
    zone: str | None = None
    """The stub domain a stub question belongs to."""


@dataclass(frozen=True)
class TransportChoice:
    transport: Transport
    reason: str


def probe(
    target: ProbeTarget,
    name: str,
    rdtype: str = "A",
    transport: Transport = "udp",
    *,
    timeout: float = 2.0,
    gateway: Gateway | None = None,
    tunnels: TunnelPool | None = None,
) -> ProbeResult:
    """Ask `target` one question; never raises for network trouble (it is in `error`).

    Over port-forward the question goes through `tunnels` (kept open across probes) when given,
    else through a tunnel of `gateway` opened for this one question."""
    import dns.exception
    import dns.message
    import dns.rdatatype

    if transport not in TRANSPORTS:
        raise InputError(msg(
            "verify.bad-transport", "probe transport {transport} is not one of {choices}",
            transport=repr(transport), choices=", ".join(TRANSPORTS),
        ))
    try:
        rdtype_value = dns.rdatatype.from_text(rdtype)
        query = dns.message.make_query(name, rdtype_value)
    except (dns.exception.DNSException, ValueError) as err:
        raise InputError(msg(
            "verify.bad-question", "probe name {name} type {rdtype} is not a valid DNS question ({error})",
            name=repr(name), rdtype=repr(rdtype), error=str(err),
        )) from None
    started = time.monotonic()

    def result(
        rcode: str, answers: tuple[str, ...], error: str | None, authority: tuple[str, ...] = ()
    ) -> ProbeResult:
        latency = (time.monotonic() - started) * 1000.0
        return ProbeResult(
            target.label, name, rdtype.upper(), rcode, answers, latency, error, transport, authority
        )

    try:
        response = _exchange(target, query, transport, timeout, gateway, tunnels)
    except dns.exception.Timeout:
        return result("", (), msg("verify.no-answer-within", "no answer within {timeout:g}s",
            timeout=timeout))
    except (OSError, EOFError, dns.exception.DNSException) as err:
        return result("", (), f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
    except InputError:
        raise
    except WizardError as err:  # the port-forward tunnel could not be opened
        return result("", (), str(err))
    return result(_rcode_text(response.rcode()), _answers(response), None, _soa_owners(response))


def _exchange(
    target: ProbeTarget,
    query: dns.message.Message,
    transport: Transport,
    timeout: float,
    gateway: Gateway | None,
    tunnels: TunnelPool | None,
) -> dns.message.Message:
    """Send `query` to `target` over `transport` and return the response (raises on network trouble)."""
    import dns.query

    if transport == "udp":
        return dns.query.udp(query, _require_ip(target), timeout=timeout, port=target.port)
    if transport == "tcp":
        return dns.query.tcp(query, _require_ip(target), timeout=timeout, port=target.port)
    if (gateway is None and tunnels is None) or not target.pod:
        raise InputError(msg(
            "verify.port-forward-needs-pod-gateway",
            "probe of {target} over port-forward needs the pod name and a gateway", target=target.label,
        ))
    if tunnels is not None:
        return tunnels.exchange(target, query, timeout)
    assert gateway is not None
    with TunnelPool(gateway) as once:
        return once.exchange(target, query, timeout)


def _rcode_text(value: int) -> str:
    import dns.rcode

    return dns.rcode.to_text(dns.rcode.Rcode.make(value))


def _answers(response: object) -> tuple[str, ...]:
    import dns.message

    assert isinstance(response, dns.message.Message)
    lines: list[str] = []
    for rrset in response.answer:
        type_text = rrset.rdtype.name if hasattr(rrset.rdtype, "name") else str(rrset.rdtype)
        for rdata in rrset:
            lines.append(f"{rrset.name.to_text().lower()} {type_text} {rdata.to_text()}")
    return tuple(sorted(lines))


def _soa_owners(response: object) -> tuple[str, ...]:
    import dns.message
    import dns.rdatatype

    assert isinstance(response, dns.message.Message)
    return tuple(
        sorted(r.name.to_text().lower() for r in response.authority if r.rdtype == dns.rdatatype.SOA)
    )


def _require_ip(target: ProbeTarget) -> str:
    if not target.ip:
        raise InputError(msg(
            "verify.target-no-ip", "probe target {target} has no IP; use the port-forward transport",
            target=target.label,
        ))
    return target.ip


def choose_transport(
    target: ProbeTarget,
    gateway: Gateway | None = None,
    *,
    name: str,
    direct_timeout: float = 1.0,
    tunnels: TunnelPool | None = None,
) -> TransportChoice:
    """Direct UDP first (quick to fail when the host is outside the pod network), then DNS over
    TCP through a port-forward. Any answer, even NXDOMAIN, proves the path works."""
    reasons: list[str] = []
    if target.ip:
        direct = probe(target, name, "A", "udp", timeout=direct_timeout)
        if direct.error is None:
            return TransportChoice("udp", msg(
                "verify.transport-udp", "{address} answers directly over UDP",
                    address=f"{target.ip}:{target.port}"
            ))
        reasons.append(msg(
            "verify.transport-udp-failed", "direct UDP to {address}: {error}",
            address=f"{target.ip}:{target.port}", error=direct.error,
        ))
    else:
        reasons.append(msg("verify.transport-no-ip", "no IP to reach directly"))
    if (gateway is not None or tunnels is not None) and target.pod:
        tunnelled = probe(
            target, name, "A", "port-forward", timeout=max(direct_timeout, 5.0), gateway=gateway,
            tunnels=tunnels,
        )
        if tunnelled.error is None:
            return TransportChoice(
                "port-forward",
                msg(
                    "verify.transport-port-forward",
                    "{reasons}; using DNS over TCP through an API server port-forward to pod {pod}",
                    reasons=_joined(reasons), pod=f"{target.namespace}/{target.pod}",
                ),
            )
        reasons.append(msg(
            "verify.transport-port-forward-failed", "port-forward to pod {pod}: {error}",
            pod=f"{target.namespace}/{target.pod}", error=tunnelled.error,
        ))
    raise CheckFailed(msg(
        "verify.dns-server-unreachable",
        "DNS server {target} cannot be reached: {reasons}. Run the wizard from a "
        "host inside the pod network, or check that port-forward is allowed (pods/portforward)",
        target=target.label, reasons=_joined(reasons),
    ))


def _joined(parts: Sequence[str]) -> str:
    """`parts` joined with "; ", each Message rendered again in the language it is shown in."""
    if len(parts) == 1:
        return parts[0]
    return msg("verify.joined", "{first}; {rest}", first=parts[0], rest=_joined(parts[1:]))


class TunnelPool:
    """One API server port-forward per pod and port, kept open and shared by every probe and the
    observation of a run, then closed with `close()`.

    Why: opening a tunnel costs a WebSocket handshake through the API server and a proxy thread
    (several round trips over a WAN); DNS over TCP carries many questions on one connection
    (RFC 7766). Safety: a tunnel is keyed by namespace, pod and port and remembers the pod IP it
    was opened for (a pod recreated under the same name gets a new one); it carries one question
    at a time; any failure closes it, so a late answer to an earlier question is never read as a
    later one's; a kept tunnel found closed (the server's idle timeout, a restart) is opened afresh
    once for the same question."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.opened = 0
        """Tunnels opened so far (what reuse saves is visible in tests and benchmarks)."""
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str, int], _TunnelSlot] = {}

    def __enter__(self) -> TunnelPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def open_count(self) -> int:
        with self._lock:
            return sum(1 for slot in self._slots.values() if slot.forward is not None)

    def exchange(
        self, target: ProbeTarget, query: dns.message.Message, timeout: float
    ) -> dns.message.Message:
        """Send `query` to the target pod's port and return its answer; raises what dnspython
        raises (Timeout, EOFError, OSError, BadResponse) or the gateway's error opening the tunnel."""
        import dns.exception
        import dns.query

        if not target.pod:
            raise InputError(msg(
                "verify.port-forward-needs-pod", "probe of {target} over port-forward needs the pod name",
                target=target.label,
            ))
        key = (target.namespace, target.pod, target.port)
        while True:
            with self._lock:
                slot = self._slots.get(key) or self._slots.setdefault(key, _TunnelSlot())
            with slot.lock:
                if slot.retired:  # closed by `close()` meanwhile: take the pool's new slot
                    continue
                fresh = slot.forward is None or slot.ip != target.ip
                if fresh:
                    slot.drop()
                    slot.forward = self.gateway.port_forward(target.namespace, target.pod, target.port)
                    slot.ip = target.ip
                    with self._lock:
                        self.opened += 1
                forward = slot.forward
                assert forward is not None
                where = target.ip or "127.0.0.1"  # unused by dnspython once it has a socket
                try:
                    return dns.query.tcp(query, where, timeout=timeout, sock=forward.socket)
                except (OSError, EOFError) as err:
                    said = forward.error()
                    slot.drop()
                    if fresh:
                        if said:
                            where = f"{target.namespace}/{target.pod}"
                            raise OSError(msg(
                                "verify.port-forward-said", "port-forward to pod {pod}: {said}", pod=where,
                                    said=said
                            )) from err
                        raise
                    # a kept tunnel the other end had closed: the question never got an answer,
                    # ask it once more on a new tunnel
                except (dns.exception.DNSException, ValueError):
                    slot.drop()
                    raise

    def close(self) -> None:
        """Close every tunnel and wait for their proxy threads; the pool may be used again."""
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            with slot.lock:
                slot.retired = True
                slot.drop()


class _TunnelSlot:
    """One pod port's tunnel (or none yet), used by one question at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.forward: PortForwardSocket | None = None
        self.ip: str | None = None
        self.retired = False

    def drop(self) -> None:
        if self.forward is not None:
            self.forward.close()
        self.forward = None


# ---- the default probe set --------------------------------------------------------------------


def pod_search_path(namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """The `search` line kubelet writes into a pod's resolv.conf."""
    domain = cluster_domain.strip(".")
    return (f"{namespace}.svc.{domain}", f"svc.{domain}", domain)


def cluster_fqdn(name: str, namespace: str, cluster_domain: str) -> str:
    """The absolute name a pod in `namespace` ends up resolving for a short cluster name.

    `svc` -> svc.NS.svc.DOMAIN (first search entry); `svc.ns` -> svc.ns.svc.DOMAIN (second
    entry, `svc.DOMAIN`); `svc.ns.svc` -> + DOMAIN (third); names already under the cluster domain
    or ending in a dot are kept. So the guide's `nslookup kubernetes.default` means
    kubernetes.default.svc.DOMAIN; the domain is the cluster's (facts), never assumed."""
    domain = cluster_domain.strip(".")
    stripped = name.rstrip(".")
    if not stripped:
        raise InputError(msg("verify.empty-name", "probe name {name} is empty", name=repr(name)))
    if name.endswith(".") or stripped == domain or stripped.endswith("." + domain):
        return stripped
    labels = stripped.split(".")
    if len(labels) == 1:
        return f"{stripped}.{namespace}.svc.{domain}"
    if len(labels) == 2:
        return f"{stripped}.svc.{domain}"
    if len(labels) == 3 and labels[2] == "svc":
        return f"{stripped}.{domain}"
    return stripped


def reverse_name(ip: str) -> str:
    """`10.96.0.1` -> `1.0.96.10.in-addr.arpa` (IPv6 too), the PTR question for an address."""
    try:
        return ipaddress.ip_address(ip).reverse_pointer
    except ValueError:
        raise InputError(msg("verify.reverse-not-ip", "reverse lookup: {ip} is not an IP address",
            ip=repr(ip))) from None


def service_of(fqdn: str, cluster_domain: str) -> str | None:
    """`name.ns.svc.DOMAIN` -> `ns/name`: the Service the API holds for a cluster name; None for
    names that are not a Service's (pods, outside names)."""
    suffix = f".svc.{cluster_domain.strip('.')}"
    if not fqdn.endswith(suffix):
        return None
    labels = fqdn[: -len(suffix)].split(".")
    return f"{labels[1]}/{labels[0]}" if len(labels) == 2 else None


def default_probe_set(
    cluster_domain: str,
    business_names: Iterable[str] = (),
    namespace: str = "default",
    external_name: str = DEFAULT_EXTERNAL_NAME,
    stub_domains: Iterable[str] = (),
    kubernetes_service_ip: str | None = None,
) -> list[ProbeQuery]:
    """The questions of the guide's step 3, made absolute the way a pod's resolver would, each
    with what decides its verdict: the Service it names, the stub domain it belongs to."""
    domain = cluster_domain.strip(".")
    if not domain:
        raise InputError(msg(
            "verify.empty-domain", "probe set: the cluster domain is empty; it comes from kube-dns's --domain"
        ))
    search = " ".join(pod_search_path("default", domain))
    kubernetes = cluster_fqdn("kubernetes.default", "default", domain)
    queries = [
        ProbeQuery(
            kubernetes, "A", "cluster",
            msg(
                "verify.note-kubernetes-default",
                "the guide's `kubernetes.default`, expanded with a pod's search path ({search})",
                    search=search,
            ),
            service="default/kubernetes",
        )
    ]
    for raw in business_names:
        name, _, ns = raw.partition("/") if "/" in raw else (raw, "", "")
        fqdn = cluster_fqdn(name, ns or namespace, domain)
        service = service_of(fqdn, domain)
        what = (
            f"Service {service}" if service
            else msg("verify.note-not-service", "not a Service name: compared with kube-dns")
        )
        note = msg("verify.note-business", "business name {name} ({what})", name=raw, what=what)
        queries.append(ProbeQuery(fqdn, "A", "business", note, service=service))
    if external_name:
        queries.append(ProbeQuery(
            external_name.rstrip("."), "A", "external", msg("verify.note-outside",
                "a name outside the cluster")
        ))
    for stub in stub_domains:
        zone = stub.strip(".").lower()
        note = msg("verify.note-stub", "stub domain {zone} (forwarded)", zone=zone)
        queries.append(ProbeQuery(zone, "A", "stub", note, zone=zone))
    if kubernetes_service_ip:
        queries.append(
            ProbeQuery(
                reverse_name(kubernetes_service_ip), "PTR", "reverse",
                msg(
                    "verify.note-reverse", "reverse lookup of the kubernetes Service IP {ip}",
                    ip=kubernetes_service_ip,
                ),
                service="default/kubernetes",
            )
        )
    return queries


# ---- observation window -----------------------------------------------------------------------


@dataclass
class ObservationStats:
    """Error counts and latency percentiles over the observation window (thread-safe)."""

    total: int = 0
    failures: int = 0
    rcodes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    _latencies: list[float] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, result: ProbeResult, passed: bool | None = None) -> None:
        """Count one answer; `passed` is its verdict (default: a positive answer, since the
        observation only asks names that exist)."""
        good = result.ok if passed is None else passed
        with self._lock:
            self.total += 1
            if result.error is not None:
                self.failures += 1
                self.errors[result.error.split(":")[0]] += 1
                return
            self.rcodes[result.rcode] += 1
            if not good:
                self.failures += 1
            self._latencies.append(result.latency_ms)

    def record_all(self, results: Iterable[ProbeResult]) -> None:
        for r in results:
            self.record(r)

    @property
    def error_rate(self) -> float:
        with self._lock:
            return self.failures / self.total if self.total else 0.0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of answered queries' latency (ms); None before any answer."""
        with self._lock:
            data = sorted(self._latencies)
        if not data:
            return None
        rank = max(1, math.ceil(q / 100.0 * len(data)))
        return data[min(rank, len(data)) - 1]

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    @property
    def max(self) -> float | None:
        return self.percentile(100)

    def summary(self) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f} ms"

        return msg(
            "verify.observation-summary",
            "{total} queries, {failures} failed ({rate:.1%}); p50 {p50}, p95 {p95}, max {max}",
            total=self.total, failures=self.failures, rate=self.error_rate,
            p50=ms(self.p50), p95=ms(self.p95), max=ms(self.max),
        )


class PinnedSocket:
    """One UDP socket kept open for the whole observation, so every query leaves from the same
    source port, as a client that keeps its resolver socket does (glibc within a process, most
    language runtimes, sidecars). Through a Service IP such a client stays pinned to one backend
    (an IPVS or conntrack session) while it keeps sending: a fresh socket per query never sees a
    session stuck on a backend that was removed."""

    def __init__(self, target: ProbeTarget) -> None:
        import socket

        self.target = target
        ip = _require_ip(target)
        family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        self._sock.setblocking(False)  # dnspython waits with its own timeout only on these
        self.source_port = int(self._sock.getsockname()[1])
        self.label = msg(
            "verify.pinned-label", "{target} from pinned port {port}", target=target.label,
                port=self.source_port
        )

    def ask(self, name: str, rdtype: str = "A", *, timeout: float = 2.0) -> ProbeResult:
        """Like `probe` over UDP, through this socket; a late answer to an earlier query is
        skipped (its id differs), never taken for this one's."""
        import dns.exception
        import dns.message
        import dns.query
        import dns.rdatatype

        query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
        started = time.monotonic()

        def result(
            rcode: str, answers: tuple[str, ...], error: str | None, soa: tuple[str, ...] = ()
        ) -> ProbeResult:
            latency = (time.monotonic() - started) * 1000.0
            return ProbeResult(self.label, name, rdtype.upper(), rcode, answers, latency, error, "udp", soa)

        try:
            response = dns.query.udp(
                query, _require_ip(self.target), timeout=timeout, port=self.target.port,
                sock=self._sock, ignore_unexpected=True, ignore_errors=True,
            )
        except dns.exception.Timeout:
            return result("", (), msg("verify.no-answer-within", "no answer within {timeout:g}s",
                timeout=timeout))
        except (OSError, EOFError, dns.exception.DNSException) as err:
            return result("", (), f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
        return result(_rcode_text(response.rcode()), _answers(response), None, _soa_owners(response))

    def close(self) -> None:
        self._sock.close()


def probe_all(
    targets: Sequence[ProbeTarget],
    queries: Sequence[ProbeQuery],
    transports: Mapping[str, Transport] | None = None,
    *,
    timeout: float = 2.0,
    gateway: Gateway | None = None,
) -> list[ProbeResult]:
    """Every query against every target, sequentially (a handful of queries per step)."""
    results = []
    for target in targets:
        transport = (transports or {}).get(target.label, "udp")
        for q in queries:
            results.append(probe(target, q.name, q.rdtype, transport, timeout=timeout, gateway=gateway))
    return results
