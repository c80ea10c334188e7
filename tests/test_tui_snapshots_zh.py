"""Every stage in Chinese at 80x24 and 120x40: SVG snapshots, and no English prose on screen.

Why both: CJK characters take two cells, so a layout that fits in English by character count can
overflow in Chinese (the snapshot shows it); and a text that was never marked for translation
stays English (english_prose finds it; names, flags, commands and cluster data are allowed).
`UPDATE_SNAPSHOTS=1` rewrites tests/snapshots/*zh*.svg, as for the English snapshots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from i18n_support import screen_prose
from test_tui_shell_snapshots import SHELL_VIEWS, _snapshot
from test_tui_switch_snapshots import (
    check_snapshot,
    fixed_context,
    fixed_status,
    mid_round_events,
    shoot,
    svg_rows,
)
from tui_shell_support import screen_text

from wizard import i18n
from wizard.lab.cluster import Lab

SIZES = [(80, 24), (120, 40)]
@pytest.fixture(autouse=True)
def chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    i18n.set_language("zh")
    try:
        yield
    finally:
        i18n.set_language("en")
        monkeypatch.undo()
        time.tzset()




def assert_no_english(text: str, where: str) -> None:
    found = screen_prose(text)
    assert not found, f"English prose left on {where}:\n" + "\n".join(found)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stage", list(SHELL_VIEWS))
def test_shell_stage_in_chinese(lab: Lab, stage: str, size: tuple[int, int]) -> None:
    seen: dict[str, str] = {}
    start, steps = SHELL_VIEWS[stage]

    async def then_read(app: Any, pilot: Any) -> None:
        if steps is not None:
            await steps(app, pilot)
        await pilot.pause(0.3)
        seen["text"] = screen_text(app)

    _snapshot(lab, f"zh_shell_{stage}_{size[0]}x{size[1]}", start, then_read, size=size)
    assert_no_english(seen["text"], f"the {stage} stage at {size[0]}x{size[1]}")


def chinese_context() -> Any:
    """The snapshots' fixed context with a plan made by the engine (its step titles are the
    engine's messages, in the language of the moment)."""
    from plan_facts import make_facts

    from wizard.migration.plan import make_plan
    from wizard.options import SwitchOptions

    context = fixed_context()
    context.plan = make_plan(make_facts(nodes=3, replicas=3), SwitchOptions())
    return context


def feed_engine_texts(screen: Any) -> None:
    """The mid-round events, with the texts the engine sends (its message ids and templates:
    a template that drifts from the engine's is not in the catalog, and the check fails)."""
    from wizard.i18n import msg
    from wizard.migration.progress import Note, StepFinished, Waiting

    texts = {
        "1 question(s) to 1 CoreDNS pod(s): all agree": msg(
            "switch.probe-passed-compared",
            "{questions} question(s) to {pods} CoreDNS pod(s) compared with {baseline}: all right",
            questions=1, pods=1, baseline="kube-dns-79dd595d95-5qqh6 (10.244.1.5)"),
        "2 Ready pod(s) of Deployment kube-system/coredns": msg(
            "switch.wait-ready-pods", "{want} Ready pod(s) of Deployment {deployment}",
            want=2, deployment="kube-system/coredns"),
        "resuming: 7 of 21 steps already done; continuing at r2.scale-coredns": msg(
            "switch.resuming-at", "resuming: {done} of {total} steps already done; continuing at {first}",
            done=7, total=21, first="r2.scale-coredns"),
    }
    screen.state = "running"
    for event in mid_round_events(screen.context):
        if isinstance(event, StepFinished) and event.detail in texts:
            event = StepFinished(event.step, event.outcome, texts[event.detail])
        elif isinstance(event, Waiting) and event.what in texts:
            event = Waiting(texts[event.what], event.elapsed_s, event.timeout_s)
        elif isinstance(event, Note) and event.message in texts:
            event = Note(texts[event.message])
        screen.show_event(event)
    screen.refresh_bindings()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_switch_screen_in_chinese(size: tuple[int, int]) -> None:
    from screens.stages.switch import SwitchScreen

    context = chinese_context()
    svg = asyncio.run(shoot(context, lambda: SwitchScreen(context, live_feed=False), size, feed_engine_texts))
    assert_no_english("\n".join(svg_rows(svg)), f"the switch stage at {size[0]}x{size[1]}")
    check_snapshot(f"zh_switch_{size[0]}x{size[1]}", svg)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_dialog_in_chinese(size: tuple[int, int]) -> None:
    from screens.widgets.quit import QuitScreen

    context = fixed_context()

    def read(screen: Any) -> None:
        screen.workers.cancel_all()
        screen.on_quit_screen_status_read(QuitScreen.StatusRead(fixed_status()))

    svg = asyncio.run(shoot(context, lambda: QuitScreen(context, None), size, read))
    assert_no_english("\n".join(svg_rows(svg)), f"the quit dialog at {size[0]}x{size[1]}")
    check_snapshot(f"zh_quit_{size[0]}x{size[1]}", svg)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_done_screen_in_chinese(size: tuple[int, int]) -> None:
    from screens.stages.done import DoneScreen
    from screens.stages.switch import SwitchResult
    from wizard.i18n import t

    context = fixed_context()
    result = SwitchResult("completed", t("Switch complete"), duration_s=1234.0, probes=48,
                          observed_queries=3600)
    svg = asyncio.run(shoot(context, lambda: DoneScreen(context, result, status=fixed_status("completed")),
                            size))
    assert_no_english("\n".join(svg_rows(svg)), f"the done stage at {size[0]}x{size[1]}")
    check_snapshot(f"zh_done_{size[0]}x{size[1]}", svg)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_resume_offer_in_chinese(size: tuple[int, int]) -> None:
    from screens.resume import ResumeScreen

    context = fixed_context()
    svg = asyncio.run(shoot(context, lambda: ResumeScreen(context, fixed_status()), size))
    assert_no_english("\n".join(svg_rows(svg)), f"the resume offer at {size[0]}x{size[1]}")
    check_snapshot(f"zh_resume_{size[0]}x{size[1]}", svg)
