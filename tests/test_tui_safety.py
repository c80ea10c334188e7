"""Regressions of issue 12: the crashes (duplicate dialog ids, a stage pushed while the app exits,
worker results after unmount), quitting mid-switch, pod logs of multi-container pods, the TTY
check, the demo's short waits, Ctrl-C at the headless prompt and the switch's stdout outcome."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_tui_switch_snapshots import SnapshotApp, fixed_context, fixed_status
from textual.screen import Screen
from tui_switch_support import lab_context, wait_until

from screens.app import build_app
from screens.stages.done import DoneScreen
from screens.stages.switch import SwitchResult, SwitchScreen
from screens.widgets.confirm import ConfirmationModal
from screens.widgets.logs import default_container, kubectl_logs_command, pod_containers, read_pod_story
from screens.widgets.quit import QuitScreen, mixed_state_lines
from wizard.migration.progress import PodsChanged

ROOT = Path(__file__).resolve().parent.parent


# ---- crashes --------------------------------------------------------------------------------
def test_two_confirmations_at_once_do_not_collide() -> None:
    """The engine's next question may open while the previous dialog is still being removed."""

    async def run() -> list[str]:
        context = fixed_context()
        app = SnapshotApp(context, Screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            first, second = ConfirmationModal("one", "a"), ConfirmationModal("two", "b")
            app.push_screen(first)
            app.push_screen(second)  # DuplicateIds 'confirm' before the fix
            await pilot.pause()
            assert app.screen is second
            return [first.id or "", second.id or ""]

    ids = asyncio.run(run())
    assert ids[0] != ids[1] and all(i.startswith("confirm-") for i in ids)


def test_help_twice_on_the_stack_does_not_collide() -> None:
    """Found by tests/stress_tui_demo.py: `?` on the start screen left a help screen under the
    first stage, and `?` there pushed a second one with the same id (DuplicateIds 'help')."""
    from screens.widgets.help import HelpScreen

    async def run() -> None:
        context = fixed_context()
        app = SnapshotApp(context, Screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.push_screen(HelpScreen([], "start"))
            app.push_screen(SwitchScreen(context, live_feed=False))
            app.push_screen(HelpScreen([], "Switch"))
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
        assert app._exception is None, app._exception

    asyncio.run(run())


@pytest.mark.parametrize("exit_first", [True, False])
def test_a_stage_pushed_while_the_app_exits_does_not_crash(exit_first: bool) -> None:
    """The switch finishing while the operator quits pushed the Done stage into an exiting app;
    its on_mount then found no '#stage-status' (NoMatches) and the wizard died with a traceback."""

    async def run() -> None:
        context = fixed_context()
        app = SnapshotApp(context, Screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            done = DoneScreen(context, SwitchResult("completed", "ok"), status=fixed_status("completed"))
            if exit_first:
                app.exit()
            app.push_screen(done)
            if not exit_first:
                app.exit()
            await pilot.pause()
        assert app._exception is None, app._exception

    asyncio.run(run())


def test_n_pressed_while_the_next_stage_is_still_opening_does_not_crash(lab: Any) -> None:
    """Found by the tmux demo test in CI: `n` pressed 0.7 s after the migration stage was pushed,
    before it was composed, asked it for its editor (NoMatches) and the wizard died with a
    traceback. The second `n` here arrives before the loop turns, so the stage cannot be ready."""
    from tui_shell_support import lab_context as shell_context
    from tui_shell_support import wait_until as shell_wait_until

    from wizard.migration.preflight.run import run_preflight

    context = shell_context(lab)
    context.report = run_preflight(context.gateway, context.options)
    context.plan = context.report.plan
    app = build_app(context, start_stage="ipvs")

    async def run() -> str | None:
        async with app.run_test(size=(120, 40)) as pilot:
            await shell_wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
            await pilot.click("#ipvs-reason")
            await pilot.press(*"rehearsal on the lab", "enter")
            await shell_wait_until(pilot, lambda: app.advance_blocked() is None, "the skip with a reason")
            app.advance()  # pushes the migration stage; it is composed on the loop's next turn
            blocked = app.advance_blocked()
            app.advance()  # before the fix: NoMatches '#migration-editor'
            await shell_wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
            await shell_wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
            assert app.screen.id == "stage-migration", "the early n must not skip the review"
        assert app._exception is None, app._exception
        return blocked

    try:
        assert asyncio.run(run()) == "the stage is still opening"
    finally:
        context.gateway.close()


def test_worker_results_after_the_screen_left_are_dropped() -> None:
    """A switch or rollback result arriving after the Switch screen was removed has nowhere to go."""

    async def run() -> None:
        context = fixed_context()
        app = SnapshotApp(context, lambda: SwitchScreen(context, live_feed=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 5, "the switch screen")
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            await app.pop_screen()
            await pilot.pause()
            assert not screen.live
            screen.on_switch_screen_switch_run_finished(SwitchScreen.SwitchRunFinished(None, "late"))
            screen.on_switch_screen_rollback_run_finished(SwitchScreen.RollbackRunFinished(None, "late"))
            screen.on_switch_screen_live_event_arrived(SwitchScreen.LiveEventArrived(PodsChanged(())))
            screen.refresh_status()
            assert screen.state == "idle"  # nothing was taken from the late results

    asyncio.run(run())


# ---- quitting mid-switch --------------------------------------------------------------------
def test_mixed_state_lines_name_counts_endpoints_and_the_resume_command() -> None:
    context = fixed_context()
    lines = mixed_state_lines(fixed_status("in-progress"), context)
    text = "\n".join(lines)
    assert "CoreDNS   1/3 ready (spec.replicas 1)" in text
    assert "kube-dns  2/3 ready (spec.replicas 2)" in text
    assert "Endpoints 1 ready in Service kube-system/kube-dns (CoreDNS 1, kube-dns 0), 0 not ready" in text
    assert "Resume    coredns-wizard switch --context prod-east" in text
    assert "round 1 of 3" in lines[0]


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_q_and_ctrl_c_mid_switch_ask_and_quit_prints_the_state(lab: Any, tmp_path: Path) -> None:
    async def run() -> str:
        context = lab_context(lab, tmp_path)
        context.lab = None  # as on a real cluster: the resume command is offered
        app = build_app(context, start_stage="switch")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            await pilot.press("n")
            for step in ("deploy", "r1.scale-coredns"):
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), 60, step)
                modal = app.screen
                await pilot.press("y" if step == "deploy" else "escape")
                await wait_until(pilot, lambda m=modal: app.screen is not m, 5, "the modal to close")
            await wait_until(pilot, lambda: screen.state == "stopped", 30, "the declined switch to stop")
            assert app.deployed
            for key in ("q", "ctrl+c"):
                await pilot.press(key)
                await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), 5,
                                 f"the quit dialog ({key})")
                dialog = app.screen
                assert isinstance(dialog, QuitScreen)
                await wait_until(pilot, lambda d=dialog: bool(d.lines), 20, "the cluster's state")
                assert app.focused is not None and app.focused.id == "quit-stay"
                await pilot.press("escape")  # stay
                await wait_until(pilot, lambda: app.screen is screen, 5, "back on the switch stage")
                assert app.return_code is None
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), 5, "the quit dialog")
            dialog = app.screen
            await wait_until(pilot, lambda d=dialog: bool(d.lines), 20, "the cluster's state")
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None, 10, "the wizard to exit")
        return app.quit_summary

    summary = asyncio.run(run())
    assert "CoreDNS   0/2 ready" in summary and "kube-dns  2/2 ready" in summary, summary
    assert "Endpoints 2 ready" in summary and "(CoreDNS 0, kube-dns 2)" in summary, summary
    assert "coredns-wizard switch --context" in summary


