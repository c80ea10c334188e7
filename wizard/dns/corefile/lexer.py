"""Split Corefile text into tokens the way CoreDNS's Caddyfile lexer does, keeping comments.

CoreDNS (coredns/caddy `caddyfile/lexer.go`) drops comments; the wizard keeps them as tokens so
the printer can put an operator's notes back where they were. Everything else follows CoreDNS so
that what the wizard reads is what CoreDNS will run:

- tokens are separated by white space (Go's `unicode.IsSpace`, not Python's `str.isspace`);
- outside quotes a `\\r` is dropped without ending a token (so CRLF files read like LF files);
- a `#` outside quotes starts a comment to the end of the line, even in the middle of a word
  (`foo#bar` is the token `foo` and the comment `bar`);
- a token that starts with `"` runs to the next unescaped `"`, may span lines, and knows one
  escape only: `\\"`; any other backslash stays as written. A `"` later in a bare word is literal;
- a leading byte-order mark is dropped.

CoreDNS silently ends an unterminated quoted token at end of file; the wizard refuses it, since
it almost always means a lost quote that swallowed the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.dns.corefile.errors import CorefileSyntaxError
from wizard.i18n import msg

BYTE_ORDER_MARK = "\ufeff"
MAX_TOKENS = 50_000
"""Real Corefiles hold hundreds of words (a long inline `hosts` block some thousands); past this
the checks would take seconds and hundreds of MB, so the file is refused instead."""

# Go's unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property.
_GO_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def is_space(ch: str) -> bool:
    """True for the characters CoreDNS treats as token separators."""
    return ch in _GO_WHITE_SPACE


@dataclass(frozen=True)
class Token:
    """A word or a comment. `line` is where it starts, `end_line` where it ends (a quoted token
    may span lines; the next token is on a new line when its `line` is past `end_line`)."""

    text: str
    line: int
    end_line: int
    quoted: bool = False
    comment: bool = False
    """A comment token's text is everything after the `#`, without `\\r`."""

    def is_brace(self, brace: str) -> bool:
        """CoreDNS compares token text only, so a quoted `"{"` is a brace too."""
        return not self.comment and self.text == brace


def tokenize(text: str, filename: str = "Corefile") -> list[Token]:
    """All tokens of `text`, comments included, in source order."""
    if text.startswith(BYTE_ORDER_MARK):
        text = text[1:]
    tokens: list[Token] = []
    line = 1
    pos = 0
    end = len(text)
    while pos < end:
        if len(tokens) > MAX_TOKENS:
            raise CorefileSyntaxError(
                filename,
                line,
                msg(
                    "corefile.too-many-words",
                    "more than {limit} words: split the Corefile or shorten inline data",
                    limit=MAX_TOKENS,
                ),
            )
        ch = text[pos]
        if ch == "\n":
            line += 1
            pos += 1
        elif is_space(ch):
            pos += 1
        elif ch == "#":
            stop = text.find("\n", pos)
            stop = end if stop == -1 else stop
            tokens.append(Token(text[pos + 1 : stop].replace("\r", ""), line, line, comment=True))
            pos = stop
        elif ch == '"':
            token, pos, line = _quoted(text, pos, line, filename)
            tokens.append(token)
        else:
            token, pos = _bare(text, pos, line)
            tokens.append(token)
    return tokens


def _quoted(text: str, pos: int, line: int, filename: str) -> tuple[Token, int, int]:
    """Read the quoted token whose opening quote is at `pos`; return it, the next position and line."""
    start_line = line
    chars: list[str] = []
    pos += 1
    end = len(text)
    while pos < end:
        ch = text[pos]
        if ch == "\\" and pos + 1 < end:
            escaped = text[pos + 1]
            if escaped == '"':
                chars.append('"')
            else:
                chars.append("\\" + escaped)
                if escaped == "\n":
                    line += 1
            pos += 2
            continue
        if ch == '"':
            return Token("".join(chars), start_line, line, quoted=True), pos + 1, line
        if ch == "\n":
            line += 1
        chars.append(ch)
        pos += 1
    raise CorefileSyntaxError(
        filename,
        start_line,
        msg(
            "corefile.unterminated-quote",
            "unterminated quoted token: the '\"' opened here is never closed; add the closing '\"'",
        ),
    )


def _bare(text: str, pos: int, line: int) -> tuple[Token, int]:
    """Read the unquoted word starting at `pos` (which is neither space, `#` nor `"`)."""
    chars: list[str] = []
    end = len(text)
    while pos < end:
        ch = text[pos]
        if ch == "\r":
            pos += 1
            continue
        if ch == "#" or is_space(ch):
            break
        chars.append(ch)
        pos += 1
    return Token("".join(chars), line, line), pos
