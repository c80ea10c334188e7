"""Stage 4: the rendered switch2coredns.yaml, its server-side dry-run, and the apply.

Why re-render here: the operator may have edited the Corefile in stage 3; the engine renders the
manifests with that override and asks the API server to validate them (dryRun=All) before anything
is applied, so admission problems show up here and not halfway through the switch.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.messages import DeployFinished, DeployPrepared, EngineEvent, StageFailed
from screens.stages.base import StageScreen
from screens.widgets.confirm import ConfirmationModal
from screens.widgets.findings import finding_text, findings_text
from screens.widgets.hanging import Hanging
from wizard.i18n import N_, t, tr

if TYPE_CHECKING:
    from screens.context import WizardContext
    from wizard.migration.manifests import RenderResult
    from wizard.migration.plan import Plan
    from wizard.migration.progress import Event


def save_manifests(yaml_text: str, directory: Path) -> Path:
    """switch2coredns.yaml in `directory`; an existing different file is kept and the new one gets
    a timestamped name (never overwrite what the operator may have edited)."""
    path = directory / "switch2coredns.yaml"
    if path.exists() and path.read_text(encoding="utf-8") != yaml_text:
        path = directory / f"switch2coredns-{datetime.now().astimezone():%Y%m%dT%H%M%S}.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return path


def object_names(rendered: RenderResult) -> list[str]:
    names = []
    for obj in rendered.objects:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        names.append(f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}")
    return names


def confirmation_body(plan: Plan, context_name: str, dry_run: bool) -> Text:
    body = Text(
        t("Dry run: the API server checks these changes and stores none of them:") + "\n\n" if dry_run
        else t("This will change the cluster:") + "\n\n"
    )
    if plan.autoscaler is not None:
        a = plan.autoscaler
        body.append("  • " + t("scale the kube-dns autoscaler Deployment {name} {replicas} → 0",
                               name=f"{a.namespace}/{a.name}", replicas=a.replicas) + "\n")
    body.append("  • " + t("server-side apply (field manager coredns-wizard), CoreDNS {version}:",
                           version=plan.coredns_version) + "\n")
    for name in object_names(plan.manifests):
        body.append(f"      {name}\n", style="bold")
    body.append("    " + t("the Deployment starts at 0 replicas; kube-dns keeps serving.") + "\n\n")
    body.append(t("in context "))
    body.append(context_name, style="bold cyan")
    if dry_run:
        body.append("\n\n" + t("DRY-RUN: sent with dryRun=All; nothing is stored."), style="yellow")
    return body


class DeployScreen(StageScreen):
    """Read-only flavour: shows and validates, never applies. `ApplyDeployScreen` binds `a`."""

    STAGE_ID = "deploy"
    STAGE_TITLE = N_("4 Deploy")
    PURPOSE = N_(
        "renders switch2coredns.yaml (CoreDNS Deployment at 0 replicas, ConfigMap, RBAC) with the "
        "reviewed Corefile, validates it with a server-side dry-run, and applies it after you "
        "confirm. Nothing serves DNS yet: the switch stage scales it up."
    )

    DEFAULT_CSS = """
    DeployScreen #deploy-scroll { height: 1fr; padding: 0 1; }
    DeployScreen #deploy-dry-run { height: auto; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "save_yaml", id="deploy.save", description=N_("Save YAML")),
    ]

    def __init__(self, context: WizardContext) -> None:
        super().__init__(context)
        self.prepared: DeployPrepared | None = None
        self.applying = False
        self.applied = False
        self.error: str | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="deploy-scroll"):
            yield Static(Text("… " + t("rendering and validating the manifests"), style="dim"),
                         id="deploy-dry-run")
            yield Static("", id="deploy-yaml")

    def on_mount(self) -> None:
        self.refresh_gate()
        self._prepare()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-prepare",
        description=N_("render and validate"),
    )
    def _prepare(self) -> None:
        from wizard.migration.preflight.run import evaluate, render_or_error, server_dry_run

        report = self.context.report
        if report is None:
            self.post_message(StageFailed(self.STAGE_ID,
                                          t("no pre-flight report: go back to the first stage")))
            return
        options = self.context.options
        rendering = render_or_error(report.facts, options)
        dry = server_dry_run(self.context.gateway, rendering[0])
        findings, plan, rendered = evaluate(report.facts, options, dry, rendering)
        blocking = [f for f in findings if f.status == "block"]
        self.post_message(DeployPrepared(rendered, dry, plan, blocking))

    def on_deploy_prepared(self, message: DeployPrepared) -> None:
        self.prepared = message
        if message.plan is not None:
            self.context.plan = message.plan
        status = Text(t("Server-side dry-run") + "\n", style="bold")
        status.append_text(finding_text(message.dry_run))
        others = [f for f in message.blocking if f.id != "server-dry-run"]
        if others:
            status.append("\n\n" + t("Still blocking:") + "\n", style="bold red")
            status.append_text(findings_text(others))
        self.query_one("#deploy-dry-run", Static).update(Hanging(status))
        if message.rendered is not None:
            self.query_one("#deploy-yaml", Static).update(
                Syntax(message.rendered.yaml_text, "yaml", theme="monokai", line_numbers=True)
            )
        self.refresh_gate()

    def redraw_after_relocalize(self) -> None:
        if self.prepared is not None:
            self.on_deploy_prepared(self.prepared)
        super().redraw_after_relocalize()

    def on_stage_failed(self, message: StageFailed) -> None:
        self.applying = False
        self.error = message.error
        super().on_stage_failed(message)

    def advance_blocked(self) -> str | None:
        if self.context.read_only:
            return None  # read-only: n goes on to watch the Switch stage's live panes
        if self.prepared is None:
            return t("the manifests are still being rendered and validated")
        if self.prepared.blocking or self.prepared.plan is None:
            return t("a finding blocks the deploy (see above)")
        if self.applying:
            return t("the manifests are being applied")
        if not self.applied:
            return t("the manifests are not applied yet")
        return None

    def next_key_text(self) -> str:
        if self.context.read_only:
            return t("n goes on to the Switch stage to watch the DNS pods and endpoints (read-only)")
        if self.change_ready_on_advance():
            return t("n (or a) applies switch2coredns.yaml after a confirmation")
        return super().next_key_text()

    def can_go_back(self) -> bool:
        return not self.applying and not self.applied

    def action_save_yaml(self) -> None:
        """Write the rendered manifests to a file (a local file: read-only mode allows it too)."""
        rendered = self.prepared.rendered if self.prepared is not None else None
        if rendered is None:
            self.notify(t("The manifests are not rendered yet."), severity="warning", timeout=3)
            return
        try:
            path = save_manifests(rendered.yaml_text, Path.cwd())
        except OSError as err:
            self.set_status(Text(t("could not save switch2coredns.yaml in {directory}: {error}",
                                   directory=str(Path.cwd()), error=err.strerror or err), style="bold red"))
            return
        self.set_status(Text.assemble(("✔ " + t("saved") + " ", "bold green"), (str(path), "bold"),
                                      (f"  (kubectl apply --server-side -f {path.name})", "dim")))


