"""Restarting the wizard mid-switch: the resume offer appears before any stage, and resuming
continues at the first unfinished step (nothing repeated, nothing skipped)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from switch_support import deployment_replicas
from tui_switch_support import lab_context, wait_until

from screens.app import build_app
from screens.resume import ResumeScreen
from screens.stages.done import DoneScreen
from screens.stages.switch import SwitchScreen
from screens.widgets.confirm import ConfirmationModal

SIZE = (120, 40)


async def confirm_steps(pilot: Any, expected: list[str], then_decline: str | None) -> list[str]:
    """y on each expected step's confirmation (checking its order), then esc on `then_decline`."""
    app = pilot.app
    asked: list[str] = []
    for step_id in [*expected, *([then_decline] if then_decline else [])]:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), 60,
                         f"the confirmation of {step_id}")
        modal = app.screen
        asked.append(modal.title_text.split(":")[0].removeprefix("Step "))
        await pilot.press("escape" if step_id == then_decline else "y")
        await wait_until(pilot, lambda m=modal: app.screen is not m, 5, "the modal to close")
    return asked


async def first_run(lab: Any, tmp_path: Path) -> None:
    app = build_app(lab_context(lab, tmp_path), start_stage="switch")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
        screen = app.screen
        await pilot.press("n")
        round_one = ["deploy", "r1.scale-coredns", "r1.scale-kube-dns"]
        asked = await confirm_steps(pilot, round_one, "r2.scale-coredns")
        assert asked == ["deploy", "r1.scale-coredns", "r1.scale-kube-dns", "r2.scale-coredns"]
        await wait_until(pilot, lambda: screen.state == "stopped", 20, "the declined switch to stop")
        await pilot.press("q")


async def second_run(lab: Any, tmp_path: Path) -> list[str]:
    context = lab_context(lab, tmp_path, with_plan=False)  # as on a fresh start: no plan yet
    app = build_app(context)  # starts as the console script does: with the resume offer
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeScreen), 20, "the resume offer")
        offer = app.screen
        assert isinstance(offer, ResumeScreen)
        assert offer.status.phase == "in-progress" and offer.status.round == 1 and offer.status.rounds == 2
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
        await pilot.press("n")
        asked = await confirm_steps(pilot, ["r2.scale-coredns", "r2.scale-kube-dns"], None)
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), 60, "the done screen")
        done = app.screen
        assert isinstance(done, DoneScreen)
        await wait_until(pilot, lambda: done.status is not None, 20, "the status read")
        assert done.title_text == "Switch complete"
        return asked


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_restart_mid_switch_offers_resume_and_continues_where_it_stopped(lab: Any, tmp_path: Path) -> None:
    asyncio.run(first_run(lab, tmp_path))
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (1, 1)
    asked = asyncio.run(second_run(lab, tmp_path))
    assert asked == ["r2.scale-coredns", "r2.scale-kube-dns"]  # nothing of round 1 again
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_no_offer_on_a_cluster_without_a_switch(lab: Any, tmp_path: Path) -> None:
    async def run() -> None:
        app = build_app(lab_context(lab, tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.stage_id == "preconditions", 20, "the first stage")
            assert not any(isinstance(s, ResumeScreen) for s in app.screen_stack)

    asyncio.run(run())


async def second_run_rolls_back(lab: Any, tmp_path: Path) -> str:
    app = build_app(lab_context(lab, tmp_path, with_plan=False))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeScreen), 20, "the resume offer")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal)
                         and app.screen.title_text == "Roll back to kube-dns?", 20,
                         "the rollback confirmation")
        body = app.screen.body.plain
        assert "kube-system/kube-dns 1 → 2" in body and "kube-system/coredns 1 → 0" in body
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), 60, "the done screen")
        done = app.screen
        assert isinstance(done, DoneScreen)
        await wait_until(pilot, lambda: done.status is not None, 20, "the status read")
        return done.title_text


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_restart_mid_switch_and_choose_roll_back(lab: Any, tmp_path: Path) -> None:
    asyncio.run(first_run(lab, tmp_path))
    assert asyncio.run(second_run_rolls_back(lab, tmp_path)) == "Rolled back"
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)
