"""Rollback: kube-dns back to its original size FIRST, Ready and in the endpoints, then CoreDNS
to 0, then the autoscaler put back exactly as it was.

Why this order: the kube-dns Service must never be left without a ready endpoint; every step is
an absolute value (scale to N), so running the rollback again after an interruption is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.dns_pods import endpoint_membership, list_dns_pods
from wizard.errors import InputError, WizardError
from wizard.events import (
    Confirm,
    EndpointsChanged,
    Event,
    EventSink,
    PodsChanged,
    Problem,
    StepFinished,
    StepStarted,
    SwitchCompleted,
    SwitchStopped,
    Waiting,
)
from wizard.gateway import Gateway, Obj
from wizard.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
)
from wizard.options import SwitchOptions
from wizard.plan import Step
from wizard.switch_state import (
    PHASE_ROLLED_BACK,
    ROLLBACK_STEP,
    AutoscalerRecord,
    current_entries,
    read_cluster_record,
)
from wizard.watch import WaitProgress, WaitTimeout, endpoint_ips, wait_for


@dataclass(frozen=True)
class RollbackOutcome:
    completed: bool
    reason: str
    advice: str
    kube_dns_replicas: int | None


class _Stop(Exception):
    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice


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
    ) -> None:
        s = Step(step_id, "scale-kube-dns", 0, description, (kubectl,), target, replicas, True)
        emit(StepStarted(s))
        if (
            ask is not None
            and not dry
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

        def scale_kube_dns() -> str:
            gateway.scale_deployment(ns, kd, original)
            return f"Deployment {ns}/{kd} {record.kube_dns_replicas} → {original}"

        step(
            "rollback.scale-kube-dns",
            f"Scale kube-dns {ns}/{kd} {record.kube_dns_replicas} → {original}",
            f"deployment {ns}/{kd}",
            original,
            f"kubectl scale deployment {kd} -n {ns} --replicas={original}",
            scale_kube_dns,
        )

        def wait_kube_dns() -> str:
            if dry:
                emit(
                    Waiting(
                        f"dry-run: would wait for {original} Ready kube-dns pods in the endpoints", 0.0, 0.0
                    )
                )
                return "dry-run: skipped"
            return _wait_kube_dns_serving(gateway, options, original, emit)

        step(
            "rollback.wait-kube-dns",
            f"Wait for {original} kube-dns pods Ready and in the Service endpoints",
            f"service {ns}/{options.dns_service}",
            None,
            f"kubectl get endpoints {options.dns_service} -n {ns}",
            wait_kube_dns,
        )

        if record.coredns is not None:

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


def _wait_kube_dns_serving(
    gateway: Gateway, options: SwitchOptions, want: int, emit: Callable[[Event], None]
) -> str:
    ns = options.namespace
    timeout = options.ready_timeout_seconds

    def serving(objs: list[Obj]) -> str | None:
        ep = next((o for o in objs if o["metadata"].get("name") == options.dns_service), None)
        if ep is None:
            return None
        pods = list_dns_pods(gateway, options)
        emit(PodsChanged(pods.views))
        emit(EndpointsChanged(tuple(sorted(endpoint_ips(ep))), tuple(sorted(endpoint_ips(ep, False)))))
        ready = endpoint_ips(ep) & pods.ips("kube-dns")
        return ", ".join(sorted(ready)) if len(ready) >= want else None

    def progress(p: WaitProgress) -> None:
        emit(Waiting(p.waiting_for, p.elapsed_s, timeout))

    what = f"{want} Ready kube-dns pod(s) in the endpoints of Service {ns}/{options.dns_service}"
    try:
        ips = wait_for(
            gateway,
            "Endpoints",
            ns,
            serving,
            timeout,
            what,
            field_selector=f"metadata.name={options.dns_service}",
            on_progress=progress,
        )
    except WaitTimeout as err:
        members = endpoint_membership(gateway, options, list_dns_pods(gateway, options))
        raise _Stop(
            f"kube-dns did not come back: {err} (ready kube-dns endpoints: "
            f"{', '.join(members.kube_dns_ready) or 'none'}); CoreDNS was left serving",
            "check the kube-dns pods (`kubectl describe pod -n kube-system -l k8s-app=kube-dns`) and run "
            "`coredns-wizard rollback` again",
        ) from None
    return f"kube-dns serving from {ips}"


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
