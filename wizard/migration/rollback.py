"""Rollback: the autoscaler paused FIRST, kube-dns back to its original size, Ready and in the
endpoints, then CoreDNS to 0, then the autoscaler put back exactly as it was, LAST.

Why this order: an autoscaler retargeted to CoreDNS scales CoreDNS straight back up after every
scale-down (and one still targeting kube-dns fights the restore), so it is paused before anything
else and restored only once nothing more changes. The kube-dns Service must never be left
without a ready endpoint; when no node has room for a kube-dns pod (CoreDNS's anti-affinity repels
it everywhere) kube-dns comes back by swapping one CoreDNS pod at a time (see
wizard.migration.rollback_rounds). Every step is an absolute value (scale to N), so running the
rollback again after an interruption is safe, and `preview_rollback` lists exactly the steps a
run would take from the cluster as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.errors import InputError, WizardError
from wizard.i18n import msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj
from wizard.migration import autoscaler as autoscalers
from wizard.migration.autoscaler import AutoscalerRecord
from wizard.migration.dns_pods import list_dns_pods
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_ORDER,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
)
from wizard.migration.plan import Step
from wizard.migration.progress import (
    Confirm,
    Event,
    EventSink,
    Note,
    Problem,
    SwitchCompleted,
    SwitchStopped,
)
from wizard.migration.rollback_rounds import KubeDnsRestorer, Planned, RollbackStop
from wizard.migration.step_runner import Action, StepRunner, SwitchStop
from wizard.migration.switch_state import (
    ANNOTATION_ROLLBACK_STEP,
    PHASE_ROLLED_BACK,
    ROLLBACK_STEP,
    current_entries,
    read_cluster_record,
)
from wizard.options import SwitchOptions


@dataclass(frozen=True)
class RollbackOutcome:
    completed: bool
    reason: str
    advice: str
    kube_dns_replicas: int | None


_Stop = RollbackStop
PlannedStep = Step
"""A rollback step as previewed: the same value the switch's plan uses for its steps."""


@dataclass(frozen=True)
class RollbackPlan:
    """Every step a rollback would take from the cluster as it is now, with why this order."""

    original_kube_dns_replicas: int
    actions: tuple[Planned, ...]
    notes: tuple[str, ...]
    autoscaler: AutoscalerRecord | None

    @property
    def steps(self) -> list[PlannedStep]:
        return [a.step for a in self.actions]


def original_kube_dns_replicas(
    gateway: Gateway, journal: Journal | None, options: SwitchOptions
) -> int | None:
    """From the CoreDNS Deployment's annotation, else the journal's last deploy entry; after a
    finished rollback (which clears the annotation), kube-dns's current size."""
    record = read_cluster_record(gateway, options)
    if record.original_kube_dns_replicas is not None:
        return record.original_kube_dns_replicas
    if record.phase == PHASE_ROLLED_BACK and record.kube_dns_replicas > 0:
        return record.kube_dns_replicas
    if journal is not None:
        for entry in reversed(current_entries(journal)):
            if entry.dry_run:
                continue
            if entry.step == "deploy" and isinstance(entry.from_value, int):
                return entry.from_value
    return None


def preview_rollback(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    kube_dns_replicas: int | None = None,
) -> list[PlannedStep]:
    """The exact steps `rollback` would run from the cluster as it is now, in order, none of them
    a no-op: what every rollback confirmation (CLI and TUI) shows. Reads only. Raises InputError
    when the original kube-dns size is unknown, RollbackStop when kube-dns's Deployment is gone."""
    return plan_rollback(gateway, journal, options, kube_dns_replicas).steps


