"""The rollback confirmation: the exact steps the engine's rollback would run, read from the cluster.

Why read first: the steps depend on where the switch stands (how many kube-dns pods are back, a
paused autoscaler, CoreDNS pods still terminating). The engine's `preview_rollback` decides them
from one look at the cluster, the same steps `coredns-wizard rollback` lists, so the dialog never
promises a step the rollback will not take. Both the App's `r` and the Switch stage's `r` use this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text

from screens.widgets.confirm import ConfirmationModal
from wizard.i18n import t, tr

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.plan import Step


@dataclass(frozen=True)
class RollbackPreview:
    """What a rollback would do now, or why it cannot start (`error` and what to do)."""

    steps: list[Step] = field(default_factory=list)
    original_kube_dns_replicas: int | None = None
    error: str = ""
    advice: str = ""


def read_rollback_preview(context: WizardContext) -> RollbackPreview:
    """Read the cluster and plan the rollback without changing anything. Call it from a worker."""
    from wizard.errors import WizardError
    from wizard.migration.rollback import original_kube_dns_replicas, preview_rollback
    from wizard.migration.rollback_rounds import RollbackStop

    try:
        journal = context.journal_or_open()
        steps = preview_rollback(context.gateway, journal, context.options)
        original = original_kube_dns_replicas(context.gateway, journal, context.options)
    except RollbackStop as stop:
        return RollbackPreview(error=stop.reason, advice=stop.advice)
    except WizardError as err:
        advice = t("run `coredns-wizard rollback --kube-dns-replicas N` with kube-dns's size before "
                   "the switch")
        return RollbackPreview(error=str(err), advice=advice if "--kube-dns-replicas" in str(err) else "")
    return RollbackPreview(steps, original)


def rollback_confirmation(
    preview: RollbackPreview, context: WizardContext, *, switch_running: bool = False
) -> ConfirmationModal:
    """The dialog listing every step, with the kubectl a step sends, in the operator's context."""
    body = Text()
    body.append((t("Would send (dry-run, nothing is stored):") if context.dry_run
                 else t("The rollback will run these steps, in order:")) + "\n\n")
    for number, step in enumerate(preview.steps, 1):
        body.append(f"  {number}. {tr(step.description)}\n")
        if step.changes_cluster:
            for command in step.kubectl:
                body.append(f"       {command}\n", style="dim")
    if not preview.steps:
        body.append("  " + t("nothing to change: kube-dns already serves and CoreDNS is at 0") + "\n")
    if switch_running:
        body.append("\n" + t("The running switch first stops at its next safe point.") + "\n", style="yellow")
    if context.dry_run:
        body.append("\n" + t("DRY-RUN: every request is sent with dryRun=All; nothing is stored.") + "\n",
                    style="yellow")
    body.append("\n" + t("context") + " ", style="dim")
    body.append(context.connection.context, style="bold cyan")
    body.append("  " + t("cluster") + " ", style="dim")
    body.append(context.connection.cluster, style="cyan")
    return ConfirmationModal(t("Roll back to kube-dns?"), body, t("Yes, roll back (y)"))
