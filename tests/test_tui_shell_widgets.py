"""Widgets of the shell without a cluster: the diff, the confirmation dialog, the header, the
connection light, the IPVS countdown text."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from screens.widgets.diff_view import DiffRow, diff_rows, diff_summary, render_side

LEFT = """.:53 {
    errors
    forward . /etc/resolv.conf
    cache 30
}
"""
RIGHT = """.:53 {
    errors
    forward . 8.8.8.8 8.8.4.4
    cache 30
    loadbalance
}
abc.com:53 {
    forward . 1.2.3.4
}
"""


def test_diff_rows_for_a_known_pair() -> None:
    rows = diff_rows(LEFT, RIGHT)
    assert rows == [
        DiffRow("equal", 1, ".:53 {", 1, ".:53 {"),
        DiffRow("equal", 2, "    errors", 2, "    errors"),
        DiffRow("changed", 3, "    forward . /etc/resolv.conf", 3, "    forward . 8.8.8.8 8.8.4.4"),
        DiffRow("equal", 4, "    cache 30", 4, "    cache 30"),
        DiffRow("added", None, None, 5, "    loadbalance"),
        DiffRow("equal", 5, "}", 6, "}"),
        DiffRow("added", None, None, 7, "abc.com:53 {"),
        DiffRow("added", None, None, 8, "    forward . 1.2.3.4"),
        DiffRow("added", None, None, 9, "}"),
    ]
    assert diff_summary(rows) == "4 added, 0 removed, 1 changed line(s)"


def test_removed_lines_and_identical_texts() -> None:
    rows = diff_rows("a\nb\nc\n", "a\nc\n")
    assert [r.tag for r in rows] == ["equal", "removed", "equal"]
    assert diff_summary(diff_rows("x\n", "x\n")) == "identical"


def test_render_side_keeps_indentation_and_aligns_rows() -> None:
    rows = diff_rows(LEFT, RIGHT)
    left = render_side(rows, "left").plain.split("\n")
    right = render_side(rows, "right").plain.split("\n")
    assert len(left) == len(right) == len(rows), "side by side: one line per row on both sides"
    assert left[2] == "   3 ~     forward . /etc/resolv.conf"
    assert right[4] == "   5 +     loadbalance"
    assert left[4].strip() == "", "a filler where only the right side has a line"
    stacked = render_side(rows, "left", aligned=False).plain.split("\n")
    assert len(stacked) == 5 and "" not in [s.strip() for s in stacked]


def test_render_side_colours_changed_rows_only() -> None:
    rows = diff_rows(LEFT, RIGHT)
    right = render_side(rows, "right")
    styled = {right.plain[span.start:span.end].strip() for span in right.spans if "on" in str(span.style)}
    assert "+     loadbalance" in styled and "~     forward . 8.8.8.8 8.8.4.4" in styled
    assert not any("cache 30" in s for s in styled)


def test_connection_light_states() -> None:
    from screens.app import link_state_of
    from wizard.k8s.gateway import RequestEvent

    assert link_state_of(RequestEvent("GET", "/version", 1, 200, None, 0.1, False)) == ("ok", "")
    assert link_state_of(RequestEvent("GET", "/x", 1, 404, None, 0.1, False)) == ("ok", "")
    assert link_state_of(RequestEvent("GET", "/x", 1, 503, None, 0.1, True)) == ("retrying", "HTTP 503")
    assert link_state_of(RequestEvent("GET", "/x", 3, None, "connection refused", 0.1, False)) == (
        "unreachable", "connection refused")


def test_header_shows_mode_and_untrusted_text_literally() -> None:
    from screens.widgets.header import WizardHeader

    header = WizardHeader("[bold]ctx[/bold]", "c1", "https://127.0.0.1:6443", "dry-run", "1 Preconditions")
    text = header.render_text()
    assert isinstance(text, Text)
    assert "[bold]ctx[/bold]" in text.plain, "context names are shown as text, never as markup"
    assert " DRY-RUN " in text.plain and "○ connecting" in text.plain
    header.link, header.link_detail = "unreachable", "connection refused"
    assert "✖ unreachable (connection refused)" in header.render_text().plain


def test_countdown_format() -> None:
    from screens.stages.ipvs import format_remaining

    assert format_remaining(300) == "5:00"
    assert format_remaining(0.2) == "0:01"
    assert format_remaining(0) == "0:00"
    assert format_remaining(-5) == "0:00"


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def ask(self) -> None:
        from screens.widgets.confirm import ConfirmationModal

        self.push_screen(ConfirmationModal("Apply?", Text("scale Deployment kube-system/coredns")),
                         self.answers.append)


def _dialog(keys: tuple[str, ...]) -> tuple[list[bool | None], Any]:
    app = _Host()
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            app.call_later(app.ask)
            await pilot.pause(0.2)
            seen["focused"] = app.focused.id if app.focused else None
            for key in keys:
                await pilot.press(key)
            await pilot.pause(0.1)

    asyncio.run(scenario())
    return app.answers, seen["focused"]


def test_confirmation_focuses_cancel_and_y_confirms() -> None:
    answers, focused = _dialog(("y",))
    assert focused == "confirm-cancel"
    assert answers == [True]


def test_confirmation_enter_and_escape_cancel() -> None:
    assert _dialog(("enter",))[0] == [False]
    assert _dialog(("escape",))[0] == [False]


def test_unreachable_cluster_shows_in_header_and_as_one_line(tmp_path: Any) -> None:
    import socket

    from screens.app import build_app
    from screens.context import WizardContext
    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.gateway import Gateway
    from wizard.options import SwitchOptions

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters: [{{name: gone, cluster: {{server: 'https://127.0.0.1:{port}',\n"
        "  insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: u}}]\n",
        encoding="utf-8",
    )
    connection = resolve_connection(str(kubeconfig), request_timeout="2s")
    gateway = Gateway(connection, "live", retries=0)
    context = WizardContext(connection=connection, gateway=gateway, options=SwitchOptions())
    app = build_app(context, offer_resume=False)

    async def scenario() -> None:
        from tui_shell_support import screen_text, wait_until

        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: app.link == "unreachable", "the connection light", 30)
            await wait_until(pilot, lambda: "pre-flight could not run" in screen_text(app), "the error", 30)
            text = screen_text(app)
            assert "✖ unreachable" in text and "Traceback" not in text
            assert app.advance_blocked() is not None

    asyncio.run(scenario())
    gateway.close()


def test_notifications_are_plain_text_by_default() -> None:
    from screens.app import WizardApp

    shown: list[dict[str, Any]] = []

    class Probe(WizardApp):
        def __init__(self) -> None:  # no context needed to check the default
            App.__init__(self)

    original = App.notify
    try:
        App.notify = lambda self, message, **kw: shown.append({"message": message, **kw})  # type: ignore[method-assign]
        Probe().notify("HTTP 422: field [bold]spec[/bold] is invalid")
    finally:
        App.notify = original  # type: ignore[method-assign]
    assert shown == [{"message": "HTTP 422: field [bold]spec[/bold] is invalid", "title": "",
                      "severity": "information", "timeout": None, "markup": False}]