def plan_rollback(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    kube_dns_replicas: int | None = None,
    on_event: EventSink | None = None,
) -> RollbackPlan:
    """The rollback's steps and their actions, decided from one look at the cluster."""

    def emit(event: Event) -> None:
        if on_event is not None:
            on_event(event)

    ns = options.namespace
    original = kube_dns_replicas or original_kube_dns_replicas(gateway, journal, options)
    if original is None or original < 1:
        raise InputError(msg(
            "rollback.original-replicas-unknown",
            "the original kube-dns replica count is unknown (no annotation on Deployment {namespace}/"
            "{deployment}, nothing in the journal); pass --kube-dns-replicas N",
            namespace=ns, deployment=options.coredns_deployment,
        ))
    record = read_cluster_record(gateway, options)
    if record.kube_dns is None:
        raise _Stop(
            msg(
                "rollback.kube-dns-missing",
                "Deployment {namespace}/{deployment} does not exist (cleaned up?)",
                namespace=ns, deployment=options.kube_dns_deployment,
            ),
            msg(
                "rollback.kube-dns-missing-advice",
                "re-create it from the backup in the state directory's backups/ (kubectl apply -f), "
                "then run rollback again",
            ),
        )
    actions: list[Planned] = []
    scaler, scaler_live = _find_autoscaler(
        gateway, options, record.autoscaler, search=record.phase != PHASE_ROLLED_BACK
    )
    if scaler is not None and scaler_live is not None and autoscalers.replicas_of(scaler_live) > 0:
        actions.append(_pause_autoscaler(gateway, options, scaler, record.coredns is not None))
    restorer = KubeDnsRestorer(gateway, options, original, emit)
    start = restorer.look(record.kube_dns, record.coredns)
    if start.terminating:
        actions.append(restorer.wait_terminating_step(start.terminating))
    kube_dns_part = restorer.plan(start)
    actions.extend(kube_dns_part)
    core = start.coredns_replicas
    for planned in kube_dns_part:
        if planned.step.kind == "scale-coredns" and planned.step.replicas is not None:
            core = planned.step.replicas
    if record.coredns is not None and core > 0:
        actions.append(_scale_coredns_to_zero(gateway, options, core))
    if scaler is not None:
        actions.append(_restore_autoscaler_step(gateway, scaler))
    return RollbackPlan(original, tuple(actions), tuple(restorer.notes), scaler)


def rollback(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    on_event: EventSink | None = None,
    confirm: Confirm | None = None,
    kube_dns_replicas: int | None = None,
) -> RollbackOutcome:
    """Undo a switch from wherever it stands. `kube_dns_replicas` overrides the recorded count
    (needed only when neither the cluster nor the journal has it)."""

    def emit(event: Event) -> None:
        if on_event is not None:
            on_event(event)

    ns, cd = options.namespace, options.coredns_deployment
    try:
        plan = plan_rollback(gateway, journal, options, kube_dns_replicas, emit)
        for note in plan.notes:
            emit(Note(note))
        coredns_exists = gateway.try_get("Deployment", ns, cd) is not None

        def record_step(step: Step) -> None:
            if coredns_exists:
                gateway.annotate_deployment(ns, cd, {ANNOTATION_ROLLBACK_STEP: step.id})

        runner = StepRunner(
            journal,
            gateway.dry_run,
            emit,
            None if options.assume_yes else confirm,
            gateway.connection.context,
            declined=_declined,
            journal_declined=True,
            after_done=record_step,
        )
        for planned in plan.actions:
            runner.run(planned.step, _as_action(planned))
        return _finished(gateway, journal, options, plan, coredns_exists, emit)
    except _Stop as stop:
        emit(SwitchStopped(stop.reason, stop.advice))
        return RollbackOutcome(False, stop.reason, stop.advice, None)
    except InputError:
        raise
    except WizardError as err:
        advice = msg(
            "rollback.error-advice",
            "fix the cause and run `coredns-wizard rollback` again (every step is safe to repeat)",
        )
        emit(Problem(str(err), advice, ()))
        emit(SwitchStopped(str(err), advice))
        return RollbackOutcome(False, str(err), advice, None)


def _as_action(planned: Planned) -> Action:
    return lambda: ("done", planned.action())


def _declined(step: Step) -> SwitchStop:
    return _Stop(
        msg("rollback.declined", "the operator declined: {step}", step=step.description),
        msg(
            "rollback.declined-advice",
            "nothing was changed by this step; `coredns-wizard status` shows where the rollback "
            "stands; run `coredns-wizard rollback` again when ready",
        ),
    )


