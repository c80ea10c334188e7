"""Read a Corefile into the model, following CoreDNS's Caddyfile parser (coredns/caddy `parse.go`).

The model keeps what the operator wrote (comments, `import` lines, `{$VAR}` placeholders) so it
can be edited and printed back; `expand()` (in `expand.py`) then yields what CoreDNS would run.
Where CoreDNS silently accepts something that is almost certainly a mistake (a stray `}` after a
block without braces, an unterminated quote, `a.org,b.org` read as one zone, an import of a
snippet that does not exist) this parser refuses it with FILE:LINE and what to do.

Grammar, as CoreDNS reads it:
- A server block is a line of keys (separated by spaces, or by a comma ending a key, which also
  continues the keys on the next line), then `{` on that line or a later one, directives, and
  `}`. A block without `{` takes the rest of the file as its directives (the single-block form).
- A directive is one line `name args...`, optionally ending in `{` which opens a block of option
  lines (nesting to any depth) closed by `}`. A server block's `}` must not share the line of
  its last directive (CoreDNS: "Unexpected '}' because no matching opening brace"); an option
  block's or a snippet's may (`health { lameduck 5s }`).
- `(name) { ... }` defines a snippet; `import NAME` on its own line splices a snippet (or files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wizard.dns.corefile.errors import CorefileSyntaxError
from wizard.dns.corefile.lexer import Token, tokenize
from wizard.dns.corefile.model import Corefile, Directive, ServerBlock, Snippet, TopLevelImport
from wizard.i18n import msg

IMPORT = "import"
MAX_BLOCK_DEPTH = 16
"""Option blocks nest one or two levels in real Corefiles; deeper is refused, so a hostile file
cannot exhaust the parser's (and the printer's and checker's) recursion."""
_FILE_PATTERN_CHARS = frozenset("/*?[].")
_ENV_MARKERS = ("{$", "{%")


def parse(text: str, filename: str = "Corefile") -> Corefile:
    """The Corefile in `text`; `filename` only names the source in error messages."""
    parser = _Parser(tokenize(text, filename), filename)
    corefile = parser.corefile()
    _check_imports(corefile, parser.imports, filename)
    return corefile


def parse_directives(text: str, filename: str) -> list[Directive]:
    """The directive lines of a file imported inside a server block (for example `*.override`)."""
    parser = _Parser(tokenize(text, filename), filename)
    directives, _closing_comments = parser.body(depth=0, opened_on=None)
    return directives


def comment_text(raw: str) -> str:
    """A comment as the model stores it: no `#`, no trailing space, one leading space dropped."""
    text = raw.rstrip()
    return text[1:] if text.startswith(" ") else text


def is_snippet_reference(name: str) -> bool:
    """`import NAME` names a snippet unless NAME looks like a file path or glob, or is built from
    environment variables (only known when the Corefile is expanded)."""
    if any(marker in name for marker in _ENV_MARKERS):
        return False
    return not any(ch in _FILE_PATTERN_CHARS for ch in name)


def key_of(text: str) -> str:
    """A key token without the trailing comma that says another key follows."""
    return text[:-1] if text.endswith(",") else text


def check_keys(tokens: list[tuple[str, int]], filename: str) -> list[str]:
    """The keys from (token text, line) pairs, refusing keys CoreDNS would misread.

    CoreDNS splits keys only at a trailing comma: `a.org,b.org` is ONE zone `a.org,b.org.` to it,
    which is never what the operator meant, so it is refused here."""
    keys: list[str] = []
    for text, line in tokens:
        key = key_of(text)
        if not key:  # CoreDNS skips empty keys ("")
            continue
        if "," in key:
            raise CorefileSyntaxError(
                filename,
                line,
                msg(
                    "corefile.key-comma-inside",
                    "server block key '{key}' has a comma inside, so CoreDNS reads it as one zone: "
                    "separate the keys with ', ' or a space",
                    key=key,
                ),
            )
        if key in ("{", "}") or (not keys and key == IMPORT):
            raise CorefileSyntaxError(
                filename,
                line,
                msg(
                    "corefile.key-not-allowed",
                    "'{key}' cannot be a server block key here: remove it or fix the key line",
                    key=key,
                ),
            )
        keys.append(key)
    if not keys:
        line = tokens[0][1] if tokens else 0
        raise CorefileSyntaxError(
            filename,
            line,
            msg(
                "corefile.block-no-keys",
                "server block has no keys (only empty tokens): write a zone such as '.:53'",
            ),
        )
    if len(keys) == 1 and _is_snippet_key(keys[0]):
        raise CorefileSyntaxError(
            filename,
            tokens[0][1],
            msg(
                "corefile.key-reads-as-snippet",
                "'{key}' reads as a snippet name, not a server block key: fix the key line",
                key=keys[0],
            ),
        )
    return keys


