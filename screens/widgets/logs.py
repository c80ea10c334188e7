"""The selected pod's logs (current and previous container) and its Kubernetes Events.

Why previous logs too: a crash-looping CoreDNS pod's current container has usually just started
and says nothing; the reason (a bad Corefile directive, a forwarding loop) is in the log of the
instance that died. Fetched through the gateway in a thread worker; shown as plain Text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static
from textual.worker import Worker, WorkerState

from wizard.errors import WizardError
from wizard.k8s.gateway import Gateway
from wizard.textsafety import escape_control

TAIL_LINES = 200


@dataclass
class PodLogsRead(Message):
    """What the worker found: (heading, lines) sections, in display order."""

    sections: list[tuple[str, list[str]]]


def read_pod_story(
    gateway: Gateway, namespace: str, pod: str, tail_lines: int = TAIL_LINES
) -> list[tuple[str, list[str]]]:
    """Events, the previous container's log and the current log of one pod; a section whose
    read failed says why instead of failing the whole view."""
    sections: list[tuple[str, list[str]]] = []
    try:
        events = gateway.events_for("Pod", namespace, pod)
        sections.append(("Events", [
            escape_control(
                f"{e.get('type') or '-'} {e.get('reason') or '-'} (x{e.get('count') or 1}): "
                f"{e.get('message') or ''}"
            )
            for e in events
        ] or ["none"]))
    except WizardError as err:
        sections.append(("Events", [f"could not read them: {err}"]))
    for previous, heading in ((True, "Log of the previous container"), (False, "Log")):
        try:
            text = gateway.pod_logs(namespace, pod, tail_lines=tail_lines, previous=previous)
            lines = [escape_control(line) for line in text.rstrip("\n").splitlines()]
            sections.append((heading, lines or ["(empty)"]))
        except WizardError as err:
            if previous:
                continue  # no previous instance is the normal case
            sections.append((heading, [f"could not read it: {err}"]))
    return sections


class PodLogsScreen(ModalScreen[None]):
    """`l` on a pod row: its events and logs; esc or q closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,l", "close", "Close", id="logs.close"),
    ]
    DEFAULT_CSS = """
    PodLogsScreen { align: center middle; }
    PodLogsScreen > Vertical { width: 95%; height: 90%; border: round $accent; background: $surface; }
    PodLogsScreen #logs-title { height: 1; padding: 0 1; }
    PodLogsScreen RichLog { height: 1fr; }
    """

    def __init__(self, gateway: Gateway, namespace: str, pod: str) -> None:
        super().__init__(id="pod-logs")
        self.gateway = gateway
        self.namespace = namespace
        self.pod = pod
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text("Logs and events of pod ", style="bold")
            title.append(f"{self.namespace}/{self.pod}", style="bold cyan")
            title.append("   (esc closes)", style="dim")
            yield Static(title, id="logs-title")
            yield RichLog(id="logs-body", wrap=True, markup=False, highlight=False, auto_scroll=False)

    def on_mount(self) -> None:
        self.query_one(RichLog).write(Text("reading…", style="dim"))
        self.read_logs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pod-logs", description="read pod logs")
    def read_logs(self) -> None:
        self.post_message(PodLogsRead(read_pod_story(self.gateway, self.namespace, self.pod)))

    def on_pod_logs_read(self, message: PodLogsRead) -> None:
        body = self.query_one(RichLog)
        body.clear()
        width = body.scrollable_content_region.width or None  # wrap at the pane, not the console
        for heading, lines in message.sections:
            body.write(Text(f"── {heading} ──", style="bold"), width=width)
            for line in lines:
                body.write(Text(line), width=width)
        self.loaded = True

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            body = self.query_one(RichLog)
            body.write(Text(f"could not read the logs: {event.worker.error}", style="bold red"))

    def action_close(self) -> None:
        self.dismiss(None)
