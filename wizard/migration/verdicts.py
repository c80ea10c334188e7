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
from wizard.i18n import msg
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
        word = {
            "yes": msg("verify.verdict-ok", "ok"),
            "NO": msg("verify.verdict-failed", "FAILED"),
            "?": msg("verify.verdict-inconclusive", "inconclusive"),
        }[self.mark]
        question = f"{self.query.purpose} {self.query.name} {self.query.rdtype}"
        return msg(
            "verify.verdict-line", "{target}: {question}: {word}: {reason}",
            target=self.result.target, question=question, word=word, reason=self.reason,
        )


def _shown(records: frozenset[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(sorted(records)) + "]" if records else msg("verify.no-records", "no records")


def _said(result: ProbeResult) -> str:
    if result.error is not None:
        return msg("verify.said-no-answer", "no answer ({error})", error=result.error)
    return msg("verify.said-answer", "{rcode} {records}", rcode=result.rcode,
        records=_shown(result.records()))


def judge(
    query: ProbeQuery, got: ProbeResult, baseline: ProbeResult | None, expected: Expected = NO_EXPECTATION
) -> Verdict:
    """The verdict on CoreDNS's answer `got` to `query`; `baseline` is kube-dns's answer to the
    same question (None when no kube-dns pod is left), `expected` what the API says."""

    def verdict(passed: bool, reason: str, conclusive: bool = True) -> Verdict:
        return Verdict(passed, conclusive, query, got, baseline, reason)

    if got.error is not None:
        return verdict(False, msg("verify.coredns-no-answer", "CoreDNS gave no answer ({error})",
            error=got.error))
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
            return verdict(False, msg(
                "verify.business-not-noerror",
                    "CoreDNS says {rcode} for a name the operator expects to exist",
                rcode=got.rcode,
            ))
        if baseline is None or baseline.error is not None:
            return verdict(True, msg(
                "verify.business-no-baseline", "NOERROR {records}; no kube-dns answer to compare with",
                records=_shown(got.records()),
            ))
        if baseline.rcode != "NOERROR" or baseline.records() != got.records():
            return verdict(False, msg(
                "verify.business-differ", "CoreDNS {got}, kube-dns {baseline}",
                got=_said(got), baseline=_said(baseline),
            ))
        return verdict(True, msg(
            "verify.business-same", "NOERROR {records}, the same as kube-dns", records=_shown(got.records())
        ))
    if got.rcode != "NOERROR":
        return verdict(False, msg(
            "verify.service-not-noerror", "CoreDNS says {rcode}, but {source} exists: want {want}",
            rcode=got.rcode, source=expected.source, want=_shown(want),
        ))
    if got.records() != want:
        return verdict(
            False, msg(
                "verify.service-wrong-records", "CoreDNS answers {records}, but {source}: want {want}",
                records=_shown(got.records()), source=expected.source, want=_shown(want),
            ),
        )
    if baseline is None:
        return verdict(True, msg(
            "verify.service-no-kube-dns-pod", "{want} as {source} (no kube-dns pod left to ask)",
            want=_shown(want), source=expected.source,
        ))
    if baseline.error is not None:
        return verdict(
            True, msg(
                "verify.service-kube-dns-no-answer", "{want} as {source} (kube-dns gave no answer: {error})",
                want=_shown(want), source=expected.source, error=baseline.error,
            ),
        )
    if baseline.rcode != "NOERROR" or baseline.records() != want:
        return verdict(
            False,
            msg(
                "verify.service-kube-dns-wrong",
                "kube-dns says {baseline} but {source}: want {want}; the probe cannot "
                "tell a right answer from a wrong one (is the cluster domain right?)",
                baseline=_said(baseline), source=expected.source, want=_shown(want),
            ),
        )
    return verdict(True, msg(
        "verify.service-passed", "{want} as {source}, kube-dns too", want=_shown(want), source=expected.source
    ))


def _judge_stub(query: ProbeQuery, got: ProbeResult, baseline: ProbeResult | None, verdict: _Make) -> Verdict:
    zone = (query.zone or query.name).strip(".").lower() + "."
    if got.rcode != "NOERROR":
        return verdict(
            False,
            msg(
                "verify.stub-not-noerror",
                "CoreDNS says {rcode}: the nameserver of stub domain {zone} did not answer it "
                "(a resolver that does not know the zone says NXDOMAIN)",
                rcode=got.rcode, zone=zone,
            ),
        )
    from_zone = bool(got.records()) or any(
        owner == zone or owner.endswith("." + zone) for owner in got.authority
    )
    if not from_zone:
        return verdict(
            False, msg(
                "verify.stub-not-from-zone",
                "NOERROR without records or the SOA of {zone}: not the stub's nameserver's answer", zone=zone,
            ),
        )
    if baseline is None or baseline.error is not None:
        why = (
            msg("verify.stub-no-kube-dns-pod", "no kube-dns pod left") if baseline is None
            else msg("verify.stub-kube-dns-no-answer", "kube-dns gave no answer: {error}",
                error=baseline.error)
        )
        return verdict(True, msg(
            "verify.stub-no-baseline", "NOERROR {records} from stub domain {zone} ({why})",
            records=_shown(got.records()), zone=zone, why=why,
        ))
    if baseline.rcode != got.rcode or baseline.records() != got.records():
        return verdict(False, msg(
            "verify.stub-differ", "CoreDNS {got}, kube-dns {baseline} (the same stub nameserver)",
            got=_said(got), baseline=_said(baseline),
        ))
    return verdict(True, msg(
        "verify.stub-same", "NOERROR {records} from stub domain {zone}, the same as kube-dns",
        records=_shown(got.records()), zone=zone,
    ))


def _judge_outside(got: ProbeResult, baseline: ProbeResult | None, verdict: _Make) -> Verdict:
    mine = rcode_class(got)
    if baseline is None:
        if mine == "answer":
            return verdict(True, msg(
                "verify.outside-no-baseline", "NOERROR {records} (no kube-dns pod left to compare with)",
                records=_shown(got.records()),
            ))
        if mine == "negative":
            return verdict(True, msg(
                "verify.outside-nxdomain-no-baseline", "NXDOMAIN, and no kube-dns pod left to compare with"
            ), conclusive=False)
        return verdict(False, msg(
            "verify.outside-failure", "CoreDNS says {rcode} for the outside name", rcode=got.rcode
        ))
    theirs = rcode_class(baseline)
    if mine != theirs:
        return verdict(False, msg(
            "verify.outside-differ", "CoreDNS {got}, kube-dns {baseline}: a different kind of answer",
            got=_said(got), baseline=_said(baseline),
        ))
    if mine == "answer":
        return verdict(True, msg(
            "verify.outside-passed", "NOERROR, kube-dns too (records may differ: {records})",
            records=_shown(got.records()),
        ))
    return verdict(
        True,
        msg(
            "verify.outside-both-negative",
            "CoreDNS {got}, kube-dns {baseline}: the outside name does not resolve from "
            "this cluster, which proves nothing; give one that does with --outside-name",
            got=_said(got), baseline=_said(baseline),
        ),
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
        return Expected(None, where, msg(
            "verify.expected-unreadable", "cannot read {where} to know the right answer: {error}",
            where=where, error=str(err),
        ))
    if service is None:
        return Expected(
            None,
            where,
            msg(
                "verify.expected-missing",
                "{where} does not exist, so {name} has no right answer; probe a Service that exists",
                where=where, name=query.name,
            ),
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
            None, where, msg(
                "verify.expected-external-name",
                "{where} is an ExternalName ({target}): probe a Service with a ClusterIP", where=where,
                    target=target,
            ),
        )
    if svc.has_cluster_ip:
        return Expected(frozenset({svc.cluster_ip}), f"{where} ClusterIP {svc.cluster_ip}")
    ips = EndpointsView.from_obj(gateway.try_get("Endpoints", namespace, name)).ready
    if not ips:
        return Expected(
            None, where, msg(
                "verify.expected-headless-empty",
                "{where} is headless with no ready endpoint: probe a Service that has one", where=where,
            ),
        )
    return Expected(ips, msg("verify.expected-headless", "headless {where} ready endpoints", where=where))