# ---- pod logs -------------------------------------------------------------------------------
def test_the_dns_container_is_the_default() -> None:
    assert default_container(["dnsmasq", "kubedns", "sidecar"]) == "kubedns"
    assert default_container(["coredns"]) == "coredns"
    assert default_container(["app", "proxy"]) == "app"
    assert default_container([]) is None
    assert kubectl_logs_command("kube-system", "kube-dns-1", "kubedns") == (
        "kubectl logs -n kube-system kube-dns-1 -c kubedns --tail=200")


def test_kube_dns_pod_logs_name_the_container(lab: Any) -> None:
    """Without a container the API answers HTTP 400 for a three-container kube-dns pod."""
    from switch_support import gateway_for

    gateway = gateway_for(lab)
    pods = gateway.list_pods("kube-system", "k8s-app=kube-dns")
    name = next(p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("kube-dns"))
    containers = pod_containers(gateway, "kube-system", name)
    assert len(containers) > 1 and default_container(containers) == "kubedns"
    story = dict(read_pod_story(gateway, "kube-system", name, container="kubedns"))
    log = next(lines for heading, lines in story.items() if heading.startswith("Log ("))
    assert not any("could not read" in line for line in log), log
    unnamed = dict(read_pod_story(gateway, "kube-system", name))
    unnamed_log = [line for h, lines in unnamed.items() if h.startswith("Log (") for line in lines]
    assert any("could not read" in line for line in unnamed_log), unnamed_log


