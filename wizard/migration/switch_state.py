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
from wizard.k8s.gateway import Gateway, Obj
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
                "reason": self.reason,
                "time": self.time,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ContainmentRecord | None:
        try:
            data = json.loads(text)
            return cls(
                int(data["round"]),
                int(data["coredns"]),
                int(data["kube_dns"]),
                str(data["resume_after"]),
                str(data["state"]),
                str(data.get("reason") or ""),
                str(data.get("time") or ""),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class AutoscalerRecord:
    """What the wizard changed on the kube-dns autoscaler, to put it back exactly."""

    name: str
    namespace: str
    replicas: int
    target: str
    container: str
    field: str  # "command" or "args": the list that holds --target=
    values: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "namespace": self.namespace,
                "replicas": self.replicas,
                "target": self.target,
                "container": self.container,
                "field": self.field,
                "values": list(self.values),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AutoscalerRecord | None:
        try:
            data = load_json(text, "autoscaler record")
            return cls(
                str(data["name"]),
                str(data["namespace"]),
                int(data["replicas"]),
                str(data["target"]),
                str(data.get("container") or ""),
                str(data.get("field") or "command"),
                tuple(str(v) for v in data.get("values") or ()),
            )
        except (InputError, ValueError, KeyError, TypeError):
            return None


def autoscaler_record_of(deployment: Obj) -> AutoscalerRecord:
    """Read the autoscaler Deployment as it is now (before the wizard pauses it)."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        for field_name in ("command", "args"):
            values = [str(v) for v in container.get(field_name) or []]
            for value in values:
                if value.startswith("--target="):
                    return AutoscalerRecord(
                        str(meta.get("name")),
                        str(meta.get("namespace")),
                        int(spec.get("replicas") or 0),
                        value.split("=", 1)[1],
                        str(container.get("name")),
                        field_name,
                        tuple(values),
                    )
    first = containers[0] if containers else {}
    return AutoscalerRecord(
        str(meta.get("name")),
        str(meta.get("namespace")),
        int(spec.get("replicas") or 0),
        "",
        str(first.get("name") or ""),
        "command",
        tuple(str(v) for v in first.get("command") or []),
    )


def retargeted(record: AutoscalerRecord, new_target: str) -> list[str]:
    """The autoscaler's command/args with --target= pointing at `new_target`."""
    return [f"--target={new_target}" if v.startswith("--target=") else v for v in record.values]


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
        ContainmentRecord.from_json(str(notes.get(ANNOTATION_CONTAINMENT) or "")),
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
