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
from wizard.i18n import N_, t, tr
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
        text.append(t(", round {round} of {rounds}", round=status.round, rounds=status.rounds))
    if status.last_step:
        text.append(t(", last step {step}", step=status.last_step))
    for label, dep in (("CoreDNS", status.coredns), ("kube-dns", status.kube_dns)):
        text.append(f"  {label} ")
        text.append(t("absent") if dep is None else f"{dep.ready}/{dep.replicas}")
    ep = status.endpoints
    text.append("  " + t("endpoints {ready} ready (CoreDNS {coredns}, kube-dns {kube_dns})",
                         ready=len(ep.ready), coredns=len(ep.coredns_ready), kube_dns=len(ep.kube_dns_ready)))
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
    STAGE_TITLE = N_("5 Switch")
    PURPOSE = N_(
        "runs the engine's switch round by round: scale CoreDNS up, wait until its new pod is "
        "Ready and in the kube-dns Service's endpoints, check its DNS answers against kube-dns, "
        "scale kube-dns down, observe DNS for a while. The panes follow the DNS pods, the "
        "endpoints, probe answers and the observation live. p pauses between steps, l shows the "
        "selected pod's logs, r rolls back."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "continue_switch", id="switch.continue", description=N_("Start/continue")),
        Binding("p", "pause", id="switch.pause", description=N_("Pause")),
        Binding("l", "logs", id="switch.logs", description=N_("Pod logs")),
        Binding("r", "rollback", id="switch.rollback", description=N_("Roll back")),
        Binding("v", "swap_pane", id="switch.swap-pane", description=N_("Probes/events")),
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
        self.query_one(ProbesPane).border_subtitle = t("{key}: events", key=key) if compact else ""
        self.log_pane.border_subtitle = t("{key}: probes", key=key) if compact else ""

    def action_swap_pane(self) -> None:
        if not self.has_class("compact"):
            self.notify(t("Both panes are shown at this terminal size."), timeout=3)
            return
        self.toggle_class("show-probes")

    def on_unmount(self) -> None:
        if self.feed is not None:
            threading.Thread(target=self.feed.stop, name="stop live feed", daemon=True).start()
        self.cancel.set()

    def _intro(self) -> str:
        plan = self.context.plan
        if self.context.read_only:
            return t("Read-only mode: watching. The panes follow the DNS pods and endpoints live; the "
                     "line above shows where a switch run from elsewhere stands.")
        steps = (t("{steps} steps in {rounds} round(s)", steps=len(plan.steps), rounds=self.rounds) if plan
                 else t("the plan from pre-flight"))
        if self.context.dry_run:
            return t("Press n to run the switch as a dry run ({steps}): every change is sent with "
                     "dryRun=All.", steps=steps)
        asks = t("every change asks first") if self._engine_asks_first() else t("changes do not ask (--yes)")
        return t("Press n to start the switch ({steps}); {asks}. p pauses, r rolls back.",
                 steps=steps, asks=asks)

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

    RELOCALIZE_BY_RECOMPOSE = False
    """Its panes hold the switch's live history: kept; new lines and the status come in the
    new language."""

    def redraw_after_relocalize(self) -> None:
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
        stage = t("{title} · PAUSED", title=self.stage_title()) if paused else self.stage_title()
        for header in self.query(WizardHeader):
            if header.stage != stage:
                header.set_stage(stage)

    def watch_text(self) -> Text:
        """Read-only: where the cluster's switch stands (from the CoreDNS Deployment's record)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(t("Watching (read-only)"), style="bold")
        every = t("every {seconds:g} s; no key here changes the cluster", seconds=WATCH_EVERY_S)
        text.append(f"  {every}\n", style="dim")
        if self.watched is not None:
            text.append_text(watch_line(self.watched))
        elif self.watch_error:
            text.append(t("cannot read the switch state: {error}", error=tr(self.watch_error)), style="red")
        else:
            text.append(t("reading the switch state…"), style="dim")
        text.append("\n")
        text.append(" " + t("READ-ONLY") + " ", style="bold black on yellow")
        return text

    def hint_text(self) -> Text:
        """The line above the footer: what the keys do now, or why the switch stopped."""
        if self.state in ("stopped", "rollback-stopped"):
            text = Text.assemble(("✖ ", "bold red"), (tr(self.stop_reason), "red"))
            if self.stop_advice:
                text.append(f"  → {tr(self.stop_advice)}", style="yellow")
            return text
        if self.gate.paused and self.state in ("running", "rolling-back"):
            return Text(t("paused between steps: n continues; nothing changes meanwhile"),
                        style="bold yellow")
        hints = {
            "idle": N_("n starts the switch; every change asks first (y confirms, esc cancels)"),
            "running": N_("p pauses after the current step · l logs of the selected pod · r rolls back"),
            "completed": N_("n shows the summary"),
            "rolling-back": N_("rolling back: kube-dns first, then CoreDNS to 0"),
            "rolled-back": N_("n shows the summary"),
        }
        hint = hints.get(self.state, "")
        return Text(t(hint) if hint else "", style="dim")

    def status_text(self) -> Text:
        if self.context.read_only:
            return self.watch_text()
        text = Text(no_wrap=True, overflow="ellipsis")
        step = self.current_step
        if self.state in ("rolling-back", "rolled-back", "rollback-stopped"):
            text.append(t("Rollback"), style="bold yellow")
        elif step is not None and step.round:
            text.append(t("Round {round} of {rounds}", round=step.round, rounds=self.rounds or "?"),
                        style="bold")
        elif step is not None:
            text.append(t("Setup"), style="bold")
        else:
            text.append(t("Switch: {rounds} round(s)", rounds=self.rounds) if self.rounds
                        else t("Switch: the plan comes from pre-flight when it starts"), style="bold")
        if step is not None:
            text.append("  " + t("step") + " ")
            text.append(step.id, style="bold cyan")
            text.append(": ")
            text.append(tr(step.description))
        text.append("\n")
        if self.waiting is not None and self.state in ("running", "rolling-back"):
            w = self.waiting
            text.append(t("waiting for") + " ", style="dim")
            text.append(tr(w.what))
            if w.timeout_s:
                spent = t("({elapsed:.0f}s of {timeout:.0f}s)", elapsed=w.elapsed_s, timeout=w.timeout_s)
                text.append(f" {spent}", style="dim")
        text.append("\n")
        state_styles = {
            "idle": (N_("READY: press n to start"), "bold"),
            "running": (N_("RUNNING"), "bold green"),
            "stopped": (N_("STOPPED"), "bold red"),
            "completed": (N_("SWITCH COMPLETE"), "bold green"),
            "rolling-back": (N_("ROLLING BACK"), "bold yellow"),
            "rolled-back": (N_("ROLLED BACK"), "bold yellow"),
            "rollback-stopped": (N_("ROLLBACK STOPPED"), "bold red"),
        }
        label, style = state_styles[self.state]
        if self.gate.paused and self.state in ("running", "rolling-back"):
            label = N_("PAUSED (n continues)") if self.gate.holding else N_("PAUSING after this step…")
            style = "bold black on yellow"
        text.append(f" {t(label)} ", style=style)
        if self.state in ("stopped", "rollback-stopped") and self.stop_reason:
            # said once, there
            text.append("  " + t("why and what to do: the line above the keys"), style="dim")
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
            probe = t("probe: ")
            for line in event.agreement:
                pane.add(f"{probe}{tr(line)}", hang=len(probe))  # a cut in characters, not cells
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
            pane.add(tr(event.message), style="italic")
        elif isinstance(event, Problem):
            pane.add(Text.assemble(("✖ ", "bold red"), (tr(event.message), "bold red")))
            for line in event.evidence:
                pane.add(f"    {tr(line)}", style="red")
            if event.advice:
                pane.add(f"  → {tr(event.advice)}", style="yellow")
        elif isinstance(event, SwitchStopped):
            self.stop_reason, self.stop_advice = event.reason, event.advice
            stopped = "■ " + t("stopped: ")
            pane.add(Text.assemble((stopped, "bold red"), tr(event.reason)), hang=len(stopped))
            if event.advice:
                pane.add(f"  → {tr(event.advice)}", style="yellow")
        elif isinstance(event, SwitchCompleted):
            pane.add(Text.assemble(("✔ ", "bold green"), tr(event.summary)))
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
            self._begin_change(t("step {id} ({description})", id=event.step.id,
                                 description=tr(event.step.description)))
        self.log_pane.add(
            Text.assemble(("▶ ", "bold"), (event.step.id, "bold cyan"), " ", tr(event.step.description)))

    def _step_finished(self, event: StepFinished) -> None:
        """A step ended: record it, note that CoreDNS objects exist once a change is done, log it."""
        if event.outcome in ("done", "already-done", "skipped", "dry-run"):
            self.finished_steps.add(event.step.id)
        if event.step.changes_cluster and event.outcome in ("done", "already-done"):
            self.wizard.deployed = True  # CoreDNS objects exist now: quitting asks, `r` applies
        style = OUTCOME_STYLE.get(event.outcome, "")
        label = f"  {event.outcome} {event.step.id}: "
        self.log_pane.add(Text.assemble("  ", (event.outcome, style), f" {event.step.id}: ",
                                        tr(event.detail)), hang=len(label))
        self.waiting = None
        self._end_change()

    # ---- read-only watch ----------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="watch",
          description=N_("read the switch state"))
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
            watch = t("watch: ")
            self.log_pane.add(Text.assemble((watch, "bold"), watch_line(now)), hang=len(watch))
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
                self.log_pane.add(t("continuing"), style="italic")
            else:
                self.notify(t("The switch is running; it asks before every change."), timeout=3)
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
        note = t("pause requested: the switch holds after the current step") if paused else t("continuing")
        self.log_pane.add(note, style="italic")
        self.refresh_status()

    def action_logs(self) -> None:
        pod = self.pods_pane.selected_pod()
        if pod is None:
            self.notify(t("No pod selected: move to a row in the pods pane first."), severity="warning",
                        timeout=3)
            return
        self.app.push_screen(PodLogsScreen(self.context.gateway, self.context.options.namespace, pod.name))

    def action_rollback(self) -> None:
        if self.state == "rolling-back":
            self.notify(t("A rollback is already running."), timeout=3)
            return
        self.log_pane.add(t("reading what a rollback would change…"), style="italic")
        self.prepare_rollback()

    # ---- the switch worker --------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="switch",
          description=N_("switch kube-dns to CoreDNS"))
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
            self._from_thread(Note(t("running pre-flight to rebuild the plan…")))
            report = run_preflight(self.context.gateway, self.context.options)
            if report.blocked or report.plan is None:
                blocking = [f"{tr(f.title)}: {f.evidence}"
                            for f in report.findings if f.status == "block"]
                raise CheckFailed(t("pre-flight blocks the switch: ") + ("; ".join(blocking) or t("no plan")))
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
        modal = ConfirmationModal(t("Step {id}: {description}", id=step.id, description=tr(step.description)),
                                  self._confirm_body(what))

        def done(result: bool | None) -> None:
            answer.append(bool(result))
            answered.set()

        self.app.call_from_thread(self.app.push_screen, modal, done)
        while not answered.wait(0.2):
            if self.cancel.is_set():
                self.app.call_from_thread(self._close_modal, modal)
                return False
        if answer[0]:  # from here until StepFinished, quitting waits for the change
            self.app.call_from_thread(self._begin_change, t("step {id} ({description})", id=step.id,
                                                            description=tr(step.description)))
        return answer[0]

    def _engine_asks_first(self) -> bool:
        """Whether the engine calls confirm before a change (not with --yes, not in dry-run)."""
        return not self.context.options.assume_yes and not self.context.dry_run

    def _close_modal(self, modal: ConfirmationModal) -> None:
        if modal.is_current:
            modal.dismiss(False)

    def _confirm_body(self, what: str) -> Text:
        c = self.context.connection
        body = Text(tr(what))
        body.append("\n\n" + t("context") + " ", style="dim")
        body.append(c.context, style="bold cyan")
        body.append("  " + t("cluster") + " ", style="dim")
        body.append(c.cluster, style="cyan")
        body.append("\n" + t("server") + " ", style="dim")
        body.append(c.server)
        if self.context.dry_run:
            body.append("\n" + t("DRY-RUN: sent with dryRun=All, nothing is stored"), style="bold yellow")
        return body

    def on_switch_screen_switch_run_finished(self, message: SwitchRunFinished) -> None:
        outcome = message.outcome
        if not self.live or self.state == "rolling-back":
            return  # the app is exiting, or the rollback took over and its own result decides
        if outcome is None:
            self.stop_reason = message.error
            self.log_pane.add(Text.assemble(("■ " + t("could not run the switch: "), "bold red"),
                                            tr(message.error)))
            self.state = "stopped"
        elif outcome.completed:
            kind: Literal["completed", "dry-run"] = "dry-run" if outcome.dry_run else "completed"
            self.result = self.make_result(kind, outcome.reason, outcome.advice)
            self.log_pane.add(t("press n for the summary"), style="bold")
            self.state = "completed"
            self._show_done(self.result)
        else:
            self.stop_reason, self.stop_advice = outcome.reason, outcome.advice
            self.result = self.make_result("stopped", outcome.reason, outcome.advice)
            self.log_pane.add(t("n resumes from the step that stopped; r rolls back; l shows a pod's logs"),
                              style="bold")
            self.state = "stopped"

    # ---- rollback -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback-read",
          description=N_("read what a rollback would change"))
    def prepare_rollback(self) -> None:
        self.post_message(self.RollbackPrepared(read_rollback_preview(self.context)))

    def on_switch_screen_rollback_prepared(self, message: RollbackPrepared) -> None:
        preview = message.preview
        if preview.error:
            advice = f"; {tr(preview.advice)}" if preview.advice else ""
            self.log_pane.add(t("cannot roll back: {error}", error=tr(preview.error)) + advice,
                              style="bold red")
            return
        self._pending_rollback = message
        dialog = rollback_confirmation(preview, self.context, switch_running=self.state == "running")
        self.app.push_screen(dialog, callback=self._rollback_answered)

    def _rollback_answered(self, yes: bool | None) -> None:
        if not yes:
            self.log_pane.add(t("rollback cancelled: nothing changed"), style="italic")
            return
        self.cancel.set()
        self.gate.resume()
        self.current_step = None
        self.state = "rolling-back"
        self.run_rollback()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rollback",
          description=N_("roll back to kube-dns"))
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
            self.stop_advice = outcome.advice if outcome else t("run `coredns-wizard rollback` again")
            self.log_pane.add(Text.assemble(("■ " + t("rollback stopped: "), "bold red"),
                                            tr(self.stop_reason)))
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
            return t("the switch is running; it goes on to the summary when it ends")
        return t("the switch has not finished: press n to start or resume it, r to roll back")

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
            return t("read-only: n does nothing here; the panes follow the cluster live")
        if self.state in ("completed", "rolled-back"):
            return t("n shows the summary (Done stage)")
        if self.state in ("running", "rolling-back"):
            return (t("n continues after a pause; the engine goes on by itself otherwise")
                    if self.gate.paused else t("the engine is running; every change asks first"))
        upcoming = self.upcoming_steps()
        if not upcoming:
            return t("n starts the switch with the plan pre-flight makes now")
        if self.state == "stopped":
            return t("n resumes the switch at step {id}: {description}", id=upcoming[0].id,
                     description=tr(upcoming[0].description))
        return t("n starts the switch at step {id}: {description}", id=upcoming[0].id,
                 description=tr(upcoming[0].description))

    def help_text(self) -> Text:
        text = super().help_text()
        upcoming = self.upcoming_steps()
        total = len(self.context.plan.steps) if self.context.plan else 0
        if upcoming:
            text.append("\n\n" + t("Upcoming steps"), style="bold")
            text.append(" " + t("({count} of {total})", count=len(upcoming), total=total) + "\n")
            for step in upcoming[:8]:
                mark = "✎ " if step.changes_cluster else "· "
                text.append(f"  {mark}{step.id}: {tr(step.description)}\n")
            if len(upcoming) > 8:
                text.append("  " + t("… and {count} more", count=len(upcoming) - 8) + "\n", style="dim")
            text.append("  ✎ " + t("changes the cluster (asks first unless --yes)"), style="dim")
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
        self.log_pane.add(t("internal error in {worker}: {error} (details in the log file); the journal "
                            "keeps the switch resumable", worker=t(event.worker.description),
                            error=f"{type(err).__name__}: {err}"), style="bold red")
        if self.state == "running":
            self.state = "stopped"
        elif self.state == "rolling-back":
            self.state = "rollback-stopped"
