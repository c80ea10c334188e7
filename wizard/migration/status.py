"""Where a switch stands, read from the cluster (and the journal when this machine has it).

Why one value: `coredns-wizard status`, the TUI's header and clean-up's 72-hour rule all need
the same answer; nothing here changes the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wizard.i18n import msg
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import ready_replicas
from wizard.migration.autoscaler import AutoscalerRecord, describe_now
from wizard.migration.dns_pods import EndpointMembership, endpoint_membership, list_dns_pods
from wizard.migration.journal import Journal
from wizard.migration.progress import PodView
from wizard.migration.switch_state import (
    PHASE_COMPLETED,
    PHASE_ROLLED_BACK,
    ClusterRecord,
    UnfinishedRollback,
    parse_time,
    read_cluster_record,
    unfinished_rollback,
)
from wizard.options import CLEANUP_AFTER_HOURS, SwitchOptions


@dataclass(frozen=True)
class DeploymentState:
    name: str
    replicas: int
    ready: int


@dataclass(frozen=True)
class SwitchStatus:
    phase: str
    """not-started, deployed, in-progress, completed, rolling-back (a rollback began and did not
    finish, declined steps included) or rolled-back."""
    last_step: str | None
    round: int | None
    rounds: int | None
    coredns: DeploymentState | None
    kube_dns: DeploymentState | None
    endpoints: EndpointMembership
    pods: tuple[PodView, ...]
    autoscaler: AutoscalerRecord | None
    autoscaler_now: str
    journal_tail: tuple[str, ...]
    last_kube_dns_scale_down: datetime | None
    cleanup_allowed_at: datetime | None
    now: datetime
    rollback: UnfinishedRollback | None = None
    next_action: str = ""
    """What the operator should run now, in one line."""

    @property
    def since_last_scale_down(self) -> timedelta | None:
        if self.last_kube_dns_scale_down is None:
            return None
        return self.now - self.last_kube_dns_scale_down

    @property
    def cleanup_allowed(self) -> bool:
        return self.cleanup_allowed_at is not None and self.now >= self.cleanup_allowed_at

    def to_dict(self) -> dict[str, Any]:
        def dep(d: DeploymentState | None) -> dict[str, Any] | None:
            return None if d is None else {"name": d.name, "replicas": d.replicas, "ready": d.ready}

        since = self.since_last_scale_down
        return {
            "phase": self.phase,
            "last_step": self.last_step,
            "round": self.round,
            "rounds": self.rounds,
            "coredns": dep(self.coredns),
            "kube_dns": dep(self.kube_dns),
            "endpoints": {
                "ready": list(self.endpoints.ready),
                "not_ready": list(self.endpoints.not_ready),
                "coredns": list(self.endpoints.coredns_ready),
                "kube_dns": list(self.endpoints.kube_dns_ready),
                "other": list(self.endpoints.other_ready),
            },
            "pods": [p.__dict__ for p in self.pods],
            "autoscaler": None
            if self.autoscaler is None
            else {
                "name": self.autoscaler.name,
                "namespace": self.autoscaler.namespace,
                "replicas": self.autoscaler.replicas,
                "target": self.autoscaler.target,
            },
            "autoscaler_now": self.autoscaler_now,
            "journal_tail": list(self.journal_tail),
            "last_kube_dns_scale_down": _iso(self.last_kube_dns_scale_down),
            "seconds_since_last_scale_down": None if since is None else since.total_seconds(),
            "cleanup_allowed_at": _iso(self.cleanup_allowed_at),
            "cleanup_allowed": self.cleanup_allowed,
            "rollback": None
            if self.rollback is None
            else {
                "last_done": self.rollback.last_done,
                "stopped_at": self.rollback.stopped_at,
                "how": self.rollback.how,
                "detail": self.rollback.detail,
            },
            "next": self.next_action,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def last_kube_dns_scale_down(
    gateway: Gateway, journal: Journal | None, options: SwitchOptions
) -> datetime | None:
    """The annotation, else the journal's last finished kube-dns scale-down."""
    record = read_cluster_record(gateway, options)
    if record.last_kube_dns_scale_down is not None:
        return record.last_kube_dns_scale_down
    if journal is not None:
        for entry in reversed(journal.read().entries):
            if entry.status == "done" and entry.step.endswith("scale-kube-dns") and not entry.dry_run:
                return parse_time(entry.time)
    return None


def _phase_of(record: ClusterRecord) -> str:
    """The switch's phase as the cluster records it, before an unfinished rollback is considered."""
    if record.coredns is None:
        return "not-started"
    if record.phase in (PHASE_COMPLETED, PHASE_ROLLED_BACK):
        return record.phase
    if record.phase in (None, "deploy") and record.coredns_replicas == 0:
        return "deployed"
    return "in-progress"


