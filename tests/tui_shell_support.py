"""Helpers for the tui-shell tests: a WizardContext on a lab, waiting for conditions, and SVG
snapshots that are stable across labs (addresses and ports differ per lab, so they are replaced
in the DATA before it is rendered, never patched into the SVG afterwards)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
FIXED_SERVER = "https://127.0.0.1:6443"
_LAB_ADDRESS = re.compile(r"127\.\d{1,3}\.(\d{1,3})\.(\d{1,3})")
_PORT = re.compile(r"(?<=[\d\]]):\d{2,5}\b")


def lab_context(lab: Any, mode: str = "live", **option_overrides: Any) -> Any:
    from screens.context import WizardContext
    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.gateway import Gateway
    from wizard.options import SwitchOptions

    connection = resolve_connection(str(lab.kubeconfig_path))
    gateway = Gateway(connection, mode)  # type: ignore[arg-type]
    options = SwitchOptions(mode=mode, dns_port=connection.lab_dns_port, **option_overrides)  # type: ignore[arg-type]
    return WizardContext(connection=connection, gateway=gateway, options=options, lab=lab)


def normalise_text(text: str) -> str:
    """Lab addresses and ports → fixed ones (same everywhere, so layouts stay identical)."""
    return _PORT.sub(":1053", _LAB_ADDRESS.sub(r"127.9.\1.\2", text))


def normalise_report(report: Any) -> Any:
    findings = tuple(
        dataclasses.replace(
            f,
            title=normalise_text(f.title),
            evidence=tuple(normalise_text(e) for e in f.evidence),
            advice=normalise_text(f.advice),
        )
        for f in report.findings
    )
    return dataclasses.replace(report, findings=findings)


def freeze_for_snapshot(context: Any) -> None:
    """A fixed API server in the header and a clock that never moves."""
    context.connection = dataclasses.replace(context.connection, server=FIXED_SERVER)
    context.clock = lambda: 1000.0


async def wait_until(pilot: Any, condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds; fail naming `what` otherwise."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def stop_cursor_blink(app: Any) -> None:
    """Blinking cursors would make snapshots depend on timing."""
    for widget in app.screen.query("*"):
        if hasattr(widget, "cursor_blink"):
            widget.cursor_blink = False


def assert_snapshot(app: Any, name: str) -> None:
    """Compare with tests/snapshots/NAME.svg; UPDATE_SNAPSHOTS=1 (re)writes it instead."""
    svg = app.export_screenshot(title=name)
    path = SNAPSHOT_DIR / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"no snapshot {path}: run with UPDATE_SNAPSHOTS=1 to create it")
        SNAPSHOT_DIR.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if svg != expected:
        failed = path.with_suffix(".actual.svg")
        failed.write_text(svg, encoding="utf-8")
        raise AssertionError(f"snapshot {name} differs from {path}; the new rendering is in {failed}")


def screen_text(app: Any) -> str:
    """What the current screen shows, as plain text (from the SVG), for content asserts."""
    import html

    svg = app.export_screenshot()
    rows: dict[int, list[tuple[float, str]]] = {}
    pattern = (
        r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
        r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>'
    )
    for m in re.finditer(pattern, svg):
        rows.setdefault(int(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    lines = []
    for line in sorted(rows):
        out = ""
        for x, text in sorted(rows[line]):
            out = out.ljust(round(x / 12.2)) + text
        lines.append(out.replace("\xa0", " ").rstrip())
    return "\n".join(lines)
