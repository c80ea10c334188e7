"""The one dialog in front of every change to the cluster.

Why Cancel is focused: Enter out of habit must never change production; `y` is the deliberate
answer. The message names what changes, on which object, in which context.
"""

from __future__ import annotations

from itertools import count
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from wizard.i18n import N_, t, tr

_serial = count(1)


class ConfirmationModal(ModalScreen[bool]):
    """Ask yes/no; dismisses with True only on `y` or the Confirm button.

    Each dialog gets its own id (`confirm-N`): the engine's worker may open the next question
    while the previous dialog is still being removed, and two screens with one id crash Textual
    (DuplicateIds). Find a dialog by its class, not by id."""

    DEFAULT_CSS = """
    ConfirmationModal {
        align: center middle;
    }
    ConfirmationModal #confirm-dialog {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    ConfirmationModal #confirm-title {
        margin-bottom: 1;
    }
    ConfirmationModal #confirm-body {
        height: auto;
    }
    ConfirmationModal #confirm-buttons {
        height: 3;
        margin-top: 1;
        align: right middle;
    }
    ConfirmationModal #confirm-buttons Button {
        margin-left: 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", N_("Yes, do it"), id="confirm.yes"),
        Binding("escape,n", "cancel", N_("Cancel"), id="confirm.cancel"),
    ]

    def __init__(self, title: str, body: Text | str, confirm_label: str | None = None) -> None:
        """`confirm_label` defaults to "Yes, apply (y)" in the current language."""
        super().__init__(id=f"confirm-{next(_serial)}", classes="confirm")
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(tr(body))
        self.confirm_label = confirm_label if confirm_label is not None else t("Yes, apply (y)")

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text(tr(self.title_text), style="bold"), id="confirm-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(id="confirm-buttons"):
                yield Button(t("Cancel (esc)"), id="confirm-cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
