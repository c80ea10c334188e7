"""SVG snapshots of the shell's stages and dialogs at 120×40 (tests/snapshots/*.svg).

UPDATE_SNAPSHOTS=1 rewrites them; otherwise a difference fails and leaves NAME.actual.svg next to
the expected file. Lab addresses and ports are normalised in the data (see tui_shell_support), the
clock is frozen, and cursors do not blink, so the same code always renders the same SVG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tui_shell_support import (
    assert_snapshot,
    freeze_for_snapshot,
    lab_context,
    normalise_report,
    stop_cursor_blink,
    wait_until,
)

from screens.widgets.confirm import ConfirmationModal
from screens.widgets.help import HelpScreen
from wizard.lab.cluster import Lab

SIZE = (120, 40)
Steps = Callable[[Any, Any], Awaitable[None]]


def _snapshot(lab: Lab, name: str, start_stage: str, steps: Steps | None = None, *,
              size: tuple[int, int] = SIZE, **options: Any) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab, **options)
    context.report = normalise_report(run_preflight(context.gateway, context.options))
    context.plan = context.report.plan
    freeze_for_snapshot(context)
    app = build_app(context, start_stage=start_stage)

    async def scenario() -> None:
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, lambda: app.link == "ok" and app.k8s_version != "?", "the header")
            await wait_until(pilot, lambda: app.screen.id == f"stage-{start_stage}", "the stage")
            if steps is not None:
                await steps(app, pilot)
            stop_cursor_blink(app)
            # the footer fills in after the bindings refresh: under load it can lag the content
            await wait_until(pilot, lambda: any(screen.query("FooterKey") for screen in app.screen_stack),
                             "the footer keys")
            await pilot.pause(0.3)
            assert_snapshot(app, name)

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()


async def _checked(app: Any, pilot: Any) -> None:
    await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")


async def _prepared(app: Any, pilot: Any) -> None:
    await wait_until(pilot, lambda: app.screen.prepared is not None, "the server-side dry-run", 60)


def test_snapshot_preconditions(lab: Lab) -> None:
    _snapshot(lab, "shell_preconditions", "preconditions")


def test_snapshot_help(lab: Lab) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")

    _snapshot(lab, "shell_help", "preconditions", steps)


def test_snapshot_ipvs(lab: Lab) -> None:
    _snapshot(lab, "shell_ipvs", "ipvs")


def test_snapshot_migration_diff(lab: Lab) -> None:
    _snapshot(lab, "shell_migration_diff", "migration", _checked)


def test_snapshot_migration_editor(lab: Lab) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await _checked(app, pilot)
        await pilot.press("e")
        await pilot.pause(0.2)

    _snapshot(lab, "shell_migration_editor", "migration", steps)


@pytest.mark.lab_options(guide_configmap=True)
def test_snapshot_migration_kube_dns_configmap(lab: Lab) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("k")
        await pilot.pause(0.2)

    _snapshot(lab, "shell_migration_kube_dns", "migration", steps, drop_federations=True)


def test_snapshot_deploy(lab: Lab) -> None:
    _snapshot(lab, "shell_deploy", "deploy", _prepared)


def test_snapshot_deploy_confirmation(lab: Lab) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await _prepared(app, pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")

    _snapshot(lab, "shell_deploy_confirm", "deploy", steps)


def test_snapshot_read_only_deploy(lab: Lab) -> None:
    _snapshot(lab, "shell_deploy_read_only", "deploy", _prepared, mode="read-only")


OTHER_SIZES = [(80, 24), (200, 60)]


async def _confirm(app: Any, pilot: Any) -> None:
    await _prepared(app, pilot)
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")


async def _help_screen(app: Any, pilot: Any) -> None:
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")


SHELL_VIEWS: dict[str, tuple[str, Steps | None]] = {
    "preconditions": ("preconditions", None), "ipvs": ("ipvs", None),
    "migration": ("migration", _checked),
    "deploy": ("deploy", _prepared), "deploy_confirm": ("deploy", _confirm),
    "help": ("preconditions", _help_screen),
}
"""Each shell stage (and its dialog): the stage to start on and what to do there first."""


@pytest.mark.parametrize("size", OTHER_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stage", list(SHELL_VIEWS))
def test_snapshot_stage_at_small_and_large_sizes(lab: Lab, stage: str, size: tuple[int, int]) -> None:
    """Every shell stage (and its dialog) at the smallest supported and a large terminal."""
    start, steps = SHELL_VIEWS[stage]
    _snapshot(lab, f"shell_{stage}_{size[0]}x{size[1]}", start, steps, size=size)
