"""Text from files and clusters made safe to show: control characters escaped, long values cut.

Event messages, log tails and object fields are written by whoever controls the cluster; printed
raw, an escape sequence in them could move the cursor, retitle the terminal or hide a line. The CLI
and the TUI both pass such text through `escape_control`. Error messages quote input through
`short_quote`, which looks at a bounded prefix only, so a huge or expanded value costs nothing.
"""

from __future__ import annotations

import re

from wizard.i18n import msg

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's
if TYPE_CHECKING:
    from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_NEWLINE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_KEEP = {"\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _KEEP:
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: object, keep_newlines: bool = False) -> str:
    """`text` with terminal control characters (C0, DEL, C1, bidirectional overrides) shown as
    `\\xNN`; tabs stay, and newlines stay when `keep_newlines` (a log tail shown as lines)."""
    pattern = _CONTROL if keep_newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escape, str(text))


def short_quote(value: Any, limit: int = 60, quote: bool = True) -> str:
    """At most `limit` characters of `value` for an error message, control characters escaped, with
    '…' when cut. Collections are described by type and size, never formatted whole."""
    if isinstance(value, dict | list | tuple | set):
        return msg("cli.collection-of-items", "a {type} of {count} items", type=type(value).__name__,
                   count=len(value))
    if isinstance(value, str | bytes):
        head = value[: limit + 1]
        text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    else:
        huge = isinstance(value, int) and value.bit_length() > 512
        text = msg("cli.huge-number", "a huge number") if huge else str(value)[: limit + 1]
    cut = len(text) > limit
    shown = escape_control(text[:limit]) + ("…" if cut else "")
    return f"'{shown}'" if quote and isinstance(value, str | bytes) else shown
