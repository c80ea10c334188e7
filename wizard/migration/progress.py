"""What the switch engine reports while it works: plain frozen dataclasses, no behaviour.

Why: the engine never prints and never asks; the text printer of the commands and the TUI both
consume the same events through one `on_event` callback, so the two faces cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from wizard.migration.plan import Step
from wizard.migration.probes import ProbeResult

Outcome = Literal["done", "skipped", "already-done", "dry-run", "failed", "declined"]
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
    """The answers of one probe step; `agreement` holds one line per compared question."""

    results: tuple[ProbeResult, ...]
    agreement: tuple[str, ...]
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservationTick:
    elapsed: float
    total: float
    errors: int
    queries: int
    p50_ms: float | None
    p95_ms: float | None


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
