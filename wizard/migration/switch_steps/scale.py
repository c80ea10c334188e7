"""Scaling CoreDNS up and kube-dns down. A kube-dns scale-down goes ahead only through the IPVS
gate and once CoreDNS serves as planned (re-probed right before), and waits for the pods to go."""

from __future__ import annotations

from wizard.i18n import msg
from wizard.k8s.objects import Obj, spec_replicas
from wizard.k8s.watch import WaitTimeout
from wizard.migration.dns_pods import endpoint_membership, list_dns_pods
from wizard.migration.ipvs_gate import IpvsGateTracker, acknowledge
from wizard.migration.plan import Step
from wizard.migration.progress import EndpointsChanged, Note, Outcome, PodsChanged
from wizard.migration.step_runner import SwitchStop
from wizard.migration.switch_steps.context import ENDPOINT_PROPAGATION_TIMEOUT_S, SwitchContext
from wizard.migration.switch_steps.observation import pin_clients
from wizard.migration.switch_steps.probe import probe_step


def scale(ctx: SwitchContext, step: Step, deployment_name: str) -> tuple[Outcome, str]:
    assert step.replicas is not None, f"scale step {step.id} has no replica count"
    current = ctx.gateway.try_get("Deployment", ctx.ns, deployment_name)
    deployment = f"{ctx.ns}/{deployment_name}"
    if current is None:
        if ctx.dry_run:
            return (
                "done",
                msg(
                    "switch.would-scale-not-created",
                    "would scale Deployment {deployment} to {replicas} (not created in a dry run)",
                    deployment=deployment, replicas=step.replicas,
                ),
            )
        raise SwitchStop(
            msg("switch.deployment-missing", "Deployment {deployment} does not exist", deployment=deployment),
            msg(
                "switch.deployment-missing-advice",
                "someone deleted it mid-switch: run `coredns-wizard rollback`"
            ),
        )
    before = spec_replicas(current)
    if before == step.replicas:
        return "already-done", msg(
            "switch.already-scaled", "Deployment {deployment} already has {replicas} replicas",
            deployment=deployment, replicas=before,
        )
    ctx.gateway.scale_deployment(ctx.ns, deployment_name, step.replicas)
    return "done", msg(
        "switch.scaled", "Deployment {deployment} {before} → {after}",
        deployment=deployment, before=before, after=step.replicas,
    )


def scale_coredns(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    return scale(ctx, step, ctx.options.coredns_deployment)


def scale_kube_dns(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    assert step.replicas is not None
    if ctx.dry_run:
        return scale(ctx, step, ctx.options.kube_dns_deployment)
    check_ipvs_gate(ctx, step)
    check_safe_to_shrink(ctx, step)
    pin_clients(ctx)
    if ctx.pods().ready("coredns"):  # every serving CoreDNS pod answers again, right before
        probe_step(ctx, step)
    result = scale(ctx, step, ctx.options.kube_dns_deployment)
    wait_scaled_down(ctx, step.replicas)
    return result


def check_ipvs_gate(ctx: SwitchContext, step: Step) -> None:
    """No kube-dns scale-down while clients may stay pinned to the removed pod (IPVS timeout
    not short, not in effect, or its wait not over), unless the operator gave a reason."""
    if ctx.ipvs_gate is None:
        ctx.ipvs_gate = IpvsGateTracker(
            ctx.gateway, ctx.ns, ctx.options.ipvs_wait_seconds, ctx.options.ipvsadm_set_at)
    gate = ctx.ipvs_gate.check()
    if not gate.blocks:
        return
    if ctx.options.ipvs_ack is None:
        raise SwitchStop(
            msg(
                "switch.ipvs-gate-refuses-scale",
                "refusing to scale kube-dns to {replicas}: IPVS gate closed: {summary}",
                replicas=step.replicas, summary=gate.summary,
            ),
            msg(
                "switch.ipvs-gate-refuses-scale-advice",
                "{action}; then run `coredns-wizard switch` again (it resumes here). To go on anyway, pass "
                "--ipvs-ack \"REASON\" (journaled)",
                action=_capitalized(gate.action),
            ),
        )
    if not ctx.ipvs_acknowledged:
        ctx.emit(Note(acknowledge(ctx.options.ipvs_ack, gate, ctx.journal)))
        ctx.ipvs_acknowledged = True


def check_safe_to_shrink(ctx: SwitchContext, step: Step) -> None:
    """Never scale kube-dns down unless CoreDNS already serves as planned, and never to
    zero ready endpoints."""
    assert step.replicas is not None
    want_coredns = ctx.coredns_count_before(step)
    pods = ctx.pods()
    members = endpoint_membership(ctx.gateway, ctx.options, pods)
    ctx.emit(EndpointsChanged(members.ready, members.not_ready))
    serving = len(members.coredns_ready)
    kube_left = min(step.replicas, len(members.kube_dns_ready))
    if serving < want_coredns or serving + kube_left < 1:
        raise SwitchStop(
            msg(
                "switch.unsafe-to-shrink",
                "refusing to scale kube-dns to {replicas}: the Service {service} has {serving} ready CoreDNS "
                "endpoint(s) ({endpoints}), {needed} needed, and {kube_dns} kube-dns",
                replicas=step.replicas, service=f"{ctx.ns}/{ctx.options.dns_service}", serving=serving,
                endpoints=", ".join(members.coredns_ready) or msg("switch.none", "none"),
                needed=want_coredns, kube_dns=len(members.kube_dns_ready),
            ),
            msg(
                "switch.unsafe-to-shrink-advice",
                "wait until the CoreDNS pods are Ready and in the endpoints, then run "
                "`coredns-wizard switch` again; or `coredns-wizard rollback`",
            ),
        )


def wait_scaled_down(ctx: SwitchContext, replicas: int) -> None:
    """After a kube-dns scale-down, wait until only `replicas` kube-dns pods remain that are
    not terminating, so the observation watches the pods that stay."""

    def settled(pods: list[Obj]) -> bool | None:
        classified = list_dns_pods(ctx.gateway, ctx.options, pods)
        ctx.emit(PodsChanged(classified.views))
        staying = [p for p in classified.kube_dns if not p["metadata"].get("deletionTimestamp")]
        return True if len(staying) <= replicas else None

    what = msg(
        "switch.wait-kube-dns-down", "kube-dns {deployment} down to {replicas} pod(s)",
        deployment=f"{ctx.ns}/{ctx.options.kube_dns_deployment}", replicas=replicas,
    )
    try:
        ctx.wait("Pod", settled, ENDPOINT_PROPAGATION_TIMEOUT_S, what, label_selector="k8s-app=kube-dns")
    except WaitTimeout as err:
        raise SwitchStop(
            msg("switch.kube-dns-not-down", "kube-dns did not scale down: {error}", error=str(err)),
            msg(
                "switch.kube-dns-not-down-advice",
                "something scales kube-dns back up (an autoscaler? an addon manager?): check "
                "`coredns-wizard status`, then resume or roll back",
            ),
        ) from None


def _capitalized(text: str) -> str:
    """The first letter upper case (an engine sentence that starts the advice)."""
    return text[:1].upper() + text[1:]
