"""Rollback: kube-dns back to its original size FIRST, Ready and in the endpoints, then CoreDNS
to 0, then the autoscaler put back exactly as it was.

Why this order: the kube-dns Service must never be left without a ready endpoint; every step is
an absolute value (scale to N), so running the rollback again after an interruption is safe.
When no node has room for a kube-dns pod (CoreDNS's anti-affinity repels it everywhere), kube-dns
comes back by swapping one CoreDNS pod at a time (see wizard.migration.rollback_rounds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.errors import InputError, WizardError
from wizard.k8s.gateway import Gateway
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_ORDER,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
)
from wizard.migration.plan import Step, StepKind
from wizard.migration.progress import (
    Confirm,
    Event,
    EventSink,
    Problem,
    StepFinished,
    StepStarted,
    SwitchCompleted,
    SwitchStopped,
)
from wizard.migration.rollback_rounds import KubeDnsRestorer, RollbackStop
from wizard.migration.switch_state import (
    PHASE_ROLLED_BACK,
    ROLLBACK_STEP,
    AutoscalerRecord,
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

    ns = options.namespace
    dry = gateway.dry_run
    ask = None if options.assume_yes else confirm
    context = gateway.connection.context

    def step(
        step_id: str,
        description: str,
        target: str,
        replicas: int | None,
        kubectl: str,
        action: Callable[[], str],
        kind: StepKind = "scale-kube-dns",
    ) -> None:
        s = Step(step_id, kind, 0, description, (kubectl,), target, replicas, replicas is not None)
        emit(StepStarted(s))
        if (
            ask is not None
            and not dry
            and s.changes_cluster
            and not ask(s, f"{description}: {target} in context {context!r} ({kubectl})")
        ):
            emit(StepFinished(s, "declined", "the operator declined"))
            raise _Stop(
                f"the operator declined: {description}", "run `coredns-wizard rollback` again when ready"
            )
        if journal is not None and not dry:
            journal.intent(step_id, description, target, None, replicas)
        try:
            detail = action()
        except (WizardError, _Stop) as err:
            if journal is not None and not dry:
                journal.failed(step_id, description, target, str(err), None, replicas)
            emit(StepFinished(s, "failed", str(err)))
            raise
        if journal is not None and not dry:
            journal.done(step_id, description, target, None, replicas, detail)
        emit(StepFinished(s, "dry-run" if dry else "done", detail))

    try:
        original = kube_dns_replicas or original_kube_dns_replicas(gateway, journal, options)
        if original is None or original < 1:
            raise InputError(
                f"the original kube-dns replica count is unknown (no annotation on Deployment {ns}/"
                f"{options.coredns_deployment}, nothing in the journal); pass --kube-dns-replicas N"
            )
        record = read_cluster_record(gateway, options)
        if record.kube_dns is None:
            raise _Stop(
                f"Deployment {ns}/{options.kube_dns_deployment} does not exist (cleaned up?)",
                "re-create it from the backup in the state directory's backups/ (kubectl apply -f), "
                "then run rollback again",
            )
        kd = options.kube_dns_deployment
        cd = options.coredns_deployment
        restorer = KubeDnsRestorer(gateway, options, original, step, emit)
        restorer.restore(restorer.look(record.kube_dns, record.coredns))
        record = read_cluster_record(gateway, options) if not dry else record

        if record.coredns is not None and (dry or record.coredns_replicas > 0):

            def scale_coredns() -> str:
                gateway.scale_deployment(ns, cd, 0)
                return f"Deployment {ns}/{cd} {record.coredns_replicas} → 0"

            step(
                "rollback.scale-coredns",
                f"Scale CoreDNS {ns}/{cd} {record.coredns_replicas} → 0",
                f"deployment {ns}/{cd}",
                0,
                f"kubectl scale deployment {cd} -n {ns} --replicas=0",
                scale_coredns,
            )

        autoscaler = record.autoscaler or _autoscaler_from_itself(gateway, options)
        if autoscaler is not None:

            def restore() -> str:
                return _restore_autoscaler(gateway, autoscaler)

            step(
                "rollback.restore-autoscaler",
                f"Restore autoscaler {autoscaler.namespace}/{autoscaler.name}: --target={autoscaler.target}, "
                f"{autoscaler.replicas} replica(s)",
                f"deployment {autoscaler.namespace}/{autoscaler.name}",
                autoscaler.replicas,
                f"kubectl scale deployment {autoscaler.name} -n {autoscaler.namespace} "
                f"--replicas={autoscaler.replicas}",
                restore,
            )
        if not dry:
            if record.coredns is not None:
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
                    },
                )
            if journal is not None:
                journal.done(ROLLBACK_STEP, "rollback finished", f"deployment {ns}/{kd}", None, original)
        summary = (
            f"{'dry-run: would restore' if dry else 'restored'} kube-dns {ns}/{kd} to {original} replicas"
            f"{'' if record.coredns is None else f'; CoreDNS {ns}/{cd} at 0'}"
        )
        emit(SwitchCompleted(summary))
        return RollbackOutcome(True, summary, "", original)
    except _Stop as stop:
        emit(SwitchStopped(stop.reason, stop.advice))
        return RollbackOutcome(False, stop.reason, stop.advice, None)
    except InputError:
        raise
    except WizardError as err:
        advice = "fix the cause and run `coredns-wizard rollback` again (every step is safe to repeat)"
        emit(Problem(str(err), advice, ()))
        emit(SwitchStopped(str(err), advice))
        return RollbackOutcome(False, str(err), advice, None)


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


def _restore_autoscaler(gateway: Gateway, record: AutoscalerRecord) -> str:
    if record.container and record.values:
        gateway.patch_deployment(
            record.namespace,
            record.name,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": record.container, record.field: list(record.values)}]
                        }
                    }
                }
            },
            why=f"restore the --target of autoscaler {record.namespace}/{record.name}",
        )
    gateway.annotate_deployment(record.namespace, record.name, {ANNOTATION_AUTOSCALER: None})
    gateway.scale_deployment(record.namespace, record.name, record.replicas)
    return (
        f"autoscaler {record.namespace}/{record.name} back to {record.replicas} replica(s), "
        f"--target={record.target}"
    )
