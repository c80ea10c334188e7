"""Stage 2: the guide's IPVS advice, shown through the engine's IPVS gate.

Why the gate and not a countdown of its own: kube-proxy applies a new IPVS UDP timeout only when
its pods restart, so the wait may only start once the new value is in effect on every node, and it
lasts the old timeout. The stage re-reads kube-proxy every few seconds (a worker; polls never
overlap), says "not in effect yet" with the exact command while it is not, and counts down only
then. Going on earlier is a stated reason, journaled by the engine (read-only: the session log and
the summary), never a key press.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, Input, Static

from screens.messages import StageFailed
from screens.stages.base import StageScreen
from wizard.i18n import N_, msg, t, tr

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.ipvs_gate import IpvsGate, IpvsGateTracker
    from wizard.migration.preflight.run import PreflightReport

TICK_S = 1.0
POLL_S = 2.0
"""How often kube-proxy's ConfigMap and pods are read again while the stage is open."""
MIN_REASON_CHARS = 10
_HEADLINES = {  # mark, text (marked with N_: shown through t()), style
    "no-risk": ("✔", N_("No IPVS session risk"), "green"),
    "timeout-long": ("✖", N_("The IPVS UDP timeout is long"), "bold red"),
    "not-in-effect": ("✖", N_("Not in effect yet"), "bold yellow"),
    "waiting": ("…", N_("In effect: waiting for old IPVS sessions to expire"), "bold"),
    "open": ("✔", N_("The wait is over"), "green"),
}


def ipvs_risk(report: PreflightReport) -> bool:
    """IPVS mode on nodes whose kernels keep stale flows: the stage is shown and its gate decides.
    A short timeout in the ConfigMap does not skip it: kube-proxy may not have restarted since."""
    from wizard.migration.preflight.proxy import kernel_flushes_quickly, read_proxy_setup

    facts = report.facts
    if read_proxy_setup(facts).mode != "ipvs":
        return False
    return not (facts.nodes and all(kernel_flushes_quickly(n) for n in facts.nodes))


def format_remaining(seconds: float) -> str:
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


def ipvs_facts_text(report: PreflightReport) -> Text:
    from wizard.migration.preflight.proxy import kernel_summary, read_proxy_setup

    setup = read_proxy_setup(report.facts)
    text = Text()
    text.append(t("Detected mode: "), style="dim")
    text.append(setup.mode or t("unknown"), style="bold")
    text.append("   (" + tr(setup.mode_source) + ")\n" if setup.mode_source else "\n", style="dim")
    text.append(t("Node kernels:") + "\n", style="dim")
    for line in kernel_summary(report.facts.nodes):
        text.append(f"  {tr(line)}\n")
    for note in setup.notes:
        text.append("  " + t("note: {note}", note=tr(note)) + "\n", style="yellow")
    return text


def gate_text(gate: IpvsGate | None, now: float, skip_reason: str | None) -> Text:
    """The gate as the operator reads it: headline, the engine's summary, what to do, evidence."""
    if gate is None:
        return Text(t("Reading kube-proxy's ConfigMap and pods…"), style="dim")
    mark, headline, style = _HEADLINES[gate.status]
    text = Text()
    if skip_reason is not None:
        text.append("! " + t("Wait skipped: "), style="bold yellow")
        text.append(skip_reason + "\n", style="yellow")
        text.append("   " + t("The reason is recorded; the switch will not wait for old IPVS sessions to "
                              "expire. The gate as read now:") + "\n", style="dim")
    text.append(f"{mark} {t(headline)}", style=style)
    if gate.status == "waiting":
        text.append(": ")
        text.append(format_remaining(gate.remaining_s(now)), style="bold cyan")
        text.append(t(" left of {total}", total=format_remaining(gate.old_timeout_s)), style="dim")
    text.append("\n")
    text.append(tr(gate.summary) + "\n")
    if gate.action and gate.status != "waiting":
        text.append(t("What to do: "), style="bold")
        text.append(tr(gate.action) + "\n")
    for line in gate.evidence:
        text.append(f"  {tr(line)}\n", style="dim")
    return text


