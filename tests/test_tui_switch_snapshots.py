"""SVG snapshots of the switch screen (mid-round, at 120x40 and 80x24), the done screen and the
resume offer. Everything volatile is fixed: the clock is frozen, pods, IPs and ages are made up,
the cluster status is given. `UPDATE_SNAPSHOTS=1 pytest tests/test_tui_switch_snapshots.py`
rewrites tests/snapshots/tui_switch_*.svg; otherwise each screen must match its file exactly."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from switch_support import build_steps
from textual.app import App
from textual.screen import Screen
from tui_switch_support import FrozenClock

from screens.context import WizardContext
from screens.resume import ResumeScreen
from screens.stages.done import DoneScreen
from screens.stages.switch import SwitchResult, SwitchScreen
from screens.widgets.header import WizardHeader
from wizard.k8s.connection import Connection
from wizard.migration.dns_pods import EndpointMembership
from wizard.migration.journal import Journal
from wizard.migration.live_view import ClusterEventSeen
from wizard.migration.plan import Plan
from wizard.migration.probes import ProbeQuery, ProbeResult
from wizard.migration.progress import (
    EndpointsChanged,
    Note,
    ObservationTick,
    PodsChanged,
    PodView,
    ProbeBatch,
    StepFinished,
    StepStarted,
    Waiting,
)
from wizard.migration.status import DeploymentState, SwitchStatus
from wizard.migration.verdicts import Expected, judge
from wizard.options import SwitchOptions

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
STYLESHEET = Path(__file__).resolve().parent.parent / "screens" / "app.tcss"
NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


class SnapshotApp(App[None]):
    """Just enough of the wizard's App for one screen: its stylesheet, its header, and what stage
    screens ask of the App (the change in flight, deployed, key labels, the server version)."""

    CSS_PATH = str(STYLESHEET)

    def __init__(self, context: WizardContext, make_screen: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.context = context
        self.make_screen = make_screen
        self.change_in_flight: str | None = None
        self.deployed = False
        self.k8s_version = "?"

    def begin_change(self, what: str) -> None:
        self.change_in_flight = what

    def end_change(self) -> None:
        self.change_in_flight = None

    def advance(self) -> None:
        """The Switch screen goes on to the Done stage; here the screen stays (snapshots only)."""

    def key_label(self, binding_id: str, default: str) -> str:
        return default

    def make_header(self, stage_title: str) -> WizardHeader:
        c = self.context.connection
        return WizardHeader(c.context, c.cluster, c.server, self.context.options.mode, stage_title)

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


def fixed_context() -> WizardContext:
    connection = Connection(
        context="prod-east", cluster="prod-east", server="https://10.0.0.1:6443", user="ops",
        namespace="default", source_files=("/home/ops/.kube/config",), lab_dns_port=None,
        request_timeout=None,
    )
    plan = Plan(build_steps(3, "grow-first", False), "grow-first", "a free node", 3, "1.8.4",
                None, None)  # type: ignore[arg-type]  # the manifests are not shown here
    return WizardContext(
        connection=connection, gateway=None, options=SwitchOptions(observe_seconds=300.0),  # type: ignore[arg-type]
        journal=Journal(Path("/home/ops/.local/state/coredns-wizard/prod-east/journal.jsonl"),
                        operator="ops"),
        plan=plan, clock=FrozenClock(),
    )


def pod(name: str, owner: str, node: str, ip: str, phase: str, ready: bool, restarts: int = 0,
        age: float = 86400.0) -> PodView:
    return PodView(name, owner, node, ip, phase, ready, restarts, age)  # type: ignore[arg-type]


KUBE = [pod("kube-dns-79dd595d95-5qqh6", "kube-dns", "node-1", "10.244.1.5", "Running", True),
        pod("kube-dns-79dd595d95-hp9vs", "kube-dns", "node-2", "10.244.2.4", "Running", True, 1)]
CORE_1 = pod("coredns-78b8ff9fb7-x297w", "coredns", "node-3", "10.244.3.10", "Running", True, age=300.0)
CORE_2 = pod("coredns-78b8ff9fb7-k2l9p", "coredns", "node-4", "10.244.4.11", "ContainerCreating", False,
             age=4.0)


def answer(target: str, rcode: str, latency: float, answers: tuple[str, ...]) -> ProbeResult:
    name = "kubernetes.default.svc.cluster.local"
    return ProbeResult(target, name, "A", rcode, answers, latency, None, "udp")


def mid_round_events(context: WizardContext) -> list[Any]:
    assert context.plan is not None
    steps = {s.id: s for s in context.plan.steps}
    record = ("kubernetes.default.svc.cluster.local. A 10.96.0.1",)
    return [
        PodsChanged((*KUBE, CORE_1)),
        EndpointsChanged(("10.244.1.5", "10.244.2.4", "10.244.3.10"), ()),
        StepStarted(steps["r1.probe"]),
        ProbeBatch((judge(ProbeQuery(record[0].split(". ")[0], "A", "cluster", service="default/kubernetes"),
                          answer("coredns-78b8ff9fb7-x297w (10.244.3.10)", "NOERROR", 0.5, record),
                          answer("kube-dns-79dd595d95-5qqh6 (10.244.1.5)", "NOERROR", 1.6, record),
                          Expected(frozenset({"10.96.0.1"}), "Service default/kubernetes")),)),
        StepFinished(steps["r1.probe"], "done", "1 question(s) to 1 CoreDNS pod(s): all agree"),
        StepStarted(steps["r1.observe"]),
        ObservationTick(300.0, 300.0, 0, 1200, 0.8, 2.1),
        StepFinished(steps["r1.observe"], "done", "observed 300s: 1200 queries, 0 failed"),
        StepStarted(steps["r2.wait-ready"]),
        PodsChanged((*KUBE, CORE_1, CORE_2)),  # the new pod: highlighted (the clock is frozen)
        EndpointsChanged(("10.244.1.5", "10.244.2.4", "10.244.3.10"), ("10.244.4.11",)),
        Waiting("2 Ready pod(s) of Deployment kube-system/coredns", 12.0, 300.0),
        ClusterEventSeen("Normal", "Pulling", "Pod coredns-78b8ff9fb7-k2l9p",
                         "Pulling image coredns:1.8.4", 1),
        Note("resuming: 7 of 21 steps already done; continuing at r2.scale-coredns"),
    ]


def fixed_status(phase: str = "in-progress") -> SwitchStatus:
    return SwitchStatus(
        phase=phase, last_step="r1.observe" if phase == "in-progress" else phase, round=1, rounds=3,
        coredns=DeploymentState("coredns", *((3, 3) if phase == "completed" else (1, 1))),
        kube_dns=DeploymentState("kube-dns", *((0, 0) if phase == "completed" else (2, 2))),
        endpoints=EndpointMembership(("10.244.3.10",), (), ("10.244.3.10",), (), ()),
        pods=(), autoscaler=None, autoscaler_now="none recorded",
        journal_tail=("2026-11-27T02:58:00Z done r1.observe: observe (round 1)",),
        last_kube_dns_scale_down=NOW - timedelta(minutes=5),
        cleanup_allowed_at=NOW - timedelta(minutes=5) + timedelta(hours=72) if phase == "completed" else None,
        now=NOW,
    )


def svg_text(svg: str) -> str:
    """The characters an SVG screenshot shows, tags dropped (for readable assertions)."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg.split("</style>")[-1])).replace("\xa0", " ")


