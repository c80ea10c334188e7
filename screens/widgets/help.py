"""`?`: what this stage is for and what `n` does next, then every key that works here with its
binding id (what a keymap file remaps)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from wizard.i18n import N_, t


def bindings_table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table(box=None, expand=True, show_edge=False)
    table.add_column(t("key"), style="bold cyan", no_wrap=True)
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column(t("what it does"))
    for key, binding_id, description in rows:
        table.add_row(Text(key), Text(binding_id), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    """Lists the bindings active on the screen below it; esc or ? closes."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen #help-dialog {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-about {
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", N_("Close help"), id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]], stage: str, about: Text | None = None) -> None:
        super().__init__(classes="help")  # no id: two help screens may be on the stack
        self.rows = rows
        self.stage = stage
        self.about = about
        """What the stage is for, what `n` does next, how to move and select (from the stage)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            if self.about is not None:
                about_title = Text(t("The {stage} stage", stage=self.stage), style="bold")
                yield Static(about_title, id="help-about-title")
                yield Static(self.about, id="help-about")
            keys_title = Text(t("Keys on the {stage} stage", stage=self.stage), style="bold")
            yield Static(keys_title, id="help-title")
            yield Static(bindings_table(self.rows), id="help-table")
            yield Static(
                Text(
                    t("Destructive keys ask first, with Cancel focused; in read-only mode they are not "
                      "bound at all. Remap keys by binding id."),
                    style="dim",
                )
            )

    def action_close(self) -> None:
        self.dismiss(None)
