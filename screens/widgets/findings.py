"""Pre-flight findings as a readable checklist: icon and colour by status, evidence, advice.

Why its own widget: the preconditions and deploy stages show findings the same way the `plan`
command prints them (same marks), so an operator moving between the two faces reads one language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from screens.widgets.hanging import Hanging
from wizard.i18n import t, tr

if TYPE_CHECKING:
    from wizard.migration.preflight.run import Finding

STATUS_MARKS = {"ok": ("✔", "green"), "warn": ("!", "bold yellow"), "block": ("✖", "bold red")}


def finding_text(finding: Finding, *, evidence: bool = True) -> Text:
    mark, style = STATUS_MARKS.get(finding.status, ("?", "bold"))
    text = Text()
    text.append(f" {mark} ", style=style)
    text.append(tr(finding.title), style="bold" if finding.status != "ok" else "")
    if evidence:
        for line in finding.evidence:
            text.append("\n     ")
            text.append(tr(line), style="dim")
    if finding.advice and finding.status != "ok":
        text.append("\n     → ", style=style)
        text.append(tr(finding.advice))
    return text


def findings_text(findings: Sequence[Finding], groups: Iterable[tuple[str, Sequence[str]]] = ()) -> Text:
    """Grouped (groups: (title, finding ids)); findings in no group come last under "Other"."""
    by_id = {f.id: f for f in findings}
    seen: set[str] = set()
    parts: list[Text] = []
    for title, ids in groups:
        members = [by_id[i] for i in ids if i in by_id]
        if not members:
            continue
        parts.append(Text(t(title), style="bold underline"))  # titles are N_-marked names
        for item in members:
            parts.append(finding_text(item))
            seen.add(item.id)
    rest = [f for f in findings if f.id not in seen]
    if rest:
        if parts:
            parts.append(Text(t("Other"), style="bold underline"))
        parts += [finding_text(f) for f in rest]
    return Text("\n").join(parts)


class FindingsView(Static):
    """The findings; a wrapped title, evidence or advice line hangs under its own text."""

    def show(self, findings: Sequence[Finding], groups: Iterable[tuple[str, Sequence[str]]] = ()) -> None:
        self.update(Hanging(findings_text(findings, groups)))
