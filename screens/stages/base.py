"""The contract between the App and its stage screens, and what every stage shares: the header,
the footer, a status line saying why `n` cannot go on, and one place where a failed worker
becomes a one-line message.

Why a contract: the App must behave the same on every stage (`n`, `b`, `r`, `q`, `?`), so it
asks the stage through these methods only, never by probing attributes; every stage must show
where it points and which keys apply, and no worker's exception may end as a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from screens.localize import localize_bindings
from screens.messages import StageFailed
from screens.widgets.hanging import Hanging
from wizard.i18n import N_, t, tr

if TYPE_CHECKING:
    from screens.app import WizardApp
    from screens.context import WizardContext

log = logging.getLogger("coredns_wizard.tui")

MIN_SIZE = (80, 24)
"""Below this the stages do not fit: the screen says so instead of cutting panes and buttons."""

MOVE_AND_SELECT = N_(
    "tab / shift+tab move between panes; the arrow keys move the cursor in a table or list "
    "(the highlighted row is the selection); page up/down scroll; esc closes a dialog."
)
"""Marked with N_: shown through `t()`."""


class StageScreen(Screen[None]):
    """One stage of the wizard. Subclasses set STAGE_ID, STAGE_TITLE and PURPOSE and override
    the hooks below that apply to them; the defaults mean "nothing special here"."""

    STAGE_ID: ClassVar[str] = ""
    STAGE_TITLE: ClassVar[str] = ""
    PURPOSE: ClassVar[str] = ""
    """What this stage checks or does, in a sentence or two (the `?` help starts with it)."""

    def __init__(self, context: WizardContext) -> None:
        super().__init__(id=f"stage-{self.STAGE_ID}")
        self.context = context
        localize_bindings(self)  # also when pushed by something other than the wizard's App
        self._status_shown: Text | None = None

    def stage_title(self) -> str:
        """STAGE_TITLE in the current language (the header and the help show this)."""
        return t(self.STAGE_TITLE) if self.STAGE_TITLE else ""

    def purpose_text(self) -> str:
        """PURPOSE in the current language."""
        return t(self.PURPOSE) if self.PURPOSE else ""

    @property
    def wizard(self) -> WizardApp:
        return cast("WizardApp", self.app)

    DEFAULT_CSS = """
    StageScreen #too-small { display: none; width: 100%; height: 100%; content-align: center middle;
                             text-align: center; padding: 1 2; }
    StageScreen.too-small > * { display: none; }
    StageScreen.too-small > #too-small { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield self.wizard.make_header(self.stage_title())
        yield from self.compose_body()
        yield Static("", id="stage-status", classes="stage-status")
        yield Footer(show_command_palette=False)  # ctrl+p and F2 are listed in the help (?)
        yield Static("", id="too-small")

    def on_resize(self, event: events.Resize) -> None:
        """Below MIN_SIZE only a message shows (the engine goes on: nothing is paused)."""
        width, height = event.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        if small:
            self.query_one("#too-small", Static).update(Text.assemble(
                (t("Terminal too small"), "bold yellow"),
                "\n" + t("{width}×{height}: the wizard needs at least {min_width}×{min_height}.",
                         width=width, height=height, min_width=MIN_SIZE[0], min_height=MIN_SIZE[1])
                + "\n" + t("Enlarge the window; nothing is paused meanwhile (q still quits).")))
        self.set_class(small, "too-small")

    def compose_body(self) -> ComposeResult:
        yield from ()

    # ---- the hooks the App calls ------------------------------------------------------------
    def advance_blocked(self) -> str | None:
        """Why `n` may not go on from here (shown in the status line), None when it may."""
        return None

    def can_go_back(self) -> bool:
        """Whether `b` may leave this stage backwards (the App also refuses once the cluster changed)."""
        return True

    def commit(self) -> None:
        """Called when `n` leaves this stage forward: keep what the operator decided here."""

    def change_ready_on_advance(self) -> bool:
        """True when `n` should start this stage's change (behind its confirmation) instead of
        leaving: the whole wizard can then be driven with `n` and `y` alone."""
        return False

    def start_change_on_advance(self) -> None:
        """Start the change `change_ready_on_advance` announced (opens its confirmation)."""

    def handles_rollback(self) -> bool:
        """True when this stage runs the rollback itself (`start_rollback`), with its live panes;
        otherwise the App's own rollback runs."""
        return False

    def start_rollback(self) -> None:
        """Ask for and run a rollback on this stage (only called when `handles_rollback`)."""

    def leaves_cluster_mixed(self) -> bool:
        """Whether quitting here leaves the cluster between kube-dns and CoreDNS (the App then
        asks first): by default once the CoreDNS objects are deployed."""
        return self.wizard.deployed

    def stop_for_quit(self) -> None:
        """The operator chose to quit: stop this stage's engine work at its next safe point."""

    def next_key_text(self) -> str:
        """What `n` does next from here, for the help (the engine's plan where there is one)."""
        reason = self.advance_blocked()
        if reason:
            return t("n is not possible yet: {reason}", reason=tr(reason))
        return t("n goes on to the next stage")

    def help_text(self) -> Text:
        """The top of the `?` help: what this stage is for, what `n` does next, how to move."""
        text = Text()
        if self.PURPOSE:
            text.append(t("This stage: "), style="bold")
            text.append(self.purpose_text() + "\n\n")
        text.append(t("Next: "), style="bold")
        text.append(self.next_key_text() + "\n\n")
        text.append(t("Moving and selecting: "), style="bold")
        text.append(t(MOVE_AND_SELECT))
        return text

    # ---- the language key (F2, the palette) -------------------------------------------------
    RELOCALIZE_BY_RECOMPOSE: ClassVar[bool] = True
    """Whether a language change composes this stage again (labels built in compose); the
    Switch stage keeps its live panes instead and re-renders what it can in place."""

    def relocalize(self) -> None:
        """The language changed: this stage's texts again, in the new language. What the operator
        typed is kept (`keep_before_relocalize`), what on_mount showed is drawn again
        (`redraw_after_relocalize`); workers, timers and the engine are not touched."""
        if not self.RELOCALIZE_BY_RECOMPOSE:
            self.redraw_after_relocalize()
            return
        self.keep_before_relocalize()
        # on this screen's own message queue: its timers and workers' results wait until the
        # widgets are back (a worker task would let them find a half-rebuilt screen)
        self.call_later(self._recompose_and_redraw)

    async def _recompose_and_redraw(self) -> None:
        await self.recompose()
        self.redraw_after_relocalize()

    def keep_before_relocalize(self) -> None:
        """Save what lives only in widgets (typed text, the open tab) before they are rebuilt."""

    def redraw_after_relocalize(self) -> None:
        """Show again what on_mount and the workers' results had shown."""
        self._status_shown = None
        self.refresh_gate()

    # ---- helpers ----------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """False once the app is exiting or this screen left the DOM: a worker's late result or
        a timer then has nowhere to go and is dropped (a screen pushed while the app exits is
        never composed, so its widgets do not exist)."""
        return self.is_attached and self.app.return_code is None and bool(self.query("#stage-status"))

    def set_status(self, text: str | Text, style: str = "") -> None:
        """Only a changed line is updated: an update re-lays out the screen, and the Switch stage
        sets this line on every engine event (measured by tests/bench_tui.py)."""
        body = text if isinstance(text, Text) else Text(text, style=style)
        if body == self._status_shown or not self.live:
            return
        self._status_shown = body
        # a wrapped reason or advice hangs under its text, not under its mark
        self.query_one("#stage-status", Static).update(body if body.no_wrap else Hanging(body))

    def refresh_gate(self) -> None:
        """Re-evaluate `n` (footer) and say why it is blocked."""
        if not self.live:
            return
        reason = self.advance_blocked()
        key = self.key_label("app.advance", "n")
        if self.change_ready_on_advance():  # n starts this stage's change: say so, not "blocked"
            self.set_status(Text(self.next_key_text(), style="bold"))
        elif reason:
            self.set_status(Text.assemble((t("{key} is blocked: ", key=key), "bold yellow"),
                                          (tr(reason), "yellow")))
        else:
            self.set_status(Text(t("{key}: go on to the next stage", key=key), style="green"))
        self.app.refresh_bindings()

    def key_label(self, binding_id: str, default: str) -> str:
        """The key(s) the operator's keymap gave a binding."""
        return self.wizard.key_label(binding_id, default)

    def on_stage_failed(self, message: StageFailed) -> None:
        self.set_status(Text.assemble(("✖ ", "bold red"), (message.error, "red")))
        self.app.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            log.error("worker %s failed", event.worker.description, exc_info=error)
            first = (str(error).splitlines() or [type(error).__name__])[0]
            # worker descriptions are marked with N_ where the workers are declared
            self.post_message(StageFailed(self.STAGE_ID, f"{t(event.worker.description)}: {first}"))
