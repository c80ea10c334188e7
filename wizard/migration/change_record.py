"""The data of a change record: what an operator hands in after a production DNS change.

Why a module of its own: the record is built from what the engine already knows (the pre-flight
report, the plan, the journal, the observation samples the switch emitted), never from what a
screen shows, so the TUI's `--report` and any other face write the same facts. Pure: no I/O
besides what the caller passes in; the HTML is `change_record_html`'s job.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.i18n import msg

if TYPE_CHECKING:
    from wizard.migration.journal import Journal, JournalEntry
    from wizard.migration.plan import Plan
    from wizard.migration.preflight.run import PreflightReport
    from wizard.migration.progress import Event, EventSink

ROLLBACK_COMMAND = "coredns-wizard rollback"
CLEANUP_COMMAND = "coredns-wizard cleanup"


def local_and_utc(moment: datetime) -> str:
    """A moment in the operator's local zone with its offset, and in UTC: "2026-12-03 23:46:03
    +01:00 (22:46:03 UTC)"."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone()
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if len(offset) == 5 else offset
    return f"{local:%Y-%m-%d %H:%M:%S} {offset} ({aware.astimezone(UTC):%H:%M:%S} UTC)"


def parse_time(text: str) -> datetime | None:
    """A journal timestamp (RFC 3339, "Z" or an offset) as an aware datetime; None if unreadable."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ObservationSample:
    """One observation tick of a round: cumulative queries and errors since the round's
    observation began, and the latency percentiles so far."""

    step_id: str
    at: datetime
    elapsed_s: float
    queries: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """Answered share of the queries, 0..1 (None before the first query)."""
        return None if self.queries == 0 else (self.queries - self.errors) / self.queries


@dataclass(frozen=True)
class StepRecord:
    id: str
    description: str
    target: str
    kubectl: tuple[str, ...]
    changes_cluster: bool
    result: str
    """done, failed, in flight, or not run."""
    started: datetime | None
    finished: datetime | None
    detail: str
    dry_run: bool


@dataclass(frozen=True)
class Finding:
    status: str
    title: str
    evidence: tuple[str, ...]
    advice: str


@dataclass(frozen=True)
class ChangeRecord:
    generated_at: datetime
    context: str
    cluster_server: str
    k8s_version: str
    namespace: str
    coredns_version: str
    image: str
    kube_dns_replicas: int | None
    order: str
    order_reason: str
    outcome: str
    findings: tuple[Finding, ...]
    corefile_before_title: str
    corefile_diff: tuple[str, ...]
    """A unified diff, line by line (no trailing newlines)."""
    steps: tuple[StepRecord, ...]
    observations: tuple[ObservationSample, ...]
    journal_path: str
    operator: str
    rollback_command: str = ROLLBACK_COMMAND
    cleanup_command: str = CLEANUP_COMMAND

    def rounds(self) -> list[tuple[str, list[ObservationSample]]]:
        """The observation samples grouped by step (one group per observed round), in order."""
        groups: dict[str, list[ObservationSample]] = {}
        for sample in self.observations:
            groups.setdefault(sample.step_id, []).append(sample)
        return list(groups.items())


def _step_records(plan: Plan | None, entries: Sequence[JournalEntry]) -> tuple[StepRecord, ...]:
    """Every planned step with what the journal says about it (a journal step the plan does not
    know, e.g. a rollback's, is added after the plan's)."""
    by_step: dict[str, list[JournalEntry]] = {}
    for entry in entries:
        by_step.setdefault(entry.step, []).append(entry)
    records: list[StepRecord] = []
    planned = list(plan.steps) if plan is not None else []
    known = {s.id for s in planned}
    for step in planned:
        records.append(_record(step.id, step.description, step.target, step.kubectl, step.changes_cluster,
                               by_step.get(step.id, [])))
    for step_id, seen in by_step.items():
        if step_id not in known:
            first = seen[0]
            records.append(_record(step_id, first.action, first.object, (), True, seen))
    return tuple(records)


def _record(step_id: str, description: str, target: str, kubectl: tuple[str, ...], changes: bool,
            seen: Sequence[JournalEntry]) -> StepRecord:
    started = next((parse_time(e.time) for e in seen if e.status == "intent"), None)
    last = seen[-1] if seen else None
    if last is None:
        result, finished, detail = "not run", None, ""
    elif last.status == "intent":
        result, finished, detail = "in flight", None, last.detail or ""
    else:
        result, finished, detail = last.status, parse_time(last.time), last.detail or ""
    if started is None and finished is not None:
        started = finished
    return StepRecord(step_id, description, target, kubectl, changes, result, started, finished, detail,
                      bool(last and last.dry_run))


def corefile_diff(before: str, after: str, before_title: str, after_title: str) -> tuple[str, ...]:
    return tuple(difflib.unified_diff(before.splitlines(), after.splitlines(), before_title, after_title,
                                      lineterm="", n=3))


def build_change_record(
    *,
    report: PreflightReport | None,
    plan: Plan | None,
    journal_entries: Sequence[JournalEntry],
    journal_path: str,
    observations: Sequence[ObservationSample],
    outcome: str,
    context: str,
    server: str,
    namespace: str,
    corefile_before: str,
    corefile_before_title: str,
    k8s_version: str = "?",
    now: datetime | None = None,
) -> ChangeRecord:
    """The record of one run. `corefile_before` is what the deployed Corefile is compared with
    (the guide's default for the version, or the CoreDNS ConfigMap that was there); `k8s_version`
    is used when there is no pre-flight report (a resumed switch)."""
    manifests = plan.manifests if plan is not None else None
    after = manifests.corefile_text if manifests is not None else ""
    found = report.findings if report is not None else ()
    findings = tuple(Finding(f.status, f.title, f.evidence, f.advice) for f in found)
    operator = next((e.operator for e in journal_entries if e.operator), "")
    return ChangeRecord(
        generated_at=now or datetime.now(UTC),
        context=context,
        cluster_server=server,
        k8s_version=report.facts.k8s_version if report is not None else k8s_version,
        namespace=namespace,
        coredns_version=plan.coredns_version if plan is not None else "?",
        image=manifests.image if manifests is not None else "",
        kube_dns_replicas=plan.original_kube_dns_replicas if plan is not None else None,
        order=plan.order if plan is not None else "",
        order_reason=plan.order_reason if plan is not None else "",
        outcome=outcome,
        findings=findings,
        corefile_before_title=corefile_before_title,
        corefile_diff=corefile_diff(
            corefile_before, after, corefile_before_title,
            msg("rollback.record-deployed-corefile", "deployed Corefile"),
        )
        if after else (),
        steps=_step_records(plan, journal_entries),
        observations=tuple(observations),
        journal_path=journal_path,
        operator=operator,
    )


def guide_default_corefile(coredns_version: str, cluster_domain: str | None = None) -> str:
    """The guide's template Corefile for this CoreDNS version, without any kube-dns customisation."""
    from wizard.dns.kubedns_config import KubeDNSConfig
    from wizard.dns.translate import translate

    config = KubeDNSConfig(cluster_domain=cluster_domain) if cluster_domain else KubeDNSConfig()
    return translate(config, coredns_version).text


def existing_coredns_corefile(configmap: dict[str, Any] | None) -> str | None:
    """The Corefile of a CoreDNS ConfigMap that was already there (None: none, or no Corefile)."""
    data = (configmap or {}).get("data") or {}
    text = data.get("Corefile")
    return text if isinstance(text, str) else None


def corefile_baseline(report: PreflightReport | None, plan: Plan | None, namespace: str,
                      coredns_version: str = "") -> tuple[str, str]:
    """(text, title) the deployed Corefile is compared with: the CoreDNS ConfigMap that was there
    before the switch, else the guide's default for the version, else nothing."""
    existing = existing_coredns_corefile(report.facts.coredns_configmap) if report is not None else None
    version = plan.coredns_version if plan is not None else coredns_version
    if existing is not None:
        return existing, msg(
            "rollback.record-baseline-configmap", "ConfigMap {namespace}/coredns before the switch",
            namespace=namespace,
        )
    if version:
        domain = plan.cluster_domain if plan is not None else ""
        return guide_default_corefile(version, domain or None), msg(
            "rollback.record-baseline-default", "guide default (CoreDNS {version})", version=version
        )
    return "", msg("rollback.record-baseline-nothing", "nothing")


class ObservationRecorder:
    """An event sink that keeps each observation tick as an `ObservationSample` of the step that
    runs it, then hands every event on to `forward` (the face's own sink)."""

    def __init__(self, forward: EventSink | None = None) -> None:
        self.forward = forward
        self.samples: list[ObservationSample] = []
        self._step = "?"

    def __call__(self, event: Event) -> None:
        from wizard.migration.progress import ObservationTick, StepStarted

        if isinstance(event, StepStarted):
            self._step = event.step.id
        elif isinstance(event, ObservationTick):
            self.samples.append(ObservationSample(self._step, datetime.now(UTC), event.elapsed,
                                                  event.queries, event.errors, event.p50_ms, event.p95_ms))
        if self.forward is not None:
            self.forward(event)


def record_of_run(
    *,
    report: PreflightReport | None,
    plan: Plan | None,
    journal: Journal | None,
    observations: Sequence[ObservationSample],
    outcome: str,
    context: str,
    server: str,
    namespace: str,
    coredns_version: str = "",
    k8s_version: str = "?",
) -> ChangeRecord:
    """The record of a run as both faces write it: the journal read now, the Corefile compared
    with what was there before (`corefile_baseline`)."""
    before, before_title = corefile_baseline(report, plan, namespace, coredns_version)
    entries = journal.read().entries if journal is not None else []
    return build_change_record(
        report=report, plan=plan, journal_entries=entries,
        journal_path=str(journal.path) if journal is not None else "none",
        observations=observations, outcome=outcome, context=context, server=server,
        namespace=namespace, corefile_before=before, corefile_before_title=before_title,
        k8s_version=k8s_version,
    )


def write_change_record(record: ChangeRecord, path: Path) -> None:
    """The record as one self-contained HTML file at `path` (OSError when it cannot be written)."""
    from wizard.migration.change_record_html import render_change_record

    path.write_text(render_change_record(record), encoding="utf-8")


def record_path_problem(path: str) -> str | None:
    """Why the change record cannot be written to `path`, checked before anything changes (None:
    it looks writable). It neither creates nor truncates the file."""
    target = Path(path).expanduser()
    parent = target.resolve().parent
    if target.is_dir():
        return msg("rollback.record-path-is-directory", "{path} is a directory; pass a file name", path=path)
    if not parent.is_dir():
        return msg(
            "rollback.record-path-no-directory",
            "directory {directory} does not exist; create it or pass another file",
            directory=str(parent),
        )
    if target.exists() and not os.access(target, os.W_OK):
        return msg("rollback.record-path-not-writable", "{path} is not writable", path=path)
    if not target.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return msg(
            "rollback.record-directory-not-writable", "directory {directory} is not writable",
            directory=str(parent),
        )
    return None
