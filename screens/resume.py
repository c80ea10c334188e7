"""On start: a switch already in progress on this cluster is offered for resuming or rolling back
before any stage opens.

Why before the stages: walking an operator through pre-flight and deployment again while the
cluster runs half on CoreDNS would invite a second, conflicting switch. Where the switch stands
comes from wizard.migration.status (the CoreDNS Deployment's annotations and the journal), the same answer
`coredns-wizard status` prints; the switch engine itself then skips every finished step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from screens.widgets.hanging import SLOT, around, ljust_cells
from wizard.i18n import N_, t

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.status import SwitchStatus

log = logging.getLogger(__name__)

ResumeChoice = Literal["resume", "rollback", "quit"]
IN_PROGRESS_PHASES = ("deployed", "in-progress")


def needs_resume_offer(status: SwitchStatus) -> bool:
    """CoreDNS deployed by a switch that neither completed nor was rolled back."""
    return status.phase in IN_PROGRESS_PHASES


def resume_text(status: SwitchStatus, context_name: str, read_only: bool = False) -> Text:
    """What the operator needs to choose: where the switch stands, in which context."""
    text = Text()
    before, after = around(t("A switch from kube-dns to CoreDNS is in progress in context {context}.",
                             context=SLOT))
    text.append(before)
    text.append(context_name, style="bold cyan")
    text.append(after + "\n\n")
    rounds = t("before round 1")
    if status.round and status.rounds:
        rounds = t("round {round} of {rounds}", round=status.round, rounds=status.rounds)
    text.append(ljust_cells(t("Where it stands"), 16) + " ", style="bold")
    text.append(f"{status.phase}, {rounds}")
    if status.last_step:
        text.append(", " + t("last finished step {step}", step=status.last_step))
    text.append("\n")
    for label, dep in (("CoreDNS", status.coredns), ("kube-dns", status.kube_dns)):
        text.append(f"{label:<16} ", style="bold")
        text.append((t("absent") if dep is None
                     else t("{ready}/{replicas} ready", ready=dep.ready, replicas=dep.replicas)) + "\n")
    ep = status.endpoints
    text.append(ljust_cells(t("Endpoints"), 16) + " ", style="bold")
    text.append(t("CoreDNS {coredns}, kube-dns {kube_dns} ready", coredns=len(ep.coredns_ready),
                  kube_dns=len(ep.kube_dns_ready)) + "\n")
    if status.journal_tail:
        text.append(t("Journal (last entries)") + "\n", style="bold")
        for line in status.journal_tail[-3:]:
            text.append(f"  {line}\n", style="dim")
    if read_only:
        text.append("\n" + t("Read-only mode: c opens the Switch stage to watch it live (pods, endpoints and "
                             "where the switch stands); nothing here can change the cluster."))
        return text
    text.append("\n" + t("Resume continues with the first unfinished step (each change still asks first). "
                         "Roll back restores kube-dns first, then scales CoreDNS to 0 (it asks first too)."))
    return text


class ResumeScreen(ModalScreen[ResumeChoice]):
    """Resume (c), roll back (r) or quit (q); dismisses with the choice."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "choose('resume')", N_("Resume"), id="resume.resume"),
        Binding("r", "choose('rollback')", N_("Roll back…"), id="resume.rollback"),
        Binding("q,escape", "choose('quit')", N_("Quit"), id="resume.quit"),
    ]
    DEFAULT_CSS = """
    ResumeScreen { align: center middle; }
    ResumeScreen > Vertical { width: 90; max-width: 100%; height: auto; max-height: 100%;
                              border: thick $warning; background: $surface; padding: 1 2; }
    ResumeScreen #resume-title { text-style: bold; height: 2; }
    ResumeScreen #resume-body { height: auto; }
    ResumeScreen #resume-buttons { height: 3; margin-top: 1; align-horizontal: right; }
    ResumeScreen Button { margin-left: 2; }
    """

    def __init__(self, context: WizardContext, status: SwitchStatus) -> None:
        super().__init__(classes="resume")
        self.context = context
        self.status = status

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(t("Switch in progress"), style="bold yellow"), id="resume-title")
            body = resume_text(self.status, self.context.connection.context, self.context.read_only)
            yield Static(body, id="resume-body")
            with Horizontal(id="resume-buttons"):
                label = t("Watch it (c)") if self.context.read_only else t("Resume (c)")
                yield Button(label, id="resume-resume", variant="primary")
                if not self.context.read_only:
                    yield Button(t("Roll back… (r)"), id="resume-rollback", variant="warning")
                yield Button(t("Quit (q)"), id="resume-quit")

    def on_mount(self) -> None:
        self.query_one("#resume-resume", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "choose" and parameters == ("rollback",) and self.context.read_only)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose((event.button.id or "resume-quit").removeprefix("resume-"))

    def action_choose(self, choice: str) -> None:
        choices: dict[str, ResumeChoice] = {"resume": "resume", "rollback": "rollback", "quit": "quit"}
        self.dismiss(choices.get(choice, "quit"))


def offer_resume(
    app: App[Any], context: WizardContext, on_choice: Callable[[ResumeChoice | None], None]
) -> None:
    """Read where a switch stands (thread worker) and, if one is in progress, ask with a
    ResumeScreen. `on_choice` runs on the main thread with the choice, or None when there is
    nothing to resume or the status could not be read (then the stages start as usual)."""

    def read() -> None:
        from wizard.errors import WizardError
        from wizard.migration.status import read_status

        try:
            status = read_status(context.gateway, context.journal, context.options)
        except WizardError as err:
            log.warning("could not read the switch status: %s", err)
            app.call_from_thread(on_choice, None)
            return
        if needs_resume_offer(status):
            app.call_from_thread(app.push_screen, ResumeScreen(context, status), on_choice)
        else:
            app.call_from_thread(on_choice, None)

    app.run_worker(read, thread=True, exclusive=True, exit_on_error=False, group="resume-check",
                   description="look for a switch in progress")
