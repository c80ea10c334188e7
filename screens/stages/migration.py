"""Stage 3: the Corefile that replaces kube-dns's configuration, reviewed and optionally edited.

Why show the diff against the guide's default: the operator sees exactly which lines carry their
kube-dns customisations (stub domains, upstreams, federations). An edited Corefile must pass the
same version check the engine applies (`wizard.migration.plan.with_corefile`) before `n` lets it through;
it then travels as SwitchOptions.corefile_override, so the deployed ConfigMap holds it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane, TextArea

from screens.messages import CorefileChecked
from screens.stages.base import StageScreen
from screens.widgets.corefile_editor import CorefileEditor
from screens.widgets.diff_view import DiffView
from wizard.i18n import N_, t, tr
from wizard.migration.change_record import existing_coredns_corefile, guide_default_corefile

if TYPE_CHECKING:
    from screens.context import WizardContext


def configmap_text(configmap: dict[str, Any] | None, where: str) -> Text:
    """The kube-dns ConfigMap's data as YAML, as plain Text (it comes from the cluster)."""
    import yaml

    from wizard.dns.kubedns_config import kube_dns_refusal

    if configmap is None:
        return Text(t("{where}: not found; kube-dns runs with its defaults (nothing to carry over)",
                      where=where), style="dim")
    data = configmap.get("data") or {}
    if not data:
        return Text(t("{where}: no data; kube-dns runs with its defaults", where=where), style="dim")
    text = Text(t("{where} data:", where=where) + "\n", style="bold")
    text.append(yaml.safe_dump(data, default_flow_style=False, allow_unicode=True, sort_keys=True))
    refusal = kube_dns_refusal({str(k): str(v) for k, v in data.items()}, where)
    if refusal is not None:
        text.append("! " + t("kube-dns ignores this whole ConfigMap and runs with its defaults: {refusal}",
                             refusal=tr(refusal)) + "\n", style="yellow")
    return text


def verdicts_text(warnings: list[str], notes: list[str]) -> Text:
    text = Text()
    if not warnings:
        text.append("✔ " + t("no version warnings for the migrated Corefile") + "\n", style="green")
    for line in warnings:
        text.append("! ", style="yellow")
        text.append(tr(line) + "\n", style="yellow")
    for line in notes:
        text.append("· ", style="dim")
        text.append(tr(line) + "\n", style="dim")
    return text


class MigrationScreen(StageScreen):
    STAGE_ID = "migration"
    STAGE_TITLE = N_("3 Config migration")
    PURPOSE = N_(
        "shows the Corefile translated from kube-dns's ConfigMap next to the original, checks it "
        "for this CoreDNS version, and lets you edit it; the checked Corefile is what gets deployed."
    )
    DEFAULT_CSS = """
    MigrationScreen #migration-tabs { height: 1fr; }
    MigrationScreen #migration-tabs TabPane { padding: 0; }
    MigrationScreen #migration-verdicts { height: auto; max-height: 6; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "tab('diff')", id="migration.diff", show=False, description=N_("Diff tab")),
        Binding("k", "tab('kube-dns')", id="migration.kube-dns", show=False,
                description=N_("kube-dns ConfigMap tab")),
        Binding("e", "tab('edit')", id="migration.edit", description=N_("Edit")),
        Binding("c", "compare_other", id="migration.compare", description=N_("Compare with…")),
        Binding("escape", "leave_editor", id="migration.leave-editor",
                description=N_("Leave the editor (then n goes on)")),
    ]

    def __init__(self, context: WizardContext) -> None:
        super().__init__(context)
        plan = context.plan
        report = context.report
        if plan is None or report is None:
            raise RuntimeError("the migration stage needs a pre-flight report with a plan")
        self.rendered = plan.manifests
        self.version = plan.coredns_version
        self.migrated = context.corefile_text or self.rendered.corefile_text
        self.translated = self.rendered.corefile_text
        self.guide = guide_default_corefile(self.version, plan.cluster_domain or None)
        self.existing = existing_coredns_corefile(report.facts.coredns_configmap)
        self.compare_existing = False
        self._tab = "diff"
        """The open tab, kept while the language changes (F2)."""

    def compose_body(self) -> ComposeResult:
        ns = self.context.options.namespace
        with TabbedContent(id="migration-tabs", initial="diff"):
            with TabPane(t("Diff (d)"), id="diff"):
                yield DiffView(t("guide default"), t("migrated"), id="migration-diff")
                verdicts = verdicts_text(self.rendered.warnings, self.rendered.notes)
                yield Static(verdicts, id="migration-verdicts")
            with TabPane(t("kube-dns ConfigMap (k)"), id="kube-dns"), VerticalScroll():
                yield Static(configmap_text(
                    self.context.report.facts.kube_dns_configmap if self.context.report else None,
                    f"ConfigMap {ns}/{self.context.options.kube_dns_configmap}",
                ), id="migration-kube-dns")
            with TabPane(t("Edit (e)"), id="edit"):
                yield CorefileEditor(self.migrated, self.version, id="migration-editor")

    def on_mount(self) -> None:
        self._show_diff()
        self.refresh_gate()

    def keep_before_relocalize(self) -> None:
        editor = self.query_one("#migration-editor", CorefileEditor)
        self.migrated = editor.text  # composed again with what the operator typed
        self._tab = self.query_one("#migration-tabs", TabbedContent).active

    def redraw_after_relocalize(self) -> None:
        self.query_one("#migration-tabs", TabbedContent).active = self._tab
        self._show_diff()
        super().redraw_after_relocalize()

    def _left(self) -> tuple[str, str]:
        if self.compare_existing and self.existing is not None:
            ns = self.context.options.namespace
            return self.existing, t("ConfigMap {ns}/coredns in the cluster now", ns=ns)
        return self.guide, t("guide default (CoreDNS {version})", version=self.version)

    def _show_diff(self) -> None:
        left, left_title = self._left()
        editor = self.query_one("#migration-editor", CorefileEditor)
        right = editor.text if editor.is_mounted else self.migrated
        edited = right.strip() != self.translated.strip()
        title = t("migrated, edited by you") if edited else t("migrated from kube-dns")
        self.query_one("#migration-diff", DiffView).show(left, right, left_title, title)

    def on_corefile_checked(self, message: CorefileChecked) -> None:
        self._show_diff()
        self.refresh_gate()

    def advance_blocked(self) -> str | None:
        editor = self.query_one("#migration-editor", CorefileEditor)
        return None if editor.problem is None else tr(editor.problem)

    def commit(self) -> None:
        """Called by the App when `n` leaves this stage: the reviewed text goes into the context."""
        editor = self.query_one("#migration-editor", CorefileEditor)
        text = editor.text if editor.text.endswith("\n") else editor.text + "\n"
        self.context.corefile_text = text
        override = None if text.strip() == self.translated.strip() else text
        self.context.options = dataclasses.replace(self.context.options, corefile_override=override)

    def action_tab(self, tab: str) -> None:
        self.query_one("#migration-tabs", TabbedContent).active = tab
        if tab == "edit":
            self.query_one("#corefile-text").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_editor":
            return isinstance(self.focused, TextArea)
        return True

    def action_leave_editor(self) -> None:
        self.query_one("#migration-tabs", TabbedContent).focus()

    def action_compare_other(self) -> None:
        if self.existing is None:
            self.notify(t("There is no CoreDNS ConfigMap in the cluster to compare with."))
            return
        self.compare_existing = not self.compare_existing
        self._show_diff()
