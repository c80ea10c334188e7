"""The header every screen shows: where the wizard points and whether it can reach it.

Why always visible: an operator with several kubeconfig contexts must never wonder which cluster
a key press will change, nor mistake a hanging API server for a slow step (k9s' lesson).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from screens.messages import LinkState
from wizard.i18n import N_, english_source, t

MODE_STYLES = {
    "live": ("LIVE", "bold white on dark_red"),
    "dry-run": ("DRY-RUN", "bold black on yellow"),
    "read-only": ("READ-ONLY", "bold white on blue"),
}
LINK_STYLES: dict[LinkState, tuple[str, str]] = {
    "unknown": (N_("○ connecting"), "dim"),
    "ok": (N_("● connected"), "green"),
    "retrying": (N_("◐ retrying"), "bold yellow"),
    "unreachable": (N_("✖ unreachable"), "bold red"),
}
"""The labels are English, marked with N_: shown through t(). The mode labels stay as they are
(the names of the modes, as --dry-run and --read-only spell them)."""


class WizardHeader(Static):
    """Context, cluster, Kubernetes version, mode and connection state; the API server last, so
    its varying length never shifts the rest."""

    DEFAULT_CSS = """
    WizardHeader {
        height: 2;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, context: str, cluster: str, server: str, mode: str, stage: str = "") -> None:
        super().__init__(id="wizard-header")
        self.context_name = context
        self.cluster = cluster
        self.server = server
        self.mode = mode
        self.stage = stage
        self.k8s_version = "?"
        self.link: LinkState = "unknown"
        self.link_detail = ""

    def on_mount(self) -> None:
        self.update(self.render_text())

    def set_link(self, state: LinkState, detail: str = "") -> None:
        self.link, self.link_detail = state, detail
        self.update(self.render_text())

    def set_version(self, version: str) -> None:
        self.k8s_version = version
        self.update(self.render_text())

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.update(self.render_text())

    def render_text(self) -> Text:
        """Two lines; every value from the kubeconfig or cluster is plain Text, never markup. The
        stage title is translated here (again after a language change) from its English."""
        label, style = MODE_STYLES.get(self.mode, (self.mode.upper(), "bold"))
        link_label, link_style = LINK_STYLES[self.link]
        first = Text()
        first.append(" coredns-wizard ", style="bold")
        first.append(f" {label} ", style=style)
        if self.stage:
            first.append("  " + t("stage:") + " ", style="dim")
            first.append(t(english_source(self.stage)), style="bold")
        first.append("  ")
        first.append(t(link_label), style=link_style)
        if self.link_detail and self.link != "ok":
            first.append(f" ({self.link_detail})", style=link_style)
        second = Text(" " + t("context") + " ", style="dim")
        second.append(self.context_name, style="bold cyan")
        second.append("  " + t("cluster") + " ", style="dim")
        second.append(self.cluster, style="cyan")
        second.append("  Kubernetes ", style="dim")
        second.append(self.k8s_version, style="cyan")
        second.append("  " + t("server") + " ", style="dim")
        second.append(self.server)
        return Text("\n").join([first, second])
