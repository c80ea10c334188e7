"""Helpers for the tui-switch tests: a WizardContext on a lab, and waiting on the UI for a
condition (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from switch_support import fast_options, gateway_for, journal_in, make_test_plan
from textual.pilot import Pilot

from screens.context import WizardContext


class FrozenClock:
    """A clock that only moves when told to (snapshots, countdowns)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lab_context(lab: Any, tmp_path: Path, *, with_plan: bool = True, **options: Any) -> WizardContext:
    """A context on the lab: a plan from its real objects, a journal in tmp_path, and options
    that make the switch fast (observe 1 s) and ask before every change."""
    gateway = gateway_for(lab)
    base: dict[str, Any] = {
        "observe_seconds": 1.0, "assume_yes": False, "dns_port": gateway.connection.dns_port,
    }
    base.update(options)
    return WizardContext(
        connection=gateway.connection, gateway=gateway, options=fast_options(**base),
        journal=journal_in(tmp_path), plan=make_test_plan(gateway) if with_plan else None, lab=lab,
    )


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Let the app run until `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.05)

