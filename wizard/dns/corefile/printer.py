"""Print a Corefile model in one canonical layout, so diffs show meaning and not formatting.

Four spaces per level, one directive per line, keys joined by a space, comments where they were,
a blank line between top-level entries. Tokens are quoted only when CoreDNS would otherwise read
them differently. `parse(format_corefile(x)) == x` for every model the parser produces, and
formatting is idempotent; a model that no Corefile can express (a lone `{` as an argument, a key
with a comma, ...) raises InputError naming the value instead of printing something CoreDNS
would read differently.
"""

from __future__ import annotations

from wizard.dns.corefile.lexer import BYTE_ORDER_MARK, is_space
from wizard.dns.corefile.model import Corefile, Directive, ServerBlock, Snippet, TopLevelImport
from wizard.errors import InputError
from wizard.i18n import msg

INDENT = "    "
IMPORT = "import"


def format_corefile(cf: Corefile) -> str:
    """The Corefile text for `cf`, ending in a newline (empty text for an empty model)."""
    entries: list[list[str]] = []
    imports = sorted(cf.top_level_imports, key=lambda imp: imp.position)
    for index, item in enumerate(cf.items):
        while imports and imports[0].position <= index:
            entries.append(_top_level_import(imports.pop(0)))
        entries.append(_snippet(item) if isinstance(item, Snippet) else _server_block(item, 0))
    entries.extend(_top_level_import(imp) for imp in imports)
    if cf.closing_comments:
        entries.append(_comment_lines(cf.closing_comments, 0))
    text = "".join("\n".join(entry) + "\n" for entry in _with_blank_lines(entries))
    # CoreDNS drops one leading byte-order mark: keep a first token that starts with one intact.
    return BYTE_ORDER_MARK + text if text.startswith(BYTE_ORDER_MARK) else text


def format_directive(directive: Directive, depth: int = 0) -> str:
    """One directive (with its block) as Corefile lines, indented `depth` levels."""
    return "\n".join(_directive(directive, depth)) + "\n"


def quote(text: str, what: str) -> str:
    """`text` as a Corefile token: bare when CoreDNS reads it back unchanged, else in quotes.

    `what` names the value in the error raised when no spelling of it survives CoreDNS's lexer."""
    if text in ("{", "}"):
        raise InputError(msg(
            "corefile.print-lone-brace",
            "{what} is a lone '{brace}', which CoreDNS always reads as a brace, even in quotes: "
            "change the value",
            what=what, brace=text,
        ))
    if not _needs_quotes(text):
        return text
    if not _quotable(text):
        raise InputError(msg(
            "corefile.print-unquotable",
            "{what} needs quotes, but a backslash before a '\"' or at its end cannot be written "
            "inside quotes in a Corefile: change the value",
            what=what,
        ))
    return '"' + text.replace('"', '\\"') + '"'


def _needs_quotes(text: str) -> bool:
    return text == "" or text.startswith('"') or "#" in text or any(is_space(ch) for ch in text)


def _quotable(text: str) -> bool:
    """Inside quotes CoreDNS turns `\\"` into `"` and keeps any other backslash pair as written,
    so a run of an odd number of backslashes must not meet a quote or the end of the token."""
    run = 0
    for ch in text:
        if ch == "\\":
            run += 1
            continue
        if ch == '"' and run % 2:
            return False
        run = 0
    return run % 2 == 0


def _with_blank_lines(entries: list[list[str]]) -> list[list[str]]:
    return [entry if i == 0 else ["", *entry] for i, entry in enumerate(entries)]


def _comment_lines(comments: list[str], depth: int) -> list[str]:
    lines: list[str] = []
    for comment in comments:
        lines.extend(INDENT * depth + _comment(part) for part in comment.split("\n"))
    return lines


def _comment(text: str) -> str:
    text = text.replace("\r", "").rstrip()
    return "# " + text if text else "#"


def _with_trailing(line: str, comment: str | None) -> str:
    if comment is None:
        return line
    return line + " " + _comment(comment.replace("\n", " "))


