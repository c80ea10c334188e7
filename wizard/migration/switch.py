"""Executing a switch plan against a live cluster, one verified step at a time, resumable.

Why this shape: a switch runs for a long time on a production cluster and may be interrupted
anywhere. Every change is journaled before and after it is sent and its result is recorded on the
CoreDNS Deployment, so a restarted wizard (here or on another machine) continues exactly where the
last one stopped. kube-dns is only ever scaled down after CoreDNS has proved itself: Ready, in the
Service's endpoints, answering like kube-dns, and quiet through the observation window before;
every serving CoreDNS pod is probed again right before each kube-dns scale-down. A verification that
fails after a change is contained before the switch stops (wizard.migration.containment).
The engine never prints and never asks: it reports through `on_event` and asks through `confirm`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from wizard.errors import WizardError
from wizard.i18n import error_text, msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import ready_replicas
from wizard.migration.containment import Containment, is_contained_failure
from wizard.migration.ipvs_gate import IpvsGateTracker
from wizard.migration.journal import (
    ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
    now_rfc3339,
)
from wizard.migration.plan import Plan, Step, StepKind
from wizard.migration.probes import TunnelPool
from wizard.migration.progress import (
    Confirm,
    Event,
    EventSink,
    Note,
    Outcome,
    SwitchCompleted,
    SwitchStopped,
)
from wizard.migration.step_runner import Cancelled, StepRunner, SwitchStop
from wizard.migration.switch_state import (
    ANNOTATION_ROLLBACK_STEP,
    PHASE_COMPLETED,
    PHASE_ROLLED_BACK,
    ROLLBACK_STEP,
    done_plan_steps,
    read_cluster_record,
)
from wizard.migration.switch_steps.autoscaler import finish_autoscaler, pause_autoscaler
from wizard.migration.switch_steps.context import Handler, SwitchContext
from wizard.migration.switch_steps.deploy import deploy
from wizard.migration.switch_steps.endpoints import check_endpoints
from wizard.migration.switch_steps.observation import observe
from wizard.migration.switch_steps.probe import probe_step
from wizard.migration.switch_steps.readiness import wait_ready
from wizard.migration.switch_steps.scale import scale_coredns, scale_kube_dns
from wizard.options import SwitchOptions

__all__ = ["HANDLERS", "Cancelled", "SwitchOutcome", "SwitchStop", "Switcher"]

HANDLERS: dict[StepKind, Handler] = {
    "pause-autoscaler": pause_autoscaler,
    "deploy": deploy,
    "scale-coredns": scale_coredns,
    "wait-ready": wait_ready,
    "probe": probe_step,
    "check-endpoints": check_endpoints,
    "scale-kube-dns": scale_kube_dns,
    "observe": observe,
    "finish-autoscaler": finish_autoscaler,
}
"""Every kind of plan step and the handler that runs it (wizard.migration.switch_steps)."""

_DONE_IN_THIS_PROCESS: set[tuple[str, str, str, str, str]] = set()
"""(server, context, namespace, CoreDNS Deployment, step id) of the steps this wizard process
finished: found done again (the TUI's deploy stage, then its switch stage), they are no resume."""


@dataclass(frozen=True)
class SwitchOutcome:
    """completed: CoreDNS at the original replica count and Ready, kube-dns at 0."""

    completed: bool
    reason: str
    advice: str
    steps_run: tuple[str, ...]
    dry_run: bool = False
    stopped_at: str | None = None


class Switcher:
    """Runs (or resumes) one plan: resume resolution, containment of a failed round, and
    dispatch of each step to its handler through the step runner. `confirm` is None when the
    operator passed --yes."""

    def __init__(
        self,
        gateway: Gateway,
        plan: Plan,
        journal: Journal | None,
        options: SwitchOptions,
        on_event: EventSink | None = None,
        confirm: Confirm | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.gateway = gateway
        self.plan = plan
        self.journal = journal
        self.options = options
        self.on_event = on_event
        self.confirm = None if options.assume_yes else confirm
        self.cancel = cancel or threading.Event()
        self.dry_run = gateway.dry_run or options.mode == "dry-run"
        self.ns = options.namespace
        self._ran: list[str] = []
        self.ctx = SwitchContext(
            gateway, plan, journal, options, on_event, self.cancel, self.dry_run, TunnelPool(gateway)
        )
        self.runner = StepRunner(
            journal,
            self.dry_run,
            self._emit,
            self.confirm,
            gateway.connection.context,
            declined=_declined,
            from_value=self._from_value,
            after_done=self._after_done,
        )

    @property
    def tunnels(self) -> TunnelPool:
        """Port-forwards to the pods this host cannot reach directly, one per pod, kept for the run."""
        return self.ctx.tunnels

    @property
    def ipvs_gate(self) -> IpvsGateTracker | None:
        """The IPVS gate checked before every kube-dns scale-down (the TUI may hand its own)."""
        return self.ctx.ipvs_gate

    @ipvs_gate.setter
    def ipvs_gate(self, tracker: IpvsGateTracker | None) -> None:
        self.ctx.ipvs_gate = tracker

    # ---- public -------------------------------------------------------------------------
    def run(self, stop_after: str | None = None) -> SwitchOutcome:
        """Run the plan's remaining steps. With `stop_after`, end successfully once that step is
        done (run now or earlier) without the end-of-switch check: a partial run by design, such
        as the TUI's deploy stage, which applies the manifests and leaves the rounds for later."""
        if stop_after is not None and stop_after not in self.plan.ids():
            raise ValueError(
                f"the plan has no step {stop_after!r}; its steps are {', '.join(self.plan.ids())}"
            )
        current: Step | None = None
        try:
            Containment(self).finish_interrupted()
            done = self._done_steps()
            for step in self.plan.steps:
                current = step
                if step.id not in done:
                    self.ctx.check_cancel()
                    self._run_step(step)
                if step.id == stop_after:
                    return self._stopped_as_asked(step)
            current = None
            return self._finish()
        except SwitchStop as stop:
            return self._stopped(current, self._contained(stop))
        except Cancelled:
            reason = (
                msg("switch.stopped-on-request-during", "stopped on request during step {step}",
                    step=current.id)
                if current
                else msg("switch.stopped-on-request", "stopped on request")
            )
            return self._stopped(
                current,
                SwitchStop(
                    reason,
                    msg(
                        "switch.resume-or-rollback",
                        "resume with `coredns-wizard switch`, or roll back with `coredns-wizard rollback`",
                    ),
                ),
            )
        except WizardError as err:
            return self._stopped(current, SwitchStop(error_text(err)))
        finally:
            self.ctx.close()

    # ---- resume -------------------------------------------------------------------------
    def _done_steps(self) -> set[str]:
        """Steps already finished, from the journal and the CoreDNS Deployment's annotations."""
        record = read_cluster_record(self.gateway, self.options)
        original = record.original_kube_dns_replicas
        if (
            original is not None
            and record.phase != PHASE_ROLLED_BACK
            and original != self.plan.original_kube_dns_replicas
        ):
            raise SwitchStop(
                msg(
                    "switch.recorded-count-differs",
                    "Deployment {deployment} records that kube-dns had {original} replicas when this "
                    "switch began ({annotation}), but the plan was made for {planned}",
                    deployment=f"{self.ns}/{self.options.coredns_deployment}", original=original,
                    annotation=ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
                    planned=self.plan.original_kube_dns_replicas,
                ),
                msg(
                    "switch.rebuild-plan-from-record",
                    "the plan must be rebuilt from the recorded count: run `coredns-wizard plan` and "
                    "`coredns-wizard switch` again, or roll back with `coredns-wizard rollback`",
                ),
            )
        ids = self.plan.ids()
        if record.phase == PHASE_COMPLETED:
            annotated = list(ids)
        elif record.phase in ids:
            annotated = ids[: ids.index(record.phase) + 1]
        else:
            annotated = []
        journal_done = self._journal_done(record.phase)
        done = set(annotated)
        if record.coredns is None:
            # nothing after deploy can have happened without the CoreDNS Deployment (deleted by hand?)
            done = {"pause-autoscaler"} & journal_done
        elif annotated:
            # the journal is written just before the annotation: it may be one step ahead, never more
            following = ids[len(annotated)] if len(annotated) < len(ids) else None
            if following in journal_done:
                done.add(following)
        else:
            # no phase annotation yet: killed between applying the manifests and annotating them
            for step_id in ids[: ids.index("deploy") + 1] if "deploy" in ids else []:
                if step_id not in journal_done:
                    break
                done.add(step_id)
        self._announce_resume(done)
        return done

    def _announce_resume(self, done: set[str]) -> None:
        """Say "resuming" only when an earlier run did some of the steps: not for steps this
        wizard process did itself (the TUI's deploy stage before its switch stage)."""
        if not any(self._done_key(step_id) not in _DONE_IN_THIS_PROCESS for step_id in done):
            return
        ids = self.plan.ids()
        first = next((i for i in ids if i not in done), None)
        if first:
            note = msg(
                "switch.resuming-at", "resuming: {done} of {total} steps already done; continuing at {first}",
                done=len(done), total=len(ids), first=first,
            )
        else:
            note = msg(
                "switch.resuming", "resuming: {done} of {total} steps already done",
                done=len(done), total=len(ids)
            )
        self._emit(Note(note))

    def _contained(self, stop: SwitchStop) -> SwitchStop:
        """A verification that failed after a change is contained first (wizard.migration.containment)."""
        step = stop.failed_step
        if step is None or not is_contained_failure(step):
            return stop
        try:
            return Containment(self).after_failure(step, stop)
        except WizardError as err:
            return SwitchStop(
                msg(
                    "switch.containment-could-not-start", "{reason}. Containment could not start: {error}",
                    reason=stop.reason, error=error_text(err),
                ),
                msg(
                    "switch.containment-could-not-start-advice",
                    "check `coredns-wizard status`: a failing CoreDNS pod may still serve; run "
                    "`coredns-wizard switch` again to contain it, or `coredns-wizard rollback`",
                ),
                stop.evidence,
            )

    def _journal_done(self, phase: str | None) -> set[str]:
        """Steps this machine's journal finished in the current attempt. After a rollback the
        journal counts only if it saw that rollback (it may have been run from another machine)."""
        if self.journal is None:
            return set()
        if phase == PHASE_ROLLED_BACK:
            entries = self.journal.read().entries
            if not any(e.step == ROLLBACK_STEP and e.status == "done" and not e.dry_run for e in entries):
                return set()
        return done_plan_steps(self.journal, self.plan.ids())

    # ---- one step -----------------------------------------------------------------------
    def _run_step(self, step: Step) -> None:
        """The step's handler through the step runner; an API error becomes the stop that
        names the step."""
        handler = HANDLERS[step.kind]
        try:
            self.runner.run(step, lambda: handler(self.ctx, step))
        except WizardError as err:
            failed = SwitchStop(
                msg(
                    "switch.step-failed", "step {step} ({description}) failed: {error}",
                    step=step.id, description=step.description, error=error_text(err),
                )
            )
            failed.failed_step = step
            raise failed from None
        self._ran.append(step.id)
        if not self.dry_run:
            _DONE_IN_THIS_PROCESS.add(self._done_key(step.id))

    def _after_done(self, step: Step) -> None:
        """The step recorded on the CoreDNS Deployment, where any wizard finds it again."""
        if step.kind != "pause-autoscaler" and self._coredns_exists():
            notes: dict[str, str | None] = {ANNOTATION_PHASE: step.id, ANNOTATION_ROUND: str(step.round)}
            notes[ANNOTATION_ROLLBACK_STEP] = None  # a switch resumed after a partial rollback
            if step.kind == "scale-kube-dns":
                notes[ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN] = now_rfc3339()
            self.gateway.annotate_deployment(self.ns, self.options.coredns_deployment, notes)

    def _from_value(self, step: Step) -> int | None:
        """The deploy entry carries the original kube-dns size, for a rollback without annotations."""
        return self.plan.original_kube_dns_replicas if step.kind == "deploy" else None

    def _coredns_exists(self) -> bool:
        return self.gateway.try_get("Deployment", self.ns, self.options.coredns_deployment) is not None

    def _done_key(self, step_id: str) -> tuple[str, str, str, str, str]:
        connection = self.gateway.connection
        return (connection.server, connection.context, self.ns, self.options.coredns_deployment, step_id)

    # ---- what containment uses ----------------------------------------------------------
    def _probe(self, step: Step) -> tuple[Outcome, str]:
        """The probe step's own check of every Ready CoreDNS pod (containment re-probes with it)."""
        return probe_step(self.ctx, step)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # ---- the end ------------------------------------------------------------------------
    def _finish(self) -> SwitchOutcome:
        if self.dry_run:
            summary = msg(
                "switch.dry-run-summary",
                "dry-run: {count} step(s) checked; nothing in the cluster was changed",
                count=len(self._ran),
            )
            self._emit(SwitchCompleted(summary))
            advice = msg("switch.dry-run-advice", "run without --dry-run to switch")
            return SwitchOutcome(True, summary, advice, tuple(self._ran), True)
        record = read_cluster_record(self.gateway, self.options)
        want = self.plan.original_kube_dns_replicas
        core_ready = ready_replicas(record.coredns)
        if record.coredns_replicas != want or core_ready < want or record.kube_dns_replicas != 0:
            raise_reason = msg(
                "switch.end-state-wrong",
                "the plan ran to its end but the cluster shows CoreDNS {ready}/{replicas} "
                "ready (want {want}) and kube-dns {kube_dns} replicas (want 0)",
                ready=core_ready, replicas=record.coredns_replicas, want=want,
                kube_dns=record.kube_dns_replicas,
            )
            return self._stopped(
                None,
                SwitchStop(
                    raise_reason,
                    msg("switch.check-status-advice",
                        "check `coredns-wizard status`, then resume or roll back"),
                ),
            )
        if record.phase != PHASE_COMPLETED:
            self.gateway.annotate_deployment(
                self.ns, self.options.coredns_deployment, {ANNOTATION_PHASE: PHASE_COMPLETED}
            )
        summary = msg(
            "switch.completed-summary",
            "CoreDNS {deployment} serves with {ready}/{want} Ready replicas; kube-dns is at 0. Clean-up "
            "(deleting kube-dns objects) is allowed 72 h after the last scale-down: `coredns-wizard cleanup`",
            deployment=f"{self.ns}/{self.options.coredns_deployment}", ready=core_ready, want=want,
        )
        self._emit(SwitchCompleted(summary))
        return SwitchOutcome(True, summary, "", tuple(self._ran))

    def _stopped_as_asked(self, step: Step) -> SwitchOutcome:
        ran = ", ".join(self._ran) or msg("switch.steps-run-none", "none (already done)")
        if self.dry_run:
            summary = msg(
                "switch.stopped-as-asked-checked",
                "stopped as asked after step {step} (checked); steps run: {ran}",
                step=step.id, ran=ran,
            )
        else:
            summary = msg(
                "switch.stopped-as-asked-done", "stopped as asked after step {step} (done); steps run: {ran}",
                step=step.id, ran=ran,
            )
        return SwitchOutcome(True, summary, "", tuple(self._ran), self.dry_run)

    def _stopped(self, step: Step | None, stop: SwitchStop) -> SwitchOutcome:
        self._emit(SwitchStopped(stop.reason, stop.advice))
        return SwitchOutcome(
            False, stop.reason, stop.advice, tuple(self._ran), self.dry_run, step.id if step else None
        )


def _declined(step: Step) -> SwitchStop:
    return SwitchStop(
        msg(
            "switch.declined-step", "the operator declined step {step} ({description})",
            step=step.id, description=step.description,
        ),
        msg(
            "switch.declined-step-advice",
            "nothing was changed by this step; run `coredns-wizard switch` again to resume, "
            "or `coredns-wizard rollback`",
        ),
    )