def _finished(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    plan: RollbackPlan,
    coredns_exists: bool,
    emit: Callable[[Event], None],
) -> RollbackOutcome:
    """Every step done: the records of this attempt closed, and what the rollback did."""
    ns, kd, cd = options.namespace, options.kube_dns_deployment, options.coredns_deployment
    dry = gateway.dry_run
    original = plan.original_kube_dns_replicas
    if not dry:
        if coredns_exists:
            # the records of this attempt end here: a later switch starts from the cluster as it is
            gateway.annotate_deployment(
                ns,
                cd,
                {
                    ANNOTATION_PHASE: PHASE_ROLLED_BACK,
                    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS: None,
                    ANNOTATION_AUTOSCALER: None,
                    ANNOTATION_ROUND: None,
                    ANNOTATION_ORDER: None,
                    ANNOTATION_ROLLBACK_STEP: None,
                },
            )
        if journal is not None:
            journal.done(ROLLBACK_STEP, "rollback finished", f"deployment {ns}/{kd}", None, original)
    shared = _shared_nodes(gateway, options) if not dry else ""
    if shared:
        emit(Note(msg("rollback.warning", "warning: {warning}", warning=shared)))
    summary = (
        msg(
            "rollback.summary-dry-run",
            "dry-run: would restore kube-dns {namespace}/{deployment} to {replicas} replicas",
            namespace=ns, deployment=kd, replicas=original,
        )
        if dry
        else msg(
            "rollback.summary", "restored kube-dns {namespace}/{deployment} to {replicas} replicas",
            namespace=ns, deployment=kd, replicas=original,
        )
    )
    if coredns_exists:
        summary = msg(
            "rollback.summary-coredns", "{summary}; CoreDNS {namespace}/{deployment} at 0",
            summary=summary, namespace=ns, deployment=cd,
        )
    if plan.autoscaler:
        summary = msg(
            "rollback.summary-autoscaler", "{summary}; autoscaler {autoscaler} restored",
            summary=summary, autoscaler=_name(plan.autoscaler),
        )
    if shared:
        summary = msg(
            "rollback.summary-warning", "{summary}; warning: {warning}", summary=summary, warning=shared
        )
    emit(SwitchCompleted(summary))
    return RollbackOutcome(True, summary, "", original)


def _name(record: AutoscalerRecord) -> str:
    return f"{record.namespace}/{record.name}"


def _shared_nodes(gateway: Gateway, options: SwitchOptions) -> str:
    """"kube-dns pods share node n1 (2 pods)" when the scheduler could not spread them."""
    pods = list_dns_pods(gateway, options)
    per_node: dict[str, int] = {}
    for pod in pods.kube_dns:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            per_node[node] = per_node.get(node, 0) + 1
    shared = {n: c for n, c in sorted(per_node.items()) if c > 1}
    if not shared:
        return ""
    where = ", ".join(
        msg("rollback.shared-node", "{node} ({count} pods)", node=n, count=c) for n, c in shared.items()
    )
    return msg(
        "rollback.shared-nodes",
        "kube-dns pods share node(s) {where}: the scheduler had no other node for them; a node failure "
        "takes several with it (spread them later with `kubectl rollout restart deployment "
        "{deployment} -n {namespace}` once nodes are free)",
        where=where, deployment=options.kube_dns_deployment, namespace=options.namespace,
    )


def _find_autoscaler(
    gateway: Gateway, options: SwitchOptions, recorded: AutoscalerRecord | None, search: bool
) -> tuple[AutoscalerRecord | None, Obj | None]:
    """The autoscaler to pause and restore, as recorded (on the CoreDNS Deployment or on itself),
    else, with `search` (no finished rollback yet), one that targets kube-dns or CoreDNS now
    (recorded as it is, to be put back so)."""
    record = recorded or _autoscaler_from_itself(gateway, options)
    if record is not None:
        return record, gateway.try_get("Deployment", record.namespace, record.name)
    if not search:
        return None, None
    for deployment in gateway.list_deployments(options.namespace):
        flag = autoscalers.target_flag_of(deployment)
        if flag is not None and (
            autoscalers.targets(flag.value, options.kube_dns_deployment)
            or autoscalers.targets(flag.value, options.coredns_deployment)
        ):
            return autoscalers.record_of(deployment), deployment
    return None, None


