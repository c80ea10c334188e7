"""The change record: built from the engine's data after a real switch on the lab, written by `w`
on the Done stage as one self-contained HTML file with inline SVG charts."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_tui_switch_flow import answer_confirmations_until
from tui_switch_support import lab_context, wait_until

from screens.app import build_app
from screens.stages.done import DoneScreen
from screens.stages.switch import SwitchScreen
from wizard.migration.change_record import ObservationSample, local_and_utc, parse_time
from wizard.migration.change_record_html import line_chart


def test_times_are_local_with_offset_and_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        moment = parse_time("2026-12-03T22:46:03.123Z")
        assert moment is not None
        assert local_and_utc(moment) == "2026-12-03 23:46:03 +01:00 (22:46:03 UTC)"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert parse_time("not a time") is None


def test_success_rate_and_chart_points() -> None:
    sample = ObservationSample("r1.observe", datetime(2026, 1, 1, tzinfo=UTC), 2.0, 200, 2, 0.5, 1.5)
    assert sample.success_rate == 0.99
    svg = line_chart("rate", "%", 4.0, [("success %", "#000", [(0.0, 100.0), (4.0, 99.0)])], 99.0, 100.0)
    assert svg.startswith("<svg") and 'points="52.0,14.0 506.0,152.0"' in svg


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_w_on_done_writes_the_change_record_of_the_switch(lab: Any, tmp_path: Path) -> None:
    path = tmp_path / "record.html"

    async def run() -> None:
        context = lab_context(lab, tmp_path, observe_seconds=3.0)
        app = build_app(context, start_stage="switch")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
            await pilot.press("n")
            await answer_confirmations_until(pilot, lambda: isinstance(app.screen, DoneScreen), 90, [])
            context.report_path = str(path)
            await pilot.press("w")
            await wait_until(pilot, path.exists, 20, "the change record")
            assert context.observations, "the switch's observation ticks were kept"

    asyncio.run(run())
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    for step in ("deploy", "r1.scale-coredns", "r1.observe", "r2.scale-kube-dns"):
        assert f"<code>{step}</code>" in page, step
    assert "<code>kubectl scale deployment coredns -n kube-system --replicas=1</code>" in page
    assert page.count("<svg") >= 4 and "<polyline" in page  # success rate and latency per round
    assert len(re.findall(r'class="ok">done<', page)) >= 10
    assert "Switch complete" in page and "coredns-wizard rollback --context" in page
    assert "UTC)" in page  # every time in local zone with offset and in UTC
