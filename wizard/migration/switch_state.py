"""Where a switch stands, from the cluster's annotations and the journal: shared by switch,
rollback, status and clean-up.

Why both sources: the journal (on the operator's disk) knows exactly which step was in flight;
the annotations on the CoreDNS Deployment let a wizard on another machine, without the journal,
still find the original kube-dns size, the paused autoscaler and the last completed step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wizard.k8s.gateway import Gateway, Obj
from wizard.migration.autoscaler import AutoscalerRecord
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
    JournalEntry,
)
from wizard.options import SwitchOptions

ANNOTATION_ROLLBACK_STEP = "coredns-wizard.io/rollback-step"
"""On the CoreDNS Deployment: the last step a rollback finished; set while a rollback is under
way (removed when it finishes), so `status` can say a rollback stopped half-way and where."""
PHASE_COMPLETED = "completed"
PHASE_ROLLED_BACK = "rolled-back"
ROLLBACK_STEP = "rollback"
"""The journal step id a finished rollback writes; entries before it belong to an abandoned switch."""


@dataclass(frozen=True)
class ClusterRecord:
    """The switch's facts as the cluster holds them (annotations + replica counts)."""

    coredns: Obj | None
    kube_dns: Obj | None
    original_kube_dns_replicas: int | None
    autoscaler: AutoscalerRecord | None
    phase: str | None
    round: int | None
    last_kube_dns_scale_down: datetime | None

    @property
    def coredns_replicas(self) -> int:
        return _replicas(self.coredns)

    @property
    def kube_dns_replicas(self) -> int:
        return _replicas(self.kube_dns)


def _replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int((deployment.get("spec") or {}).get("replicas") or 0)


def ready_replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def read_cluster_record(gateway: Gateway, options: SwitchOptions) -> ClusterRecord:
    coredns = gateway.try_get("Deployment", options.namespace, options.coredns_deployment)
    kube_dns = gateway.try_get("Deployment", options.namespace, options.kube_dns_deployment)
    notes: dict[str, Any] = ((coredns or {}).get("metadata") or {}).get("annotations") or {}
    original = _int(notes.get(ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS))
    autoscaler = (
        AutoscalerRecord.from_json(str(notes[ANNOTATION_AUTOSCALER]))
        if notes.get(ANNOTATION_AUTOSCALER)
        else None
    )
    return ClusterRecord(
        coredns,
        kube_dns,
        original,
        autoscaler,
        str(notes[ANNOTATION_PHASE]) if notes.get(ANNOTATION_PHASE) else None,
        _int(notes.get(ANNOTATION_ROUND)),
        parse_time(str(notes.get(ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN) or "")),
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def current_entries(journal: Journal | None) -> list[JournalEntry]:
    """The live (not dry-run) journal entries of the current switch: those after the last
    finished rollback, which ends a switch attempt."""
    if journal is None:
        return []
    entries = [e for e in journal.read().entries if not e.dry_run]
    for index in range(len(entries) - 1, -1, -1):
        if entries[index].step == ROLLBACK_STEP and entries[index].status == "done":
            return entries[index + 1 :]
    return entries