def _pause_autoscaler(
    gateway: Gateway, options: SwitchOptions, record: AutoscalerRecord, coredns_exists: bool
) -> Planned:
    def pause() -> str:
        live = gateway.get_deployment(record.namespace, record.name)
        if autoscalers.recorded_on(live) is None:
            gateway.annotate_deployment(
                record.namespace, record.name, {ANNOTATION_AUTOSCALER: record.to_json()}
            )
        if coredns_exists:  # recorded on both, as the switch does: either one finds it again
            gateway.annotate_deployment(
                options.namespace, options.coredns_deployment, {ANNOTATION_AUTOSCALER: record.to_json()}
            )
        before = autoscalers.replicas_of(live)
        gateway.scale_deployment(record.namespace, record.name, 0)
        return msg(
            "rollback.paused-autoscaler",
            "autoscaler {namespace}/{name} {before} → 0 (recorded: {replicas} replica(s), --target={target})",
            namespace=record.namespace, name=record.name, before=before, replicas=record.replicas,
            target=record.target,
        )

    return Planned(
        Step(
            "rollback.pause-autoscaler",
            "pause-autoscaler",
            0,
            msg(
                "rollback.step-pause-autoscaler",
                "Pause autoscaler {namespace}/{name} (→ 0 replicas) so it cannot scale CoreDNS "
                "or kube-dns while the rollback runs",
                namespace=record.namespace, name=record.name,
            ),
            (f"kubectl scale deployment {record.name} -n {record.namespace} --replicas=0",),
            f"deployment {record.namespace}/{record.name}",
            0,
            True,
        ),
        pause,
    )


def _scale_coredns_to_zero(gateway: Gateway, options: SwitchOptions, core: int) -> Planned:
    ns, cd = options.namespace, options.coredns_deployment

    def scale() -> str:
        gateway.scale_deployment(ns, cd, 0)
        return f"Deployment {ns}/{cd} {core} → 0"

    return Planned(
        Step(
            "rollback.scale-coredns",
            "scale-coredns",
            0,
            msg(
                "rollback.step-scale-coredns-zero", "Scale CoreDNS {namespace}/{deployment} {before} → 0",
                namespace=ns, deployment=cd, before=core,
            ),
            (f"kubectl scale deployment {cd} -n {ns} --replicas=0",),
            f"deployment {ns}/{cd}",
            0,
            True,
        ),
        scale,
    )


def _restore_autoscaler_step(gateway: Gateway, record: AutoscalerRecord) -> Planned:
    return Planned(
        Step(
            "rollback.restore-autoscaler",
            "finish-autoscaler",
            0,
            msg(
                "rollback.step-restore-autoscaler",
                "Restore autoscaler {namespace}/{name}: --target={target}, {replicas} replica(s)",
                namespace=record.namespace, name=record.name, target=record.target, replicas=record.replicas,
            ),
            (
                f"kubectl patch deployment {record.name} -n {record.namespace} (--target={record.target})",
                f"kubectl scale deployment {record.name} -n {record.namespace} --replicas={record.replicas}",
            ),
            f"deployment {record.namespace}/{record.name}",
            record.replicas,
            True,
        ),
        lambda: autoscalers.restore(gateway, record),
    )


def _autoscaler_from_itself(gateway: Gateway, options: SwitchOptions) -> AutoscalerRecord | None:
    """A switch interrupted between pausing the autoscaler and deploying CoreDNS left the record
    only on the autoscaler's own Deployment."""

    for deployment in gateway.list_deployments(options.namespace):
        notes = (deployment.get("metadata") or {}).get("annotations") or {}
        if notes.get(ANNOTATION_AUTOSCALER):
            record = AutoscalerRecord.from_json(str(notes[ANNOTATION_AUTOSCALER]))
            if record is not None and record.name == (deployment.get("metadata") or {}).get("name"):
                return record
    return None
