"""Waiting until the CoreDNS pods a round needs are Ready, stopping early on a crash loop or a
pod no node can take, with the failing pods' status, events and logs as evidence."""

from __future__ import annotations

from wizard.durations import human_duration
from wizard.errors import WizardError
from wizard.i18n import msg
from wizard.k8s.objects import Obj, pod_is_ready
from wizard.k8s.watch import WaitTimeout
from wizard.migration.dns_pods import DnsPods, list_dns_pods
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import Step
from wizard.migration.progress import Outcome, PodsChanged, Problem, Waiting
from wizard.migration.step_runner import SwitchStop, rollback_advice
from wizard.migration.switch_steps.context import SwitchContext
from wizard.textsafety import escape_control

CRASH_LOOP_RESTARTS = 3
"""Restarts after which a crash-looping CoreDNS pod stops the wait early (its logs say why)."""


def wait_ready(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    want = step.replicas if step.replicas is not None else ctx.coredns_count_before(step)
    what = msg(
        "switch.wait-ready-pods", "{want} Ready pod(s) of Deployment {deployment}",
        want=want, deployment=f"{ctx.ns}/{ctx.options.coredns_deployment}",
    )
    if ctx.dry_run:
        waiting = msg("switch.dry-run-would-wait-for", "dry-run: would wait for {what}", what=what)
        ctx.emit(Waiting(waiting, 0.0, 0.0))
        return "skipped", msg(
            "switch.dry-run-would-wait-up-to", "dry-run: would wait up to {timeout} for {what}",
            timeout=human_duration(ctx.options.ready_timeout_seconds), what=what,
        )
    found, failure = _wait_for_ready(ctx, want, what)
    if failure:
        evidence = pod_evidence(ctx, [p for p in found.coredns if not pod_is_ready(p)])
        ctx.emit(Problem(failure, rollback_advice(), evidence))
        reason = msg("switch.not-ready", "CoreDNS did not become ready: {failure}", failure=failure)
        raise SwitchStop(reason, rollback_advice(), evidence)
    names = ", ".join(p["metadata"]["name"] for p in found.ready("coredns"))
    return "done", msg("switch.ready-pods", "Ready: {names}", names=names)


def _wait_for_ready(ctx: SwitchContext, want: int, what: str) -> tuple[DnsPods, str]:
    """The DNS pods as last seen, and why the wait failed ("" when `want` are Ready)."""
    rs_cache: dict[str, DnsPods] = {}
    stuck = StuckScheduling()
    refusal: list[str] = []

    def ready(pods: list[Obj]) -> DnsPods | None:
        classified = list_dns_pods(ctx.gateway, ctx.options, pods)
        rs_cache["last"] = classified
        ctx.emit(PodsChanged(classified.views))
        if len(classified.ready("coredns")) >= want or crash_looping(classified.coredns):
            return classified
        message = stuck.check(classified.coredns, pods)
        if message is not None:
            refusal.append(message)
            return classified
        return None

    try:
        found = ctx.wait(
            "Pod", ready, ctx.options.ready_timeout_seconds, what, label_selector="k8s-app=kube-dns"
        )
    except WaitTimeout as err:
        return rs_cache.get("last") or ctx.pods(), str(err)
    if len(found.ready("coredns")) >= want:
        return found, ""
    if refusal:
        return found, msg(
            "switch.refused-while-waiting",
            "{refusal} (while waiting for {what})", refusal=refusal[0], what=what
        )
    return found, msg(
        "switch.crash-looping",
        "a CoreDNS pod keeps crashing ({restarts}+ restarts) while waiting for {what}",
        restarts=CRASH_LOOP_RESTARTS, what=what,
    )


def pod_evidence(ctx: SwitchContext, pods: list[Obj]) -> tuple[str, ...]:
    lines: list[str] = []
    for pod in pods:
        name = str(pod["metadata"]["name"])
        status = pod.get("status") or {}
        if status.get("reason"):
            lines.append(msg(
                "switch.evidence-pod-reason", "pod {pod}: phase {phase}, reason {reason}",
                pod=f"{ctx.ns}/{name}", phase=str(status.get("phase")), reason=str(status["reason"]),
            ))
        else:
            lines.append(msg(
                "switch.evidence-pod",
                "pod {pod}: phase {phase}", pod=f"{ctx.ns}/{name}", phase=str(status.get("phase"))
            ))
        for cond in status.get("conditions") or []:
            if cond.get("status") != "True" and cond.get("message"):
                lines.append(f"  {cond.get('type')}={cond.get('status')}: {cond.get('message')}")
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting:
                detail = f"{waiting.get('reason')} {waiting.get('message') or ''}".rstrip()
                lines.append("  " + msg(
                    "switch.evidence-container-waiting",
                    "container {container} waiting: {detail} (restarts {restarts})",
                    container=str(cs.get("name")), detail=detail, restarts=cs.get("restartCount", 0),
                ))
        lines.extend(_events_and_logs(ctx, name))
    return tuple(escape_control(line) for line in lines)  # cluster text, bound for terminals


def _events_and_logs(ctx: SwitchContext, name: str) -> list[str]:
    lines: list[str] = []
    try:
        for event in ctx.gateway.events_for("Pod", ctx.ns, name)[-5:]:
            lines.append("  " + msg(
                "switch.evidence-event", "event {type} {reason}: {message}",
                type=str(event.get("type")), reason=str(event.get("reason")),
                message=str(event.get("message")),
            ))
    except WizardError as err:
        unavailable = msg("switch.evidence-events-unavailable", "events unavailable: {error}", error=str(err))
        lines.append("  " + unavailable)
    for previous in (False, True):
        try:
            text = ctx.gateway.pod_logs(ctx.ns, name, tail_lines=10, previous=previous)
        except WizardError:
            continue
        for line in text.strip().splitlines()[-10:]:
            if previous:
                logged = msg("switch.evidence-previous-log", "previous container log: {line}", line=line)
                lines.append("  " + logged)
            else:
                lines.append("  " + msg("switch.evidence-log", "log: {line}", line=line))
    return lines


def crash_looping(pods: tuple[Obj, ...]) -> bool:
    """A pod in CrashLoopBackOff after several restarts will not heal by waiting longer."""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if (
                waiting.get("reason") == "CrashLoopBackOff"
                and int(cs.get("restartCount") or 0) >= CRASH_LOOP_RESTARTS
            ):
                return True
    return False
