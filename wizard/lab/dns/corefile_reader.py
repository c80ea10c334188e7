"""The lab CoreDNS's own Corefile reader: tokens and server blocks as CoreDNS's Caddy parser reads them.

Written from coredns/caddy's `caddyfile` lexer and parser (not shared with the wizard, so a
misreading in the wizard's parser cannot hide itself here): white space separates tokens, `"`
quotes (only `\\"` escapes), `#` outside quotes comments to the end of the line, `{`/`}` are braces
only as tokens of their own, `{$VAR}`/`{%VAR%}` take the process environment, `(name) {...}`
defines a snippet that `import name` splices in, keys end with `{` (or, for a single block, the
block has no braces), and the first token of every line in a block is a directive. Errors are
CoreDNS's: `FILE:LINE - Error during parsing: MESSAGE`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TRANSPORT_PORTS = {"dns": 53, "tls": 853, "grpc": 443, "https": 443, "quic": 853, "https3": 443}
"""CoreDNS's server-key schemes and their default ports (`dns` when none is given)."""


class CorefileError(Exception):
    """A Corefile CoreDNS stops at; the message is what CoreDNS prints."""


@dataclass(frozen=True)
class Token:
    text: str
    line: int
    quoted: bool = False


@dataclass
class Directive:
    """One directive line (or an option line inside a directive's block), with its own block."""

    name: str
    args: list[str] = field(default_factory=list)
    block: list[Directive] | None = None
    line: int = 0

    def option(self, name: str) -> Directive | None:
        return next((o for o in self.block or [] if o.name == name), None)


@dataclass
class ServerBlock:
    keys: list[str]
    directives: list[Directive]
    line: int

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]


@dataclass(frozen=True)
class ServerKey:
    transport: str
    zone: str  # fully qualified, lower case
    port: int


def parse_error(path: str, line: int, message: str) -> CorefileError:
    return CorefileError(f"{path}:{line} - Error during parsing: {message}")


# ---- the lexer ------------------------------------------------------------------------------------
def tokens(text: str) -> list[Token]:
    """Caddy's lexer: quotes keep white space and `#`; `\\"` is the only escape."""
    out: list[Token] = []
    text = text.removeprefix("\ufeff")
    value: list[str] = []
    line, start, quoted, escaped, comment = 1, 1, False, False, False
    was_quoted = False

    def flush() -> None:
        nonlocal value, was_quoted
        if value or was_quoted:
            out.append(Token("".join(value), start, was_quoted))
        value, was_quoted = [], False

    for ch in text:
        if quoted:
            if not escaped and ch == "\\":
                escaped = True
                continue
            if not escaped and ch == '"':
                quoted = False
                flush()
                continue
            if ch == "\n":
                line += 1
            if escaped and ch != '"':
                value.append("\\")
            value.append(ch)
            escaped = False
            continue
        if ch.isspace():
            if ch == "\n":
                line += 1
                comment = False
            if value:
                flush()
            continue
        if ch == "#":
            comment = True
        if comment:
            continue
        if not value:
            start = line
            if ch == '"':
                quoted = was_quoted = True
                continue
        value.append(ch)
    if quoted:
        raise CorefileError(f"Corefile:{start} - Error during parsing: Unexpected EOF")
    flush()
    return out


_ENV = (re.compile(r"\{\$([^}]*)\}"), re.compile(r"\{%([^}]*)%\}"))


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    for pattern in _ENV:
        text = pattern.sub(lambda m: env.get(m.group(1), ""), text)
    return text