@dataclass
class _ImportUse:
    """Where an `import` was written, to check it once all snippets are known."""

    directive: Directive
    inside_snippet: str | None
    top_level: bool


@dataclass
class _Parser:
    tokens: list[Token]
    filename: str
    pos: int = 0
    last_end_line: int = 0
    pending: list[str] = field(default_factory=list)
    imports: list[_ImportUse] = field(default_factory=list)
    current_snippet: str | None = None

    # -- token stream -------------------------------------------------------------------

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        if not token.comment:
            self.last_end_line = token.end_line
        return token

    def _peek_word(self) -> Token | None:
        """The next non-comment token; comments passed on the way wait for the next node."""
        while (token := self._peek()) is not None and token.comment:
            self.pending.append(comment_text(self._take().text))
        return token

    def _same_line_comment(self) -> str | None:
        """Take a comment that sits on the line of the last word, if there is one."""
        token = self._peek()
        if token is not None and token.comment and token.line == self.last_end_line:
            return comment_text(self._take().text)
        return None

    def _take_pending(self) -> list[str]:
        pending, self.pending = self.pending, []
        return pending

    def _error(self, line: int, message: str) -> CorefileSyntaxError:  # message: a Message
        return CorefileSyntaxError(self.filename, line, message)

    # -- top level ----------------------------------------------------------------------

    def corefile(self) -> Corefile:
        corefile = Corefile()
        while (token := self._peek_word()) is not None:
            if token.text == IMPORT:
                directive = self.directive(depth=0)
                corefile.top_level_imports.append(TopLevelImport(len(corefile.items), directive))
                self.imports[-1].top_level = True  # directive() recorded this import last
            elif token.is_brace("{"):
                raise self._error(
                    token.line,
                    msg(
                        "corefile.missing-keys",
                        "missing server block keys before '{brace}': write the zone first, e.g. '{example}'",
                        brace="{", example=".:53 {",
                    ),
                )
            elif token.is_brace("}"):
                raise self._error(token.line, msg(
                    "corefile.unexpected-close-top",
                    "unexpected '{brace}': there is no open block here; remove it",
                    brace="}",
                ))
            else:
                corefile.items.append(self.block_or_snippet(corefile))
        corefile.closing_comments = self._take_pending()
        return corefile

    def block_or_snippet(self, corefile: Corefile) -> ServerBlock | Snippet:
        comments = self._take_pending()
        first = self._take()
        key_tokens, trailing, opened = self._key_line(first)
        if len(key_tokens) == 1 and _is_snippet_key(first.text):
            return self._snippet(corefile, first, comments, trailing, opened)
        keys = check_keys([(token.text, token.line) for token in key_tokens], self.filename)
        block = ServerBlock(keys=keys, comments=comments, trailing_comment=trailing, line=first.line)
        if opened is None:
            block.directives, block.closing_comments = self.body(depth=0, opened_on=None)
            return block
        if block.trailing_comment is None:
            block.trailing_comment = self._same_line_comment()
        block.directives, block.closing_comments = self.body(depth=0, opened_on=opened)
        return block

    def _key_line(self, first: Token) -> tuple[list[Token], str | None, Token | None]:
        """The key tokens, a comment on the key line, and the `{` token (None: no braces)."""
        key_tokens = [first]
        trailing: str | None = None
        more = first.text.endswith(",")
        while (token := self._peek()) is not None:
            if token.comment:
                if token.line == self.last_end_line and trailing is None:
                    trailing = comment_text(self._take().text)
                    continue
                if not more:
                    break
                self.pending.append(comment_text(self._take().text))
                continue
            if token.is_brace("{"):
                if more:
                    raise self._error(
                        token.line,
                        msg(
                            "corefile.comma-then-brace",
                            "expected another server block key after ',' but found '{brace}': "
                            "remove the extra comma",
                            brace="{",
                        ),
                    )
                return key_tokens, trailing, self._take()
            if token.line != self.last_end_line and not more:
                break
            key_tokens.append(self._take())
            if token.text:
                more = token.text.endswith(",")
        if more:
            raise self._error(
                self.last_end_line,
                msg(
                    "corefile.keys-trailing-comma",
                    "the server block keys end with ',' but no key follows: remove the comma",
                ),
            )
        # CoreDNS also accepts the `{` at the start of the next line.
        token = self._peek_word()
        if token is not None and token.is_brace("{"):
            return key_tokens, trailing, self._take()
        return key_tokens, trailing, None

    def _snippet(
        self, corefile: Corefile, key: Token, comments: list[str], trailing: str | None, opened: Token | None
    ) -> Snippet:
        name = key.text[1:-1]
        if opened is None:
            raise self._error(key.line, msg(
                "corefile.snippet-no-body",
                "snippet '{snippet}' needs a body: write '{snippet} {{' ... '}}'",
                snippet=key.text,
            ))
        if not name:
            raise self._error(
                key.line,
                msg(
                    "corefile.snippet-no-name",
                    "snippet '()' has no name: write '{example}'",
                    example="(name) {",
                ),
            )
        earlier = corefile.snippets.get(name)
        if earlier is not None:
            raise self._error(
                key.line,
                msg(
                    "corefile.snippet-defined-twice",
                    "snippet '{name}' is already defined on line {line}: rename or remove one",
                    name=name, line=earlier.line,
                ),
            )
        if trailing is None:
            trailing = self._same_line_comment()
        self.current_snippet = name
        directives, closing = self.body(depth=0, opened_on=opened)
        self.current_snippet = None
        return Snippet(
            name=name,
            directives=directives,
            comments=comments,
            closing_comments=closing,
            trailing_comment=trailing,
            line=key.line,
        )

    # -- blocks and directives ----------------------------------------------------------

    def body(self, depth: int, opened_on: Token | None) -> tuple[list[Directive], list[str]]:
        """Directive lines up to the `}` matching `opened_on` (or to end of file when None).

        Returns them and the comments written before the closing brace."""
        directives: list[Directive] = []
        while True:
            token = self._peek_word()
            if token is None:
                if opened_on is not None:
                    raise self._error(
                        opened_on.line,
                        msg(
                            "corefile.unclosed-brace",
                            "unclosed '{open}' opened on this line: add the matching '{close}'",
                            open="{", close="}",
                        ),
                    )
                return directives, self._take_pending()
            if token.is_brace("}"):
                if opened_on is None:
                    raise self._error(token.line, msg(
                        "corefile.unexpected-close",
                        "unexpected '{brace}': no block is open here; remove it",
                        brace="}",
                    ))
                self._take()
                return directives, self._take_pending()
            if token.is_brace("{"):
                raise self._error(
                    token.line,
                    msg(
                        "corefile.open-brace-line-start",
                        "unexpected '{brace}' at the start of a line: "
                        "put it at the end of the directive line it belongs to",
                        brace="{",
                    ),
                )
            directives.append(self.directive(depth))

    def directive(self, depth: int) -> Directive:
        comments = self._take_pending()
        name = self._take()
        if not name.text:
            raise self._error(
                name.line,
                msg(
                    "corefile.empty-directive-name",
                    "empty directive name (\"\"): remove it or write the directive's name",
                ),
            )
        directive = Directive(name=name.text, comments=comments, line=name.line)
        while (token := self._peek()) is not None:
            if token.comment:
                if token.line == self.last_end_line:
                    directive.trailing_comment = comment_text(self._take().text)
                break
            if token.line != self.last_end_line:
                break
            if token.is_brace("}"):
                if not self._brace_may_end_line(depth):
                    raise self._error(
                        token.line,
                        msg(
                            "corefile.close-same-line",
                            "'}}' on the same line as directive '{name}': "
                            "put the closing brace on its own line",
                            name=name.text,
                        ),
                    )
                break
            if token.is_brace("{"):
                self._directive_block(directive, depth, self._take())
                break
            directive.args.append(self._take().text)
        if directive.name == IMPORT:
            self._record_import(directive)
        return directive

    def _directive_block(self, directive: Directive, depth: int, opened: Token) -> None:
        if depth + 1 > MAX_BLOCK_DEPTH:
            raise self._error(
                opened.line,
                msg(
                    "corefile.nested-too-deep",
                    "blocks nested more than {limit} levels deep: flatten the configuration",
                    limit=MAX_BLOCK_DEPTH,
                ),
            )
        directive.trailing_comment = self._same_line_comment()
        directive.block, directive.closing_comments = self.body(depth + 1, opened)
        token = self._peek()
        if token is None or token.line != self.last_end_line:
            return
        if token.comment:
            if directive.trailing_comment is None:
                directive.trailing_comment = comment_text(self._take().text)
            return
        if token.is_brace("}") and self._brace_may_end_line(depth):
            return
        raise self._error(
            token.line,
            msg(
                "corefile.after-close-brace",
                "unexpected '{token}' after the '}}' that closes '{name}': start it on a new line",
                token=token.text, name=directive.name,
            ),
        )

    def _brace_may_end_line(self, depth: int) -> bool:
        """May a `}` close a block on the line of a directive at `depth`? Inside option blocks
        and snippets CoreDNS allows it (`health { lameduck 5s }`, `(s) { log }`); a server
        block's `}` there makes CoreDNS fail with "Unexpected '}'"."""
        return depth > 0 or self.current_snippet is not None

    def _record_import(self, directive: Directive) -> None:
        if directive.block is not None or len(directive.args) != 1:
            raise self._error(
                directive.line,
                msg(
                    "corefile.import-args",
                    "import takes exactly one argument (a snippet name or a file glob), got {count}",
                    count=len(directive.args),
                )
                if directive.block is None
                else msg(
                    "corefile.import-args-block",
                    "import takes exactly one argument (a snippet name or a file glob), "
                    "got {count} and a block",
                    count=len(directive.args),
                ),
            )
        if not directive.args[0]:
            raise self._error(
                directive.line,
                msg(
                    "corefile.import-empty",
                    "import of an empty name: write the snippet name or file to import",
                ),
            )
        self.imports.append(_ImportUse(directive, self.current_snippet, top_level=False))


