"""The selected pod's logs (current and previous instance of one container, the DNS container by
default) and its Kubernetes Events.

Why previous logs too: a crash-looping CoreDNS pod's current container has usually just started
and says nothing; the reason (a bad Corefile directive, a forwarding loop) is in the log of the
instance that died. Fetched through the gateway in a thread worker; shown as plain Text.
"""

from __future__ import annotations

import shlex
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

from screens.widgets.hanging import SLOT, around
from wizard.errors import WizardError
from wizard.i18n import N_, t
from wizard.k8s.gateway import Gateway
from wizard.textsafety import escape_control

TAIL_LINES = 200
DNS_CONTAINERS = ("kubedns", "coredns")
"""The container that answers DNS in a kube-dns pod (beside dnsmasq and sidecar) and in CoreDNS."""


def default_container(containers: list[str]) -> str | None:
    """The DNS container when the pod has one, else the first (a pod with several containers
    needs one named: the API answers HTTP 400 otherwise)."""
    for name in DNS_CONTAINERS:
        if name in containers:
            return name
    return containers[0] if containers else None


def kubectl_logs_command(namespace: str, pod: str, container: str | None, tail_lines: int = TAIL_LINES,
                         previous: bool = False) -> str:
    """What the screen shows, as the operator would type it."""
    parts = ["kubectl", "logs", "-n", namespace, pod]
    if container:
        parts += ["-c", container]
    parts.append(f"--tail={tail_lines}")
    if previous:
        parts.append("--previous")
    return shlex.join(parts)


def pod_containers(gateway: Gateway, namespace: str, pod: str) -> list[str]:
    """The pod's container names, in spec order (init containers left out)."""
    spec = gateway.get("Pod", namespace, pod).get("spec") or {}
    return [str(c.get("name")) for c in spec.get("containers") or [] if c.get("name")]


def read_pod_story(
    gateway: Gateway, namespace: str, pod: str, tail_lines: int = TAIL_LINES, container: str | None = None
) -> list[tuple[str, list[str]]]:
    """Events, the previous container's log and the current log of one pod's container; a section
    whose read failed says why instead of failing the whole view."""
    sections: list[tuple[str, list[str]]] = []
    try:
        events = gateway.events_for("Pod", namespace, pod)
        sections.append((t("Events"), [
            escape_control(
                f"{e.get('type') or '-'} {e.get('reason') or '-'} (x{e.get('count') or 1}): "
                f"{e.get('message') or ''}"
            )
            for e in events
        ] or [t("none")]))
    except WizardError as err:
        sections.append((t("Events"), [t("could not read them: {error}", error=err)]))
    for previous, heading in ((True, t("Log of the previous container")), (False, t("Log"))):
        command = kubectl_logs_command(namespace, pod, container, tail_lines, previous)
        try:
            text = gateway.pod_logs(namespace, pod, container=container, tail_lines=tail_lines,
                                    previous=previous)
            lines = [escape_control(line) for line in text.rstrip("\n").splitlines()]
            sections.append((f"{heading} ({command})", lines or [t("(empty)")]))
        except WizardError as err:
            if previous:
                continue  # no previous instance is the normal case
            sections.append((f"{heading} ({command})", [t("could not read it: {error}", error=err)]))
    return sections


class PodLogsScreen(ModalScreen[None]):
    """`l` on a pod row: its events and one container's logs (c: the next container); esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,l", "close", N_("Close"), id="logs.close"),
        Binding("c", "next_container", N_("Next container"), id="logs.container"),
    ]
    DEFAULT_CSS = """
    PodLogsScreen { align: center middle; }
    PodLogsScreen > Vertical { width: 95%; height: 90%; border: round $accent; background: $surface; }
    PodLogsScreen #logs-title { height: auto; padding: 0 1; }
    PodLogsScreen RichLog { height: 1fr; }
    """

    @dataclass
    class Read(Message):
        """What the worker found: the pod's containers, the one shown, and (heading, lines)
        sections in display order."""

        containers: list[str]
        container: str | None
        sections: list[tuple[str, list[str]]]

    def __init__(self, gateway: Gateway, namespace: str, pod: str, container: str | None = None) -> None:
        super().__init__(classes="pod-logs")  # no id: l twice must not collide
        self.gateway = gateway
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.containers: list[str] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title(), id="logs-title")
            yield RichLog(id="logs-body", wrap=True, markup=False, highlight=False, auto_scroll=False)

    def _title(self) -> Text:
        before, after = around(t("Logs and events of pod {pod}", pod=SLOT))
        title = Text(before, style="bold")
        title.append(f"{self.namespace}/{self.pod}", style="bold cyan")
        title.append(after, style="bold")
        if self.container:
            title.append("  " + t("container") + " ", style="bold")
            title.append(self.container, style="bold cyan")
            others = [c for c in self.containers if c != self.container]
            if others:
                title.append(" " + t("(c: next of {containers})", containers=", ".join(self.containers)),
                             style="dim")
        title.append("   " + t("esc closes") + "\n", style="dim")
        title.append(kubectl_logs_command(self.namespace, self.pod, self.container), style="dim")
        return title

    def on_mount(self) -> None:
        self.read_logs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pod-logs", description="read pod logs")
    def read_logs(self) -> None:
        containers = self.containers
        container = self.container
        if not containers:
            try:
                containers = pod_containers(self.gateway, self.namespace, self.pod)
            except WizardError:
                containers = []  # gone or unreadable: the log read below says why
            container = container or default_container(containers)
        story = read_pod_story(self.gateway, self.namespace, self.pod, container=container)
        self.post_message(self.Read(containers, container, story))

    def on_pod_logs_screen_read(self, message: Read) -> None:
        if not self.is_attached:
            return  # closed before the read finished
        self.containers, self.container = message.containers, message.container
        self.query_one("#logs-title", Static).update(self._title())
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
        if event.state == WorkerState.ERROR and self.is_attached:
            body = self.query_one(RichLog)
            failed = t("could not read the logs: {error}", error=event.worker.error)
            body.write(Text(failed, style="bold red"))

    def action_next_container(self) -> None:
        if len(self.containers) < 2:
            self.notify(t("This pod has one container."), timeout=3)
            return
        index = self.containers.index(self.container) if self.container in self.containers else -1
        self.container = self.containers[(index + 1) % len(self.containers)]
        self.loaded = False
        self.query_one("#logs-title", Static).update(self._title())
        self.query_one(RichLog).clear().write(Text(t("reading…"), style="dim"))
        self.read_logs()

    def action_close(self) -> None:
        self.dismiss(None)
