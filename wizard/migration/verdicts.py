"""The verdict on one probe answer, decided by what the question is for.

Why one function: the switch's probe step, its observation and both faces (the command's printer
and the TUI's probes pane) must agree on what a right answer is, so the rule lives here once and
travels as a `Verdict` in the engine's events; nobody recomputes it.

The rules, by purpose:
- cluster, business and reverse names name a Service: the answer must be NOERROR with exactly the
  records the API says (its ClusterIP; the ready endpoint IPs of a headless Service; the Service's
  name for the PTR of its IP). NXDOMAIN for an existing Service is a failure, from CoreDNS and
  from kube-dns alike (a kube-dns that fails it means the probe cannot tell right from wrong).
- stub names must be answered by the stub's nameserver: NOERROR with records or with the zone's
  SOA, and exactly kube-dns's answer when kube-dns answered (it asks the same nameserver).
- the outside name may differ in records (CDNs rotate), never in rcode class.
"Both NXDOMAIN" never proves anything: for a name that exists it fails; for the outside name it
is inconclusive (shown, does not stop the switch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from wizard.errors import WizardError
from wizard.k8s.objects import EndpointsView, ServiceView
from wizard.migration.probes import ProbeQuery, ProbeResult

if TYPE_CHECKING:
    from wizard.k8s.gateway import Gateway

RcodeClass = Literal["answer", "negative", "failure"]


def rcode_class(result: ProbeResult) -> RcodeClass:
    """NOERROR is an answer, NXDOMAIN a negative answer, anything else (SERVFAIL, REFUSED, no
    answer at all) a failure."""
    if result.error is not None:
        return "failure"
    if result.rcode == "NOERROR":
        return "answer"
    if result.rcode == "NXDOMAIN":
        return "negative"
    return "failure"


@dataclass(frozen=True)
class Expected:
    """What the API says a name's records are, read just before the question is asked."""

    records: frozenset[str] | None
    """rdata of the question's type (addresses, or the PTR target with its trailing dot); None
    when the question names no Service (outside and stub names) or the API could not say."""
    source: str = ""
    """Where the records come from, e.g. "Service default/nginx ClusterIP 10.96.3.4"."""
    problem: str | None = None
    """Why the API could not say (the Service is missing, headless without ready endpoints)."""


NO_EXPECTATION = Expected(None)


@dataclass(frozen=True)
class Verdict:
    """The judgement on one CoreDNS answer, with the kube-dns answer it was read against."""

    passed: bool
    conclusive: bool
    """False when the answer proves nothing either way (both fail the outside name)."""
    query: ProbeQuery
    result: ProbeResult
    baseline: ProbeResult | None
    reason: str

    @property
    def mark(self) -> str:
        """ "yes", "NO" or "?" (passed but inconclusive)."""
        if not self.passed:
            return "NO"
        return "yes" if self.conclusive else "?"

    @property
    def line(self) -> str:
        """One line for logs and the command's output."""
        word = {"yes": "ok", "NO": "FAILED", "?": "inconclusive"}[self.mark]
        question = f"{self.query.purpose} {self.query.name} {self.query.rdtype}"
        return f"{self.result.target}: {question}: {word}: {self.reason}"


