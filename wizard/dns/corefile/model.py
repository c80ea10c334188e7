"""The Corefile as data: server blocks, directives with nested option blocks, snippets, comments.

The model keeps what an operator wrote (comments, `import` lines, `{$ENV}` placeholders) so that
a Corefile can be edited and printed back without losing anything; `expand()` in the parser
produces the effective configuration CoreDNS would run (imports spliced, environment substituted).
Line numbers are kept for messages but take no part in equality, so `parse(print(x)) == x`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Directive:
    """One line inside a server block (`forward . 8.8.8.8 { ... }`), or one option line inside
    a directive's block (`lameduck 30s`). `block` is None when the line has no braces and a list
    (possibly empty) when it has `{ ... }`."""

    name: str
    args: list[str] = field(default_factory=list)
    block: list[Directive] | None = None
    comments: list[str] = field(default_factory=list)
    """Whole-line comments directly above this line, without the leading `#`."""
    trailing_comment: str | None = None
    """A comment on the same line, after the arguments (or after `{`), without the `#`."""
    line: int = field(default=0, compare=False)
    closing_comments: list[str] = field(default_factory=list)
    """Comments after the last option line, before this directive's closing brace."""
    imported_from: tuple[str, int] | None = field(default=None, compare=False)
    """Set by `expand()` on lines read from an imported file: (that file's name, the line of the
    Corefile's `import`), so a message about it can point there without quoting the file."""

    def option(self, name: str) -> Directive | None:
        """The first option line called `name` inside this directive's block, if any."""
        for opt in self.block or []:
            if opt.name == name:
                return opt
        return None

    def options(self, name: str) -> list[Directive]:
        return [opt for opt in self.block or [] if opt.name == name]


@dataclass
class ServerBlock:
    """`keys { directives }`: keys such as `.:53`, `cluster.local:53`, `dns://example.org`."""

    keys: list[str]
    directives: list[Directive] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    trailing_comment: str | None = None
    closing_comments: list[str] = field(default_factory=list)
    """Comments after the last directive, before the closing brace."""
    line: int = field(default=0, compare=False)

    def directive(self, name: str) -> Directive | None:
        for d in self.directives:
            if d.name == name:
                return d
        return None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]


@dataclass
class Snippet:
    """`(name) { ... }`: a reusable body spliced in by `import name`. Its body is kept as
    directives; a snippet that holds whole server blocks keeps them in `blocks`."""

    name: str
    directives: list[Directive] = field(default_factory=list)
    blocks: list[ServerBlock] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    closing_comments: list[str] = field(default_factory=list)
    line: int = field(default=0, compare=False)
    trailing_comment: str | None = None
    """A comment on the `(name) {` line."""


@dataclass
class TopLevelImport:
    """`import NAME` written between server blocks (AKS ships `import custom/*.server`, for example).

    Kept apart from `Corefile.items` so that `items` stays a list of blocks and snippets for the
    code that walks it; `position` is the index in `items` this import stands before (equal to
    `len(items)` when it comes after the last one). `expand()` splices it away."""

    position: int
    directive: Directive


@dataclass
class Corefile:
    """A whole Corefile, in source order: snippets and server blocks interleaved as written."""

    items: list[Snippet | ServerBlock] = field(default_factory=list)
    closing_comments: list[str] = field(default_factory=list)
    """Comments after the last block."""
    top_level_imports: list[TopLevelImport] = field(default_factory=list)
    """`import` lines between server blocks; see TopLevelImport."""

    @property
    def blocks(self) -> list[ServerBlock]:
        return [i for i in self.items if isinstance(i, ServerBlock)]

    @property
    def snippets(self) -> dict[str, Snippet]:
        return {i.name: i for i in self.items if isinstance(i, Snippet)}

    def walk(self) -> Iterator[tuple[ServerBlock, Directive]]:
        """Every (server block, top-level directive) pair, in order."""
        for block in self.blocks:
            for d in block.directives:
                yield block, d


@dataclass(frozen=True)
class ServerKey:
    """A server block key split into its parts: `dns://example.org.:1053` → ('dns', 'example.org.', 1053)."""

    transport: str
    zone: str
    port: int
