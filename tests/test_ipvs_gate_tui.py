"""The TUI's IPVS stage shows the engine's gate: an edited ConfigMap without a kube-proxy restart is
"not in effect yet" (no countdown, `n` blocked); after `kubectl rollout restart` it counts down the
OLD timeout, then lets the operator go on."""

from __future__ import annotations

import asyncio

import pytest
from kube_proxy_support import restart_kube_proxy, set_udp_timeout
from tui_shell_support import lab_context, screen_text, wait_until

from wizard.lab.cluster import Lab

SIZE = (120, 40)


@pytest.mark.lab_options(nodes=3, udp_timeout=8)
def test_ipvs_stage_waits_for_the_restart_then_counts_the_old_timeout(lab: Lab) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab)
    context.report = run_preflight(context.gateway, context.options)  # reads the 8 s before the edit
    context.plan = context.report.plan
    set_udp_timeout(lab, "1s")
    app = build_app(context, start_stage="ipvs")

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await wait_until(pilot, lambda: "Not in effect yet" in screen_text(app), "the first reading")
            text = " ".join(screen_text(app).split())  # wrapped lines joined again
            assert "kubectl -n kube-system rollout restart daemonset kube-proxy" in text
            assert "left of" not in text and "The wait is over" not in text, "no countdown before the restart"
            assert "not in effect yet" in (app.advance_blocked() or "")
            await pilot.press("n")
            assert app.screen.id == "stage-ipvs", "n must not pass a gate that is not in effect"
            await pilot.pause(2.5)  # a poll later: still not in effect, still no countdown
            assert "Not in effect yet" in screen_text(app) and "left of" not in screen_text(app)

            await asyncio.to_thread(restart_kube_proxy, lab)
            await wait_until(pilot, lambda: "waiting for old IPVS sessions" in screen_text(app), "counting")
            assert "left of 0:08" in screen_text(app), "the wait lasts the OLD timeout (8 s)"
            assert app.advance_blocked() is not None
            await wait_until(pilot, lambda: "The wait is over" in screen_text(app), "the gate to open", 30)
            assert app.advance_blocked() is None
            assert app.context.options.ipvs_wait_seconds == 8.0, "the switch re-checks with this old timeout"

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()


def test_default_lab_never_says_sessions_expired_while_the_timeout_is_300s(lab: Lab) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab)
    context.report = run_preflight(context.gateway, context.options)
    app = build_app(context, start_stage="ipvs")

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "The IPVS UDP timeout is long" in screen_text(app), "the gate")
            await pilot.pause(2.5)
            text = screen_text(app)
            assert "The wait is over" not in text and "expired" not in text
            assert "shorten the IPVS UDP timeout first" in (app.advance_blocked() or "")

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()


def test_stated_ipvsadm_set_starts_the_wait_from_that_moment(lab: Lab) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab)
    context.report = run_preflight(context.gateway, context.options)
    app = build_app(context, start_stage="ipvs")

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "The IPVS UDP timeout is long" in screen_text(app), "the gate")
            await pilot.click("#ipvs-ipvsadm")
            await wait_until(pilot, lambda: "waiting for old IPVS sessions" in screen_text(app), "counting")
            text = " ".join(screen_text(app).split())
            assert "(set by ipvsadm)" in text and "left of 5:00" in text, "the old 300 s from the statement"
            assert app.context.options.ipvsadm_set_at is not None
            assert "wait" in (app.advance_blocked() or "")

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()


def test_after_the_skip_nothing_offers_to_skip_again(lab: Lab) -> None:
    from screens.app import build_app
    from wizard.migration.preflight.run import run_preflight

    context = lab_context(lab)
    context.report = run_preflight(context.gateway, context.options)
    app = build_app(context, start_stage="ipvs")

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "The IPVS UDP timeout is long" in screen_text(app), "the gate")
            # the footer follows the gate's reading on the next refresh (later under load)
            await wait_until(pilot, lambda: "s Skip the wait" in screen_text(app), "the footer's skip key")
            assert "skip with a reason (s)" in screen_text(app)
            await pilot.press("s")
            await pilot.press(*"rehearsal on the lab, no clients")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Wait skipped" in screen_text(app), "the skip")
            await pilot.pause(1.5)  # a tick and a poll later, still so
            text = screen_text(app)
            assert "! Wait skipped: rehearsal on the lab, no clients" in text
            assert "The reason is recorded" in text
            for offer in ("Skip the wait", "reason (s)", "give the reason", "I ran ipvsadm"):
                assert offer not in text, offer
            assert "n: go on to the next stage" in text and app.advance_blocked() is None
            assert app.context.options.ipvs_ack == "rehearsal on the lab, no clients"

    try:
        asyncio.run(scenario())
    finally:
        context.gateway.close()
