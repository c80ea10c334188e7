"""Probing the Ready CoreDNS pods with the plan's questions, compared with a kube-dns pod:
the questions, the targets, and the transport chosen once per target (direct, tunnel, exec)."""

from __future__ import annotations

from wizard.i18n import msg
from wizard.k8s.objects import Obj
from wizard.migration.plan import Step
from wizard.migration.probes import ProbeQuery, ProbeResult, ProbeTarget, choose_transport, probe
from wizard.migration.progress import Note, Outcome, ProbeBatch, Problem, Waiting
from wizard.migration.step_runner import SwitchStop, rollback_advice
from wizard.migration.switch_steps.context import PROBE_TIMEOUT_S, SwitchContext
from wizard.migration.verdicts import Verdict, expected_records, judge


def probe_step(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    if ctx.dry_run:
        waiting = msg(
            "switch.dry-run-probe-wait", "dry-run: would probe the new CoreDNS pods and a kube-dns pod"
        )
        ctx.emit(Waiting(waiting, 0.0, 0.0))
        return "skipped", msg("switch.dry-run-no-probe", "dry-run: no pods to probe")
    pods = ctx.pods()
    coredns = pods.ready("coredns")
    kube_dns = [p for p in pods.ready("kube-dns") if not p["metadata"].get("deletionTimestamp")]
    if not coredns:
        raise SwitchStop(msg("switch.no-ready-pod-to-probe", "no Ready CoreDNS pod to probe"))
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
        problem = msg("switch.probe-wrong-answers", "CoreDNS answered wrongly or not at all")
        ctx.emit(Problem(problem, rollback_advice(), evidence))
        failed = msg("switch.probe-failed", "probe failed: {line}", line=failures[0].line)
        raise SwitchStop(failed, rollback_advice(), evidence)
    unsure = [v for v in verdicts if not v.conclusive]
    counts = {"questions": len(queries), "pods": len(targets)}
    if baseline:
        result = msg(
            "switch.probe-passed-compared",
            "{questions} question(s) to {pods} CoreDNS pod(s) compared with {baseline}: all right",
            baseline=baseline.label, **counts,
        )
    else:
        result = msg(
            "switch.probe-passed-alone",
            "{questions} question(s) to {pods} CoreDNS pod(s) (no kube-dns pod left to compare "
            "with): all right",
            **counts,
        )
    if unsure:
        result = msg(
            "switch.probe-passed-inconclusive", "{result}; inconclusive: {reason}",
            result=result, reason=unsure[0].reason,
        )
    return "done", result


def questions(ctx: SwitchContext) -> tuple[ProbeQuery, ...]:
    """The plan's probe questions: the TUI and the command show and ask the same ones."""
    if not ctx.plan.probes or not ctx.plan.cluster_domain:
        raise SwitchStop(
            msg(
                "switch.plan-has-no-probes",
                "the plan has no probe questions or no cluster domain, so CoreDNS cannot be verified",
            ),
            msg(
                "switch.rebuild-plan-domain",
                "rebuild the plan with `coredns-wizard plan` (it reads the domain from kube-dns's --domain)",
            ),
        )
    return ctx.plan.probes


def cluster_question(ctx: SwitchContext) -> ProbeQuery:
    """The plan's cluster name (kubernetes.default.svc.DOMAIN): what the observation asks."""
    for query in questions(ctx):
        if query.purpose == "cluster":
            return query
    raise SwitchStop(
        msg("switch.plan-has-no-cluster-probe", "the plan has no cluster-name probe"),
        msg("switch.rebuild-plan", "rebuild the plan with `coredns-wizard plan`"),
    )


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
        ctx.emit(Note(msg(
            "switch.probing-over", "probing {target} over {transport}: {reason}",
            target=target.label, transport=transport, reason=choice.reason,
        )))
    return probe(
        target, name, rdtype, transport, timeout=PROBE_TIMEOUT_S, gateway=ctx.gateway,
        tunnels=ctx.tunnels,
    )
