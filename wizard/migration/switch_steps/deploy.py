"""Applying the CoreDNS manifests and recording, on the new Deployment, what a resume and a
rollback need (kube-dns's original size, the order, the autoscaler as it was)."""

from __future__ import annotations

import copy

from wizard.i18n import msg
from wizard.k8s.objects import spec_replicas
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_CONTAINMENT,
    ANNOTATION_ORDER,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
)
from wizard.migration.plan import Step
from wizard.migration.progress import Outcome
from wizard.migration.switch_steps.autoscaler import autoscaler_record
from wizard.migration.switch_steps.context import SwitchContext


def deploy(ctx: SwitchContext, step: Step) -> tuple[Outcome, str]:
    existing = ctx.gateway.try_get("Deployment", ctx.ns, ctx.options.coredns_deployment)
    objects = [copy.deepcopy(o) for o in ctx.plan.manifests.objects]
    if existing is not None and spec_replicas(existing) > 0:
        for obj in objects:  # re-applying must not undo the scale-ups already made
            if obj.get("kind") == "Deployment":
                (obj.get("spec") or {}).pop("replicas", None)
    results = ctx.gateway.apply(objects)
    if not ctx.dry_run:
        notes: dict[str, str | None] = {
            ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: str(ctx.plan.original_kube_dns_replicas),
            ANNOTATION_ORDER: ctx.plan.order,
            ANNOTATION_CONTAINMENT: None,  # one of an earlier, rolled-back attempt is void
        }
        record = autoscaler_record(ctx)
        if record is not None:
            notes[ANNOTATION_AUTOSCALER] = record.to_json()
        ctx.gateway.annotate_deployment(ctx.ns, ctx.options.coredns_deployment, notes)
    names = ", ".join(r.action.removeprefix("apply ") for r in results)
    return "done", msg("switch.deploy-applied-objects", "applied {names}", names=names)