def _journal_tail(journal: Journal | None, tail: int) -> tuple[str, ...]:
    """The last `tail` journal entries as one line each (none without a journal)."""
    entries = journal.read().entries if journal is not None else []
    return tuple(
        f"{e.time} {e.status} {e.step}: {e.action}" + (f" ({e.detail})" if e.detail else "")
        for e in entries[-tail:]
    )


def read_status(
    gateway: Gateway,
    journal: Journal | None,
    options: SwitchOptions,
    now: datetime | None = None,
    tail: int = 5,
) -> SwitchStatus:
    now = now or datetime.now(UTC)
    record = read_cluster_record(gateway, options)
    pods = list_dns_pods(gateway, options)
    members = endpoint_membership(gateway, options, pods)
    phase = _phase_of(record)
    pending = unfinished_rollback(record, journal) if phase != PHASE_ROLLED_BACK else None
    if pending is not None:
        phase = "rolling-back"
    journal_tail = _journal_tail(journal, tail)
    autoscaler_now: str = msg("rollback.status-autoscaler-none", "none recorded")
    if record.autoscaler is not None:
        live = gateway.try_get("Deployment", record.autoscaler.namespace, record.autoscaler.name)
        autoscaler_now = describe_now(live)
    last = last_kube_dns_scale_down(gateway, journal, options)
    allowed_at = last + timedelta(hours=CLEANUP_AFTER_HOURS) if last is not None else None
    if record.kube_dns_replicas > 0 or pending is not None:
        allowed_at = None
    return SwitchStatus(
        phase=phase,
        last_step=record.phase,
        round=record.round,
        rounds=record.original_kube_dns_replicas,
        coredns=None
        if record.coredns is None
        else DeploymentState(
            options.coredns_deployment, record.coredns_replicas, ready_replicas(record.coredns)
        ),
        kube_dns=None
        if record.kube_dns is None
        else DeploymentState(
            options.kube_dns_deployment, record.kube_dns_replicas, ready_replicas(record.kube_dns)
        ),
        endpoints=members,
        pods=pods.views,
        autoscaler=record.autoscaler,
        autoscaler_now=autoscaler_now,
        journal_tail=journal_tail,
        last_kube_dns_scale_down=last,
        cleanup_allowed_at=allowed_at,
        now=now,
        rollback=pending,
        next_action=_next_action(phase, record.kube_dns_replicas, record.original_kube_dns_replicas, pending),
    )


def _next_action(
    phase: str, kube_dns: int, original: int | None, pending: UnfinishedRollback | None
) -> str:
    if pending is not None:
        back = msg(
            "rollback.status-replicas-back", "kube-dns has {kube_dns} of {original} replicas back",
            kube_dns=kube_dns, original=original if original is not None else "?",
        )
        if pending.how == "declined" and pending.last_done is None:
            return msg(
                "rollback.status-next-declined",
                "a rollback was declined at {step} before it changed anything ({back}); run "
                "`coredns-wizard rollback` to roll back, or `coredns-wizard switch` to keep CoreDNS and "
                "finish the switch",
                step=pending.stopped_at, back=back,
            )
        return msg(
            "rollback.status-next-finish",
            "finish the rollback: run `coredns-wizard rollback` ({back}; it plans again from the cluster "
            "as it is and skips nothing that is still needed)",
            back=back,
        )
    if phase == "not-started":
        return msg(
            "rollback.status-next-not-started", "run `coredns-wizard plan`, then `coredns-wizard switch`"
        )
    if phase == "deployed":
        return msg(
            "rollback.status-next-deployed",
            "run `coredns-wizard switch` to start the rounds, or `coredns-wizard rollback`",
        )
    if phase == "in-progress":
        return msg(
            "rollback.status-next-in-progress",
            "resume with `coredns-wizard switch`, or roll back with `coredns-wizard rollback`",
        )
    if phase == "completed":
        return msg(
            "rollback.status-next-completed",
            "nothing to do until clean-up is allowed (`coredns-wizard cleanup`)",
        )
    if phase == "rolled-back":
        return msg(
            "rollback.status-next-rolled-back",
            "nothing: kube-dns serves again; `coredns-wizard switch` starts a new switch",
        )
    return ""


