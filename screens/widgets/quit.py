"""`q` or Ctrl-C while the cluster may run half on CoreDNS: say exactly how it stands, then stay,
quit (the switch is resumable) or roll back.

Why a dialog: quitting mid-switch is safe (the journal and the CoreDNS Deployment's annotations
make it resumable) but it leaves production in a mixed state; the operator must see that state
and the command that resumes before the terminal goes back to the shell, and the same summary
is printed there after the wizard exits.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from screens.widgets.hanging import ljust_cells
from wizard.i18n import N_, t

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.status import DeploymentState, SwitchStatus

QuitAction = Literal["stay", "quit", "rollback"]


@dataclass(frozen=True)
class QuitChoice:
    action: QuitAction
    summary: str
    """The mixed-state summary and the resume command, printed on the terminal after a quit."""


def resume_command(context: WizardContext) -> str:
    """The command that resumes this switch from a shell (the same context); starting the wizard
    again offers the same resumption."""
    if context.lab is not None:
        return t("none: the demo lab stops with the wizard (start `coredns-wizard --demo` again)")
    return shlex.join(["coredns-wizard", "switch", "--context", context.connection.context])


def _deployment_line(label: str, dep: DeploymentState | None, target: int | None) -> str:
    if dep is None:
        return f"{label:<9} " + t("absent")
    of = target if target else dep.replicas
    spec = ""
    if target and dep.replicas != target:
        spec = t(" (spec.replicas {replicas})", replicas=dep.replicas)
    return f"{label:<9} " + t("{ready}/{of} ready{spec}, Deployment {name}", ready=dep.ready, of=of,
                              spec=spec, name=dep.name)


def _label(text: str) -> str:
    """A line's label in the quit summary, padded to the column of the Deployment names."""
    return ljust_cells(text, 9) + " "


def mixed_state_lines(status: SwitchStatus, context: WizardContext) -> list[str]:
    """CoreDNS k/N, kube-dns m/N (N: kube-dns's original replica count), the Service's ready
    endpoints by owner, where the switch stands and the command that resumes it."""
    ns = context.options.namespace
    target = status.rounds
    ep = status.endpoints
    where = status.phase
    if status.round and status.rounds:
        where += ", " + t("round {round} of {rounds}", round=status.round, rounds=status.rounds)
    if status.last_step:
        where += ", " + t("last step {step}", step=status.last_step)
    return [
        t("Cluster context {context}, namespace {namespace}: switch {where}",
          context=context.connection.context, namespace=ns, where=where),
        _deployment_line("CoreDNS", status.coredns, target),
        _deployment_line("kube-dns", status.kube_dns, target),
        t("Endpoints {ready} ready in Service {service} (CoreDNS {coredns}, kube-dns {kube_dns}), "
          "{not_ready} not ready", ready=len(ep.ready), service=f"{ns}/{context.options.dns_service}",
          coredns=len(ep.coredns_ready), kube_dns=len(ep.kube_dns_ready), not_ready=len(ep.not_ready)),
        _label(t("Resume")) + resume_command(context),
        _label(t("Roll back")) + "coredns-wizard rollback --context "
        + shlex.quote(context.connection.context),
    ]


class QuitScreen(ModalScreen[QuitChoice]):
    """Stay (esc, focused), quit — resumable (q), or roll back… (r)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,s", "choose('stay')", N_("Stay"), id="quit.stay"),
        Binding("q", "choose('quit')", N_("Quit (resumable)"), id="quit.quit"),
        Binding("r", "choose('rollback')", N_("Roll back…"), id="quit.rollback"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 100; max-width: 100%; height: auto; max-height: 100%;
                            border: thick $warning; background: $surface; padding: 0 1; }
    QuitScreen #quit-title { text-style: bold; height: auto; }
    QuitScreen #quit-body { height: auto; margin: 1 0; }
    QuitScreen #quit-buttons { height: 3; align-horizontal: right; }
    QuitScreen Button { margin-left: 1; min-width: 10; }
    """

    @dataclass
    class StatusRead(Message):
        """The cluster's state, read for the dialog (or why it could not be)."""

        status: SwitchStatus | None
        error: str = ""

    def __init__(self, context: WizardContext, in_flight: str | None) -> None:
        super().__init__(classes="quit-dialog")
        self.context = context
        self.in_flight = in_flight
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(t("Quit in the middle of the switch?"), style="bold yellow"), id="quit-title")
            yield Static(Text(t("reading the cluster's state…"), style="dim"), id="quit-body")
            with Horizontal(id="quit-buttons"):
                yield Button(t("Stay (esc)"), id="quit-stay", variant="primary")
                yield Button(t("Quit, resumable (q)"), id="quit-quit", variant="warning")
                if not self.context.read_only:
                    yield Button(t("Roll back… (r)"), id="quit-rollback", variant="error")

    def on_mount(self) -> None:
        self.query_one("#quit-stay", Button).focus()
        self.read_state()

    @work(thread=True, exclusive=True, exit_on_error=False, group="quit-state",
          description=N_("read the cluster's state"))
    def read_state(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.status import read_status

        try:
            self.post_message(self.StatusRead(read_status(self.context.gateway, self.context.journal,
                                                          self.context.options)))
        except WizardError as err:
            self.post_message(self.StatusRead(None, str(err)))

    def on_quit_screen_status_read(self, message: StatusRead) -> None:
        if message.status is None:
            self.lines = [t("The cluster's state could not be read: {error}", error=message.error),
                          t("Check it with:") + " coredns-wizard status --context "
                          + shlex.quote(self.context.connection.context),
                          _label(t("Resume")) + resume_command(self.context)]
        else:
            self.lines = mixed_state_lines(message.status, self.context)
        body = Text("\n".join(self.lines))
        if self.in_flight:
            body.append("\n\n" + t("{what} is in flight: quitting waits until it has finished.",
                                     what=self.in_flight), style="yellow")
        body.append("\n\n" + t("Quitting leaves the cluster as it is: the journal and the CoreDNS "
                                "Deployment's annotations make the switch resumable."), style="dim")
        self.query_one("#quit-body", Static).update(body)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "choose" and parameters == ("rollback",) and self.context.read_only)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose((event.button.id or "quit-stay").removeprefix("quit-"))

    def action_choose(self, action: str) -> None:
        choices: dict[str, QuitAction] = {"stay": "stay", "quit": "quit", "rollback": "rollback"}
        chosen = choices.get(action, "stay")
        lines = self.lines or [_label(t("Resume")) + resume_command(self.context)]
        head = "coredns-wizard: " + t("quit in the middle of the switch; the cluster stays as it is:")
        summary = "\n".join([head, *(f"  {line}" for line in lines)])
        self.dismiss(QuitChoice(chosen, summary))
