"""What the shell's stage screens share: the header, the footer, a status line saying why `n`
cannot go on, and one place where a failed worker becomes a one-line message.

Why: every stage must show where it points and which keys apply, and no stage may let a worker's
exception end as a traceback on the operator's terminal.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from screens.messages import StageFailed

if TYPE_CHECKING:
    from screens.app import WizardApp
    from screens.context import WizardContext

log = logging.getLogger("coredns_wizard.tui")


class StageScreen(Screen[None]):
    STAGE_ID = ""
    STAGE_TITLE = ""

    def __init__(self, context: WizardContext) -> None:
        super().__init__(id=f"stage-{self.STAGE_ID}")
        self.context = context
        self._status_shown: Text | None = None

    @property
    def wizard(self) -> WizardApp:
        return cast("WizardApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.wizard.make_header(self.STAGE_TITLE)
        yield from self.compose_body()
        yield Static("", id="stage-status", classes="stage-status")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    # ---- what the App asks ------------------------------------------------------------------
    def advance_blocked(self) -> str | None:
        """Why `n` may not go on from here (shown in the status line), None when it may."""
        return None

    def can_go_back(self) -> bool:
        return True

    # ---- helpers ----------------------------------------------------------------------------
    def set_status(self, text: str | Text, style: str = "") -> None:
        """Only a changed line is updated: an update re-lays out the screen, and the Switch stage
        sets this line on every engine event (measured by tests/bench_tui.py)."""
        body = text if isinstance(text, Text) else Text(text, style=style)
        if body == self._status_shown:
            return
        self._status_shown = body
        self.query_one("#stage-status", Static).update(body)

    def refresh_gate(self) -> None:
        """Re-evaluate `n` (footer) and say why it is blocked."""
        reason = self.advance_blocked()
        key = self.key_label("app.advance", "n")
        if reason:
            self.set_status(Text.assemble((f"{key} is blocked: ", "bold yellow"), (reason, "yellow")))
        else:
            self.set_status(Text(f"{key}: go on to the next stage", style="green"))
        self.app.refresh_bindings()

    def key_label(self, binding_id: str, default: str) -> str:
        """The key(s) the keymap gave a binding (a host App without keymaps: the default)."""
        label = getattr(self.app, "key_label", None)
        return str(label(binding_id, default)) if callable(label) else default

    def on_stage_failed(self, message: StageFailed) -> None:
        self.set_status(Text.assemble(("✖ ", "bold red"), (message.error, "red")))
        self.app.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            log.error("worker %s failed", event.worker.description, exc_info=error)
            first = (str(error).splitlines() or [type(error).__name__])[0]
            self.post_message(StageFailed(self.STAGE_ID, f"{event.worker.description}: {first}"))