def _phase_line(status: SwitchStatus) -> str:
    """The first status line: the phase and round, or where an unfinished rollback stopped."""
    rounds = (
        msg("rollback.status-round", ", round {round} of {rounds}", round=status.round, rounds=status.rounds)
        if status.round and status.rounds
        else ""
    )
    if status.rollback is not None:
        r = status.rollback
        done = r.last_done or msg("rollback.status-none", "none")
        if r.stopped_at:
            how = {
                "declined": msg("rollback.status-how-declined", "declined"),
                "failed": msg("rollback.status-how-failed", "failed"),
            }.get(r.how, r.how)
            if r.detail and r.how == "failed":
                where = msg(
                    "rollback.status-where-stopped-why",
                    "last rollback step done: {done}; {how} at {step} ({detail})",
                    done=done, how=how, step=r.stopped_at, detail=r.detail,
                )
            else:
                where = msg(
                    "rollback.status-where-stopped",
                    "last rollback step done: {done}; {how} at {step}",
                    done=done, how=how, step=r.stopped_at,
                )
        else:
            where = msg("rollback.status-where", "last rollback step done: {done}", done=done)
        return msg(
            "rollback.status-phase-rolling-back",
            "phase: rolling-back, unfinished ({where}); the switch had reached {last}",
            where=where, last=status.last_step or "?",
        )
    if status.last_step:
        return msg(
            "rollback.status-phase-last", "phase: {phase}{rounds} (last step {last})",
            phase=status.phase, rounds=rounds, last=status.last_step,
        )
    return msg("rollback.status-phase", "phase: {phase}{rounds}", phase=status.phase, rounds=rounds)


def _cleanup_lines(status: SwitchStatus) -> list[str]:
    """When kube-dns was last scaled down and whether clean-up is allowed yet."""
    lines: list[str] = []
    since = status.since_last_scale_down
    if status.last_kube_dns_scale_down is None:
        lines.append(msg("rollback.status-last-scale-down-none", "last kube-dns scale-down: none yet"))
    else:
        hours = since.total_seconds() / 3600 if since is not None else 0.0
        lines.append(msg(
            "rollback.status-last-scale-down", "last kube-dns scale-down: {at} ({hours:.1f} h ago)",
            at=_iso(status.last_kube_dns_scale_down), hours=hours,
        ))
    if status.rollback is not None:
        lines.append(msg("rollback.status-cleanup-rollback", "clean-up: not while a rollback is unfinished"))
    elif status.cleanup_allowed_at is None:
        lines.append(msg(
            "rollback.status-cleanup-not-yet",
            "clean-up: not yet (kube-dns still has replicas or was never scaled down)",
        ))
    elif status.cleanup_allowed:
        lines.append(msg("rollback.status-cleanup-allowed", "clean-up: allowed (`coredns-wizard cleanup`)"))
    else:
        lines.append(msg(
            "rollback.status-cleanup-allowed-from", "clean-up: allowed from {at}",
            at=_iso(status.cleanup_allowed_at),
        ))
    return lines


def status_lines(status: SwitchStatus) -> list[str]:
    """The text `coredns-wizard status` prints."""

    def dep(d: DeploymentState | None, label: str) -> str:
        return (
            msg("rollback.status-deployment-absent", "{label}: absent", label=label)
            if d is None
            else msg(
                "rollback.status-deployment", "{label}: {ready}/{replicas} ready (Deployment {name})",
                label=label, ready=d.ready, replicas=d.replicas, name=d.name,
            )
        )

    none = msg("rollback.status-none", "none")
    endpoints = msg(
        "rollback.status-endpoints", "endpoints: CoreDNS {coredns}; kube-dns {kube_dns}",
        coredns=", ".join(status.endpoints.coredns_ready) or none,
        kube_dns=", ".join(status.endpoints.kube_dns_ready) or none,
    )
    if status.endpoints.other_ready:
        endpoints = msg(
            "rollback.status-endpoints-other", "{endpoints}; other {ips}",
            endpoints=endpoints, ips=", ".join(status.endpoints.other_ready),
        )
    if status.endpoints.not_ready:
        endpoints = msg(
            "rollback.status-endpoints-not-ready", "{endpoints}; not ready {ips}",
            endpoints=endpoints, ips=", ".join(status.endpoints.not_ready),
        )
    lines = [
        _phase_line(status),
        dep(status.coredns, "CoreDNS"),
        dep(status.kube_dns, "kube-dns"),
        endpoints,
    ]
    for pod in status.pods:
        params = dict(name=pod.name, owner=pod.owner, phase=pod.phase, node=pod.node or "-",
                      ip=pod.ip or "-", restarts=pod.restarts)
        lines.append(
            msg("rollback.status-pod-ready",
                "  pod {name} [{owner}] {phase} ready on {node} ip {ip} restarts {restarts}", **params)
            if pod.ready
            else msg(
                "rollback.status-pod", "  pod {name} [{owner}] {phase} on {node} ip {ip} restarts {restarts}",
                **params,
            )
        )
    if status.autoscaler is not None:
        a = status.autoscaler
        lines.append(msg(
            "rollback.status-autoscaler",
            "autoscaler {namespace}/{name}: was {replicas} replica(s) --target={target}; now {now}",
            namespace=a.namespace, name=a.name, replicas=a.replicas, target=a.target,
            now=status.autoscaler_now,
        ))
    lines += _cleanup_lines(status)
    if status.next_action:
        lines.append(msg("rollback.status-next", "next: {next}", next=status.next_action))
    if status.journal_tail:
        lines.append(msg("rollback.status-journal", "journal (last entries):"))
        lines.extend(f"  {line}" for line in status.journal_tail)
    return lines
