"""What the switch engine reports while it works: plain frozen dataclasses, no behaviour.

Why: the engine never prints and never asks; the text printer of the commands and the TUI both
consume the same events through one `on_event` callback, so the two faces cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from wizard.i18n import N_, t
from wizard.migration.plan import Step
from wizard.migration.probes import ProbeResult
from wizard.migration.verdicts import Verdict

Outcome = Literal["done", "skipped", "already-done", "dry-run", "failed", "declined"]
OUTCOME_LABELS = {
    "done": N_("done"), "skipped": N_("skipped"), "already-done": N_("already-done"),
    "dry-run": N_("dry-run"), "failed": N_("failed"), "declined": N_("declined"),
    "in flight": N_("in flight"), "not run": N_("not run"),
}
"""What an operator reads for a step's outcome (or the change record's "in flight" / "not run");
the values themselves stay English (code compares them, the journal stores them)."""


def outcome_label(outcome: str) -> str:
    """A step's outcome in the operator's language."""
    return t(OUTCOME_LABELS[outcome]) if outcome in OUTCOME_LABELS else outcome
Owner = Literal["coredns", "kube-dns", "other"]


@dataclass(frozen=True)
class PodView:
    """One DNS pod as the panes show it; `owner` follows ownerReferences, never labels."""

    name: str
    owner: Owner
    node: str
    ip: str
    phase: str
    ready: bool
    restarts: int
    age_s: float


@dataclass(frozen=True)
class StepStarted:
    step: Step


@dataclass(frozen=True)
class StepFinished:
    step: Step
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Waiting:
    """Reported about once a second during a wait; `timeout_s` 0 means a dry-run skip."""

    what: str
    elapsed_s: float
    timeout_s: float


@dataclass(frozen=True)
class PodsChanged:
    pods: tuple[PodView, ...]


@dataclass(frozen=True)
class EndpointsChanged:
    ready: tuple[str, ...]
    not_ready: tuple[str, ...]


@dataclass(frozen=True)
class ProbeBatch:
    """The verdicts of one probe step, one per CoreDNS pod and question, each with the kube-dns
    answer it was read against. Faces show these; they never judge answers themselves."""

    verdicts: tuple[Verdict, ...]
    transports: tuple[str, ...] = ()

    @property
    def results(self) -> tuple[ProbeResult, ...]:
        """Every answer of the step, kube-dns's once per question, in the order asked."""
        seen: list[ProbeResult] = []
        for verdict in self.verdicts:
            if verdict.baseline is not None and verdict.baseline not in seen:
                seen.append(verdict.baseline)
            seen.append(verdict.result)
        return tuple(seen)

    @property
    def agreement(self) -> tuple[str, ...]:
        """One line per verdict, as the command prints them."""
        return tuple(v.line for v in self.verdicts)

    @property
    def failed(self) -> int:
        return sum(1 for v in self.verdicts if not v.passed)


@dataclass(frozen=True)
class ObservationTick:
    elapsed: float
    total: float
    errors: int
    queries: int
    p50_ms: float | None
    p95_ms: float | None
    pinned_errors: int = 0
    """Through the long-lived (pinned) sockets, counted apart from the fresh-socket queries."""
    pinned_queries: int = 0


@dataclass(frozen=True)
class Note:
    """Something the operator should read that is neither progress nor a problem."""

    message: str


@dataclass(frozen=True)
class Problem:
    message: str
    advice: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class SwitchStopped:
    reason: str
    advice: str


@dataclass(frozen=True)
class SwitchCompleted:
    summary: str


Event = (
    StepStarted
    | StepFinished
    | Waiting
    | PodsChanged
    | EndpointsChanged
    | ProbeBatch
    | ObservationTick
    | Note
    | Problem
    | SwitchStopped
    | SwitchCompleted
)
EventSink = Callable[[Event], None]
Confirm = Callable[[Step, str], bool]
"""confirm(step, what_will_change) -> True to go ahead; the caller names object and context."""
