"""Benchmark: the terminal wizard's responsiveness against the lab (goals: the first frame within a
second; keys answered within 100 ms while the live panes update several times a second).

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_tui.py -p no:cacheprovider --benchmark-only -s

Frames are timed with Textual's own paint hook: every compositor refresh goes through
`App._display(screen, update)` (headless too, where the update is computed but not written), so
"painted" means the frame that carries the change was composed. Keys are sent the way a terminal
sends them (a Key event through the driver), not through Pilot, whose waiting would add to the
number. A summary table is printed at the end of the module.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.screen import Screen
from tui_shell_support import lab_context as shell_context
from tui_switch_support import lab_context as switch_context

from screens.app import build_app
from screens.stages.switch import SwitchScreen
from screens.widgets.help import HelpScreen
from screens.widgets.panes import EndpointsPane, EventLogPane, ObservationPane, PodsPane, ProbesPane
from wizard.lab.cluster import Lab

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
KEY_SAMPLES = 12
"""Presses of each key while the switch runs (p twice per sample: pause, then continue)."""
RESULTS: dict[str, str] = {}
PANE_UPDATES: tuple[tuple[type, str], ...] = (
    (PodsPane, "redraw"), (EndpointsPane, "redraw"), (ProbesPane, "update_batch"),
    (ObservationPane, "update_tick"), (EventLogPane, "add"),
)


class FrameClock:
    """Records when frames are painted and answers "when was the first frame in which X held"."""

    def __init__(self, app: Any) -> None:
        self.frames = 0
        self.first: float | None = None
        self._waiters: list[tuple[Callable[[Screen[Any]], bool], list[float]]] = []
        original = app._display

        def display(screen: Screen[Any], renderable: Any) -> None:
            if renderable is not None:
                now = time.perf_counter()
                self.frames += 1
                if self.first is None:
                    self.first = now
                for predicate, slot in list(self._waiters):
                    if predicate(screen):
                        slot.append(now)
                        self._waiters.remove((predicate, slot))
            original(screen, renderable)

        app._display = display

    def when(self, predicate: Callable[[Screen[Any]], bool]) -> list[float]:
        """A slot that gets the time of the first frame painted with `predicate(screen)` true."""
        slot: list[float] = []
        self._waiters.append((predicate, slot))
        return slot


async def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def key_latency(app: Any, clock: FrameClock, key: str, painted: Callable[[Screen[Any]], bool]) -> float:
    """Seconds from the key leaving the terminal driver to the first frame showing its effect."""
    slot = clock.when(painted)
    char = "?" if key == "question_mark" else key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    sent = time.perf_counter()
    app._driver.send_message(event)
    await wait_for(lambda: slot, f"a frame answering {key}", 10)
    return slot[0] - sent


def describe(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms  (n={len(ms)})"


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    if RESULTS:
        width = max(len(label) for label in RESULTS)
        print("\n\nTUI responsiveness (goals: first frame < 1 s, key latency < 100 ms)")
        print("-" * (width + 60))
        for label, value in RESULTS.items():
            print(f"{label:<{width}}   {value}")
        print("-" * (width + 60))


def test_import_time_of_the_wizard_ui(benchmark: Any) -> None:
    """What `coredns-wizard` pays before the App exists: importing Textual and the screens."""
    code = "import time; t = time.perf_counter(); import screens.app; print(time.perf_counter() - t)"

    def measure() -> float:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             check=True)
        return float(out.stdout)

    samples: list[float] = []
    benchmark.pedantic(lambda: samples.append(measure()), rounds=5, iterations=1)
    RESULTS["import screens.app (fresh interpreter)"] = describe(samples)


def test_first_frame(lab: Lab, benchmark: Any) -> None:
    """From the App being built to its first frame (the start screen), and to the first stage
    (Preconditions) painted, which waits for the resume check's read of the cluster."""
    first: list[float] = []
    stage: list[float] = []

    async def start_once() -> None:
        began = time.perf_counter()
        app = build_app(shell_context(lab))
        clock = FrameClock(app)
        preconditions = clock.when(lambda s: s.id == "stage-preconditions")
        async with app.run_test(size=SIZE):
            await wait_for(lambda: preconditions, "the Preconditions stage to be painted", 60)
            assert clock.first is not None
            first.append(clock.first - began)
            stage.append(preconditions[0] - began)
            app.exit()

    benchmark.pedantic(lambda: asyncio.run(start_once()), rounds=5, iterations=1)
    RESULTS["first frame (start screen)"] = describe(first)
    RESULTS["first stage painted (Preconditions)"] = describe(stage)