def _is_snippet_key(text: str) -> bool:
    return text.startswith("(") and text.endswith(")") and len(text) >= 2


def _check_imports(corefile: Corefile, imports: list[_ImportUse], filename: str) -> None:
    """Every snippet import must name a defined snippet, defined before a use outside snippets
    (CoreDNS reads top to bottom), without cycles; snippets imported between server blocks are
    turned into server blocks."""
    snippets = corefile.snippets
    graph: dict[str, list[_ImportUse]] = {name: [] for name in snippets}
    top_level_names: set[str] = set()
    in_block_names: set[str] = set()
    for use in imports:
        name = use.directive.args[0]
        line = use.directive.line
        snippet = snippets.get(name)
        if snippet is None:
            if is_snippet_reference(name):
                raise CorefileSyntaxError(
                    filename,
                    line,
                    msg(
                        "corefile.import-unknown-snippet-above",
                        "import of unknown snippet '{name}': "
                        "define it with '({name}) {{ ... }}' above this line, or import a file path",
                        name=name,
                    ),
                )
            continue
        if use.inside_snippet is None and snippet.line > line:
            raise CorefileSyntaxError(
                filename,
                line,
                msg(
                    "corefile.snippet-used-before-definition",
                    "snippet '{name}' is imported before its definition on line {line}: "
                    "move the definition above (CoreDNS reads the Corefile top to bottom)",
                    name=name, line=snippet.line,
                ),
            )
        if use.inside_snippet is not None:
            graph[use.inside_snippet].append(use)
        elif use.top_level:
            top_level_names.add(name)
        else:
            in_block_names.add(name)
    _check_cycles(graph, filename)
    for name in sorted(top_level_names & in_block_names):
        raise CorefileSyntaxError(
            filename,
            snippets[name].line,
            msg(
                "corefile.snippet-both-levels",
                "snippet '{name}' is imported both between server blocks and inside one: split it in two",
                name=name,
            ),
        )
    for name in top_level_names:
        snippet = snippets[name]
        snippet.blocks = snippet_blocks(snippet, filename)
        snippet.directives = []


