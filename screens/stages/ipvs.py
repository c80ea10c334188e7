"""Stage 2: the guide's IPVS advice. Shorten the UDP session timeout, then wait before going on.

Why a countdown that needs a reason to skip: sessions opened under the old 300 s timeout keep
pinning clients to a kube-dns pod after it is scaled down; skipping the wait is sometimes right
(the operator changed it long ago) but must be a stated, journaled decision, not a key press.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from screens.messages import StageFailed
from screens.stages.base import StageScreen

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.preflight.run import PreflightReport

TICK_S = 1.0
MIN_REASON_CHARS = 10
SKIP_STEP_ID = "tui.ipvs-wait-skipped"


def ipvs_risk(report: PreflightReport) -> bool:
    """IPVS mode and a pre-flight kube-proxy finding that is not ok (timeout long, kernels slow)."""
    from wizard.migration.preflight.proxy import read_proxy_setup

    try:
        status = report.finding("kube-proxy").status
    except KeyError:
        return False
    return read_proxy_setup(report.facts).mode == "ipvs" and status != "ok"


def format_remaining(seconds: float) -> str:
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


def ipvs_facts_text(report: PreflightReport) -> Text:
    from wizard.migration.preflight.proxy import (
        IPVS_ADVICE,
        KERNEL_DEFAULT_UDP_TIMEOUT_S,
        kernel_summary,
        read_proxy_setup,
    )

    setup = read_proxy_setup(report.facts)
    text = Text()
    text.append("Detected mode: ", style="dim")
    text.append(setup.mode or "unknown", style="bold")
    text.append("   (" + setup.mode_source + ")\n" if setup.mode_source else "\n", style="dim")
    text.append("IPVS UDP timeout: ", style="dim")
    effective = setup.udp_timeout_s or KERNEL_DEFAULT_UDP_TIMEOUT_S
    timeout_text = setup.udp_timeout_text or "(unset)"
    text.append(f"{timeout_text} → sessions linger up to {effective:g} s\n", style="bold")
    text.append("Node kernels:\n", style="dim")
    for line in kernel_summary(report.facts.nodes):
        text.append(f"  {line}\n")
    for note in setup.notes:
        text.append(f"  note: {note}\n", style="yellow")
    text.append("\nThe change to make:\n", style="bold")
    text.append(IPVS_ADVICE + "\n")
    return text


class IpvsScreen(StageScreen):
    STAGE_ID = "ipvs"
    STAGE_TITLE = "2 IPVS advice"
    PURPOSE = (
        "kube-proxy in IPVS mode on an old kernel keeps UDP sessions to a removed DNS pod: the "
        "guide waits for them to expire after shortening the timeout. Wait, or skip with a reason."
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "focus_reason", "Skip the wait…", id="ipvs.skip")]

    def __init__(self, context: WizardContext) -> None:
        super().__init__(context)
        self.total_s = context.options.ipvs_wait_seconds
        self.started_at = context.clock()
        self.skip_reason: str | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="ipvs-scroll"):
            yield Static("", id="ipvs-facts")
            yield Static("", id="ipvs-countdown")
            yield Static(
                Text(f"To go on before the wait ends, give the reason (at least {MIN_REASON_CHARS} "
                     "characters); it is written to the journal.", style="dim")
            )
            with Horizontal(id="ipvs-skip-row"):
                yield Input(placeholder="why the wait is not needed", id="ipvs-reason")
                yield Button("Skip the wait", id="ipvs-skip", variant="warning")

    def on_mount(self) -> None:
        report = self.context.report
        if report is not None:
            self.query_one("#ipvs-facts", Static).update(ipvs_facts_text(report))
        self._tick()
        self.set_interval(TICK_S, self._tick)

    def remaining_s(self) -> float:
        return max(0.0, self.total_s - (self.context.clock() - self.started_at))

    def _tick(self) -> None:
        left = self.remaining_s()
        if self.skip_reason is not None:
            body = Text.assemble(("Wait skipped: ", "bold yellow"), (self.skip_reason, "yellow"))
        elif left > 0:
            body = Text.assemble(
                ("Waiting for old IPVS sessions to expire: ", "bold"),
                (format_remaining(left), "bold cyan"),
                (f" left of {format_remaining(self.total_s)}", "dim"),
            )
        else:
            body = Text("✔ The wait is over: sessions opened under the old timeout expired.", style="green")
        self.query_one("#ipvs-countdown", Static).update(body)
        self.refresh_gate()

    def advance_blocked(self) -> str | None:
        if self.skip_reason is not None or self.remaining_s() <= 0:
            return None
        return f"wait {format_remaining(self.remaining_s())} for old IPVS sessions, or skip with a reason (s)"

    def action_focus_reason(self) -> None:
        self.query_one("#ipvs-reason", Input).focus()

    @on(Button.Pressed, "#ipvs-skip")
    @on(Input.Submitted, "#ipvs-reason")
    def _skip(self) -> None:
        reason = self.query_one("#ipvs-reason", Input).value.strip()
        if len(reason) < MIN_REASON_CHARS:
            self.set_status(Text(f"Give a reason of at least {MIN_REASON_CHARS} characters to skip the wait.",
                                 style="bold yellow"))
            return
        self._journal_skip(reason)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ipvs-journal",
          description="journal the skip")
    def _journal_skip(self, reason: str) -> None:
        from wizard.errors import WizardError

        try:
            if not self.context.read_only:
                journal = self.context.journal_or_open()
                journal.done(SKIP_STEP_ID, "skip the IPVS session wait", "kube-proxy", detail=reason)
        except WizardError as err:
            self.post_message(StageFailed(self.STAGE_ID, f"could not journal the reason: {err}"))
            return
        self.app.call_from_thread(self._skipped, reason)

    def _skipped(self, reason: str) -> None:
        self.skip_reason = reason
        self.context.notes.append(f"IPVS wait skipped: {reason}")
        self.focus_next()
        self._tick()
