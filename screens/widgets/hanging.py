"""Hanging indents: a wrapped line continues under the text after its bullet or label, not at
the left edge.

Why: findings, step and status lines start with a mark (`✔`, `▶`, `✖`, `→`) or an indented
evidence prefix; when a long cluster message wraps, a continuation at column 0 reads as a new
item. `Hanging` wraps each line of a rich Text at render time (so at the pane's real width) and
pads its continuations to where the line's text began.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text

BULLET = re.compile(r"^ *(?:[✔✖!?▶■→•✓✗○·] +)?")
"""Leading spaces and one mark with its spaces: what a continuation line hangs under."""
MIN_BODY = 20
"""Narrower than this after the indent, a line wraps at the left edge instead."""


def hang_prefix(line: str) -> int:
    """How many characters of `line` its continuations hang under (its indent and bullet)."""
    match = BULLET.match(line)
    return match.end() if match else 0


class Hanging:
    """A rich renderable: `text` line by line, each wrapped line hanging under its own prefix
    (`hang_prefix`, or `prefixes[i]` characters for line i when given: a label's width)."""

    def __init__(self, text: Text, prefixes: Iterable[int | None] = ()) -> None:
        self.text = text
        self.prefixes = list(prefixes)

    @property
    def plain(self) -> str:
        return self.text.plain

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hanging) and (self.text, self.prefixes) == (other.text, other.prefixes)

    __hash__ = None  # type: ignore[assignment]

    def lines(self, console: Console, width: int) -> list[Text]:
        """The text wrapped at `width`, continuations padded (what is rendered; tests read it)."""
        out: list[Text] = []
        for index, line in enumerate(self.text.split("\n", allow_blank=True)):
            given = self.prefixes[index] if index < len(self.prefixes) else None
            cuts = ([] if given is None else [min(given, len(line.plain))]) + [hang_prefix(line.plain), 0]
            # the label's width, else the bullet's, else none: whichever leaves room for the text
            cut = next(c for c in cuts if c == 0 or width - cell_len(line.plain[:c]) >= MIN_BODY)
            head, body = line.divide([cut]) if cut else (Text(), line)
            pad = cell_len(head.plain)
            body.end = ""
            wrapped = body.wrap(console, max(1, width - pad), overflow="fold") if body.plain else [Text()]
            for number, part in enumerate(wrapped):
                start = head.copy() if number == 0 else Text(" " * pad)
                start.append_text(part)
                out.append(start)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(console, options.max_width):
            line.end = ""
            yield from line.render(console)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.text)


def ljust_cells(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal cells (a CJK character takes two): labels in
    a column line up in every language."""
    return text + " " * max(0, width - cell_len(text))


SLOT = "\x00"
"""A parameter value marking where a styled value goes in a translated sentence (see `around`)."""


def around(sentence: str) -> tuple[str, str]:
    """The text before and after the SLOT in `sentence` (a translation made with a parameter set
    to SLOT), so the value can be appended with its own style wherever the language puts it."""
    before, _, after = sentence.partition(SLOT)
    return before, after