# ---- the parser -----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, toks: list[Token], path: str, known: frozenset[str], env: Mapping[str, str]) -> None:
        self.toks = [Token(substitute_env(t.text, env), t.line, t.quoted) for t in toks]
        self.path = path
        self.known = known
        self.snippets: dict[str, list[Token]] = {}
        self.i = 0

    def err(self, line: int, message: str) -> CorefileError:
        return parse_error(self.path, line, message)

    def at_brace(self, index: int, brace: str) -> bool:
        return index < len(self.toks) and self.toks[index].text == brace and not self.toks[index].quoted

    def blocks(self) -> list[ServerBlock]:
        result: list[ServerBlock] = []
        while self.i < len(self.toks):
            first = self.toks[self.i]
            if first.text.startswith("(") and first.text.endswith(")") and not first.quoted:
                self._snippet(first)
                continue
            result.append(self._server_block(single=not result))
        return result

    def _snippet(self, first: Token) -> None:
        name = first.text[1:-1]
        self.i += 1
        if not self.at_brace(self.i, "{"):
            raise self.err(first.line, f"Expected '{{' after snippet {first.text}")
        body, self.i = self._balanced(self.i)
        self.snippets[name] = body

    def _balanced(self, open_index: int) -> tuple[list[Token], int]:
        """The tokens between the `{` at open_index and its `}`, and the index after the `}`."""
        depth, j = 0, open_index
        while j < len(self.toks):
            tok = self.toks[j]
            if not tok.quoted and tok.text == "{":
                depth += 1
            elif not tok.quoted and tok.text == "}":
                depth -= 1
                if depth == 0:
                    return self.toks[open_index + 1 : j], j + 1
            j += 1
        raise self.err(self.toks[open_index].line, "Unexpected EOF")

    def _server_block(self, single: bool) -> ServerBlock:
        start = self.toks[self.i]
        keys: list[str] = []
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            if not tok.quoted and tok.text == "{":
                break
            previous = self.toks[self.i - 1]
            if keys and tok.line != previous.line and not previous.text.endswith(","):
                break  # a new line without a trailing comma ends the keys
            for part in tok.text.split(","):
                if part:
                    keys.append(part)
            self.i += 1
        if self.at_brace(self.i, "{"):
            body, self.i = self._balanced(self.i)
        elif single and self.i < len(self.toks):
            body, self.i = self.toks[self.i :], len(self.toks)  # one block may go without braces
            if any(not t.quoted and t.text == "{" for t in body[:1]):
                raise self.err(start.line, "Unexpected '{'")
        elif self.i < len(self.toks):
            raise self.err(self.toks[self.i].line, f"Unknown directive '{self.toks[self.i].text}'")
        else:
            body = []
        return ServerBlock(keys, self._directives(self._imported(body)), start.line)

    def _imported(self, body: list[Token], depth: int = 0) -> list[Token]:
        """Splice `import NAME` lines (snippets; a file pattern matches nothing in a container
        that only mounts the Corefile)."""
        out: list[Token] = []
        j = 0
        while j < len(body):
            tok = body[j]
            first_on_line = j == 0 or body[j - 1].line != tok.line
            if first_on_line and tok.text == "import" and not tok.quoted:
                args = [t for t in body[j + 1 :] if t.line == tok.line]
                if len(args) != 1:
                    raise self.err(tok.line, "Import takes only one argument (glob pattern or file)")
                name = args[0].text
                if name in self.snippets:
                    if depth > 100:
                        raise self.err(tok.line, "Maximum import depth reached")
                    out.extend(self._imported(self.snippets[name], depth + 1))
                elif not any(c in name for c in "*?["):
                    raise self.err(tok.line, f"File to import not found: {name}")
                j += 2
                continue
            out.append(tok)
            j += 1
        return out

    def _directives(self, body: list[Token], options: bool = False) -> list[Directive]:
        out: list[Directive] = []
        j = 0
        while j < len(body):
            tok = body[j]
            if not tok.quoted and tok.text in ("{", "}"):
                raise self.err(tok.line, f"Unexpected '{tok.text}'")
            if not options and tok.text not in self.known:
                raise self.err(tok.line, f"Unknown directive '{tok.text}'")
            directive = Directive(tok.text, line=tok.line)
            j += 1
            while j < len(body) and _same_line(body[j - 1], body[j]) and not _brace(body[j]):
                directive.args.append(body[j].text)
                j += 1
            if j < len(body) and _brace(body[j]) == "{" and _same_line(body[j - 1], body[j]):
                depth, k = 0, j
                while k < len(body):
                    depth += {"{": 1, "}": -1}.get(_brace(body[k]), 0)
                    if depth == 0:
                        break
                    k += 1
                if k >= len(body):
                    raise self.err(body[j].line, "Unexpected EOF")
                directive.block = self._directives(body[j + 1 : k], options=True)
                j = k + 1
            out.append(directive)
        return out


def _brace(tok: Token) -> str:
    return tok.text if not tok.quoted and tok.text in ("{", "}") else ""


def _same_line(before: Token, after: Token) -> bool:
    """No line break between two tokens (a quoted token may itself span lines)."""
    return after.line == before.line + before.text.count("\n")


def read_corefile(text: str, path: str, known: frozenset[str], env: Mapping[str, str]) -> list[ServerBlock]:
    """The server blocks of `text`; CorefileError where CoreDNS's parser stops."""
    try:
        return _Parser(tokens(text), path, known, env).blocks()
    except CorefileError as err:
        message = str(err)
        if message.startswith("Corefile:") and path != "Corefile":
            message = path + message[len("Corefile") :]
        raise CorefileError(message) from None


# ---- server keys ----------------------------------------------------------------------------------
def server_keys(key: str) -> list[ServerKey]:
    """`[scheme://]zone[:port]` as CoreDNS normalises it; a CIDR zone becomes its reverse zones.
    ValueError with CoreDNS's words for a key it refuses."""
    transport, sep, rest = key.partition("://")
    if not sep:
        transport, rest = "dns", key
    transport = transport.lower()
    if transport not in TRANSPORT_PORTS:
        raise ValueError(f"unknown transport: {transport!r} in {key}")
    host, port_text = rest, ""
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    port = TRANSPORT_PORTS[transport]
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
            raise ValueError(f"invalid port {port_text!r} in {key}")
        port = int(port_text)
    return [ServerKey(transport, zone, port) for zone in zones_of(host or ".")]


def zones_of(host: str) -> list[str]:
    """A zone name made absolute and lower case; `10.0.0.0/8`-style networks as reverse zones
    (a non-octet prefix widens to every zone it covers, as plugin.Host does)."""
    if "/" in host:
        try:
            net = ipaddress.ip_network(host, strict=False)
        except ValueError:
            return [host.lower().rstrip(".") + "."]
        if net.version == 4:
            octets = -(-net.prefixlen // 8)
            subnets = net.subnets(new_prefix=octets * 8) if net.prefixlen % 8 else [net]
            return [_reverse_v4(s, octets) for s in subnets]
        nibbles = -(-net.prefixlen // 4)
        subnets6 = net.subnets(new_prefix=nibbles * 4) if net.prefixlen % 4 else [net]
        return [_reverse_v6(s, nibbles) for s in subnets6]
    return [host.lower().rstrip(".") + "." if host != "." else "."]


def _reverse_v4(net: ipaddress.IPv4Network | ipaddress.IPv6Network, octets: int) -> str:
    parts = str(net.network_address).split(".")[:octets]
    return ".".join(reversed(parts)) + (".in-addr.arpa." if parts else "in-addr.arpa.")


def _reverse_v6(net: ipaddress.IPv4Network | ipaddress.IPv6Network, nibbles: int) -> str:
    digits = net.network_address.exploded.replace(":", "")[:nibbles]
    return ".".join(reversed(digits)) + (".ip6.arpa." if digits else "ip6.arpa.")
