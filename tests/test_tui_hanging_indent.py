"""Hanging indents: a wrapped findings, step, probe or status line continues under the text after
its bullet or label, never at the left edge (screens/widgets/hanging.py)."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static
from tui_shell_support import screen_text

from screens.widgets.findings import FindingsView
from screens.widgets.hanging import Hanging
from screens.widgets.panes import EventLogPane
from wizard.migration.preflight.checks import finding

LONG = "the quick brown fox jumps over the lazy dog " * 3


def _lines(hanging: Hanging, width: int) -> list[str]:
    return [line.plain.rstrip() for line in hanging.lines(Console(width=width), width)]


def test_continuations_hang_under_the_text_after_the_bullet() -> None:
    lines = _lines(Hanging(Text(f" ✖ {LONG}\n     {LONG}\n     → {LONG}\nplain {LONG}")), 40)
    assert len(lines) > 8 and all(len(line) <= 40 for line in lines)
    starts = {"✖": "   ", "evidence": "     ", "→": "       ", "plain": ""}
    kind = ""
    for line in lines:
        if line.startswith(" ✖ "):
            kind = "✖"
        elif line.startswith("     → "):
            kind = "→"
        elif line.startswith("plain "):
            kind = "plain"
        elif kind == "✖" and line.startswith("     the"):
            kind = "evidence"
        else:  # a continuation: under the first character of its line's text
            pad = starts[kind]
            assert line.startswith(pad) and line[len(pad)] != " ", (kind, line, lines)


def test_a_label_width_is_hung_under_and_a_too_narrow_one_falls_back_to_the_bullet() -> None:
    lines = _lines(Hanging(Text(f"probe: {LONG}"), [len("probe: ")]), 40)
    assert lines[0].startswith("probe: ")
    assert all(line.startswith(" " * 7) and line[7] != " " for line in lines[1:]), lines
    narrow = _lines(Hanging(Text(f"  done r1.scale-kube-dns: {LONG}"), [26]), 40)
    assert all(line.startswith("  ") and line[2] != " " for line in narrow[1:]), narrow


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield FindingsView(id="findings")
        yield EventLogPane(lambda: 0.0, id="log")
        yield Static(id="spacer")


def test_findings_and_event_log_keep_the_indent_when_wrapping() -> None:
    app = _Host()
    seen: dict[str, str] = {}

    async def run() -> None:
        async with app.run_test(size=(50, 30)) as pilot:
            app.query_one(FindingsView).show([finding("x", "Title " + LONG, "warn", ["evidence " + LONG],
                                                      "advice " + LONG)])
            app.query_one(EventLogPane).add(f"probe: {LONG}", hang=len("probe: "))
            await pilot.pause(0.2)
            seen["text"] = screen_text(app)

    asyncio.run(run())
    lines = seen["text"].splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith(" ! Title"))
    evidence = next(i for i, line in enumerate(lines) if line.startswith("     evidence"))
    advice = next(i for i, line in enumerate(lines) if line.startswith("     → advice"))
    assert title < evidence < advice
    for line in lines[title + 1:evidence]:
        assert line.startswith("   ") and line[3] != " ", lines
    for line in lines[evidence + 1:advice]:
        assert line.startswith("     ") and line[5] != " ", lines
    for line in lines[advice + 1:advice + 3]:
        assert line.startswith("       ") and line[7] != " ", lines
    probe = next(i for i, line in enumerate(lines) if "probe: the" in line)
    column = lines[probe].index("the")
    assert lines[probe + 1][:column].strip() == "" and lines[probe + 1][column] != " ", lines