class ApplyDeployScreen(DeployScreen):
    """live and dry-run modes: `a` applies after the confirmation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", id="deploy.apply", description=N_("Apply manifests…")),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            prepared = self.prepared
            ready = prepared is not None and prepared.plan is not None and not prepared.blocking
            return True if ready and not self.applying and not self.applied else None
        return True

    def change_ready_on_advance(self) -> bool:
        """`n` before the manifests are applied opens the apply confirmation (as `a` does)."""
        return not self.applied and self.check_action("apply", ()) is True

    def start_change_on_advance(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        prepared = self.prepared
        if prepared is None or prepared.plan is None or prepared.blocking:
            return
        plan = prepared.plan
        body = confirmation_body(plan, self.context.connection.context, self.context.dry_run)

        def answered(yes: bool | None) -> None:
            if yes:
                self.applying = True
                self.wizard.begin_change(t("applying switch2coredns.yaml"))
                self.set_status(Text("… " + t("applying"), style="bold"))
                self.app.refresh_bindings()
                self._apply(plan)

        self.app.push_screen(ConfirmationModal(t("Apply switch2coredns.yaml?"), body), answered)

    def _post_engine_event(self, event: Event) -> None:
        self.post_message(EngineEvent(event))

    @work(thread=True, exclusive=True, exit_on_error=False, group="deploy-apply",
          description=N_("apply manifests"))
    def _apply(self, plan: Plan) -> None:
        from wizard.errors import WizardError
        from wizard.migration.deploy_stage import run_deploy

        try:
            outcome = run_deploy(
                self.context.gateway, plan, self.context.journal_or_open(), self.context.options,
                on_event=self._post_engine_event,
            )
        except WizardError as err:
            self.post_message(DeployFinished(False, str(err)))
            return
        summary = tr(outcome.reason) if outcome.completed else f"{tr(outcome.reason)}. {tr(outcome.advice)}"
        self.post_message(DeployFinished(outcome.completed, summary))

    def on_deploy_finished(self, message: DeployFinished) -> None:
        self.applying = False
        self.wizard.end_change()
        if message.ok:
            self.applied = True
            self.wizard.deployed = True
            self.set_status(Text.assemble(("✔ ", "bold green"), (message.summary, "green"),
                                          ("  " + t("n: go on to the switch"), "bold")))
        else:
            self.error = message.summary
            self.set_status(Text.assemble(("✖ " + t("apply failed: "), "bold red"), (message.summary, "red")))
        self.app.refresh_bindings()

    def on_worker_state_changed(self, event: object) -> None:
        from textual.worker import Worker, WorkerState

        assert isinstance(event, Worker.StateChanged)
        if event.state == WorkerState.ERROR and event.worker.group == "deploy-apply":
            self.applying = False
            self.wizard.end_change()
        super().on_worker_state_changed(event)
