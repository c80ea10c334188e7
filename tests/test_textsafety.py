"""Cluster text reaches terminals escaped, and error messages quote bounded prefixes."""

from __future__ import annotations

import io

from wizard.commands._progress import TextProgress
from wizard.migration.live_view import cluster_event_of
from wizard.migration.progress import Note
from wizard.textsafety import escape_control, short_quote

HOSTILE = "pulled\x1b]0;owned\x07\x1b[2J\r\x00\x9b31m\u202eevil"


def test_escape_control_leaves_no_control_character() -> None:
    shown = escape_control(HOSTILE)
    assert shown == "pulled\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x00\\x9b31m\\u202eevil"
    assert all(ch.isprintable() for ch in shown)
    assert escape_control("a\tb\nc", keep_newlines=True) == "a\tb\nc"
    assert escape_control("a\nc") == "a\\x0ac"


def test_event_messages_are_escaped_at_the_engine_boundary() -> None:
    seen = cluster_event_of(
        {
            "type": "Warning",
            "reason": "Bad\x1b[1m",
            "message": HOSTILE,
            "involvedObject": {"kind": "Pod", "name": "x\x07"},
        }
    )
    for text in (seen.reason, seen.message, seen.involved):
        assert "\x1b" not in text and "\x07" not in text and "\x00" not in text


def test_the_cli_printer_escapes_what_it_prints() -> None:
    stream = io.StringIO()
    printer = TextProgress(stream=stream, tty=False)
    printer(Note(HOSTILE))
    out = stream.getvalue()
    assert "\x1b" not in out and "\x00" not in out and "\u202e" not in out
    assert "owned" in out


def test_short_quote_never_formats_a_whole_value() -> None:
    assert short_quote("x" * 10_000) == "'" + "x" * 60 + "…'"
    assert short_quote(list(range(10**6))) == "a list of 1000000 items"
    assert short_quote(10**5000) == "a huge number"
    assert short_quote("a\x1bb") == "'a\\x1bb'"