# ---- entry, demo, headless ------------------------------------------------------------------
def test_the_wizard_refuses_to_start_without_a_terminal(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "screens.entry", "--demo", "--log-file", str(tmp_path / "tui.log")],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0]
    assert "coredns-wizard plan | switch" in lines[0]
    assert "starting the demo lab" not in result.stderr  # refused before anything started


def test_demo_waits_are_short_and_real_clusters_keep_the_guides() -> None:
    from screens.entry import apply_wait_defaults, build_parser, switch_options

    demo = build_parser().parse_args(["--demo"])
    note = apply_wait_defaults(demo)
    assert (demo.observe, demo.ipvs_wait) == ("15s", "10s")
    assert note.startswith("Demo: short waits (--observe 15s") and "5m" in note
    # the gate waits the old timeout it reads from kube-proxy: the note never promises a 10 s IPVS wait
    assert "--ipvs-wait" not in note and "IPVS gate still waits the old UDP timeout" in note
    real = build_parser().parse_args([])
    assert apply_wait_defaults(real) == ""
    options = switch_options(real, None)
    assert options.observe_seconds == 300 and options.ipvs_wait_seconds == 300
    given = build_parser().parse_args(["--demo", "--observe", "2s", "--ipvs-wait", "1m"])
    assert apply_wait_defaults(given) == "" and (given.observe, given.ipvs_wait) == ("2s", "1m")


class _InterruptedInput(io.StringIO):
    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise KeyboardInterrupt


def test_ctrl_c_at_the_prompt_answers_no_at_once() -> None:
    from wizard.commands._progress import terminal_confirm
    from wizard.migration.plan import Step

    out = io.StringIO()
    confirm = terminal_confirm("prod", _InterruptedInput(), out)
    step = Step("r1.scale-coredns", "scale-coredns", 1, "Scale CoreDNS 0 → 1", (),
                "deployment kube-system/coredns")
    assert confirm(step, "Scale CoreDNS") is False
    assert confirm.interrupted and not confirm.asking
    assert out.getvalue().endswith(
        "Ctrl-C at the prompt: step r1.scale-coredns not run, nothing changed by it.\n")


def test_switch_outcome_text_for_stdout() -> None:
    from wizard.commands.switch import outcome_text

    class Outcome:
        completed, dry_run, reason, advice = False, False, "CoreDNS did not become ready", "roll back"

    text = outcome_text(Outcome(), "/state/journal.jsonl")
    assert text.splitlines() == ["coredns-wizard switch: stopped: CoreDNS did not become ready",
                                 "what to do: roll back", "journal: /state/journal.jsonl"]
    Outcome.completed = True
    assert outcome_text(Outcome(), "j").startswith("coredns-wizard switch: switch complete: ")