def _top_level_import(imp: TopLevelImport) -> list[str]:
    return _directive(imp.directive, 0)


def _key(key: str, first: bool) -> str:
    what = msg("corefile.print-what-key", "server block key {key}", key=repr(key))
    if not key:
        raise InputError(msg(
            "corefile.print-empty-key",
            "a server block key is empty: give every server block a zone such as '.:53'",
        ))
    if "," in key:
        raise InputError(msg(
            "corefile.print-key-comma",
            "{what} contains ',', which separates keys in a Corefile: split it into two keys",
            what=what,
        ))
    if first and key == IMPORT:
        raise InputError(msg(
            "corefile.print-key-import-first",
            "{what} cannot come first: CoreDNS would read the line as an import",
            what=what,
        ))
    return quote(key, what)


def _server_block(block: ServerBlock, depth: int) -> list[str]:
    if not block.keys:
        raise InputError(msg(
            "corefile.print-block-no-keys", "a server block has no keys: give it a zone such as '.:53'"
        ))
    if len(block.keys) == 1 and block.keys[0].startswith("(") and block.keys[0].endswith(")"):
        raise InputError(msg(
            "corefile.print-key-reads-as-snippet",
            "server block key {key} would be read as a snippet: change the key",
            key=repr(block.keys[0]),
        ))
    indent = INDENT * depth
    keys = " ".join(_key(key, i == 0) for i, key in enumerate(block.keys))
    lines = _comment_lines(block.comments, depth)
    lines.append(_with_trailing(f"{indent}{keys} {{", block.trailing_comment))
    for directive in block.directives:
        lines.extend(_directive(directive, depth + 1))
    lines.extend(_comment_lines(block.closing_comments, depth + 1))
    lines.append(indent + "}")
    return lines


def _snippet(snippet: Snippet) -> list[str]:
    if not snippet.name:
        raise InputError(msg(
            "corefile.print-snippet-no-name",
            "a snippet has an empty name: name it, as in '{example}'",
            example="(common) { ... }",
        ))
    lines = _comment_lines(snippet.comments, 0)
    name = quote(
        f"({snippet.name})",
        msg("corefile.print-what-snippet", "snippet name {name}", name=repr(snippet.name)),
    )
    lines.append(_with_trailing(f"{name} {{", snippet.trailing_comment))
    for directive in snippet.directives:
        lines.extend(_directive(directive, 1))
    for block in snippet.blocks:
        lines.extend(_server_block(block, 1))
    lines.extend(_comment_lines(snippet.closing_comments, 1))
    lines.append("}")
    return lines


def _directive(directive: Directive, depth: int) -> list[str]:
    what = msg("corefile.print-what-directive", "directive {name}", name=repr(directive.name))
    if directive.name == "":
        raise InputError(msg(
            "corefile.print-directive-no-name", "a directive has an empty name: give it the plugin's name"
        ))
    if directive.name == IMPORT and (len(directive.args) != 1 or directive.block is not None):
        raise InputError(msg(
            "corefile.print-import-args",
            "an import must have exactly one argument and no block, got {args}",
            args=repr(directive.args),
        ))
    indent = INDENT * depth
    words = [quote(directive.name, what)]
    words.extend(
        quote(arg, msg("corefile.print-what-argument", "argument {arg} of {what}", arg=repr(arg), what=what))
        for arg in directive.args
    )
    lines = _comment_lines(directive.comments, depth)
    if directive.block is None:
        lines.append(_with_trailing(indent + " ".join(words), directive.trailing_comment))
        lines.extend(_comment_lines(directive.closing_comments, depth))
        return lines
    lines.append(_with_trailing(indent + " ".join([*words, "{"]), directive.trailing_comment))
    for option in directive.block:
        lines.extend(_directive(option, depth + 1))
    lines.extend(_comment_lines(directive.closing_comments, depth + 1))
    lines.append(indent + "}")
    return lines
