"""The configuration CoreDNS would actually run: imports spliced in, environment substituted.

The parsed model keeps `import` lines and `{$VAR}` placeholders so that a Corefile prints back as
written; checks and the emulator need the effective configuration instead. CoreDNS does this at
token level while parsing (coredns/caddy `parse.go`: `doImport`, `replaceEnvVars`); here it is
done on the model, with the same results for every Corefile the parser accepts.
"""

from __future__ import annotations

import copy
import glob
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from wizard.dns.corefile.errors import CorefileSyntaxError
from wizard.dns.corefile.lexer import MAX_TOKENS
from wizard.dns.corefile.model import Corefile, Directive, ServerBlock, Snippet
from wizard.dns.corefile.parser import IMPORT, is_snippet_reference, parse, parse_directives, snippet_blocks
from wizard.errors import InputError
from wizard.i18n import msg
from wizard.safe_load import read_text
from wizard.textsafety import short_quote

_Parsed = TypeVar("_Parsed", Corefile, list[Directive])

MAX_IMPORT_DEPTH = 10
"""Imports nest two or three levels in real Corefiles; deeper is refused (CoreDNS stops at 100000
files), so with MAX_BLOCK_DEPTH it bounds how deeply the expanded Corefile nests."""
MAX_EXPANDED_DIRECTIVES = 20_000
"""Snippets importing snippets multiply: ten imports of ten imports of ... is exponential."""
MAX_IMPORT_BYTES = 1024 * 1024
"""An imported file is at most as large as a ConfigMap may be."""


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Replace `{%VAR%}`, then `{$VAR}`, as CoreDNS does; an unset variable becomes ''.

    Like CoreDNS, a placeholder with an empty name (`{$}`) stops further replacement in the token.
    Unlike CoreDNS, a value is not itself searched for placeholders (CoreDNS would loop forever
    on a variable whose value names itself)."""
    return _substitute(_substitute(text, "{%", "%}", env), "{$", "}", env)


def _substitute(text: str, start: str, end: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    pos = 0
    while (begin := text.find(start, pos)) != -1:
        finish = text.find(end, begin + len(start))
        if finish == -1 or finish == begin + len(start):
            break
        out.append(text[pos:begin])
        out.append(env.get(text[begin + len(start) : finish], ""))
        pos = finish + len(end)
    out.append(text[pos:])
    return "".join(out)


def expand(
    cf: Corefile,
    env: Mapping[str, str] | None = None,
    base_dir: str | Path | None = None,
    filename: str = "Corefile",
) -> Corefile:
    """A new Corefile with every `import` spliced in, snippet definitions removed and environment
    placeholders replaced (from `os.environ` when `env` is None). File imports are read relative
    to `base_dir` (as CoreDNS reads them relative to the Corefile's directory) and must stay inside
    it, symbolic links resolved: the wizard never reads a file outside the Corefile's directory.
    Without `base_dir` they raise InputError. `cf` is not modified."""
    expander = _Expander(os.environ if env is None else env, filename, base_dir)
    return expander.corefile(cf, Path(base_dir) if base_dir is not None else None, {}, [])


class _Expander:
    def __init__(self, env: Mapping[str, str], filename: str, base_dir: str | Path | None) -> None:
        self.env = env
        self.filename = filename
        self.root = Path(base_dir).resolve() if base_dir is not None else None
        self.directives = 0
        self.words_left = MAX_TOKENS  # shared by every imported file, so a glob of many cannot add up

    def corefile(
        self, cf: Corefile, base_dir: Path | None, outer: dict[str, Snippet], chain: list[str]
    ) -> Corefile:
        # caddy substitutes the environment while lexing, so snippet names are substituted too
        snippets = {**outer, **{self._env(name): s for name, s in cf.snippets.items()}}
        imports = sorted(cf.top_level_imports, key=lambda imp: imp.position)
        blocks: list[ServerBlock] = []
        for index in range(len(cf.items) + 1):
            while imports and imports[0].position <= index:
                blocks.extend(self._top_level_import(imports.pop(0).directive, base_dir, snippets, chain))
            if index < len(cf.items) and isinstance(item := cf.items[index], ServerBlock):
                blocks.append(self._block(item, base_dir, snippets, chain))
        return Corefile(items=list(blocks), closing_comments=list(cf.closing_comments))

    def _block(
        self, block: ServerBlock, base_dir: Path | None, snippets: dict[str, Snippet], chain: list[str]
    ) -> ServerBlock:
        expanded = copy.deepcopy(block)
        expanded.keys = [self._env(key) for key in block.keys]
        expanded.directives = self._directives(block.directives, base_dir, snippets, chain)
        return expanded

    def _directives(
        self,
        directives: list[Directive],
        base_dir: Path | None,
        snippets: dict[str, Snippet],
        chain: list[str],
    ) -> list[Directive]:
        out: list[Directive] = []
        self.directives += len(directives)
        if self.directives > MAX_EXPANDED_DIRECTIVES:
            where = directives[0] if directives else Directive(name="", line=0)
            raise self._error(
                where,
                msg(
                    "corefile.expand-too-many-directives",
                    "imports expand to more than {limit} directives: import less often",
                    limit=MAX_EXPANDED_DIRECTIVES,
                ),
            )
        for directive in directives:
            if directive.name == IMPORT and len(directive.args) == 1 and directive.block is None:
                out.extend(self._block_import(directive, base_dir, snippets, chain))
                continue
            expanded = copy.deepcopy(directive)
            expanded.name = self._env(directive.name)
            expanded.args = [self._env(arg) for arg in directive.args]
            if directive.block is not None:
                expanded.block = self._directives(directive.block, base_dir, snippets, chain)
            out.append(expanded)
        return out

    def _block_import(
        self, directive: Directive, base_dir: Path | None, snippets: dict[str, Snippet], chain: list[str]
    ) -> list[Directive]:
        name = self._env(directive.args[0])
        chain = self._enter(chain, name, directive)
        snippet = snippets.get(name)
        if snippet is not None:
            if snippet.blocks:
                raise self._error(
                    directive,
                    msg(
                        "corefile.snippet-blocks-inside-block",
                        "snippet '{name}' holds server blocks and cannot be imported inside a block",
                        name=name,
                    ),
                )
            return self._directives(snippet.directives, base_dir, snippets, chain)
        out: list[Directive] = []
        for path in self._files(name, directive, base_dir):
            parsed = self._parsed(path, directive, parse_directives)
            expanded = self._directives(parsed, path.parent, snippets, chain)
            out.extend(_from_file(expanded, path.name, directive))
        return out

    def _top_level_import(
        self, directive: Directive, base_dir: Path | None, snippets: dict[str, Snippet], chain: list[str]
    ) -> list[ServerBlock]:
        name = self._env(directive.args[0])
        chain = self._enter(chain, name, directive)
        snippet = snippets.get(name)
        if snippet is not None:
            return [self._block(b, base_dir, snippets, chain) for b in snippet_blocks(snippet, self.filename)]
        out: list[ServerBlock] = []
        for path in self._files(name, directive, base_dir):
            parsed = self._parsed(path, directive, parse)
            for block in self.corefile(parsed, path.parent, snippets, chain).blocks:
                block.directives = _from_file(block.directives, path.name, directive)
                out.append(block)
        return out

    def _parsed(self, path: Path, directive: Directive, parser: Callable[[str, str], _Parsed]) -> _Parsed:
        """An imported file, parsed; its own syntax errors name only the file and line, never its
        text (an import might point at a file that is not meant to be shown)."""
        try:
            text = read_text(path, "imported Corefile part", max_bytes=MAX_IMPORT_BYTES)
        except InputError as err:
            reason = str(err).removeprefix(f"{path}: ")
            raise self._error(
                directive,
                msg(
                    "corefile.import-unreadable",
                    "cannot import '{name}': {reason}",
                    name=path.name, reason=reason,
                ),
            ) from None
        self.words_left -= len(text.split())
        if self.words_left < 0:
            raise self._error(
                directive,
                msg(
                    "corefile.imports-too-many-words",
                    "imported files hold more than {limit} words together: import less",
                    limit=MAX_TOKENS,
                ),
            )
        try:
            return parser(text, path.name)
        except CorefileSyntaxError as err:
            raise self._error(
                directive,
                msg(
                    "corefile.imported-file-syntax",
                    "imported file '{name}' line {line} is not valid Corefile syntax",
                    name=path.name, line=err.line,
                ),
            ) from None

    def _enter(self, chain: list[str], name: str, directive: Directive) -> list[str]:
        if name in chain:
            cycle = " -> ".join([*chain, name])
            raise self._error(directive, msg(
                "corefile.import-cycle", "import cycle: {cycle}; remove one of the imports", cycle=cycle
            ))
        if len(chain) >= MAX_IMPORT_DEPTH:
            raise self._error(
                directive,
                msg(
                    "corefile.imports-too-deep",
                    "imports nested more than {limit} deep: import the parts directly",
                    limit=MAX_IMPORT_DEPTH,
                ),
            )
        return [*chain, name]

    def _files(self, pattern: str, directive: Directive, base_dir: Path | None) -> list[Path]:
        if not pattern:
            raise self._error(
                directive,
                msg(
                    "corefile.import-empty-after-env",
                    "import of '{pattern}' names nothing once the environment is applied",
                    pattern=directive.args[0],
                ),
            )
        if is_snippet_reference(pattern):
            raise self._error(
                directive,
                msg(
                    "corefile.import-unknown-snippet",
                    "import of unknown snippet '{name}': define it with '({name}) {{ ... }}'",
                    name=pattern,
                ),
            )
        if base_dir is None:
            raise self._error(
                directive,
                msg(
                    "corefile.import-needs-base-dir",
                    "import of file '{pattern}' needs the Corefile's directory to resolve it: pass base_dir "
                    "(or inline the file)",
                    pattern=pattern,
                ),
            )
        full = Path(pattern) if os.path.isabs(pattern) else base_dir / pattern
        text = str(full)
        if text.count("*") > 1 or text.count("?") > 1 or ("[" in text and "]" in text):
            raise self._error(
                directive,
                msg(
                    "corefile.import-pattern-wildcards",
                    "import pattern '{pattern}' may contain only one wildcard (*) and no [...]: simplify it",
                    pattern=pattern,
                ),
            )
        wildcard = any(ch in text for ch in "*?[]")
        matches = sorted(Path(match) for match in glob.glob(text)) if wildcard else [full]
        if not wildcard and not full.exists():
            raise self._error(directive, msg(
                "corefile.import-not-found",
                "file to import not found: '{pattern}'",
                pattern=short_quote(pattern, 80, quote=False),
            ))
        for match in matches:
            self._check_confined(match, pattern, directive)
            if match.is_dir():
                raise self._error(directive, msg(
                    "corefile.import-directory", "cannot import '{name}': it is a directory", name=match.name
                ))
        return matches

    def _check_confined(self, path: Path, pattern: str, directive: Directive) -> None:
        root = self.root
        if root is None:
            return
        try:
            path.resolve().relative_to(root)
        except ValueError:
            raise self._error(
                directive,
                msg(
                    "corefile.import-outside-directory",
                    "import of '{pattern}' leaves the Corefile's directory; "
                    "the wizard reads imported files only inside it: copy the file there",
                    pattern=short_quote(pattern, 80, quote=False),
                ),
            ) from None

    def _env(self, text: str) -> str:
        return substitute_env(text, self.env)

    def _error(self, directive: Directive, message: str) -> CorefileSyntaxError:
        return CorefileSyntaxError(self.filename, directive.line, message)


def _from_file(directives: list[Directive], name: str, imported_by: Directive) -> list[Directive]:
    """Mark lines read from the imported file `name` (and their option lines): the innermost file
    keeps its name, the `import` line is the outermost one, in the Corefile itself."""
    stack = list(directives)
    while stack:
        directive = stack.pop()
        inner = directive.imported_from[0] if directive.imported_from else name
        at = imported_by.imported_from[1] if imported_by.imported_from else imported_by.line
        directive.imported_from = (inner, at)
        stack.extend(directive.block or [])
    return directives
