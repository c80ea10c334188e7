"""Side-by-side Corefile diff: stdlib difflib for the alignment, rich Text for the colours.

Why not a library: textual-diff-view is AGPL and dropped Corefile indentation here; neither Rich
nor Textual has a side-by-side diff. Below ~100 columns the two sides stack vertically.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.widgets import Static

from wizard.i18n import t, tr

RowTag = Literal["equal", "removed", "added", "changed"]
STACK_BELOW_COLUMNS = 100
ROW_STYLES: dict[RowTag, tuple[str, str]] = {
    "equal": ("", ""),
    "removed": ("on #5f0000", ""),
    "added": ("", "on #005f00"),
    "changed": ("on #5f5f00", "on #5f5f00"),
}
MARKS: dict[RowTag, tuple[str, str]] = {
    "equal": (" ", " "),
    "removed": ("-", " "),
    "added": (" ", "+"),
    "changed": ("~", "~"),
}


@dataclass(frozen=True)
class DiffRow:
    """One aligned row; a side is None where the other side has a line it lacks."""

    tag: RowTag
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None


def diff_rows(left: str, right: str) -> list[DiffRow]:
    """Align two texts line by line; a replaced block pairs its lines as "changed" rows and the
    surplus of the longer side becomes removed/added rows."""
    a, b = left.splitlines(), right.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            same = zip(range(i1, i2), range(j1, j2), strict=True)
            rows += [DiffRow("equal", i + 1, a[i], j + 1, b[j]) for i, j in same]
        elif op == "delete":
            rows += [DiffRow("removed", i + 1, a[i], None, None) for i in range(i1, i2)]
        elif op == "insert":
            rows += [DiffRow("added", None, None, j + 1, b[j]) for j in range(j1, j2)]
        else:
            pairs = min(i2 - i1, j2 - j1)
            rows += [DiffRow("changed", i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k]) for k in range(pairs)]
            rows += [DiffRow("removed", i + 1, a[i], None, None) for i in range(i1 + pairs, i2)]
            rows += [DiffRow("added", None, None, j + 1, b[j]) for j in range(j1 + pairs, j2)]
    return rows


def render_side(rows: list[DiffRow], side: Literal["left", "right"], aligned: bool = True) -> Text:
    """One side as Text: `NNN m line`, with a blank filler row where the other side has a line
    (only when `aligned`, i.e. side by side; stacked sides skip fillers)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    first = True
    for row in rows:
        number, line = (row.left_no, row.left) if side == "left" else (row.right_no, row.right)
        if line is None and not aligned:
            continue
        if not first:
            out.append("\n")
        first = False
        if line is None or number is None:
            out.append(" " * 6, style="dim")
            continue
        style = ROW_STYLES[row.tag][0 if side == "left" else 1]
        mark = MARKS[row.tag][0 if side == "left" else 1]
        out.append(f"{number:>4} ", style="dim")
        out.append(f"{mark} {line}", style=style)
    return out


def diff_summary(rows: list[DiffRow]) -> str:
    counts = {tag: sum(1 for r in rows if r.tag == tag) for tag in ("added", "removed", "changed")}
    if not any(counts.values()):
        return t("identical")
    return t("{added} added, {removed} removed, {changed} changed line(s)", added=counts["added"],
             removed=counts["removed"], changed=counts["changed"])


class DiffView(VerticalScroll):
    """Both sides in one scroll area, so aligned rows stay side by side while scrolling. The
    `stacked` class (set from the width) shows the left side above the right in one column."""

    DEFAULT_CSS = """
    DiffView {
        height: 1fr;
    }
    DiffView .diff-titles {
        height: 1;
    }
    DiffView .diff-title {
        width: 1fr;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DiffView .diff-summary {
        height: 1;
    }
    DiffView .diff-bodies {
        height: auto;
    }
    DiffView .diff-body {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DiffView .diff-left-body {
        border-right: vkey $panel;
    }
    DiffView.stacked .diff-right-title, DiffView.stacked .diff-right-body {
        display: none;
    }
    DiffView.stacked .diff-left-body {
        border-right: none;
    }
    """

    def __init__(self, left_title: str, right_title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="diff-view")
        self.left_title = left_title
        self.right_title = right_title
        self.rows: list[DiffRow] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="diff-titles"):
            yield Static("", classes="diff-title diff-left-title")
            yield Static("", classes="diff-title diff-right-title")
        yield Static("", classes="diff-summary")
        with Horizontal(classes="diff-bodies"):
            yield Static("", classes="diff-body diff-left-body")
            yield Static("", classes="diff-body diff-right-body")

    def show(
        self, left: str, right: str, left_title: str | None = None, right_title: str | None = None
    ) -> None:
        if left_title is not None:
            self.left_title = left_title
        if right_title is not None:
            self.right_title = right_title
        self.rows = diff_rows(left, right)
        self._paint()

    def on_resize(self, event: Resize) -> None:
        stacked = event.size.width < STACK_BELOW_COLUMNS
        if stacked != self.has_class("stacked"):
            self.set_class(stacked, "stacked")
            self._paint()

    def _paint(self) -> None:
        if not self.is_mounted:
            return
        stacked = self.has_class("stacked")
        left = render_side(self.rows, "left", aligned=not stacked)
        right = render_side(self.rows, "right", aligned=not stacked)
        left_title = Text("◀ " + tr(self.left_title), style="bold")
        right_title = Text("▶ " + tr(self.right_title), style="bold")
        summary = Text(t("changes: {summary}", summary=diff_summary(self.rows)), style="dim")
        self.query_one(".diff-summary", Static).update(summary)
        if stacked:
            self.query_one(".diff-left-title", Static).update(left_title)
            both = Text("\n").join([left, Text(""), right_title, right])
            self.query_one(".diff-left-body", Static).update(both)
            return
        self.query_one(".diff-left-title", Static).update(left_title)
        self.query_one(".diff-right-title", Static).update(right_title)
        self.query_one(".diff-left-body", Static).update(left)
        self.query_one(".diff-right-body", Static).update(right)

    def on_mount(self) -> None:
        self.set_class(0 < self.size.width < STACK_BELOW_COLUMNS, "stacked")
        self._paint()
