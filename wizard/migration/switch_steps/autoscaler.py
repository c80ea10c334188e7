"""Pausing the kube-dns autoscaler before anything else, and putting it back (as it was,
retargeted to CoreDNS, or left paused, as the policy says) once the rounds are over."""

from __future__ import annotations

from wizard.i18n import msg
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
        return "skipped", msg("switch.no-autoscaler", "no kube-dns autoscaler")
    live = ctx.gateway.get_deployment(info.namespace, info.name)
    record, scaled = autoscaler.pause(ctx.gateway, live)
    if not scaled:
        return (
            "already-done",
            msg(
                "switch.autoscaler-already-paused", "autoscaler {autoscaler} already at 0 (was {replicas})",
                autoscaler=f"{info.namespace}/{info.name}", replicas=record.replicas,
            ),
        )
    return (
        "done",
        msg(
            "switch.autoscaler-paused", "autoscaler {autoscaler} scaled {replicas} → 0 (target {target})",
            autoscaler=f"{info.namespace}/{info.name}", replicas=record.replicas, target=record.target,
        ),
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
        return "skipped", msg("switch.no-autoscaler", "no kube-dns autoscaler")
    record = autoscaler_record(ctx)
    if record is None:
        return "skipped", msg(
            "switch.autoscaler-gone",
            "autoscaler {autoscaler} is gone", autoscaler=f"{info.namespace}/{info.name}"
        )
    policy = ctx.options.autoscaler_policy
    name = f"{record.namespace}/{record.name}"
    if policy == "leave-paused":
        return (
            "done",
            msg(
                "switch.autoscaler-left-paused",
                "autoscaler {autoscaler} left at 0 replicas (policy leave-paused)",
                autoscaler=name,
            ),
        )
    if policy == "retarget":
        autoscaler.retarget(ctx.gateway, record, ctx.options.coredns_deployment)
    else:
        ctx.emit(
            Note(
                msg(
                    "switch.autoscaler-restored-note",
                    "autoscaler {autoscaler} restored with --target={target}: it will scale kube-dns up "
                    "again; scale it to 0 or retarget it to the CoreDNS Deployment",
                    autoscaler=name, target=record.target,
                )
            )
        )
    ctx.gateway.scale_deployment(record.namespace, record.name, record.replicas)
    if policy != "retarget":
        return "done", msg(
            "switch.autoscaler-scaled-back", "autoscaler {autoscaler} scaled back to {replicas}",
            autoscaler=name, replicas=record.replicas,
        )
    if ctx.dry_run:
        return "done", msg(
            "switch.autoscaler-retargeted-dry-run",
            "autoscaler {autoscaler} retargeted and scaled back (dry-run)",
            autoscaler=name,
        )
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
    return msg(
        "switch.autoscaler-retargeted",
        "autoscaler {autoscaler} retargeted to the CoreDNS Deployment and scaled back to {replicas}; "
        "{verified}",
        autoscaler=f"{record.namespace}/{record.name}", replicas=record.replicas, verified=verified,
    )
