"""The Corefile editor: a TextArea re-checked against the chosen CoreDNS version as you type.

Why debounced in a worker: checking parses the whole Corefile; doing it on every key press on the
UI thread would make typing lag. The last checked text is remembered so the stage can refuse to
go on with a text that has not been checked, or that CoreDNS would refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static, TextArea

from screens.messages import CorefileChecked
from wizard.i18n import t, tr

if TYPE_CHECKING:
    from wizard.dns.checker import Finding

CHECK_DELAY_S = 0.4


def check_text(findings: list[Finding], error: str) -> Text:
    if error:
        return Text("✖ " + tr(error), style="bold red")
    if not findings:
        return Text("✔ " + t("CoreDNS would accept this Corefile"), style="green")
    from wizard.dns.checker import format_finding

    out = Text()
    for i, item in enumerate(findings):
        if i:
            out.append("\n")
        style = "bold red" if item.is_error else "yellow"
        out.append("✖ " if item.is_error else "! ", style=style)
        out.append(format_finding("Corefile", item), style=style)
    return out


class CorefileEditor(Vertical):
    DEFAULT_CSS = """
    CorefileEditor {
        height: 1fr;
    }
    CorefileEditor #corefile-text {
        height: 1fr;
    }
    CorefileEditor #corefile-check {
        height: auto;
        max-height: 6;
        padding: 0 1;
    }
    """

    def __init__(self, text: str, coredns_version: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="corefile-editor")
        self.initial_text = text
        self.coredns_version = coredns_version
        self.checked_text: str | None = None
        self.findings: list[Finding] = []
        self.check_error = ""
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TextArea(self.initial_text, id="corefile-text", show_line_numbers=True, tab_behavior="indent")
        yield Static(Text(t("checking…"), style="dim"), id="corefile-check")

    def on_mount(self) -> None:
        self.check_now()

    @property
    def text(self) -> str:
        return self.query_one("#corefile-text", TextArea).text

    @property
    def edited(self) -> bool:
        return self.text.strip() != self.initial_text.strip()

    @property
    def problem(self) -> str | None:
        """Why this Corefile may not be used yet; None when it was checked and has no errors."""
        if self.checked_text != self.text:
            return t("the edited Corefile is still being checked")
        if self.check_error:
            return self.check_error
        errors = [f for f in self.findings if f.is_error]
        if errors:
            return t("the Corefile has {count} error(s) CoreDNS {version} would refuse", count=len(errors),
                     version=self.coredns_version)
        return None

    @on(TextArea.Changed, "#corefile-text")
    def _changed(self) -> None:
        self.query_one("#corefile-check", Static).update(Text(t("checking…"), style="dim"))
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(CHECK_DELAY_S, self.check_now)

    def check_now(self) -> None:
        self._check(self.text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="corefile-check",
          description="check Corefile")
    def _check(self, text: str) -> None:
        from wizard.dns.checker import check_corefile_text
        from wizard.errors import WizardError

        try:
            findings = check_corefile_text(text, self.coredns_version, "Corefile", env={})
        except WizardError as err:
            self.post_message(CorefileChecked(text, [], str(err)))
            return
        self.post_message(CorefileChecked(text, findings))

    def on_corefile_checked(self, message: CorefileChecked) -> None:
        if message.text != self.text:
            return  # a newer edit is pending; its own check will report
        self.checked_text = message.text
        self.findings = message.findings
        self.check_error = message.error
        self.query_one("#corefile-check", Static).update(check_text(message.findings, message.error))
        self.app.refresh_bindings()
