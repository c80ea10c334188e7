"""The switch screen driving the real engine on the lab: a full switch by `n` and `y`, a
rollback from the switch screen, a crash-looping CoreDNS pod, and pause between steps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from switch_support import deployment_replicas
from tui_switch_support import lab_context, wait_until

from screens.app import build_app
from screens.stages.done import DoneScreen, summary_rows
from screens.stages.switch import SwitchScreen
from screens.widgets.confirm import ConfirmationModal

SIZE = (120, 40)


async def answer_confirmations_until(pilot: Any, done: Any, timeout: float, answers: list[str]) -> None:
    """Press y on every confirmation the engine asks for until `done()`; record their titles."""
    app = pilot.app

    def progressed() -> bool:
        return done() or isinstance(app.screen, ConfirmationModal)

    while not done():
        await wait_until(pilot, progressed, timeout, "a confirmation or the end of the switch")
        modal = app.screen
        if isinstance(modal, ConfirmationModal):
            answers.append(modal.title_text)
            await pilot.press("y")
            await wait_until(pilot, lambda m=modal: app.screen is not m, 5, "the modal to close")


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_full_switch_by_n_and_y_ends_on_switch_complete(lab: Any, tmp_path: Path) -> None:
    asyncio.run(full_switch(lab, tmp_path))
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)


async def full_switch(lab: Any, tmp_path: Path) -> None:
    context = lab_context(lab, tmp_path)
    app = build_app(context, start_stage="switch")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
        screen = app.screen
        assert isinstance(screen, SwitchScreen)
        await pilot.press("n")
        asked: list[str] = []
        await answer_confirmations_until(pilot, lambda: isinstance(app.screen, DoneScreen), 60, asked)
        done = app.screen
        assert isinstance(done, DoneScreen)
        await wait_until(pilot, lambda: done.status is not None, 20, "the status read")
        assert done.title_text == "Switch complete"
        assert [a.split(":")[0] for a in asked] == [
            "Step deploy", "Step r1.scale-coredns", "Step r1.scale-kube-dns",
            "Step r2.scale-coredns", "Step r2.scale-kube-dns",
        ]
        # the live feed keeps following the pods after the engine finished: kube-dns pods leave
        await wait_until(pilot, lambda: {p.owner for p in screen.pods_pane.pods} == {"coredns"}, 30,
                         "only CoreDNS pods in the pods pane")
        assert all(p.ready for p in screen.pods_pane.pods) and len(screen.pods_pane.pods) == 2
        assert screen.query_one("#probes").row_count > 0
        assert screen.result is not None and screen.result.kind == "completed"
        # the long-lived sockets are counted apart, and the Done summary says what they saw
        result = screen.result
        assert result.pinned_queries > 0
        rows = dict((label, value.plain) for label, value in summary_rows(context, result, done.status))
        assert rows["Pinned"].startswith(f"{result.pinned_queries} queries through long-lived sockets, "
                                         f"{result.pinned_errors} failed")
        assert ("lost answers" in rows["Pinned"]) == (result.pinned_errors > 0)


async def start_and_confirm(pilot: Any, step_ids: list[str], timeout: float = 30) -> None:
    """Press n, then y on the confirmations of exactly these steps, in order."""
    app = pilot.app
    await pilot.press("n")
    for step_id in step_ids:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), timeout,
                         f"the confirmation of {step_id}")
        modal = app.screen
        assert modal.title_text.startswith(f"Step {step_id}:"), modal.title_text
        await pilot.press("y")
        await wait_until(pilot, lambda m=modal: app.screen is not m, 5, "the modal to close")


async def open_switch(pilot: Any) -> SwitchScreen:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
    screen = app.screen
    assert isinstance(screen, SwitchScreen)
    return screen


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2, faults=("slow-ready",))
def test_pause_holds_between_steps_and_rollback_from_the_switch_screen(lab: Any, tmp_path: Path) -> None:
    asyncio.run(pause_then_roll_back(lab, tmp_path))
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 2)


async def pause_then_roll_back(lab: Any, tmp_path: Path) -> None:
    context = lab_context(lab, tmp_path, ready_timeout_seconds=60.0)
    app = build_app(context, start_stage="switch")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_switch(pilot)
        await start_and_confirm(pilot, ["deploy", "r1.scale-coredns"])
        await wait_until(pilot, lambda: screen.current_step is not None
                         and screen.current_step.id == "r1.wait-ready", 10, "r1.wait-ready")
        await pilot.press("p")
        assert screen.gate.paused
        await wait_until(pilot, lambda: screen.gate.holding, 60, "the engine to hold after a step")
        assert "PAUSED" in screen.status_text().plain
        assert context.journal is not None
        held = context.journal.read().entries[-1]
        assert held.status == "done" and held.step in ("r1.wait-ready", "r1.probe", "r1.check-endpoints")
        assert screen.current_step is not None and screen.current_step.id == held.step  # none since
        await pilot.press("n")  # continue: probe, endpoints, then the kube-dns scale-down asks
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), 30,
                         "the confirmation of r1.scale-kube-dns")
        assert app.screen.title_text.startswith("Step r1.scale-kube-dns:")
        await pilot.press("y")
        await pilot.press("p")  # hold right after the scale-down
        await wait_until(pilot, lambda: screen.gate.holding, 30, "the engine to hold after a step")
        assert context.journal is not None
        last = context.journal.read().entries[-1]
        assert last.status == "done" and last.step in ("r1.scale-kube-dns", "r1.observe")  # between steps
        # roll back from the held switch: it stops first, then kube-dns comes back before CoreDNS goes
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal)
                         and app.screen.title_text == "Roll back to kube-dns?", 20,
                         "the rollback confirmation")
        body = app.screen.body.plain  # the engine's own plan: kube-dns back before CoreDNS goes
        assert "Scale kube-dns kube-system/kube-dns 1 → 2" in body and "kube-system/coredns 1 → 0" in body
        assert body.index("kube-dns 1 → 2") < body.index("coredns 1 → 0"), body
        assert "kubectl scale deployment kube-dns -n kube-system --replicas=2" in body, body
        assert "context lab" in body
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), 60, "the done screen")
        done = app.screen
        assert isinstance(done, DoneScreen)
        await wait_until(pilot, lambda: done.status is not None, 20, "the status read")
        assert done.title_text == "Rolled back"
        assert app.check_action("rollback", ()) is False, "nothing left to roll back: r is not offered"
        assert "r" not in {b.binding.key for b in app.active_bindings.values() if b.enabled}
        log_text = "\n".join(screen.log_pane.lines_written)
        assert "rollback.scale-kube-dns" in log_text and "rollback.scale-coredns" in log_text
        assert log_text.index("rollback.scale-kube-dns") < log_text.index("rollback.scale-coredns")


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2, faults=("coredns-crashloop",))
def test_crashlooping_coredns_stops_with_its_logs_and_no_kube_dns_scale_down(
    lab: Any, tmp_path: Path
) -> None:
    asyncio.run(crashloop(lab, tmp_path))
    assert deployment_replicas(lab, "kube-dns") == 2


async def crashloop(lab: Any, tmp_path: Path) -> None:
    from screens.widgets.logs import PodLogsScreen

    context = lab_context(lab, tmp_path, ready_timeout_seconds=6.0)
    app = build_app(context, start_stage="switch")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_switch(pilot)
        await start_and_confirm(pilot, ["deploy", "r1.scale-coredns"])
        # the containment (scale CoreDNS back to 0) is a change: it asks; declining keeps the pod
        # in place to read its logs
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), 60,
                         "the confirmation of the containment")
        assert app.screen.title_text.startswith("Step r1.contain:"), app.screen.title_text
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.state == "stopped", 60, "the switch to stop")
        assert isinstance(app.screen, SwitchScreen)  # it stays on the panes, no Done screen
        assert "CoreDNS did not become ready" in screen.stop_reason
        assert "declined the containment" in screen.stop_reason
        log_text = "\n".join(screen.log_pane.lines_written)
        assert "plugin/loop" in log_text  # the pod's log line, from the engine's evidence
        assert "r1.scale-kube-dns" not in log_text
        assert "✖" in screen.hint_text().plain and "rollback" in screen.hint_text().plain
        # l on the CoreDNS pod shows its events and logs
        pods = screen.pods_pane
        await wait_until(pilot, lambda: any(p.owner == "coredns" for p in pods.pods), 10,
                         "the CoreDNS pod row")
        coredns_row = next(i for i in range(pods.row_count)
                           if str(pods.get_row_at(i)[0]) == "coredns")
        pods.focus()
        pods.move_cursor(row=coredns_row)
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, PodLogsScreen), 5, "the logs screen")
        logs = app.screen
        assert isinstance(logs, PodLogsScreen)
        assert logs.pod.startswith("coredns-")
        await wait_until(pilot, lambda: logs.loaded, 20, "the logs")
        shown = "\n".join(str(line.text) for line in logs.query_one("#logs-body").lines)
        assert "plugin/loop" in shown and "Events" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, 5, "back on the switch screen")


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_dry_run_switch_changes_nothing_and_says_so(lab: Any, tmp_path: Path) -> None:
    from switch_support import gateway_for

    async def run() -> str:
        context = lab_context(lab, tmp_path, mode="dry-run")
        context.gateway = gateway_for(lab, "dry-run")
        app = build_app(context, start_stage="switch")
        async with app.run_test(size=SIZE) as pilot:
            await open_switch(pilot)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), 60, "the done screen")
            done = app.screen
            assert isinstance(done, DoneScreen)
            await wait_until(pilot, lambda: done.status is not None, 20, "the status read")
            return done.title_text

    assert asyncio.run(run()) == "Dry run complete: nothing was changed"
    deployments, _ = lab.store.list("deployments.apps", "kube-system")
    assert "coredns" not in {d["metadata"]["name"] for d in deployments}
    assert deployment_replicas(lab, "kube-dns") == 2


def test_done_title_follows_the_cluster_first() -> None:
    from screens.stages.done import done_title
    from screens.stages.switch import SwitchResult

    class Status:
        def __init__(self, phase: str) -> None:
            self.phase = phase

    stopped = SwitchResult("stopped", "CoreDNS did not become ready")
    assert done_title(None, Status("completed")) == "Switch complete"  # type: ignore[arg-type]
    assert done_title(stopped, Status("rolled-back")) == "Rolled back"  # type: ignore[arg-type]
    assert done_title(stopped, Status("in-progress")) == "Stopped: CoreDNS did not become ready"  # type: ignore[arg-type]
    assert done_title(SwitchResult("dry-run", ""), Status("not-started")).startswith("Dry run")  # type: ignore[arg-type]
    assert done_title(None, None) == "Stopped: phase unknown"
