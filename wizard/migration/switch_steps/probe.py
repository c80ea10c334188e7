"""Probing the Ready CoreDNS pods with the plan's questions, compared with a kube-dns pod:
the questions, the targets, and the transport chosen once per target (direct, tunnel, exec)."""

from __future__ import annotations

from wizard.k8s.objects import Obj
from wizard.migration.plan import Step
from wizard.migration.probes import ProbeQuery, ProbeResult, ProbeTarget, choose_transport, probe
from wizard.migration.progress import Note, Outcome, ProbeBatch, Problem, Waiting
from wizard.migration.step_runner import ROLLBACK_ADVICE, SwitchStop
from wizard.migration.switch_steps.context import PROBE_TIMEOUT_S, SwitchContext
from wizard.migration.verdicts import Verdict, expected_records, judge


def probe_step(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    if ctx.dry_run:
        ctx.emit(Waiting("dry-run: would probe the new CoreDNS pods and a kube-dns pod", 0.0, 0.0))
        return "skipped", "dry-run: no pods to probe"
    pods = ctx.pods()
    coredns = pods.ready("coredns")
    kube_dns = [p for p in pods.ready("kube-dns") if not p["metadata"].get("deletionTimestamp")]
    if not coredns:
        raise SwitchStop("no Ready CoreDNS pod to probe")
    queries = questions(ctx)
    baseline = target(ctx, kube_dns[0]) if kube_dns else None
    targets = [target(ctx, p) for p in coredns]
    verdicts: list[Verdict] = []
    for query in queries:
        expected = expected_records(ctx.gateway, query, ctx.plan.cluster_domain)
        base = ask(ctx, baseline, query.name, query.rdtype) if baseline else None
        for each in targets:
            got = ask(ctx, each, query.name, query.rdtype)
            verdicts.append(judge(query, got, base, expected))
    used = [t.label for t in targets] + ([baseline.label] if baseline else [])
    transports = tuple(f"{label}: {ctx.transports[label]}" for label in used if label in ctx.transports)
    ctx.emit(ProbeBatch(tuple(verdicts), transports))
    failures = [v for v in verdicts if not v.passed]
    if failures:
        evidence = tuple(v.line for v in failures)
        ctx.emit(Problem("CoreDNS answered wrongly or not at all", ROLLBACK_ADVICE, evidence))
        raise SwitchStop(f"probe failed: {failures[0].line}", ROLLBACK_ADVICE, evidence)
    against = f" compared with {baseline.label}" if baseline else " (no kube-dns pod left to compare with)"
    unsure = [v for v in verdicts if not v.conclusive]
    doubt = f"; inconclusive: {unsure[0].reason}" if unsure else ""
    return (
        "done",
        f"{len(queries)} question(s) to {len(targets)} CoreDNS pod(s){against}: all right{doubt}",
    )


def questions(ctx: SwitchContext) -> tuple[ProbeQuery, ...]:
    """The plan's probe questions: the TUI and the command show and ask the same ones."""
    if not ctx.plan.probes or not ctx.plan.cluster_domain:
        raise SwitchStop(
            "the plan has no probe questions or no cluster domain, so CoreDNS cannot be verified",
            "rebuild the plan with `coredns-wizard plan` (it reads the domain from kube-dns's --domain)",
        )
    return ctx.plan.probes


def cluster_question(ctx: SwitchContext) -> ProbeQuery:
    """The plan's cluster name (kubernetes.default.svc.DOMAIN): what the observation asks."""
    for query in questions(ctx):
        if query.purpose == "cluster":
            return query
    raise SwitchStop("the plan has no cluster-name probe", "rebuild the plan with `coredns-wizard plan`")


def target(ctx: SwitchContext, pod: Obj) -> ProbeTarget:
    name = str(pod["metadata"]["name"])
    ip = str((pod.get("status") or {}).get("podIP") or "") or None
    return ProbeTarget(f"{name} ({ip})", ip, ctx.dns_port, name, ctx.ns)


def ask(ctx: SwitchContext, target: ProbeTarget, name: str, rdtype: str) -> ProbeResult:
    """One question to one target, over the transport chosen (and announced) on its first."""
    transport = ctx.transports.get(target.label)
    if transport is None:
        choice = choose_transport(
            target, ctx.gateway, name=cluster_question(ctx).name, tunnels=ctx.tunnels
        )
        transport = choice.transport
        ctx.transports[target.label] = transport
        ctx.emit(Note(f"probing {target.label} over {transport}: {choice.reason}"))
    return probe(
        target, name, rdtype, transport, timeout=PROBE_TIMEOUT_S, gateway=ctx.gateway,
        tunnels=ctx.tunnels,
    )