def _check_cycles(graph: dict[str, list[_ImportUse]], filename: str) -> None:
    """Refuse snippets that import themselves through a chain (depth-first, without recursion, so a
    chain of thousands of snippets cannot exhaust the stack)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if state.get(root) is not None:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(graph[root])]
        while stack:
            use = next(stack[-1], None)
            if use is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            target = use.directive.args[0]
            if state.get(target) == 1:
                cycle = " -> ".join([*path[path.index(target) :], target])
                raise CorefileSyntaxError(
                    filename,
                    use.directive.line,
                    msg(
                        "corefile.snippet-import-cycle",
                        "import cycle between snippets: {cycle}; remove one of the imports",
                        cycle=cycle,
                    ),
                )
            if state.get(target) is None and target in graph:
                state[target] = 1
                path.append(target)
                stack.append(iter(graph[target]))


def snippet_blocks(snippet: Snippet, filename: str) -> list[ServerBlock]:
    """A snippet imported between server blocks holds server blocks: `keys { ... }` lines."""
    if snippet.blocks:
        return snippet.blocks
    blocks: list[ServerBlock] = []
    for line in snippet.directives:
        if line.block is None or line.name == IMPORT:
            raise CorefileSyntaxError(
                filename,
                line.line,
                msg(
                    "corefile.snippet-line-not-block",
                    "snippet '{name}' is imported between server blocks, so each of its lines must be a "
                    "server block 'keys {{ ... }}', but '{line}' is not",
                    name=snippet.name, line=line.name,
                ),
            )
        keys = check_keys([(token, line.line) for token in [line.name, *line.args]], filename)
        blocks.append(
            ServerBlock(
                keys=keys,
                directives=line.block,
                comments=line.comments,
                trailing_comment=line.trailing_comment,
                closing_comments=line.closing_comments,
                line=line.line,
            )
        )
    return blocks
