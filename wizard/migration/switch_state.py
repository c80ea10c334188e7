"""Where a switch stands, from the cluster's annotations and the journal: shared by switch,
rollback, status and clean-up.

Why both sources: the journal (on the operator's disk) knows exactly which step was in flight;
the annotations on the CoreDNS Deployment let a wizard on another machine, without the journal,
still find the original kube-dns size, the paused autoscaler and the last completed step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wizard.errors import InputError
from wizard.i18n import tr
from wizard.k8s.gateway import Gateway
from wizard.k8s.objects import Obj, spec_replicas
from wizard.migration.autoscaler import AutoscalerRecord
from wizard.migration.journal import (
    ANNOTATION_AUTOSCALER,
    ANNOTATION_CONTAINMENT,
    ANNOTATION_LAST_KUBE_DNS_SCALE_DOWN,
    ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS,
    ANNOTATION_PHASE,
    ANNOTATION_ROUND,
    Journal,
    JournalEntry,
)
from wizard.options import SwitchOptions
from wizard.safe_load import load_json

ANNOTATION_ROLLBACK_STEP = "coredns-wizard.io/rollback-step"
"""On the CoreDNS Deployment: the last step a rollback finished; set while a rollback is under
way (removed when it finishes), so `status` can say a rollback stopped half-way and where."""
PHASE_COMPLETED = "completed"
PHASE_ROLLED_BACK = "rolled-back"
ROLLBACK_STEP = "rollback"
"""The journal step id a finished rollback writes; entries before it belong to an abandoned switch."""
CONTAIN_STEP_SUFFIX = ".contain"
"""Journal step id of a containment: "r2.contain"; its done entry rewinds the round (see
`done_plan_steps`)."""


@dataclass(frozen=True)
class ContainmentRecord:
    """A containment of a failed round, as annotated on the CoreDNS Deployment: the replica
    counts it returns to and the last plan step those counts correspond to."""

    round: int
    coredns: int
    kube_dns: int
    resume_after: str
    state: str  # "in-progress" or "done"
    reason: str
    time: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "round": self.round,
                "coredns": self.coredns,
                "kube_dns": self.kube_dns,
                "resume_after": self.resume_after,
                "state": self.state,
                "reason": tr(self.reason, "en"),  # an annotation in the cluster: never translated
                "time": self.time,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ContainmentRecord | None:
        try:
            data = load_json(text, "containment record")
            return cls(
                int(data["round"]),
                int(data["coredns"]),
                int(data["kube_dns"]),
                str(data["resume_after"]),
                str(data["state"]),
                str(data.get("reason") or ""),
                str(data.get("time") or ""),
            )
        except (InputError, ValueError, KeyError, TypeError):
            return None


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
    containment: ContainmentRecord | None = None
    rollback_step: str | None = None
    """The last step an unfinished rollback completed (ANNOTATION_ROLLBACK_STEP)."""

    @property
    def coredns_replicas(self) -> int:
        return spec_replicas(self.coredns)

    @property
    def kube_dns_replicas(self) -> int:
        return spec_replicas(self.kube_dns)


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
        ContainmentRecord.from_json(str(notes.get(ANNOTATION_CONTAINMENT) or "")),
        str(notes[ANNOTATION_ROLLBACK_STEP]) if notes.get(ANNOTATION_ROLLBACK_STEP) else None,
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



def done_plan_steps(journal: Journal | None, plan_ids: list[str]) -> set[str]:
    """The plan steps the journal finished in the current switch attempt. A finished containment
    ("rN.contain", done, `to_value["resume_after"]`) put the cluster back to the state after
    that step, so every plan step after it is to be done again."""
    done: set[str] = set()
    for entry in current_entries(journal):
        if entry.status != "done":
            continue
        if entry.step in plan_ids:
            done.add(entry.step)
        elif entry.step.endswith(CONTAIN_STEP_SUFFIX) and isinstance(entry.to_value, dict):
            resume_after = entry.to_value.get("resume_after")
            keep = plan_ids[: plan_ids.index(resume_after) + 1] if resume_after in plan_ids else []
            done &= set(keep)
    return done
@dataclass(frozen=True)
class UnfinishedRollback:
    """A rollback that began and did not finish: where it stopped and why."""

    last_done: str | None
    """The last rollback step that finished (None: none did; nothing was changed by it)."""
    stopped_at: str | None
    """The step it stopped at, from the journal (None when only the annotation is known)."""
    how: str
    """"declined", "failed" or "interrupted" (a step sent, its result never recorded)."""
    detail: str


def unfinished_rollback(record: ClusterRecord, journal: Journal | None) -> UnfinishedRollback | None:
    """From the CoreDNS Deployment's ANNOTATION_ROLLBACK_STEP (any machine) and this machine's
    journal: a rollback step declined, failed or cut off after the last finished rollback."""
    entries = current_entries(journal)
    tail = []  # the rollback steps since the switch's last entry, newest first
    for entry in reversed(entries):
        if not entry.step.startswith(ROLLBACK_STEP + "."):
            break
        tail.append(entry)
    done = next((e.step for e in tail if e.status == "done"), None)
    last_done = record.rollback_step or done
    latest = tail[0] if tail else None
    stopped_at = latest.step if latest is not None and latest.status != "done" else None
    how, detail = "interrupted", ""
    if latest is not None and latest.status == "failed":
        detail = latest.detail or ""
        how = "declined" if "declined" in detail else "failed"
    if last_done is None and stopped_at is None:
        return None
    return UnfinishedRollback(last_done, stopped_at, how, detail)
