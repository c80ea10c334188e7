"""Switching the language while the wizard runs (F2 and the command palette), against the lab.

What must hold: every label of the open stage changes language, what the operator typed stays,
the engine's texts render again, nothing is re-run against the cluster, and the palette offers
only the wizard's own safe commands (never Textual's quit, which would skip the mid-switch ask).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from i18n_support import english_prose
from tui_shell_support import lab_context, screen_text, wait_until

from wizard import i18n
from wizard.lab.cluster import Lab


@pytest.fixture(autouse=True)
def english_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        yield
    finally:
        i18n.set_language("en")


def test_f2_switches_the_migration_stage_and_keeps_the_edit(lab: Lab) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab)
    context.report = run_preflight(context.gateway, context.options)
    context.plan = context.report.plan
    app = build_app(context, start_stage="migration")

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            await pilot.press("e")
            editor = app.screen.query_one("#corefile-text")
            editor.insert("# reviewed by ops\n", (0, 0))
            await pilot.pause(0.2)
            assert "Diff (d)" in screen_text(app) and "Edit (e)" in screen_text(app)

            await pilot.press("f2")
            await wait_until(pilot, lambda: "差异 (d)" in screen_text(app), "the Chinese tabs")
            text = screen_text(app)
            assert "编辑 (e)" in text and "Diff (d)" not in text
            assert i18n.current_language() == "zh"
            assert app.screen.query_one("#corefile-text").text.startswith("# reviewed by ops\n")
            assert app.screen.query_one("#migration-tabs").active == "edit", "the open tab stays"
            status = app.screen._status_shown
            assert status is not None and not english_prose(status.plain), status

            await pilot.press("escape", "f2")
            await wait_until(pilot, lambda: "Diff (d)" in screen_text(app), "English again")
            assert app.screen.query_one("#corefile-text").text.startswith("# reviewed by ops\n")

            # the palette: only the wizard's safe commands; its language entry does what F2 does
            titles = [command.title for command in app.get_system_commands(app.screen)]
            assert titles == ["Language: English / 中文", "Help"]
            app.get_system_commands(app.screen).__next__().callback()
            await wait_until(pilot, lambda: "差异 (d)" in screen_text(app), "Chinese from the palette")
            assert app.return_code is None
        assert app._exception is None, app._exception

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()


def test_f2_on_every_stage_and_dialog_keeps_the_wizard_going(lab: Lab) -> None:
    """F2 twice on each stage from pre-flight to the deploy confirmation (and once while a
    dialog is open): no crash, the stage still works, `n` still goes on, nothing is applied."""
    from screens.app import build_app
    from screens.widgets.confirm import ConfirmationModal

    context = lab_context(lab)
    app = build_app(context, start_stage="preconditions")

    async def flip(pilot: Any) -> None:
        await pilot.press("f2")
        await pilot.pause(0.2)
        await pilot.press("f2")
        await pilot.pause(0.2)
        assert i18n.current_language() == "en"

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "pre-flight")
            await flip(pilot)  # while the pre-flight may still run
            await wait_until(pilot, lambda: app.context.report is not None, "the report", 90)
            await wait_until(pilot, lambda: app.advance_blocked() is None, "n allowed")
            await flip(pilot)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await pilot.click("#ipvs-reason")
            await pilot.press(*"rehearsal")
            await flip(pilot)
            assert app.screen.query_one("#ipvs-reason").value == "rehearsal", "typed text kept"
            await pilot.click("#ipvs-reason")
            await pilot.press(*" on the lab", "enter")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the skip")
            await flip(pilot)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            await flip(pilot)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
            await wait_until(pilot, lambda: getattr(app.screen, "prepared", None) is not None, "dry-run", 60)
            await flip(pilot)
            assert "switch2coredns.yaml" in screen_text(app)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            await pilot.press("f2")
            await pilot.pause(0.2)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmationModal), "cancelled")
            await pilot.press("f2")
            await pilot.pause(0.2)
            assert app.screen.id == "stage-deploy" and app.return_code is None
        assert app._exception is None, app._exception

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()
    deployment = context.gateway.try_get("Deployment", "kube-system", "coredns")
    assert deployment is None, "cancelled: nothing applied"
