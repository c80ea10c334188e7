"""Clean-up (the guide's step 8): delete the kube-dns Deployment, ConfigMap and ServiceAccount,
only once the switch has held for 72 hours, each saved as YAML first.

Why so careful: this is the one step rollback cannot undo by scaling. The kube-dns Service is
never deleted (its ClusterIP is in every pod's resolv.conf; CoreDNS serves behind it), and the
kube-dns ConfigMap is kept while NodeLocal DNSCache still reads its stub domains from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wizard.errors import CheckFailed
from wizard.i18n import msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj, ready_replicas
from wizard.migration.journal import Journal, save_backup
from wizard.migration.plan import Step
from wizard.migration.progress import Confirm, Event, EventSink, Note, Outcome
from wizard.migration.status import last_kube_dns_scale_down
from wizard.migration.step_runner import StepRunner
from wizard.migration.switch_state import read_cluster_record
from wizard.options import CLEANUP_AFTER_HOURS, SwitchOptions


@dataclass(frozen=True)
class CleanupResult:
    deleted: tuple[str, ...]
    skipped: tuple[str, ...]
    backups: tuple[str, ...]
    warnings: tuple[str, ...]
    dry_run: bool


def node_local_dns_users(gateway: Gateway) -> list[str]:
    """DaemonSets of NodeLocal DNSCache (they read the kube-dns ConfigMap's stub domains)."""
    users = []
    for ds in gateway.list_daemonsets(None):
        meta = ds.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("name") == "node-local-dns" or labels.get("k8s-app") == "node-local-dns":
            users.append(f"DaemonSet {meta.get('namespace')}/{meta.get('name')}")
    return users


def check_cleanup_allowed(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    force: bool,
    now: datetime | None = None,
) -> None:
    """Raise CheckFailed naming why clean-up must wait; return when it may go ahead."""
    ns = options.namespace
    record = read_cluster_record(gateway, options)
    if record.kube_dns is not None and record.kube_dns_replicas > 0:
        raise CheckFailed(msg(
            "rollback.cleanup-kube-dns-has-replicas",
            "Deployment {namespace}/{deployment} still has {replicas} replica(s): "
            "finish the switch (`coredns-wizard switch`) before cleaning up",
            namespace=ns, deployment=options.kube_dns_deployment, replicas=record.kube_dns_replicas,
        ))
    want = record.original_kube_dns_replicas or record.coredns_replicas
    ready = ready_replicas(record.coredns)
    if record.coredns is None or ready < max(1, want) or ready < record.coredns_replicas:
        raise CheckFailed(msg(
            "rollback.cleanup-coredns-not-ready",
            "Deployment {namespace}/{deployment} is not fully ready ({ready}/{replicas} ready, {want} "
            "expected): fix CoreDNS before deleting kube-dns",
            namespace=ns, deployment=options.coredns_deployment, ready=ready,
            replicas=record.coredns_replicas if record.coredns else 0, want=want,
        ))
    if force:
        return
    last = last_kube_dns_scale_down(gateway, journal, options)
    if last is None:
        raise CheckFailed(msg(
            "rollback.cleanup-no-scale-down-record",
            "no record of the last kube-dns scale-down (annotation "
            "coredns-wizard.io/last-kube-dns-scale-down on Deployment {namespace}/{deployment}): "
            "pass --force if you are sure the switch has held for 72 hours",
            namespace=ns, deployment=options.coredns_deployment,
        ))
    allowed = last + timedelta(hours=CLEANUP_AFTER_HOURS)
    current = now or datetime.now(UTC)
    if current < allowed:
        hours = (allowed - current).total_seconds() / 3600
        raise CheckFailed(msg(
            "rollback.cleanup-too-early",
            "the last kube-dns scale-down was at {last}; the guide waits "
            "{wait:g} h without problems before deleting kube-dns: allowed from "
            "{allowed} ({hours:.1f} h from now); pass --force to delete earlier",
            last=f"{last:%Y-%m-%dT%H:%M:%SZ}", wait=CLEANUP_AFTER_HOURS,
            allowed=f"{allowed:%Y-%m-%dT%H:%M:%SZ}", hours=hours,
        ))


def cleanup(
    gateway: Gateway,
    journal: Journal,
    options: SwitchOptions,
    on_event: EventSink | None = None,
    confirm: Confirm | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> CleanupResult:
    """Back up (into the journal's state directory) and delete the kube-dns objects; CheckFailed
    when it is not time yet."""

    def emit(event: Event) -> None:
        if on_event is not None:
            on_event(event)

    check_cleanup_allowed(gateway, journal, options, force, now)
    ns = options.namespace
    dry = gateway.dry_run
    context = gateway.connection.context
    runner = StepRunner(journal, dry, emit, None if options.assume_yes else confirm, context)
    warnings: list[str] = []
    targets = _targets(gateway, options, warnings)
    for warning in warnings:
        emit(Note(warning))
    deleted: list[str] = []
    skipped: list[str] = []
    backups: list[str] = []
    for kind, name in targets:
        step = _delete_step(kind, name, ns)
        label = step.target
        obj = gateway.try_get(kind, ns, name)
        if obj is None:
            skipped.append(msg("rollback.cleanup-already-gone", "{object}: already gone", object=label))
            runner.settled(step, msg("rollback.cleanup-gone", "already gone"))
            continue

        def delete(kind: str = kind, name: str = name, obj: Obj = obj) -> tuple[Outcome, str]:
            backup = None if dry else save_backup(obj, journal.state_dir)
            if backup is not None:
                backups.append(str(backup))
            gateway.delete(kind, ns, name)
            return "done", (
                msg("rollback.cleanup-backup", "backup: {path}", path=str(backup))
                if backup
                else msg("rollback.cleanup-deleted", "deleted")
            )

        question = msg(
            "rollback.cleanup-question",
            "delete {object} in context {context}", object=label, context=repr(context)
        )
        if runner.run(step, delete, question) == "declined":
            skipped.append(msg("rollback.cleanup-declined", "{object}: declined", object=label))
            continue
        deleted.append(label)
    emit(Note(msg(
        "rollback.cleanup-service-kept",
        "Service {namespace}/{service} is kept: CoreDNS serves behind its ClusterIP",
        namespace=ns, service=options.dns_service,
    )))
    return CleanupResult(tuple(deleted), tuple(skipped), tuple(backups), tuple(warnings), dry)


def _targets(gateway: Gateway, options: SwitchOptions, warnings: list[str]) -> list[tuple[str, str]]:
    """The kube-dns objects to delete; the ConfigMap is kept (with a warning) while NodeLocal
    DNSCache reads it."""
    targets = [
        ("Deployment", options.kube_dns_deployment),
        ("ConfigMap", options.kube_dns_configmap),
        ("ServiceAccount", "kube-dns"),
    ]
    users = node_local_dns_users(gateway)
    if users:
        warnings.append(msg(
            "rollback.cleanup-node-local-dns",
            "{users} reads ConfigMap {namespace}/{configmap} for "
            "its stub domains: keeping that ConfigMap; move NodeLocal DNSCache's configuration first, "
            "then delete it by hand",
            users=", ".join(users), namespace=options.namespace, configmap=options.kube_dns_configmap,
        ))
        targets = [target for target in targets if target[0] != "ConfigMap"]
    return targets


def _delete_step(kind: str, name: str, ns: str) -> Step:
    label = f"{kind} {ns}/{name}"
    return Step(
        f"cleanup.{kind.lower()}",
        "deploy",
        0,
        msg("rollback.cleanup-step-delete", "Delete {object}", object=label),
        (f"kubectl delete {kind.lower()} {name} -n {ns}",),
        label,
        None,
        True,
    )
