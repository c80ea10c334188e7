"""Pausing the kube-dns autoscaler before anything else, and putting it back (as it was,
retargeted to CoreDNS, or left paused, as the policy says) once the rounds are over."""

from __future__ import annotations

from wizard.migration import autoscaler
from wizard.migration.autoscaler import AutoscalerRecord
from wizard.migration.plan import Step
from wizard.migration.progress import Note, Outcome, Waiting
from wizard.migration.switch_state import read_cluster_record
from wizard.migration.switch_steps.context import SwitchContext

AUTOSCALER_MIN_OBSERVE_S = 1.0
"""The shortest watch that kube-dns stays at 0 after the retarget (the observation window, when
longer): at the lab's test speed, two of the autoscaler's polls."""


def pause_autoscaler(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    info = ctx.plan.autoscaler
    if info is None:
        return "skipped", "no kube-dns autoscaler"
    live = ctx.gateway.get_deployment(info.namespace, info.name)
    record, scaled = autoscaler.pause(ctx.gateway, live)
    if not scaled:
        return (
            "already-done",
            f"autoscaler {info.namespace}/{info.name} already at 0 (was {record.replicas})",
        )
    return (
        "done",
        f"autoscaler {info.namespace}/{info.name} scaled {record.replicas} → 0 (target {record.target})",
    )


def autoscaler_record(ctx: SwitchContext) -> AutoscalerRecord | None:
    """The record on the CoreDNS Deployment, else the one on the autoscaler itself."""
    info = ctx.plan.autoscaler
    if info is None:
        return None
    record = read_cluster_record(ctx.gateway, ctx.options).autoscaler
    if record is not None:
        return record
    deployment = ctx.gateway.try_get("Deployment", info.namespace, info.name)
    if deployment is None:
        return None
    return autoscaler.recorded_on(deployment) or autoscaler.record_of(deployment)


def finish_autoscaler(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    info = ctx.plan.autoscaler
    if info is None:
        return "skipped", "no kube-dns autoscaler"
    record = autoscaler_record(ctx)
    if record is None:
        return "skipped", f"autoscaler {info.namespace}/{info.name} is gone"
    policy = ctx.options.autoscaler_policy
    if policy == "leave-paused":
        return (
            "done",
            f"autoscaler {record.namespace}/{record.name} left at 0 replicas (policy leave-paused)",
        )
    if policy == "retarget":
        autoscaler.retarget(ctx.gateway, record, ctx.options.coredns_deployment)
    else:
        ctx.emit(
            Note(
                f"autoscaler {record.namespace}/{record.name} restored with --target={record.target}: "
                "it will "
                "scale kube-dns up again; scale it to 0 or retarget it to the CoreDNS Deployment"
            )
        )
    ctx.gateway.scale_deployment(record.namespace, record.name, record.replicas)
    if policy != "retarget":
        return "done", f"autoscaler {record.namespace}/{record.name} scaled back to {record.replicas}"
    if ctx.dry_run:
        return "done", f"autoscaler {record.namespace}/{record.name} retargeted and scaled back (dry-run)"
    return "done", _retargeted(ctx, record)


def _retargeted(ctx: SwitchContext, record: AutoscalerRecord) -> str:
    """Watch that the retargeted autoscaler scales CoreDNS and leaves kube-dns at 0."""
    verified = autoscaler.verify_retargeted(
        ctx.gateway,
        record,
        ctx.options.coredns_deployment,
        ctx.options.kube_dns_deployment,
        max(ctx.options.observe_seconds, AUTOSCALER_MIN_OBSERVE_S),
        ctx.options.ready_timeout_seconds,
        lambda what, elapsed, total: ctx.emit(Waiting(what, elapsed, total)),
    )
    return (
        f"autoscaler {record.namespace}/{record.name} retargeted to the CoreDNS Deployment and scaled "
        f"back to {record.replicas}; {verified}"
    )