@pytest.mark.lab_options(nodes=5, kube_dns_replicas=3)
def test_keys_while_the_switch_runs(lab: Lab, tmp_path: Path, benchmark: Any) -> None:
    """`p` (pause, continue) and `?` (help, then esc) on the Switch stage while the engine scales
    and the panes follow the cluster; and how often the panes and the screen update meanwhile."""
    pause_latency: list[float] = []
    help_latency: list[float] = []
    rates: dict[str, float] = {}
    counts: dict[str, int] = {}

    originals = {(cls, name): getattr(cls, name) for cls, name in PANE_UPDATES}

    def counting(cls: type, name: str) -> Callable[..., Any]:
        original = originals[(cls, name)]

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[cls.__name__] = counts.get(cls.__name__, 0) + 1
            return original(self, *args, **kwargs)

        return wrapper

    async def scenario() -> None:
        context = switch_context(lab, tmp_path, assume_yes=True, observe_seconds=4.0)
        app = build_app(context, start_stage="switch")
        clock = FrameClock(app)
        async with app.run_test(size=SIZE):
            await wait_for(lambda: isinstance(app.screen, SwitchScreen), "the Switch stage", 30)
            screen = app.screen
            assert isinstance(screen, SwitchScreen)
            await key_latency(app, clock, "n", lambda s: s is screen and screen.state == "running")
            counts.clear()
            frames_before, began = clock.frames, time.perf_counter()
            for _ in range(KEY_SAMPLES):
                for paused in (True, False):
                    pause_latency.append(await key_latency(
                        app, clock, "p", lambda s, p=paused: s is screen and screen.gate.paused is p))
                help_latency.append(await key_latency(app, clock, "question_mark",
                                                      lambda s: isinstance(s, HelpScreen)))
                await key_latency(app, clock, "escape", lambda s: s is screen)
                await asyncio.sleep(0.25)  # let the engine and the panes move between samples
            await wait_for(lambda: screen.state != "running", "the switch to end", 300)
            elapsed = time.perf_counter() - began
            rates["frames"] = (clock.frames - frames_before) / elapsed
            for name, count in counts.items():
                rates[name] = count / elapsed
            assert screen.state == "completed" or app.screen is not screen, screen.stop_reason
            app.exit()

    for (cls, name) in originals:
        setattr(cls, name, counting(cls, name))
    try:
        benchmark.pedantic(lambda: asyncio.run(scenario()), rounds=1, iterations=1)
    finally:
        for (cls, name), original in originals.items():
            setattr(cls, name, original)
    RESULTS["key p on Switch (pause/continue) to frame"] = describe(pause_latency)
    RESULTS["key ? on Switch (help) to frame"] = describe(help_latency)
    RESULTS["  of which the first (cold) press"] = f"{help_latency[0] * 1000:7.1f} ms"
    pane_total = sum(v for k, v in rates.items() if k != "frames")
    RESULTS["pane updates during the switch"] = f"{pane_total:6.1f} /s   " + "  ".join(
        f"{k} {v:.1f}" for k, v in sorted(rates.items()) if k != "frames")
    RESULTS["frames painted during the switch"] = f"{rates['frames']:6.1f} /s"
