"""Stage 5: the switch loop, live. Round k of N, the step in flight and what it waits for, and
panes that follow the DNS pods, the Service's endpoints, probe answers and the observation.

Why it decides nothing: the engine (wizard.migration.switch.Switcher,
wizard.migration.rollback.rollback) runs in a thread worker exactly as `coredns-wizard switch`
runs it; this screen forwards the engine's events to the main thread, asks the engine's confirm
questions in a modal, and holds the engine between steps on `p` (wizard.migration.step_gate).
The panes are fed by wizard.migration.live_view's watches, not by polling from here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from screens.stages.base import StageScreen
from screens.widgets.confirm import ConfirmationModal
from screens.widgets.header import WizardHeader
from screens.widgets.logs import PodLogsScreen
from screens.widgets.panes import EndpointsPane, EventLogPane, ObservationPane, PodsPane, ProbesPane
from screens.widgets.rollback_preview import RollbackPreview, read_rollback_preview, rollback_confirmation
from wizard.migration.change_record import ObservationSample
from wizard.migration.live_view import ClusterEventSeen, LiveDnsFeed, LiveEvent
from wizard.migration.progress import (
    EndpointsChanged,
    Note,
    ObservationTick,
    PodsChanged,
    ProbeBatch,
    Problem,
    StepFinished,
    StepStarted,
    SwitchCompleted,
    SwitchStopped,
    Waiting,
)
from wizard.migration.step_gate import StepGate

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.journal import Journal
    from wizard.migration.plan import Plan, Step
    from wizard.migration.rollback import RollbackOutcome
    from wizard.migration.status import SwitchStatus
    from wizard.migration.switch import SwitchOutcome

log = logging.getLogger(__name__)
COMPACT_BELOW_ROWS = 32
ROOMY_FROM_ROWS = 48

RunState = Literal[
    "idle", "running", "stopped", "completed", "rolling-back", "rolled-back", "rollback-stopped"
]
WATCH_EVERY_S = 5.0
"""Read-only watch mode: how often the switch state is read again (pods and endpoints are watched)."""


def watch_line(status: SwitchStatus) -> Text:
    """One line: phase, round, last step, replicas and ready endpoints of a switch in the cluster."""
    text = Text()
    text.append(status.phase, style="bold cyan")
    if status.round and status.rounds:
        text.append(f", round {status.round} of {status.rounds}")
    if status.last_step:
        text.append(f", last step {status.last_step}")
    for label, dep in (("CoreDNS", status.coredns), ("kube-dns", status.kube_dns)):
        text.append(f"  {label} ")
        text.append("absent" if dep is None else f"{dep.ready}/{dep.replicas}")
    ep = status.endpoints
    text.append(f"  endpoints {len(ep.ready)} ready (CoreDNS {len(ep.coredns_ready)}, "
                f"kube-dns {len(ep.kube_dns_ready)})")
    return text


OUTCOME_STYLE = {"done": "green", "already-done": "green", "skipped": "dim", "dry-run": "yellow",
                 "failed": "bold red", "declined": "yellow"}


@dataclass(frozen=True)
class SwitchResult:
    """How the switch screen ended, for the Done screen."""

    kind: Literal["completed", "rolled-back", "stopped", "dry-run"]
    summary: str
    advice: str = ""
    duration_s: float | None = None
    probes: int = 0
    probe_failures: int = 0
    observed_queries: int = 0
    observed_errors: int = 0
    pinned_queries: int = 0
    """Through the long-lived sockets (clients that keep theirs), counted apart."""
    pinned_errors: int = 0


class SwitchScreen(StageScreen):
    """Drive the engine's switch (and rollback) with live panes. `n` starts or continues, `p`
    pauses between steps, `l` shows the selected pod's logs, `r` rolls back."""

    STAGE_ID = "switch"
    STAGE_TITLE = "5 Switch"
    PURPOSE = (
        "runs the engine's switch round by round: scale CoreDNS up, wait until its new pod is "
        "Ready and in the kube-dns Service's endpoints, check its DNS answers against kube-dns, "
        "scale kube-dns down, observe DNS for a while. The panes follow the DNS pods, the "
        "endpoints, probe answers and the observation live. p pauses between steps, l shows the "
        "selected pod's logs, r rolls back."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "continue_switch", "Start/continue", id="switch.continue"),
        Binding("p", "pause", "Pause", id="switch.pause"),
        Binding("l", "logs", "Pod logs", id="switch.logs"),
        Binding("r", "rollback", "Roll back", id="switch.rollback"),
        Binding("v", "swap_pane", "Probes/events", id="switch.swap-pane"),
    ]
    DEFAULT_CSS = """
    SwitchScreen #switch-status { height: 3; padding: 0 1; background: $boost; text-wrap: nowrap;
                                  text-overflow: ellipsis; }
    SwitchScreen #pods { height: 1fr; min-height: 5; border: round $primary; }
    SwitchScreen #switch-middle { height: 7; }
    SwitchScreen #endpoints { width: 3fr; height: 100%; border: round $primary; }
    SwitchScreen #observation { width: 2fr; height: 100%; border: round $primary; }
    SwitchScreen #probes { height: 7; border: round $primary; }
    SwitchScreen #events { height: 1fr; min-height: 4; border: round $primary; overflow-x: hidden; }
    SwitchScreen.compact #probes { display: none; height: 1fr; min-height: 3; }
    SwitchScreen.compact.show-probes #probes { display: block; }
    SwitchScreen.compact.show-probes #events { display: none; }
    SwitchScreen.compact #switch-middle { height: 5; }
    SwitchScreen.compact #pods { height: 2fr; min-height: 4; }
    SwitchScreen.compact #events { min-height: 5; }
    SwitchScreen.roomy #probes { height: 2fr; }
    SwitchScreen.roomy #pods { height: 1fr; max-height: 14; }
    """

    # ---- this screen's messages from its workers ----------------------------------------
    @dataclass
    class LiveEventArrived(Message):
        """An engine or live-feed event, forwarded from a worker thread."""

        event: LiveEvent

    @dataclass
    class PlanReady(Message):
        plan: Plan
        journal: Journal

    @dataclass
    class SwitchRunFinished(Message):
        outcome: SwitchOutcome | None
        error: str = ""

    @dataclass
    class RollbackPrepared(Message):
        """What a rollback would change, read from the cluster, for the confirmation."""

        preview: RollbackPreview

    @dataclass
    class Watched(Message):
        """Read-only watch mode: where a switch (run from elsewhere) stands now."""

        status: SwitchStatus | None
        error: str = ""

    @dataclass
    class RollbackRunFinished(Message):
        outcome: RollbackOutcome | None
        error: str = ""

    state: reactive[RunState] = reactive[RunState]("idle", init=False, always_update=True)
    """The run state; its watcher refreshes the footer's keys and the status lines."""

    def __init__(self, context: WizardContext, *, live_feed: bool = True) -> None:
        super().__init__(context)
        self.cancel = threading.Event()
        self.gate = StepGate(self.cancel)
        self.use_live_feed = live_feed
        self.feed: LiveDnsFeed | None = None
        self.current_step: Step | None = None
        self.waiting: Waiting | None = None
        self.stop_reason = ""
        self.stop_advice = ""
        self.result: SwitchResult | None = None
        self._engine_idle = threading.Event()
        self._engine_idle.set()
        self._pending_rollback: SwitchScreen.RollbackPrepared | None = None
        self._started: float | None = None
        self._probes = 0
        self._probe_failures = 0
        self._observed: dict[str, ObservationTick] = {}
        self._status_shown_top: Text | None = None
        self.watched: SwitchStatus | None = None
        """Read-only mode: the last status read of a switch someone else may be running."""
        self.watch_error = ""
        self.finished_steps: set[str] = set()
        """Ids of the plan's steps this screen saw finish (the help lists the rest as upcoming)."""

    # ---- layout -------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static(id="switch-status")
        yield PodsPane(self.context.clock, id="pods")
        with Horizontal(id="switch-middle"):
            yield EndpointsPane(f"{self.context.options.namespace}/{self.context.options.dns_service}",
                                id="endpoints")
            yield ObservationPane(id="observation")
        yield ProbesPane(id="probes")
        yield EventLogPane(self.context.clock, id="events")

    def on_mount(self) -> None:
        if not self.live:
            return  # pushed while the app exits
        self.log_pane.add(self._intro(), style="bold")
        if self.context.wait_note:
            self.log_pane.add(self.context.wait_note, style="yellow")
        self.refresh_status()
        self.set_interval(1.0, self.refresh_status)
        if self.use_live_feed:
            self.feed = LiveDnsFeed(self.context.gateway, self.context.options, self._from_thread).start()
            if self.context.read_only:  # watch mode: follow a switch someone else runs
                self.watch_switch()
                self.set_interval(WATCH_EVERY_S, self.watch_switch)

    def on_resize(self, event: events.Resize) -> None:
        """Below 32 rows the probes and events panes share one slot (v swaps them), so every
        pane stays reachable at 80x24; from 48 rows the probes pane takes the room its rows need
        (the pods pane holds a few pods and stops growing)."""
        compact = event.size.height < COMPACT_BELOW_ROWS
        self.set_class(compact, "compact")
        self.set_class(event.size.height >= ROOMY_FROM_ROWS, "roomy")
        self._title_panes()
        self.refresh_bindings()

    def _title_panes(self) -> None:
        compact = self.has_class("compact")
        key = self.key_label("switch.swap-pane", "v")
        self.query_one(ProbesPane).border_subtitle = f"{key}: events" if compact else ""
        self.log_pane.border_subtitle = f"{key}: probes" if compact else ""

    def action_swap_pane(self) -> None:
        if not self.has_class("compact"):
            self.notify("Both panes are shown at this terminal size.", timeout=3)
            return
        self.toggle_class("show-probes")

    def on_unmount(self) -> None:
        if self.feed is not None:
            threading.Thread(target=self.feed.stop, name="stop live feed", daemon=True).start()
        self.cancel.set()

    def _intro(self) -> str:
        plan = self.context.plan
        if self.context.read_only:
            return ("Read-only mode: watching. The panes follow the DNS pods and endpoints live; the "
                    "line above shows where a switch run from elsewhere stands.")
        steps = f"{len(plan.steps)} steps in {self.rounds} round(s)" if plan else "the plan from pre-flight"
        if self.context.dry_run:
            return f"Press n to run the switch as a dry run ({steps}): every change is sent with dryRun=All."
        asks = "every change asks first" if self._engine_asks_first() else "changes do not ask (--yes)"
        return f"Press n to start the switch ({steps}); {asks}. p pauses, r rolls back."

    # ---- widgets ------------------------------------------------------------------------
    @property
    def pods_pane(self) -> PodsPane:
        return self.query_one(PodsPane)

    @property
    def log_pane(self) -> EventLogPane:
        return self.query_one(EventLogPane)

    @property
    def rounds(self) -> int:
        plan = self.context.plan
        return max((s.round for s in plan.steps), default=0) if plan else 0

    # ---- status line --------------------------------------------------------------------
    def watch_state(self) -> None:
        """Every change of the run state (set even to the same value: a new stop reason) changes
        which keys apply and what the status lines say."""
        self.refresh_bindings()
        self.refresh_status()

    def refresh_status(self) -> None:
        """Runs every second and on every event: the status box is fixed-height, so a changed
        text is repainted without re-laying out the screen, and an unchanged one not at all."""
        if not self.live:
            return
        status = self.status_text()
        if status != self._status_shown_top:
            self._status_shown_top = status
            self.query_one("#switch-status", Static).update(status, layout=False)
        self.set_status(self.hint_text())
        paused = self.gate.paused and self.state in ("running", "rolling-back")
        stage = f"{self.STAGE_TITLE} · PAUSED" if paused else self.STAGE_TITLE
        for header in self.query(WizardHeader):
            if header.stage != stage:
                header.set_stage(stage)

    def watch_text(self) -> Text:
        """Read-only: where the cluster's switch stands (from the CoreDNS Deployment's record)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Watching (read-only)", style="bold")
        text.append(f"  every {WATCH_EVERY_S:g} s; no key here changes the cluster\n", style="dim")
        if self.watched is not None:
            text.append_text(watch_line(self.watched))
        elif self.watch_error:
            text.append(f"cannot read the switch state: {self.watch_error}", style="red")
        else:
            text.append("reading the switch state…", style="dim")
        text.append("\n")
        text.append(" READ-ONLY ", style="bold black on yellow")
        return text

    def hint_text(self) -> Text:
        """The line above the footer: what the keys do now, or why the switch stopped."""
        if self.state in ("stopped", "rollback-stopped"):
            text = Text.assemble(("✖ ", "bold red"), (self.stop_reason, "red"))
            if self.stop_advice:
                text.append(f"  → {self.stop_advice}", style="yellow")
            return text
        if self.gate.paused and self.state in ("running", "rolling-back"):
            return Text("paused between steps: n continues; nothing changes meanwhile", style="bold yellow")
        hints = {
            "idle": "n starts the switch; every change asks first (y confirms, esc cancels)",
            "running": "p pauses after the current step · l logs of the selected pod · r rolls back",
            "completed": "n shows the summary",
            "rolling-back": "rolling back: kube-dns first, then CoreDNS to 0",
            "rolled-back": "n shows the summary",
        }
        return Text(hints.get(self.state, ""), style="dim")

    def status_text(self) -> Text:
        if self.context.read_only:
            return self.watch_text()
        text = Text(no_wrap=True, overflow="ellipsis")
        step = self.current_step
        if self.state in ("rolling-back", "rolled-back", "rollback-stopped"):
            text.append("Rollback", style="bold yellow")
        elif step is not None and step.round:
            text.append(f"Round {step.round} of {self.rounds or '?'}", style="bold")
        elif step is not None:
            text.append("Setup", style="bold")
        else:
            text.append(f"Switch: {self.rounds} round(s)" if self.rounds
                        else "Switch: the plan comes from pre-flight when it starts", style="bold")
        if step is not None:
            text.append("  step ")
            text.append(step.id, style="bold cyan")
            text.append(": ")
            text.append(step.description)
        text.append("\n")
        if self.waiting is not None and self.state in ("running", "rolling-back"):
            w = self.waiting
            text.append("waiting for ", style="dim")
            text.append(w.what)
            if w.timeout_s:
                text.append(f" ({w.elapsed_s:.0f}s of {w.timeout_s:.0f}s)", style="dim")
        text.append("\n")
        state_styles = {
            "idle": ("READY: press n to start", "bold"),
            "running": ("RUNNING", "bold green"),
            "stopped": ("STOPPED", "bold red"),
            "completed": ("SWITCH COMPLETE", "bold green"),
            "rolling-back": ("ROLLING BACK", "bold yellow"),
            "rolled-back": ("ROLLED BACK", "bold yellow"),
            "rollback-stopped": ("ROLLBACK STOPPED", "bold red"),
        }
        label, style = state_styles[self.state]
        if self.gate.paused and self.state in ("running", "rolling-back"):
            label, style = ("PAUSED (n continues)" if self.gate.holding else "PAUSING after this step…",
                            "bold black on yellow")
        text.append(f" {label} ", style=style)
        if self.state in ("stopped", "rollback-stopped") and self.stop_reason:
            text.append("  why and what to do: the line above the keys", style="dim")  # said once, there
        return text

    # ---- events from threads ------------------------------------------------------------
    def _from_thread(self, event: LiveEvent) -> None:
        self.post_message(self.LiveEventArrived(event))

    def on_switch_screen_live_event_arrived(self, message: LiveEventArrived) -> None:
        if self.live:  # events still in flight when the app exits are dropped
            self.show_event(message.event)

    def show_event(self, event: LiveEvent) -> None:
        """Route one event to its pane (public so tests can feed fixed events)."""
        pane = self.log_pane
        if isinstance(event, PodsChanged):
            self.pods_pane.update_pods(event.pods)
            self.query_one(EndpointsPane).redraw(self.pods_pane.owner_of_ip())
        elif isinstance(event, EndpointsChanged):
            owners = self.pods_pane.owner_of_ip()
            self.query_one(EndpointsPane).update_endpoints(event.ready, event.not_ready, owners)
        elif isinstance(event, ProbeBatch):
            self.query_one(ProbesPane).update_batch(event, self.pods_pane.owner_of_ip())
            self._probes += len(event.verdicts)
            self._probe_failures += event.failed
            for line in event.agreement:
                pane.add(f"probe: {line}", hang=len("probe: "))
        elif isinstance(event, ObservationTick):
            self.query_one(ObservationPane).update_tick(event)
            self._observed[self.current_step.id if self.current_step else "?"] = event
            self.context.observations.append(ObservationSample(
                self.current_step.id if self.current_step else "?", datetime.now(UTC), event.elapsed,
                event.queries, event.errors, event.p50_ms, event.p95_ms))
        elif isinstance(event, StepStarted):
            self._step_started(event)
        elif isinstance(event, StepFinished):
            self._step_finished(event)
        elif isinstance(event, Waiting):
            self.waiting = event
        elif isinstance(event, Note):
            pane.add(event.message, style="italic")
        elif isinstance(event, Problem):
            pane.add(Text.assemble(("✖ ", "bold red"), (event.message, "bold red")))
            for line in event.evidence:
                pane.add(f"    {line}", style="red")
            if event.advice:
                pane.add(f"  → {event.advice}", style="yellow")
        elif isinstance(event, SwitchStopped):
            self.stop_reason, self.stop_advice = event.reason, event.advice
            pane.add(Text.assemble(("■ stopped: ", "bold red"), event.reason), hang=len("■ stopped: "))
            if event.advice:
                pane.add(f"  → {event.advice}", style="yellow")
        elif isinstance(event, SwitchCompleted):
            pane.add(Text.assemble(("✔ ", "bold green"), event.summary))
        elif isinstance(event, ClusterEventSeen):
            style = "yellow" if event.type == "Warning" else "dim"
            count = f" (x{event.count})" if event.count > 1 else ""
            pane.add(f"k8s {event.type} {event.reason} {event.involved}{count}: {event.message}", style=style)
        self.refresh_status()

    def _step_started(self, event: StepStarted) -> None:
        """A step begins: it becomes the current one and, when it changes the cluster without the
        engine asking first, quitting waits for it."""
        self.current_step = event.step
        self.waiting = None
        asks_first = self._engine_asks_first() and self.state != "rolling-back"  # confirmed as a whole
        if event.step.changes_cluster and not asks_first:
            self._begin_change(f"step {event.step.id} ({event.step.description})")
        self.log_pane.add(
            Text.assemble(("▶ ", "bold"), (event.step.id, "bold cyan"), " ", event.step.description))

    def _step_finished(self, event: StepFinished) -> None:
        """A step ended: record it, note that CoreDNS objects exist once a change is done, log it."""
        if event.outcome in ("done", "already-done", "skipped", "dry-run"):
            self.finished_steps.add(event.step.id)
        if event.step.changes_cluster and event.outcome in ("done", "already-done"):
            self.wizard.deployed = True  # CoreDNS objects exist now: quitting asks, `r` applies
        style = OUTCOME_STYLE.get(event.outcome, "")
        label = f"  {event.outcome} {event.step.id}: "
        self.log_pane.add(Text.assemble("  ", (event.outcome, style), f" {event.step.id}: ", event.detail),
                          hang=len(label))
        self.waiting = None
        self._end_change()

    # ---- read-only watch ----------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="watch",
          description="read the switch state")
    def watch_switch(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.status import read_status

        try:
            self.post_message(self.Watched(read_status(self.context.gateway, None, self.context.options)))
        except WizardError as err:
            self.post_message(self.Watched(None, str(err)))

    def on_switch_screen_watched(self, message: Watched) -> None:
        if not self.live:
            return
        before = self.watched
        self.watched, self.watch_error = message.status, message.error
        now = message.status
        if now is not None and (before is None or (before.phase, before.last_step)
                                != (now.phase, now.last_step)):
            self.log_pane.add(Text.assemble(("watch: ", "bold"), watch_line(now)), hang=len("watch: "))
        self.refresh_status()

    # ---- keys ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode does not even offer the keys that change the cluster."""
        if action in ("continue_switch", "rollback") and self.context.read_only:
            return False
        if action == "pause":
            return self.state in ("running", "rolling-back")
        if action == "swap_pane":
            return self.has_class("compact")
        return True

    def action_continue_switch(self) -> None:
        if self.state in ("running", "rolling-back"):
            if self.gate.paused:
                self.gate.resume()
                self.log_pane.add("continuing", style="italic")
            else:
                self.notify("The switch is running; it asks before every change.", timeout=3)
            self.refresh_status()
            return
        if self.state == "completed" and self.result is not None:
            self._show_done(self.result)
            return
        if self.state == "rolled-back" and self.result is not None:
            self._show_done(self.result)
            return
        self.start_switch()

    def make_result(self, kind: Literal["completed", "rolled-back", "stopped", "dry-run"], summary: str,
                    advice: str = "") -> SwitchResult:
        ticks = self._observed.values()
        return SwitchResult(
            kind, summary, advice,
            duration_s=None if self._started is None else self.context.clock() - self._started,
            probes=self._probes, probe_failures=self._probe_failures,
            observed_queries=sum(t.queries for t in ticks), observed_errors=sum(t.errors for t in ticks),
            pinned_queries=sum(t.pinned_queries for t in ticks),
            pinned_errors=sum(t.pinned_errors for t in ticks),
        )

    def start_switch(self) -> None:
        if self._started is None:
            self._started = self.context.clock()
        self.cancel.clear()
        self.gate.resume()
        self.stop_reason = self.stop_advice = ""
        self.state = "running"
        self._engine_idle.clear()
        self.run_switch()

    def action_pause(self) -> None:
        paused = self.gate.toggle()
        note = "pause requested: the switch holds after the current step" if paused else "continuing"
        self.log_pane.add(note, style="italic")
        self.refresh_status()

    def action_logs(self) -> None:
        pod = self.pods_pane.selected_pod()
        if pod is None:
            self.notify("No pod selected: move to a row in the pods pane first.", severity="warning",
                        timeout=3)
            return
        self.app.push_screen(PodLogsScreen(self.context.gateway, self.context.options.namespace, pod.name))

    def action_rollback(self) -> None:
        if self.state == "rolling-back":
            self.notify("A rollback is already running.", timeout=3)
            return
        self.log_pane.add("reading what a rollback would change…", style="italic")
        self.prepare_rollback()

    # ---- the switch worker --------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="switch",
          description="switch kube-dns to CoreDNS")
    def run_switch(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.switch import Switcher

        try:
            plan, journal = self._plan_and_journal()
            outcome = Switcher(
                self.context.gateway, plan, journal, self.context.options,
                self.gate.wrap(self._from_thread), self._confirm_from_thread, self.cancel,
            ).run()
            self.post_message(self.SwitchRunFinished(outcome))
        except WizardError as err:
            self.post_message(self.SwitchRunFinished(None, str(err)))
        finally:
            self._engine_idle.set()

    def _plan_and_journal(self) -> tuple[Plan, Journal]:
        """The reviewed plan, or (when resuming straight from the start screen) the one pre-flight
        makes now, exactly as `coredns-wizard switch` does."""
        from wizard.errors import CheckFailed
        from wizard.migration.journal import journal_for
        from wizard.migration.preflight.run import run_preflight

        plan = self.context.plan
        if plan is None:
            self._from_thread(Note("running pre-flight to rebuild the plan…"))
            report = run_preflight(self.context.gateway, self.context.options)
            if report.blocked or report.plan is None:
                blocking = [f"{f.title}: {f.evidence}" for f in report.findings if f.status == "block"]
                raise CheckFailed("pre-flight blocks the switch: " + ("; ".join(blocking) or "no plan"))
            plan = report.plan
        journal = self.context.journal or journal_for(self.context.gateway)
        self.post_message(self.PlanReady(plan, journal))
        return plan, journal

    def on_switch_screen_plan_ready(self, message: PlanReady) -> None:
        self.context.plan = message.plan
        self.context.journal = message.journal
        self.refresh_status()

    def _confirm_from_thread(self, step: Step, what: str) -> bool:
        """The engine's confirm callback: a modal on the main thread; this thread waits. A stop
        request (rollback, quit) answers no and closes the modal."""
        answer: list[bool] = []
        answered = threading.Event()
        modal = ConfirmationModal(f"Step {step.id}: {step.description}", self._confirm_body(what))

        def done(result: bool | None) -> None:
            answer.append(bool(result))
            answered.set()

        self.app.call_from_thread(self.app.push_screen, modal, done)
        while not answered.wait(0.2):
            if self.cancel.is_set():
                self.app.call_from_thread(self._close_modal, modal)
                return False
        if answer[0]:  # from here until StepFinished, quitting waits for the change
            self.app.call_from_thread(self._begin_change, f"step {step.id} ({step.description})")
        return answer[0]

    def _engine_asks_first(self) -> bool:
        """Whether the engine calls confirm before a change (not with --yes, not in dry-run)."""
        return not self.context.options.assume_yes and not self.context.dry_run

    def _close_modal(self, modal: ConfirmationModal) -> None:
        if modal.is_current:
            modal.dismiss(False)

    def _confirm_body(self, what: str) -> Text:
        c = self.context.connection
        body = Text(what)
        body.append("\n\ncontext ", style="dim")
        body.append(c.context, style="bold cyan")
        body.append("  cluster ", style="dim")
        body.append(c.cluster, style="cyan")
        body.append("\nserver ", style="dim")
        body.append(c.server)
        if self.context.dry_run:
            body.append("\nDRY-RUN: sent with dryRun=All, nothing is stored", style="bold yellow")
        return body

    def on_switch_screen_switch_run_finished(self, message: SwitchRunFinished) -> None:
        outcome = message.outcome
        if not self.live or self.state == "rolling-back":
            return  # the app is exiting, or the rollback took over and its own result decides
        if outcome is None:
            self.stop_reason = message.error
            self.log_pane.add(Text.assemble(("■ could not run the switch: ", "bold red"), message.error))
            self.state = "stopped"
        elif outcome.completed:
            kind: Literal["completed", "dry-run"] = "dry-run" if outcome.dry_run else "completed"
            self.result = self.make_result(kind, outcome.reason, outcome.advice)
            self.log_pane.add("press n for the summary", style="bold")
            self.state = "completed"
            self._show_done(self.result)
        else:
            self.stop_reason, self.stop_advice = outcome.reason, outcome.advice
            self.result = self.make_result("stopped", outcome.reason, outcome.advice)
            self.log_pane.add("n resumes from the step that stopped; r rolls back; l shows a pod's logs",
                              style="bold")
            self.state = "stopped"

    # ---- rollback -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback-read",
          description="read what a rollback would change")
    def prepare_rollback(self) -> None:
        self.post_message(self.RollbackPrepared(read_rollback_preview(self.context)))

    def on_switch_screen_rollback_prepared(self, message: RollbackPrepared) -> None:
        preview = message.preview
        if preview.error:
            advice = f"; {preview.advice}" if preview.advice else ""
            self.log_pane.add(f"cannot roll back: {preview.error}{advice}", style="bold red")
            return
        self._pending_rollback = message
        dialog = rollback_confirmation(preview, self.context, switch_running=self.state == "running")
        self.app.push_screen(dialog, callback=self._rollback_answered)

    def _rollback_answered(self, yes: bool | None) -> None:
        if not yes:
            self.log_pane.add("rollback cancelled: nothing changed", style="italic")
            return
        self.cancel.set()
        self.gate.resume()
        self.current_step = None
        self.state = "rolling-back"
        self.run_rollback()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback",
          description="roll back to kube-dns")
    def run_rollback(self) -> None:
        import dataclasses

        from wizard.errors import WizardError
        from wizard.migration.journal import journal_for
        from wizard.migration.rollback import rollback

        self._engine_idle.wait()  # the switch worker stops at its next safe point first
        self.cancel.clear()
        try:
            journal = self.context.journal or journal_for(self.context.gateway)
            options = dataclasses.replace(self.context.options, assume_yes=True)  # confirmed as a whole
            original = (self._pending_rollback.preview.original_kube_dns_replicas
                        if self._pending_rollback else None)
            sink = self.gate.wrap(self._from_thread)
            outcome = rollback(self.context.gateway, journal, options, sink, None, original)
            self.post_message(self.RollbackRunFinished(outcome))
        except WizardError as err:
            self.post_message(self.RollbackRunFinished(None, str(err)))

    def on_switch_screen_rollback_run_finished(self, message: RollbackRunFinished) -> None:
        outcome = message.outcome
        if not self.live:
            return  # finished after the app began exiting
        if outcome is not None and outcome.completed:
            self.result = self.make_result("rolled-back", outcome.reason)
            self.wizard.deployed = False  # nothing left to roll back: `r` goes from the footer
            self.state = "rolled-back"
            self._show_done(self.result)
        else:
            self.stop_reason = message.error or (outcome.reason if outcome else "")
            self.stop_advice = outcome.advice if outcome else "run `coredns-wizard rollback` again"
            self.log_pane.add(Text.assemble(("■ rollback stopped: ", "bold red"), self.stop_reason))
            self.state = "rollback-stopped"

    # ---- the end ------------------------------------------------------------------------
    def _show_done(self, result: SwitchResult) -> None:
        """Go on to the Done stage (it finds `self.result` through the screen stack)."""
        self.result = result
        self.refresh_gate()
        self.wizard.advance()

    def advance_blocked(self) -> str | None:
        if self.state in ("completed", "rolled-back"):
            return None
        if self.state in ("running", "rolling-back"):
            return "the switch is running; it goes on to the summary when it ends"
        return "the switch has not finished: press n to start or resume it, r to roll back"

    def can_go_back(self) -> bool:
        return False

    def handles_rollback(self) -> bool:
        return True

    def leaves_cluster_mixed(self) -> bool:
        return self.wizard.deployed and self.state not in ("completed", "rolled-back")

    def start_rollback(self) -> None:
        self.action_rollback()

    def stop_for_quit(self) -> None:
        """The engine stops at its next safe point; the journal keeps the switch resumable."""
        self.cancel.set()
        self.gate.resume()

    def upcoming_steps(self) -> list[Step]:
        """The plan's steps this screen has not seen finish, in order (the engine skips the ones
        its journal already records as done)."""
        plan = self.context.plan
        return [s for s in plan.steps if s.id not in self.finished_steps] if plan else []

    def next_key_text(self) -> str:
        if self.context.read_only:
            return "read-only: n does nothing here; the panes follow the cluster live"
        if self.state in ("completed", "rolled-back"):
            return "n shows the summary (Done stage)"
        if self.state in ("running", "rolling-back"):
            return ("n continues after a pause; the engine goes on by itself otherwise"
                    if self.gate.paused else "the engine is running; every change asks first")
        upcoming = self.upcoming_steps()
        if not upcoming:
            return "n starts the switch with the plan pre-flight makes now"
        verb = "resumes" if self.state == "stopped" else "starts"
        return f"n {verb} the switch at step {upcoming[0].id}: {upcoming[0].description}"

    def help_text(self) -> Text:
        text = super().help_text()
        upcoming = self.upcoming_steps()
        total = len(self.context.plan.steps) if self.context.plan else 0
        if upcoming:
            text.append("\n\nUpcoming steps", style="bold")
            text.append(f" ({len(upcoming)} of {total})\n")
            for step in upcoming[:8]:
                mark = "✎ " if step.changes_cluster else "· "
                text.append(f"  {mark}{step.id}: {step.description}\n")
            if len(upcoming) > 8:
                text.append(f"  … and {len(upcoming) - 8} more\n", style="dim")
            text.append("  ✎ changes the cluster (asks first unless --yes)", style="dim")
        return text

    def _begin_change(self, what: str) -> None:
        self.wizard.begin_change(what)

    def _end_change(self) -> None:
        if self.wizard.change_in_flight:
            self.wizard.end_change()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        log.error("worker %s failed", event.worker.description, exc_info=err)
        self._engine_idle.set()
        self._end_change()
        if not self.live:
            return  # a worker that failed because the app was exiting has nobody to tell
        self.log_pane.add(f"internal error in {event.worker.description}: {type(err).__name__}: {err} "
                          "(details in the log file); the journal keeps the switch resumable",
                          style="bold red")
        if self.state == "running":
            self.state = "stopped"
        elif self.state == "rolling-back":
            self.state = "rollback-stopped"