def svg_rows(svg: str) -> list[str]:
    """The screen's rows as text (each SVG <text> placed at its column)."""
    rows: dict[int, list[tuple[float, str]]] = {}
    pattern = (r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
               r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>')
    for m in re.finditer(pattern, svg):
        rows.setdefault(int(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    out = []
    for line in sorted(rows):
        text = ""
        for x, part in sorted(rows[line]):
            text = text.ljust(round(x / 12.2)) + part
        out.append(text.replace("\xa0", " "))
    return out


def normalised(svg: str) -> str:
    """Textual names the SVG's CSS classes after a hash of the content; the content is what counts."""
    return re.sub(r"terminal-\d+", "terminal", svg)


def check_snapshot(name: str, svg: str) -> None:
    path = SNAPSHOTS / f"tui_switch_{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(normalised(svg), encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run UPDATE_SNAPSHOTS=1 pytest {__file__} and review it"
    assert normalised(svg) == path.read_text(encoding="utf-8"), (
        f"the screen differs from {path}; if the change is intended, run UPDATE_SNAPSHOTS=1 and review "
        "the SVG")


async def shoot(context: WizardContext, make_screen: Callable[[], Screen[Any]], size: tuple[int, int],
                before: Callable[[Any], None] | None = None) -> str:
    app = SnapshotApp(context, make_screen)
    async with app.run_test(size=size) as pilot:
        for _ in range(50):
            if not isinstance(app.screen, type(app.default_screen)):
                break
            await pilot.pause(0.02)
        await pilot.pause()  # laid out: the log pane wraps at its real width
        if before is not None:
            before(app.screen)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot()


def feed_mid_round(screen: Any) -> None:
    assert isinstance(screen, SwitchScreen)
    screen.state = "running"  # as if the engine's worker ran: these are its events
    for event in mid_round_events(screen.context):
        screen.show_event(event)
    screen.refresh_bindings()


SIZES = [(80, 24), (120, 40), (200, 60)]


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Local times render in one zone whatever the machine's (the Done screen shows local time)."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_switch_screen_mid_round(size: tuple[int, int]) -> None:
    context = fixed_context()
    svg = asyncio.run(shoot(context, lambda: SwitchScreen(context, live_feed=False), size, feed_mid_round))
    text = svg_text(svg)
    assert "Round 2 of 3" in text
    for pane in ("DNS pods", "Endpoints of Service", "Observation"):
        assert pane in text, pane
    # at every width, even 80 columns, a pod's name, readiness, node and status show whole
    rows = svg_rows(svg)
    for name, ready, node, status in (("coredns-78b8ff9fb7-k2l9p", "no", "node-4", "ContainerCreating"),
                                      ("kube-dns-79dd595d95-5qqh6", "yes", "node-1", "Running")):
        row = next(r for r in rows if name in r)
        cells = {cell.strip("│ ▆▇") for cell in row.split("  ") if cell.strip()}
        assert {name, ready, node, status} <= cells, row
    if size[1] < 32:  # probes and events share a slot: the swap key is named on it
        assert "v: probes" in text
    else:
        assert "DNS probes" in text and "Events" in text
    check_snapshot(f"switch_{size[0]}x{size[1]}", svg)


def test_switch_screen_80x24_swaps_to_the_probes_pane() -> None:
    context = fixed_context()

    def swap(screen: Any) -> None:
        feed_mid_round(screen)
        screen.action_swap_pane()

    svg = asyncio.run(shoot(context, lambda: SwitchScreen(context, live_feed=False), (80, 24), swap))
    text = svg_text(svg)
    assert "DNS probes" in text and "v: events" in text and "kube-dns-79dd595d95-5qqh6" in text
    check_snapshot("switch_80x24_probes", svg)


def test_below_80x24_the_stage_says_the_terminal_is_too_small() -> None:
    context = fixed_context()
    svg = asyncio.run(shoot(context, lambda: SwitchScreen(context, live_feed=False), (70, 20),
                            feed_mid_round))
    text = svg_text(svg)
    assert "Terminal too small" in text and "70×20" in text and "at least 80×24" in text
    assert "DNS pods" not in text
    check_snapshot("switch_too_small_70x20", svg)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_dialog_mid_switch(size: tuple[int, int]) -> None:
    from screens.widgets.quit import QuitScreen

    context = fixed_context()

    def read(screen: Any) -> None:
        assert isinstance(screen, QuitScreen)
        screen.workers.cancel_all()
        screen.on_quit_screen_status_read(QuitScreen.StatusRead(fixed_status()))

    svg = asyncio.run(shoot(context, lambda: QuitScreen(context, None), size, read))
    text = svg_text(svg)
    assert "Quit in the middle of the switch?" in text and "Stay (esc)" in text and "Roll back" in text
    assert "kube-dns  2/3 ready" in text
    check_snapshot(f"quit_{size[0]}x{size[1]}", svg)


def test_switch_help_at_80x24() -> None:
    from screens.widgets.help import HelpScreen

    context = fixed_context()
    screen = SwitchScreen(context, live_feed=False)
    rows = [("n", "switch.continue", "Start/continue"), ("p", "switch.pause", "Pause"),
            ("l", "switch.logs", "Pod logs"), ("v", "switch.swap-pane", "Probes/events")]

    async def run() -> str:
        app = SnapshotApp(context, lambda: screen)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_screen(pilot, SwitchScreen)
            app.push_screen(HelpScreen(rows, "Switch", screen.help_text()))
            await wait_for_screen(pilot, HelpScreen)
            await pilot.pause()
            return app.export_screenshot()

    svg = asyncio.run(run())
    text = svg_text(svg)
    assert "This stage: runs the engine" in text and "Next: n starts the switch at step deploy" in text
    check_snapshot("help_80x24", svg)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_done_screen_after_a_completed_switch(size: tuple[int, int]) -> None:
    context = fixed_context()
    result = SwitchResult("completed",
                          "CoreDNS kube-system/coredns serves with 3/3 Ready replicas; kube-dns is at 0.",
                          duration_s=1234.0, probes=48, observed_queries=3600)
    svg = asyncio.run(shoot(context, lambda: DoneScreen(context, result, status=fixed_status("completed")),
                            size))
    text = svg_text(svg)
    assert "Switch complete" in text and "coredns-wizard cleanup" in text and "71 h 55 m" in text
    assert "+00:00 (" in text  # local time with its offset, and UTC
    check_snapshot(f"done_{size[0]}x{size[1]}", svg)


def test_resume_offer() -> None:
    context = fixed_context()
    svg = asyncio.run(shoot(context, lambda: ResumeScreen(context, fixed_status()), (120, 40)))
    assert "round 1 of 3" in svg_text(svg)
    check_snapshot("resume_120x40", svg)


def test_read_only_switch_screen_offers_no_key_that_changes_the_cluster() -> None:
    import dataclasses

    context = fixed_context()
    context.options = dataclasses.replace(context.options, mode="read-only")

    async def run() -> tuple[str, list[str], str]:
        app = SnapshotApp(context, lambda: SwitchScreen(context, live_feed=False))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_screen(pilot, SwitchScreen)
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            await pilot.press("n", "r")
            await pilot.pause()
            shown = [b.binding.key for b in app.active_bindings.values() if b.enabled]
            return screen.state, shown, "\n".join(screen.log_pane.lines_written)

    state, keys, log_text = asyncio.run(run())
    assert state == "idle"
    assert "n" not in keys and "r" not in keys and "l" in keys
    assert "Read-only mode" in log_text and "rollback" not in log_text


async def wait_for_screen(pilot: Any, kind: type) -> None:
    for _ in range(100):
        if isinstance(pilot.app.screen, kind):
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{kind.__name__} never opened")


def test_event_log_follows_the_end_only_while_the_reader_is_there() -> None:
    context = fixed_context()

    async def run() -> tuple[float, float, float]:
        app = SnapshotApp(context, lambda: SwitchScreen(context, live_feed=False))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_screen(pilot, SwitchScreen)
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            log = screen.log_pane
            for i in range(60):
                log.add(f"line {i}")
            await pilot.pause()
            at_end = log.scroll_y
            assert at_end > 0 and at_end == log.max_scroll_y
            log.scroll_home(animate=False)
            await pilot.pause()
            log.add("a line while the reader reads the top")
            await pilot.pause()
            reading = log.scroll_y
            log.scroll_end(animate=False)
            await pilot.pause()
            log.add("a line while the reader is at the end")
            await pilot.pause()
            return at_end, reading, log.scroll_y - log.max_scroll_y

    _, reading, gap = asyncio.run(run())
    assert reading == 0  # not yanked to the end
    assert gap == 0  # follows again at the end


def test_pause_shows_in_the_header() -> None:
    context = fixed_context()

    async def run() -> list[str]:
        app = SnapshotApp(context, lambda: SwitchScreen(context, live_feed=False))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_screen(pilot, SwitchScreen)
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            header = screen.query_one(WizardHeader)
            screen.state = "running"  # as while the engine's worker runs
            screen.refresh_bindings()
            await pilot.press("p")
            await pilot.pause()
            paused = header.stage
            await pilot.press("n")  # continue
            await pilot.pause()
            return [paused, header.stage]

    assert asyncio.run(run()) == ["5 Switch · PAUSED", "5 Switch"]
