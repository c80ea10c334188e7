"""Stage 1: the pre-flight checklist, run by the engine in a worker with progress.

Why nothing is decided here: `run_preflight` is the same call `coredns-wizard plan` makes; this
screen only shows its findings and refuses `n` while one blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.messages import PreflightDone, PreflightProgress, StageFailed
from screens.stages.base import StageScreen
from screens.widgets.findings import FindingsView
from wizard.i18n import N_, t, tr

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.preflight.run import PreflightReport


def summary_text(report: PreflightReport) -> Text:
    counts = {s: sum(1 for f in report.findings if f.status == s) for s in ("ok", "warn", "block")}
    text = Text()
    text.append("✔ " + t("{count} ok", count=counts["ok"]) + "  ", style="green")
    text.append("! " + t("{count} warning(s)", count=counts["warn"]) + "  ", style="yellow")
    text.append("✖ " + t("{count} blocking", count=counts["block"]),
                style="bold red" if counts["block"] else "dim")
    if report.plan is not None:
        plan = report.plan
        text.append("\n" + t(
            "Plan: {steps} steps, CoreDNS {version}, {order} ({replicas} kube-dns replica(s) to replace)",
            steps=len(plan.steps), version=plan.coredns_version, order=plan.order,
            replicas=plan.original_kube_dns_replicas,
        ))
    return text


class PreconditionsScreen(StageScreen):
    STAGE_ID = "preconditions"
    STAGE_TITLE = N_("1 Preconditions")
    PURPOSE = N_(
        "reads the cluster and checks everything the switch depends on before anything changes: "
        "versions, the kube-dns objects, the Corefile translation, room for CoreDNS pods, "
        "kube-proxy's mode, RBAC. Blocking findings (✖) must be fixed first; ctrl+r re-runs."
    )
    DEFAULT_CSS = """
    PreconditionsScreen #preflight-title { padding: 0 1; height: auto; }
    PreconditionsScreen #preflight-progress { padding: 0 1; height: auto; }
    PreconditionsScreen #preflight-scroll { height: 1fr; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "rerun", id="preconditions.rerun", description=N_("Re-run checks")),
    ]

    def __init__(self, context: WizardContext) -> None:
        super().__init__(context)
        self.running = False
        self.error: str | None = None

    def compose_body(self) -> ComposeResult:
        title = Text(t("Pre-flight checks"), style="bold")
        if self.context.wait_note:
            title.append(f"   {self.context.wait_note}", style="yellow")
        yield Static(title, id="preflight-title")
        yield Static("", id="preflight-progress")
        with VerticalScroll(id="preflight-scroll"):
            yield FindingsView("", id="preflight-findings")

    def on_mount(self) -> None:
        if self.context.report is not None:
            self._show(self.context.report)
        else:
            self.start_preflight()

    def redraw_after_relocalize(self) -> None:
        if self.context.report is not None and not self.running:
            self._show(self.context.report)
        super().redraw_after_relocalize()

    def start_preflight(self) -> None:
        self.running = True
        self.error = None
        self.query_one("#preflight-progress", Static).update(
            Text("… " + t("starting pre-flight"), style="dim"))
        self.refresh_gate()
        self._preflight()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight", description=N_("pre-flight"))
    def _preflight(self) -> None:
        from wizard.errors import WizardError
        from wizard.migration.preflight.run import run_preflight

        def progress(text: str) -> None:
            self.post_message(PreflightProgress(text))

        try:
            report = run_preflight(self.context.gateway, self.context.options, progress)
        except WizardError as err:
            self.post_message(StageFailed(self.STAGE_ID, str(err)))
            return
        self.post_message(PreflightDone(report))

    def on_preflight_progress(self, message: PreflightProgress) -> None:
        self.query_one("#preflight-progress", Static).update(Text(f"… {tr(message.text)}", style="dim"))

    def on_preflight_done(self, message: PreflightDone) -> None:
        self.running = False
        self.context.report = message.report
        self.context.plan = message.report.plan
        self._show(message.report)

    def on_stage_failed(self, message: StageFailed) -> None:
        self.running = False
        self.error = message.error
        self.query_one("#preflight-progress", Static).update(
            Text.assemble(("✖ " + t("pre-flight could not run: "), "bold red"), (tr(message.error), "red"),
                          ("\n" + t("ctrl+r re-runs it"), "dim"))
        )
        self.refresh_gate()

    def _show(self, report: PreflightReport) -> None:
        from wizard.migration.preflight.run import FINDING_GROUPS

        self.query_one("#preflight-progress", Static).update(summary_text(report))
        self.query_one("#preflight-findings", FindingsView).show(report.findings, FINDING_GROUPS.items())
        self.refresh_gate()

    def advance_blocked(self) -> str | None:
        if self.running:
            return t("pre-flight is still running")
        if self.error:
            return t("pre-flight could not run (see above); fix it and press ctrl+r")
        report = self.context.report
        if report is None:
            return t("pre-flight has not run")
        blocking = [tr(f.title) for f in report.findings if f.status == "block"]
        if blocking:
            return t("{count} blocking finding(s): ", count=len(blocking)) + "; ".join(blocking)
        if report.plan is None:
            return t("pre-flight produced no plan")
        return None

    def action_rerun(self) -> None:
        if self.running:
            return
        self.context.report = None
        self.context.plan = None
        self.start_preflight()
