"""The shell's stages driven with Pilot against the lab: pre-flight, IPVS, migration, deploy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tui_shell_support import lab_context, screen_text, wait_until

from screens.resume import ResumeScreen
from screens.widgets.confirm import ConfirmationModal
from wizard.lab.cluster import Lab

SIZE = (120, 40)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _through_preconditions(app: Any, pilot: Any) -> None:
    await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "the preconditions stage")
    await wait_until(pilot, lambda: app.context.report is not None, "the pre-flight report", 90)
    await wait_until(pilot, lambda: app.advance_blocked() is None, "n to be allowed")


def test_every_shell_stage_against_the_lab(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, ipvs_wait_seconds=3600)
    clock = [1000.0]
    context.clock = lambda: clock[0]
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            text = screen_text(app)
            assert "Pre-flight checks" in text and "0 blocking" in text
            assert "context lab" in text and "LIVE" in text
            await wait_until(pilot, lambda: app.link == "ok", "the connection light")
            assert "● connected" in screen_text(app) and "v1.20.15" in screen_text(app)

            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            text = screen_text(app)
            assert "Detected mode: ipvs" in text
            # the lab's kube-proxy runs 300 s: the engine's gate stays closed, no countdown runs
            await wait_until(pilot, lambda: "The IPVS UDP timeout is long" in screen_text(app), "the gate")
            text = screen_text(app)
            assert "left of" not in text and "900 120 5" in text
            assert "rollout restart daemonset kube-proxy" in text
            await pilot.press("n")
            assert app.screen.id == "stage-ipvs", "n must not skip the IPVS wait"
            await pilot.click("#ipvs-reason")
            await pilot.press(*"rehearsal on the lab, no clients")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the skip with a reason")

            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            text = screen_text(app)
            assert "forward . 8.8.8.8 8.8.4.4" in text and "abc.com:53" in text
            assert "guide default" in text

            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
            await wait_until(pilot, lambda: app.screen.prepared is not None, "the server-side dry-run", 60)
            text = screen_text(app)
            assert "accepted with dryRun=All: Deployment kube-system/coredns" in text
            assert "kind: ClusterRole" in text
            assert app.advance_blocked() == "the manifests are not applied yet"
            assert "n (or a) applies switch2coredns.yaml" in text, "n is not 'blocked': it applies"
            assert "is blocked" not in text

            await pilot.press("n")  # `n` opens the same confirmation as `a`
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            assert app.focused is not None and app.focused.id == "confirm-cancel"
            text = screen_text(app)
            for name in ("ClusterRole system:coredns", "ServiceAccount kube-system/coredns",
                         "ClusterRoleBinding system:coredns", "ConfigMap kube-system/coredns",
                         "Deployment kube-system/coredns", "in context lab"):
                assert name in text
            await pilot.press("y")
            await wait_until(pilot, lambda: app.deployed, "the apply", 60)
            assert app.advance_blocked() is None
            assert app.check_action("go_back", ()) is False, "no going back once the cluster changed"
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal),
                             "the rollback confirmation")
            body = app.screen.body.plain  # nothing scaled yet: kube-dns serving is the whole rollback
            assert "1. Wait for 3 kube-dns pod(s) Ready and in the Service endpoints" in body
            assert "2." not in body and "→" not in body, body
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the dialog to close")
            assert app.deployed and app.change_in_flight is None

    run(scenario())

    again = build_app(context)

    async def restart() -> None:
        async with again.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(again.screen, ResumeScreen), "the resume offer")
            await wait_until(pilot, lambda: "A switch from kube-dns to CoreDNS is in progress"
                             in screen_text(again), "the resume offer's text")
            await pilot.press("q")
            await wait_until(pilot, lambda: again.return_code is not None, "the app to quit")
        assert again.stage_stack == [], "no stage opened after choosing quit"

    run(restart())
    deployment = context.gateway.get_deployment("kube-system", "coredns")
    assert deployment["spec"]["replicas"] == 0
    notes = deployment["metadata"].get("annotations") or {}
    assert notes.get("coredns-wizard.io/original-kube-dns-replicas") == "3"
    assert context.journal is not None
    assert any(e.step == "deploy" and e.status == "done" for e in context.journal.read().entries)
    context.gateway.close()


def test_cancel_in_the_confirmation_applies_nothing(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab)
    app = build_app(context, start_stage="preconditions")

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            await pilot.press("n")  # IPVS: the lab's ipvs finding asks for the wait; skip it with a reason
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await pilot.click("#ipvs-reason")
            await pilot.press(*"timeout set to 5s last week")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen.skip_reason is not None, "the skip")
            assert "Wait skipped: timeout set to 5s last week" in screen_text(app)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            await pilot.press("n")
            await wait_until(pilot, lambda: getattr(app.screen, "prepared", None) is not None, "dry-run", 60)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            await pilot.press("enter")  # Enter lands on the focused Cancel
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the dialog to close")
            assert not app.deployed
            await pilot.press("b")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "going back")

    run(scenario())
    assert context.gateway.try_get("Deployment", "kube-system", "coredns") is None
    assert context.journal is not None
    entries = context.journal.read().entries
    assert [(e.step, e.detail) for e in entries] == [("ipvs-ack", "timeout set to 5s last week")]
    assert any("IPVS wait skipped" in note for note in context.notes)
    context.gateway.close()


@pytest.mark.lab_options(faults=("deny-scale",))
def test_blocked_preflight_does_not_advance(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.context.report is not None, "the pre-flight report", 90)
            assert context.report.blocked
            await pilot.press("n")
            await pilot.pause(0.2)
            assert app.screen.id == "stage-preconditions"
            reason = app.advance_blocked()
            assert reason is not None and "blocking finding" in reason
            assert "n is blocked" in screen_text(app)
            assert app.check_action("advance", ()) is None  # shown disabled in the footer

    run(scenario())
    context.gateway.close()


@pytest.mark.lab_options(udp_timeout=5)  # kube-proxy already runs a 5 s timeout: the IPVS gate opens
def test_edited_corefile_is_rechecked_and_deployed(lab: Lab) -> None:
    from textual.widgets import TextArea

    from screens.app import build_app

    context = lab_context(lab, ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "a zero wait to pass")
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await pilot.press("e")
            area = app.screen.query_one("#corefile-text", TextArea)
            original = area.text
            broken = "cache 30\n    proxy . 8.8.8.8\n    reload"
            area.text = original.replace("cache 30\n    reload", broken, 1)
            await wait_until(pilot, lambda: "Unknown directive 'proxy'" in screen_text(app)
                             or "proxy" in (app.advance_blocked() or ""), "the re-check to flag proxy")
            reason = app.advance_blocked()
            assert reason is not None and "error" in reason
            await pilot.press("escape")
            await pilot.press("n")
            assert app.screen.id == "stage-migration"
            area.text = original.replace("cache 30\n    reload", "cache 60\n    reload", 1)
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the fixed Corefile to pass")
            assert "edited by you" in screen_text(app) or True
            await pilot.press("escape")
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
            await wait_until(pilot, lambda: app.screen.prepared is not None, "the dry-run", 60)

    run(scenario())
    assert context.options.corefile_override is not None and "cache 60" in context.options.corefile_override
    assert context.plan is not None
    configmap = next(o for o in context.plan.manifests.objects if o["kind"] == "ConfigMap")
    assert "cache 60" in configmap["data"]["Corefile"]
    assert "cache 60" in context.plan.manifests.yaml_text
    context.gateway.close()


@pytest.mark.lab_options(udp_timeout=5)  # kube-proxy already runs a 5 s timeout: the IPVS gate opens
def test_read_only_mode_binds_no_destructive_key(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, mode="read-only", ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            assert "READ-ONLY" in screen_text(app)
            keys = {b.binding.action for b in app.active_bindings.values()}
            assert "rollback" not in keys
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the zero wait")
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
            await wait_until(pilot, lambda: app.screen.prepared is not None, "the dry-run", 60)
            actions = {b.binding.action for b in app.active_bindings.values()}
            assert "apply" not in actions and "rollback" not in actions
            await pilot.press("a")
            await pilot.press("r")
            await pilot.pause(0.2)
            assert app.screen.id == "stage-deploy"
            assert app.screen.next_key_text().startswith("n goes on to the Switch stage to watch")
            # read-only watch mode: n opens the live Switch panes, with no key that changes anything
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-switch", "the switch stage (watching)")
            await wait_until(pilot, lambda: bool(app.screen.pods_pane.pods), "the live pods pane", 30)
            actions = {b.binding.action for b in app.active_bindings.values() if b.enabled}
            assert not actions & {"continue_switch", "rollback", "apply"}, actions
            assert "Read-only mode" in screen_text(app)

    run(scenario())
    assert context.gateway.try_get("Deployment", "kube-system", "coredns") is None
    context.gateway.close()


@pytest.mark.lab_options(udp_timeout=5)  # kube-proxy already runs a 5 s timeout: the IPVS gate opens
def test_narrow_terminal_renders_every_shell_stage(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await _through_preconditions(app, pilot)
            assert "Preconditions" in screen_text(app)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the zero wait")
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            diff = app.screen.query_one("#migration-diff")
            assert diff.has_class("stacked"), "below 100 columns the diff stacks"
            text = screen_text(app)
            assert "guide default" in text and "n Next" in text and "q Quit" in text
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
            await wait_until(pilot, lambda: app.screen.prepared is not None, "the dry-run", 60)
            assert "Server-side dry-run" in screen_text(app)

    run(scenario())
    context.gateway.close()


@pytest.mark.lab_options(udp_timeout=5)  # kube-proxy already runs a 5 s timeout: the IPVS gate opens
def test_rollback_key_after_deploy(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            assert app.check_action("rollback", ()) is False, "nothing to roll back before deploy"
            for stage in ("ipvs", "migration"):
                await pilot.press("n")
                await wait_until(pilot, lambda s=stage: app.screen.id == f"stage-{s}", stage)
                await wait_until(pilot, lambda: app.advance_blocked() is None, f"{stage} to allow n")
            await pilot.press("n")
            await wait_until(pilot, lambda: getattr(app.screen, "prepared", None) is not None, "dry-run", 60)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: app.deployed, "the apply", 60)
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal),
                             "the rollback confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: not app.deployed, "the rollback", 90)
            assert app.change_in_flight is None

    run(scenario())
    assert any(note.startswith("rolled back") for note in context.notes)
    coredns = context.gateway.get_deployment("kube-system", "coredns")
    kube_dns = context.gateway.get_deployment("kube-system", "kube-dns")
    assert coredns["spec"]["replicas"] == 0 and kube_dns["spec"]["replicas"] == 3
    assert any(e.step.startswith("rollback") and e.status == "done" for e in context.journal.read().entries)
    context.gateway.close()


def test_quit_waits_for_a_change_in_flight(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab)
    app = build_app(context, offer_resume=False)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "the first stage")
            app.begin_change("applying switch2coredns.yaml")
            await pilot.press("q")
            await pilot.pause(0.2)
            assert app.return_code is None and app.quit_pending, "q must not quit mid-change"
            app.end_change()
            await wait_until(pilot, lambda: app.return_code is not None, "the deferred quit")

    run(scenario())
    assert app.return_code == 0
    context.gateway.close()


@pytest.mark.lab_options(udp_timeout=5)  # kube-proxy already runs a 5 s timeout: the IPVS gate opens
def test_dry_run_deploy_stores_nothing(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, mode="dry-run", ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            assert "DRY-RUN" in screen_text(app)
            for stage in ("ipvs", "migration"):
                await pilot.press("n")
                await wait_until(pilot, lambda s=stage: app.screen.id == f"stage-{s}", stage)
                await wait_until(pilot, lambda: app.advance_blocked() is None, f"{stage} to allow n")
            await pilot.press("n")
            await wait_until(pilot, lambda: getattr(app.screen, "prepared", None) is not None, "dry-run", 60)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            assert "DRY-RUN: sent with dryRun=All; nothing is stored." in screen_text(app)
            await pilot.press("y")
            await wait_until(pilot, lambda: app.screen.applied, "the dry-run apply", 60)
            assert "checked with dryRun=All" in screen_text(app)

    run(scenario())
    assert context.gateway.try_get("Deployment", "kube-system", "coredns") is None
    context.gateway.close()


@pytest.mark.lab_options(faults=("autoscaler",), udp_timeout=5)
def test_deploy_pauses_the_autoscaler_it_names(lab: Lab) -> None:
    from screens.app import build_app

    context = lab_context(lab, ipvs_wait_seconds=0)
    app = build_app(context)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await _through_preconditions(app, pilot)
            for stage in ("ipvs", "migration"):
                await pilot.press("n")
                await wait_until(pilot, lambda s=stage: app.screen.id == f"stage-{s}", stage)
                await wait_until(pilot, lambda: app.advance_blocked() is None, f"{stage} to allow n")
            await pilot.press("n")
            await wait_until(pilot, lambda: getattr(app.screen, "prepared", None) is not None, "dry-run", 60)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
            named = "scale the kube-dns autoscaler Deployment kube-system/kube-dns-autoscaler"
            assert named in screen_text(app)
            await pilot.press("y")
            await wait_until(pilot, lambda: app.deployed, "the apply", 60)

    run(scenario())
    autoscaler = context.gateway.get_deployment("kube-system", "kube-dns-autoscaler")
    assert autoscaler["spec"]["replicas"] == 0
    steps = [e.step for e in context.journal.read().entries if e.status == "done"]
    assert steps == ["pause-autoscaler", "deploy"]
    context.gateway.close()