# ---- help -----------------------------------------------------------------------------------
def test_switch_help_says_what_n_does_and_lists_the_upcoming_steps() -> None:
    async def run() -> str:
        context = fixed_context()
        app = SnapshotApp(context, lambda: SwitchScreen(context, live_feed=False))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 5, "the switch screen")
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            return screen.help_text().plain

    text = asyncio.run(run())
    assert text.startswith("This stage: runs the engine's switch round by round")
    assert "Next: n starts the switch at step deploy:" in text
    assert "Upcoming steps" in text and "r1.scale-coredns" in text and "Moving and selecting" in text


# ---- read-only watch ------------------------------------------------------------------------
@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_read_only_watches_a_switch_in_progress_without_any_write_key(lab: Any, tmp_path: Path) -> None:
    """Someone else's switch stopped after round 1: `--read-only` offers to watch it, and the Switch
    stage shows where it stands and the live panes, with no key that changes the cluster."""
    from switch_support import fast_options, gateway_for, journal_in, make_test_plan

    from screens.resume import ResumeScreen
    from wizard.migration.switch import Switcher

    gateway = gateway_for(lab)
    plan = make_test_plan(gateway)

    def confirm(step: Any, what: str) -> bool:
        return step.round < 2  # decline round 2: the switch stops half done

    options = fast_options(assume_yes=False, dns_port=gateway.connection.dns_port)
    outcome = Switcher(gateway, plan, journal_in(tmp_path / "theirs"), options, None, confirm).run()
    assert not outcome.completed

    async def run() -> str:
        context = lab_context(lab, tmp_path, mode="read-only", with_plan=False)
        context.gateway = gateway_for(lab, "read-only")
        app = build_app(context)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ResumeScreen), 30, "the resume offer")
            from tui_shell_support import screen_text

            await pilot.pause(0.3)
            assert "Watch it (c)" in screen_text(app) and "Roll back" not in screen_text(app)
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch stage")
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            await wait_until(pilot, lambda: screen.watched is not None, 20, "the watched state")
            owners = {"coredns", "kube-dns"}
            await wait_until(pilot, lambda: {p.owner for p in screen.pods_pane.pods} == owners, 20,
                             "the live pods")
            enabled = {b.binding.action for b in app.active_bindings.values() if b.enabled}
            assert not enabled & {"continue_switch", "rollback", "apply", "advance"} - {"advance"}, enabled
            await pilot.press("n", "r")
            await pilot.pause(0.3)
            assert screen.state == "idle" and not isinstance(app.screen, ConfirmationModal)
            await pilot.pause(0.3)
            return screen_text(app)

    text = asyncio.run(run())
    assert "Watching (read-only)" in text and "in-progress, round 1 of 2" in text, text
    assert "CoreDNS 1/1" in text and "kube-dns 1/1" in text


def test_deploy_saves_the_manifests_without_overwriting_an_edited_file(tmp_path: Path) -> None:
    from screens.stages.deploy import save_manifests

    first = save_manifests("kind: ConfigMap\n", tmp_path)
    assert first == tmp_path / "switch2coredns.yaml" and first.read_text() == "kind: ConfigMap\n"
    assert save_manifests("kind: ConfigMap\n", tmp_path) == first  # same content: same file
    first.write_text("edited by hand\n")
    second = save_manifests("kind: ConfigMap\n", tmp_path)
    assert second != first and second.name.startswith("switch2coredns-")
    assert first.read_text() == "edited by hand\n"


def test_the_deploy_confirmation_in_dry_run_does_not_say_it_changes_the_cluster() -> None:
    """A dry run stores nothing: its confirmation must not open with "This will change the cluster"."""
    from plan_facts import make_facts

    from screens.stages.deploy import confirmation_body
    from wizard.migration.plan import make_plan
    from wizard.options import SwitchOptions

    plan = make_plan(make_facts(nodes=4, replicas=3), SwitchOptions())
    live = confirmation_body(plan, "prod", dry_run=False).plain
    dry = confirmation_body(plan, "prod", dry_run=True).plain
    assert live.startswith("This will change the cluster")
    assert "will change the cluster" not in dry
    assert dry.startswith("Dry run") and "dryRun=All" in dry and "prod" in dry