class IpvsScreen(StageScreen):
    STAGE_ID = "ipvs"
    STAGE_TITLE = N_("2 IPVS advice")
    PURPOSE = N_(
        "kube-proxy in IPVS mode on an old kernel keeps UDP sessions to a removed DNS pod: the "
        "guide waits for them to expire after shortening the timeout. Wait, or skip with a reason."
    )
    DEFAULT_CSS = """
    IpvsScreen #ipvs-scroll { height: 1fr; padding: 0 1; }
    IpvsScreen #ipvs-countdown { margin: 1 0; height: auto; }
    IpvsScreen #ipvs-skip-row { height: 3; }
    IpvsScreen #ipvs-reason { width: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "focus_reason", id="ipvs.skip", description=N_("Skip the wait…")),
    ]

    def __init__(self, context: WizardContext) -> None:
        super().__init__(context)
        self.tracker: IpvsGateTracker | None = None
        self.gate: IpvsGate | None = None
        self.skip_reason: str | None = None
        self._typed_reason = ""
        """The reason typed but not yet given, kept while the language changes (F2)."""
        self.wall_clock = time.time
        self._next_poll: Timer | None = None
        self._generation = 0
        """Bumped when the operator changes what the gate rests on: older readings are dropped."""
        """The gate's clock: kube-proxy start times are wall-clock times from the API."""

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="ipvs-scroll"):
            yield Static("", id="ipvs-facts")
            yield Static("", id="ipvs-countdown")
            yield Static(
                Text(t("To go on before the gate opens, give the reason (at least {count} "
                       "characters); it is written to the journal.", count=MIN_REASON_CHARS), style="dim"),
                id="ipvs-skip-prompt", classes="ipvs-skip-control",
            )
            with Horizontal(id="ipvs-skip-row", classes="ipvs-skip-control"):
                yield Input(placeholder=t("why the wait is not needed"), id="ipvs-reason")
                yield Button(t("Skip the wait"), id="ipvs-skip", variant="warning")
            yield Static(Text(t("Instead of restarting kube-proxy you may run `ipvsadm --set 900 120 5` on "
                                "every node; say so when done and the wait starts from that moment."),
                              style="dim"), classes="ipvs-skip-control")
            yield Button(t("I ran ipvsadm --set on every node just now"), id="ipvs-ipvsadm",
                         classes="ipvs-skip-control")

    def on_mount(self) -> None:
        from wizard.migration.ipvs_gate import IpvsGateTracker

        report = self.context.report
        if report is not None:
            self.query_one("#ipvs-facts", Static).update(ipvs_facts_text(report))
            context = self.context
            self.tracker = IpvsGateTracker.from_facts(context.gateway, report.facts, context.options)
            self.tracker.clock = self.wall_clock
            self._poll()
        self._tick()
        self.set_interval(TICK_S, self._tick)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ipvs-gate",
          description=N_("read kube-proxy's ConfigMap and pods"))
    def _poll(self) -> None:
        from wizard.errors import WizardError

        assert self.tracker is not None
        generation = self._generation
        try:
            gate = self.tracker.check()
        except WizardError as err:
            self.post_message(StageFailed(self.STAGE_ID, t("could not read kube-proxy: {error}", error=err)))
            self.app.call_from_thread(self._arm_poll, generation)
            return
        self.app.call_from_thread(self._show_gate, gate, generation)

    def _arm_poll(self, generation: int) -> None:
        if generation == self._generation:
            self._next_poll = self.set_timer(POLL_S, self._poll)

    def _show_gate(self, gate: IpvsGate, generation: int) -> None:
        if generation != self._generation:
            return  # read before the operator's statement: a newer poll is on its way
        self.gate = gate
        if gate.status == "open":
            # the switch re-checks the gate itself: give it the old timeout read here
            options = self.context.options
            self.context.options = dataclasses.replace(options, ipvs_wait_seconds=gate.old_timeout_s)
        self._tick()
        self._arm_poll(generation)  # armed after each read: polls never overlap

    def _tick(self) -> None:
        if not self.live:
            return  # the app exits, or the stage is being composed again (F2)
        body = gate_text(self.gate, self.wall_clock(), self.skip_reason)
        self.query_one("#ipvs-countdown", Static).update(body)
        self.refresh_gate()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`s` is offered only while there is a wait to skip (not once skipped, nor when open)."""
        if action == "focus_reason":
            return self.skip_reason is None and (self.gate is None or self.gate.blocks)
        return True

    def advance_blocked(self) -> str | None:
        gate = self.gate
        if self.skip_reason is not None or (gate is not None and not gate.blocks):
            return None
        if gate is None:
            return t("reading kube-proxy…")
        if gate.status == "waiting":
            left = format_remaining(gate.remaining_s(self.wall_clock()))
            if gate.remaining_s(self.wall_clock()) > 0:
                return t("wait {left} for old IPVS sessions, or skip with a reason (s)", left=left)
            return t("checking kube-proxy again…")
        if gate.status == "not-in-effect":
            return t("the new IPVS timeout is not in effect yet: restart kube-proxy, or skip with a "
                     "reason (s)")
        return t("shorten the IPVS UDP timeout first, or skip with a reason (s)")

    @on(Button.Pressed, "#ipvs-ipvsadm")
    def _ipvsadm_done(self) -> None:
        """The operator's statement: from now on every node's kernel holds the short timeout."""
        from wizard.migration.ipvs_gate import utc_text

        if self.tracker is None:
            return
        now = self.wall_clock()
        self.tracker.ipvsadm_set_at = now
        self.context.options = dataclasses.replace(self.context.options, ipvsadm_set_at=now)
        self.context.notes.append(msg("stages.ipvsadm-ran",
                                      "the operator ran `ipvsadm --set` on every node at {at}",
                                      at=utc_text(now)))
        self.gate = None  # the old verdict no longer holds: show "reading…" until the next one
        self._generation += 1
        if self._next_poll is not None:
            self._next_poll.stop()
        self._tick()
        self._poll()

    def action_focus_reason(self) -> None:
        self.query_one("#ipvs-reason", Input).focus()

    @on(Button.Pressed, "#ipvs-skip")
    @on(Input.Submitted, "#ipvs-reason")
    def _skip(self) -> None:
        reason = self.query_one("#ipvs-reason", Input).value.strip()
        if len(reason) < MIN_REASON_CHARS:
            self.set_status(Text(t("Give a reason of at least {count} characters to skip the wait.",
                                   count=MIN_REASON_CHARS), style="bold yellow"))
            return
        self._journal_skip(reason)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ipvs-journal",
          description=N_("journal the skip"))
    def _journal_skip(self, reason: str) -> None:
        from wizard.errors import WizardError
        from wizard.migration.ipvs_gate import IpvsGate, acknowledge

        gate = self.gate or IpvsGate("timeout-long", "kube-proxy not read yet")
        try:
            journal = None if self.context.read_only else self.context.journal_or_open()
            note = acknowledge(reason, gate, journal)
        except WizardError as err:
            self.post_message(StageFailed(self.STAGE_ID,
                                          t("could not journal the reason: {error}", error=err)))
            return
        self.app.call_from_thread(self._skipped, reason, note)

    def keep_before_relocalize(self) -> None:
        self._typed_reason = self.query_one("#ipvs-reason", Input).value

    def redraw_after_relocalize(self) -> None:
        report = self.context.report
        if report is not None:
            self.query_one("#ipvs-facts", Static).update(ipvs_facts_text(report))
        self.query_one("#ipvs-reason", Input).value = self._typed_reason
        if self.skip_reason is not None:
            for control in self.query(".ipvs-skip-control"):
                control.display = False
        self._tick()
        super().redraw_after_relocalize()

    def _skipped(self, reason: str, note: str) -> None:
        self.skip_reason = reason
        self.context.notes.append(note)
        self.context.options = dataclasses.replace(self.context.options, ipvs_ack=reason)
        for control in self.query(".ipvs-skip-control"):  # the wait is skipped: nothing left to skip
            control.display = False
        self.set_focus(None)
        self._tick()
