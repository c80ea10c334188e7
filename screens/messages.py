"""Typed messages that workers post back to the UI thread.

Why messages: engine calls run in thread workers; widgets may only be touched on the main thread,
so every result travels as a dataclass message and the handler on the main thread renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from textual.message import Message

if TYPE_CHECKING:
    from screens.widgets.rollback_preview import RollbackPreview
    from wizard.dns.checker import Finding as CorefileFinding
    from wizard.migration.manifests import RenderResult
    from wizard.migration.plan import Plan
    from wizard.migration.preflight.run import Finding, PreflightReport
    from wizard.migration.progress import Event

LinkState = Literal["unknown", "ok", "retrying", "unreachable"]


@dataclass
class ConnectionChanged(Message):
    """The gateway's last request: ok, retrying, or failed for good (with the error)."""

    state: LinkState
    detail: str = ""


@dataclass
class ServerVersionRead(Message):
    version: str


@dataclass
class PreflightProgress(Message):
    text: str


@dataclass
class PreflightDone(Message):
    report: PreflightReport


@dataclass
class StageFailed(Message):
    """A stage's worker failed with an error the operator can act on (one line)."""

    stage: str
    error: str


@dataclass
class CorefileChecked(Message):
    text: str
    findings: list[CorefileFinding]
    error: str = ""
    """Set when the check itself could not run (e.g. an unknown CoreDNS version)."""


@dataclass
class DeployPrepared(Message):
    """The manifests rendered with the reviewed Corefile, the server-side dry-run, the plan."""

    rendered: RenderResult | None
    dry_run: Finding
    plan: Plan | None
    blocking: list[Finding]


@dataclass
class EngineEvent(Message):
    """One event of the switch/rollback engine, forwarded from its worker thread."""

    event: Event


@dataclass
class DeployFinished(Message):
    ok: bool
    summary: str


@dataclass
class RollbackFinished(Message):
    ok: bool
    summary: str


@dataclass
class RollbackPreviewRead(Message):
    """The steps a rollback would run now (or why it cannot), for the confirmation."""

    preview: RollbackPreview
