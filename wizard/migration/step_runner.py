"""The one protocol every change of the switch, the rollback and the clean-up goes through:
confirm → journal intent → action (which verifies what it did) → journal done or failed → event.

Why one: the journal is what lets a wizard killed anywhere continue where it stopped, and the
events are what the operator sees; three copies of that bookkeeping drift apart (a rollback step
journaled differently from a switch step is a resume bug waiting). The callers keep only what is
theirs: the action, the question they ask, what a declined step means, and what they record on
the cluster after a step is done (`after_done`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.errors import WizardError
from wizard.i18n import error_text, msg, tr
from wizard.migration.journal import Journal
from wizard.migration.plan import Step
from wizard.migration.progress import Confirm, Event, Outcome, StepFinished, StepStarted


def rollback_advice() -> str:
    """What to do after a failed change: roll back, or fix and resume."""
    return msg(
        "switch.rollback-advice",
        "roll back with `coredns-wizard rollback` (kube-dns back first), or fix the cause and run "
        "`coredns-wizard switch` again to resume",
    )


Action = Callable[[], tuple[Outcome, str]]
"""A step's work: (outcome, one line of detail); raises SwitchStop or WizardError when it fails."""


class SwitchStop(Exception):
    """Ends a switch, rollback or clean-up between steps, with what happened and what the
    operator should do."""

    def __init__(self, reason: str, advice: str | None = None, evidence: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = rollback_advice() if advice is None else advice
        self.evidence = evidence
        self.failed_step: Step | None = None
        """The plan step whose run raised it (None: declined, cancelled, or outside a step)."""


class Cancelled(Exception):
    """The caller asked the engine to stop (TUI button, Ctrl-C handler) during a wait."""


def _no_from_value(_step: Step) -> int | None:
    return None


@dataclass
class StepRunner:
    """Runs one step at a time through the protocol. `confirm` is None when the operator passed
    --yes; `declined` makes the stop a declined step raises (None: the step is skipped and
    `run` returns "declined")."""

    journal: Journal | None
    dry_run: bool
    emit: Callable[[Event], None]
    confirm: Confirm | None
    context: str
    """The kubeconfig context, named in every question."""
    declined: Callable[[Step], SwitchStop] | None = None
    journal_declined: bool = False
    """Record a declined step as failed in the journal (the rollback does)."""
    from_value: Callable[[Step], int | None] = _no_from_value
    after_done: Callable[[Step], None] | None = None
    """What to record on the cluster once a step is done (not in a dry run)."""

    def run(self, step: Step, action: Action, question: str | None = None) -> Outcome:
        """Confirm, journal, act, journal, report; the outcome as reported. A failure is
        journaled and reported, then raised again (a SwitchStop knows its `failed_step`)."""
        self.emit(StepStarted(step))
        if not self._confirmed(step, question):
            return "declined"
        self._journal("intent", step)
        try:
            outcome, detail = action()
        except (SwitchStop, WizardError) as err:
            reason = err.reason if isinstance(err, SwitchStop) else error_text(err)
            self._journal("failed", step, reason)
            self.emit(StepFinished(step, "failed", reason))
            if isinstance(err, SwitchStop):
                err.failed_step = step
            raise
        self._journal("done", step, detail)
        if not self.dry_run and self.after_done is not None:
            self.after_done(step)
        shown: Outcome = "dry-run" if self.dry_run and outcome == "done" else outcome
        self.emit(StepFinished(step, shown, detail))
        return shown

    def settled(self, step: Step, detail: str) -> None:
        """A step found already done before anything was asked or sent: reported, not journaled."""
        self.emit(StepStarted(step))
        self.emit(StepFinished(step, "already-done", detail))

    def _confirmed(self, step: Step, question: str | None) -> bool:
        if self.confirm is None or self.dry_run or not step.changes_cluster:
            return True
        if question is None:
            if step.kubectl:
                question = msg(
                    "switch.confirm-step-kubectl", "{description}: {target} in context {context} ({kubectl})",
                    description=step.description, target=step.target, context=repr(self.context),
                    kubectl="; ".join(step.kubectl),
                )
            else:
                question = msg(
                    "switch.confirm-step", "{description}: {target} in context {context}",
                    description=step.description, target=step.target, context=repr(self.context),
                )
        if self.confirm(step, question):
            return True
        if self.journal_declined and self.journal is not None:
            self.journal.failed(
                step.id,
                tr(step.description, "en"),
                step.target,
                "declined by the operator",
                None,
                step.replicas,
            )
        self.emit(StepFinished(step, "declined", msg("switch.operator-declined", "the operator declined")))
        if self.declined is not None:
            raise self.declined(step)
        return False

    def _journal(self, status: str, step: Step, text: str = "") -> None:
        if self.journal is None or self.dry_run:
            return
        args = (step.id, tr(step.description, "en"), step.target)  # the journal stays English
        text = tr(text, "en")
        if status == "intent":
            self.journal.intent(*args, self.from_value(step), step.replicas)
        elif status == "done":
            self.journal.done(*args, self.from_value(step), step.replicas, text or None)
        else:
            self.journal.failed(*args, text, None, step.replicas)