def _shown(records: frozenset[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(sorted(records)) + "]" if records else "no records"


def _said(result: ProbeResult) -> str:
    if result.error is not None:
        return f"no answer ({result.error})"
    return f"{result.rcode} {_shown(result.records())}"


def judge(
    query: ProbeQuery, got: ProbeResult, baseline: ProbeResult | None, expected: Expected = NO_EXPECTATION
) -> Verdict:
    """The verdict on CoreDNS's answer `got` to `query`; `baseline` is kube-dns's answer to the
    same question (None when no kube-dns pod is left), `expected` what the API says."""

    def verdict(passed: bool, reason: str, conclusive: bool = True) -> Verdict:
        return Verdict(passed, conclusive, query, got, baseline, reason)

    if got.error is not None:
        return verdict(False, f"CoreDNS gave no answer ({got.error})")
    if query.purpose in ("cluster", "business", "reverse"):
        return _judge_service_name(query, got, baseline, expected, verdict)
    if query.purpose == "stub":
        return _judge_stub(query, got, baseline, verdict)
    return _judge_outside(got, baseline, verdict)


def _judge_service_name(
    query: ProbeQuery,
    got: ProbeResult,
    baseline: ProbeResult | None,
    expected: Expected,
    verdict: _Make,
) -> Verdict:
    if expected.problem is not None:
        return verdict(False, expected.problem)
    want = expected.records
    if want is None:
        # a business name the operator gave that is no Service's: the two servers must agree exactly
        if got.rcode != "NOERROR":
            return verdict(False, f"CoreDNS says {got.rcode} for a name the operator expects to exist")
        if baseline is None or baseline.error is not None:
            return verdict(True, f"NOERROR {_shown(got.records())}; no kube-dns answer to compare with")
        if baseline.rcode != "NOERROR" or baseline.records() != got.records():
            return verdict(False, f"CoreDNS {_said(got)}, kube-dns {_said(baseline)}")
        return verdict(True, f"NOERROR {_shown(got.records())}, the same as kube-dns")
    if got.rcode != "NOERROR":
        return verdict(False, f"CoreDNS says {got.rcode}, but {expected.source} exists: want {_shown(want)}")
    if got.records() != want:
        return verdict(
            False, f"CoreDNS answers {_shown(got.records())}, but {expected.source}: want {_shown(want)}"
        )
    if baseline is None:
        return verdict(True, f"{_shown(want)} as {expected.source} (no kube-dns pod left to ask)")
    if baseline.error is not None:
        return verdict(
            True, f"{_shown(want)} as {expected.source} (kube-dns gave no answer: {baseline.error})"
        )
    if baseline.rcode != "NOERROR" or baseline.records() != want:
        return verdict(
            False,
            f"kube-dns says {_said(baseline)} but {expected.source}: want {_shown(want)}; the probe cannot "
            "tell a right answer from a wrong one (is the cluster domain right?)",
        )
    return verdict(True, f"{_shown(want)} as {expected.source}, kube-dns too")


def _judge_stub(query: ProbeQuery, got: ProbeResult, baseline: ProbeResult | None, verdict: _Make) -> Verdict:
    zone = (query.zone or query.name).strip(".").lower() + "."
    if got.rcode != "NOERROR":
        return verdict(
            False,
            f"CoreDNS says {got.rcode}: the nameserver of stub domain {zone} did not answer it "
            "(a resolver that does not know the zone says NXDOMAIN)",
        )
    from_zone = bool(got.records()) or any(
        owner == zone or owner.endswith("." + zone) for owner in got.authority
    )
    if not from_zone:
        return verdict(
            False, f"NOERROR without records or the SOA of {zone}: not the stub's nameserver's answer"
        )
    if baseline is None or baseline.error is not None:
        why = "no kube-dns pod left" if baseline is None else f"kube-dns gave no answer: {baseline.error}"
        return verdict(True, f"NOERROR {_shown(got.records())} from stub domain {zone} ({why})")
    if baseline.rcode != got.rcode or baseline.records() != got.records():
        return verdict(False, f"CoreDNS {_said(got)}, kube-dns {_said(baseline)} (the same stub nameserver)")
    return verdict(True, f"NOERROR {_shown(got.records())} from stub domain {zone}, the same as kube-dns")


def _judge_outside(got: ProbeResult, baseline: ProbeResult | None, verdict: _Make) -> Verdict:
    mine = rcode_class(got)
    if baseline is None:
        if mine == "answer":
            return verdict(True, f"NOERROR {_shown(got.records())} (no kube-dns pod left to compare with)")
        if mine == "negative":
            return verdict(True, "NXDOMAIN, and no kube-dns pod left to compare with", conclusive=False)
        return verdict(False, f"CoreDNS says {got.rcode} for the outside name")
    theirs = rcode_class(baseline)
    if mine != theirs:
        return verdict(False, f"CoreDNS {_said(got)}, kube-dns {_said(baseline)}: a different kind of answer")
    if mine == "answer":
        return verdict(True, f"NOERROR, kube-dns too (records may differ: {_shown(got.records())})")
    return verdict(
        True,
        f"CoreDNS {_said(got)}, kube-dns {_said(baseline)}: the outside name does not resolve from "
        "this cluster, which proves nothing; give one that does with --outside-name",
        conclusive=False,
    )


class _Make(Protocol):
    """The shape of the `verdict` closure the rules receive (for the type checker)."""

    def __call__(self, passed: bool, reason: str, conclusive: bool = True) -> Verdict: ...


# ---- what the API says ---------------------------------------------------------------------


def expected_records(gateway: Gateway, query: ProbeQuery, cluster_domain: str) -> Expected:
    """The records the API says `query` has, read now (a Service may have been recreated)."""
    if query.service is None or query.purpose not in ("cluster", "business", "reverse"):
        return NO_EXPECTATION
    namespace, _, name = query.service.partition("/")
    where = f"Service {namespace}/{name}"
    try:
        service = gateway.try_get("Service", namespace, name)
    except WizardError as err:
        return Expected(None, where, f"cannot read {where} to know the right answer: {err}")
    if service is None:
        return Expected(
            None,
            where,
            f"{where} does not exist, so {query.name} has no right answer; probe a Service that exists",
        )
    svc = ServiceView.from_obj(service)
    domain = cluster_domain.strip(".")
    if query.purpose == "reverse":
        return Expected(
            frozenset({f"{name}.{namespace}.svc.{domain}."}), f"{where} (ClusterIP {svc.cluster_ip or None})"
        )
    if svc.type == "ExternalName":
        target = svc.external_name.rstrip(".").lower() + "."
        return Expected(
            None, where, f"{where} is an ExternalName ({target}): probe a Service with a ClusterIP"
        )
    if svc.has_cluster_ip:
        return Expected(frozenset({svc.cluster_ip}), f"{where} ClusterIP {svc.cluster_ip}")
    ips = EndpointsView.from_obj(gateway.try_get("Endpoints", namespace, name)).ready
    if not ips:
        return Expected(
            None, where, f"{where} is headless with no ready endpoint: probe a Service that has one"
        )
    return Expected(ips, f"headless {where} ready endpoints")
