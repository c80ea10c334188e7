"""Printing and parsing are inverse: for every model the parser can produce,
`parse(format_corefile(x)) == x`, formatting is idempotent, and no text makes the parser fail
with anything but CorefileSyntaxError."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.dns.corefile import (
    Corefile,
    CorefileSyntaxError,
    Directive,
    ServerBlock,
    Snippet,
    TopLevelImport,
    expand,
    format_corefile,
    parse,
)
from wizard.dns.corefile.printer import format_directive, quote
from wizard.errors import InputError

# Characters that stress the lexer: quotes, backslashes, comment and brace characters, white
# space (including Go-only spaces), commas, placeholders and non-ASCII.
TRICKY = 'aZ09.:/-_"\\#{}(),$% \t\n\r\u00a0\u3000\ufeffé中'
SPACES = " \t\n\r\v\f\x85\u00a0\u1680\u2000\u2028\u202f\u205f\u3000"

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def needs_quotes(text: str) -> bool:
    return text == "" or text.startswith('"') or "#" in text or any(ch in SPACES for ch in text)


def writable(text: str) -> bool:
    """Values a Corefile can hold: not a lone brace (CoreDNS reads it as one even in quotes), and
    when quotes are needed, no odd run of backslashes before a quote or the end (inside quotes
    CoreDNS turns `\\"` into `"`, so such a value has no spelling)."""
    if text in ("{", "}"):
        return False
    return not (needs_quotes(text) and re.search(r'(?<!\\)(\\\\)*\\("|$)', text))


values = st.text(alphabet=TRICKY, max_size=8).filter(writable)
names = values.filter(lambda t: t not in ("", "import"))
keys = names.filter(lambda t: "," not in t and not (t.startswith("(") and t.endswith(")")))
comment_texts = st.text(alphabet=TRICKY.replace("\n", "").replace("\r", ""), max_size=10).filter(
    lambda t: t == t.rstrip()
)
comment_lists = st.lists(comment_texts, max_size=2)
trailing = st.none() | comment_texts


@st.composite
def directives(draw: st.DrawFn, depth: int = 0, snippet_names: tuple[str, ...] = ()) -> Directive:
    if snippet_names and draw(st.integers(0, 3)) == 0:
        return Directive(
            "import",
            [draw(st.sampled_from(snippet_names))],
            comments=draw(comment_lists),
            trailing_comment=draw(trailing),
        )
    block: list[Directive] | None = None
    closing: list[str] = []
    if depth < 3 and draw(st.booleans()):
        block = draw(st.lists(directives(depth + 1, snippet_names), max_size=3))
        closing = draw(comment_lists)
    return Directive(
        name=draw(names),
        args=draw(st.lists(values, max_size=3)),
        block=block,
        comments=draw(comment_lists),
        trailing_comment=draw(trailing),
        closing_comments=closing,
    )


@st.composite
def server_blocks(draw: st.DrawFn, snippet_names: tuple[str, ...] = ()) -> ServerBlock:
    block_keys = draw(st.lists(keys, min_size=1, max_size=3))
    if block_keys[0] == "import":
        block_keys[0] = "x"
    return ServerBlock(
        keys=block_keys,
        directives=draw(st.lists(directives(0, snippet_names), max_size=3)),
        comments=draw(comment_lists),
        trailing_comment=draw(trailing),
        closing_comments=draw(comment_lists),
    )


@st.composite
def corefiles(draw: st.DrawFn) -> Corefile:
    """Snippets (of directives, or of server blocks imported between blocks), server blocks and
    top-level imports; every snippet import names a snippet defined earlier, so there are no
    cycles and no forward references."""
    items: list[Snippet | ServerBlock] = []
    imports: list[TopLevelImport] = []
    directive_snippets: list[str] = []
    block_snippets: list[str] = []
    used = set()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["block", "snippet", "block-snippet", "import"]))
        comments = draw(comment_lists)
        if kind == "block":
            items.append(draw(server_blocks(tuple(directive_snippets))))
        elif kind in ("snippet", "block-snippet"):
            name = draw(keys.filter(lambda n: n not in used and not n.startswith("(")))
            used.add(name)
            snippet = Snippet(name, comments=comments, trailing_comment=draw(trailing))
            if kind == "snippet":
                snippet.directives = draw(st.lists(directives(0, tuple(directive_snippets)), max_size=3))
                directive_snippets.append(name)
            else:
                snippet.blocks = draw(st.lists(server_blocks(), max_size=2))
                block_snippets.append(name)
                imports.append(TopLevelImport(len(items) + 1, Directive("import", [name])))
            snippet.closing_comments = draw(comment_lists)
            items.append(snippet)
        else:
            target = draw(st.sampled_from(["custom/*.server", "extra.conf", "{$FILE}"]))
            imports.append(TopLevelImport(len(items), Directive("import", [target], comments=comments)))
    return Corefile(items=items, closing_comments=draw(comment_lists), top_level_imports=imports)


@SETTINGS
@given(corefiles())
def test_format_then_parse_gives_the_model_back_and_format_is_idempotent(cf: Corefile) -> None:
    text = format_corefile(cf)
    parsed = parse(text)
    assert parsed == cf, text
    assert format_corefile(parsed) == text


@settings(SETTINGS, max_examples=100)
@given(corefiles())
def test_expand_leaves_only_server_blocks(cf: Corefile) -> None:
    snippets = cf.snippets
    spliced = [snippets.get(imp.directive.args[0]) for imp in cf.top_level_imports]
    try:
        effective = expand(cf, env={})
    except CorefileSyntaxError as err:
        # Only file imports fail, for want of a base directory (or of a name once $FILE is unset).
        assert None in spliced, str(err)
        return
    assert None not in spliced
    assert effective.top_level_imports == []
    assert all(isinstance(item, ServerBlock) for item in effective.items)
    expected = len(cf.blocks) + sum(len(snippet.blocks) for snippet in spliced if snippet is not None)
    assert len(effective.items) == expected
    assert parse(format_corefile(cf)) == cf  # expand did not touch its input


@SETTINGS
@given(values)
def test_every_writable_value_survives_quoting(value: str) -> None:
    text = format_corefile(Corefile([ServerBlock(["."], [Directive("x", [value])])]))
    assert parse(text).blocks[0].directives[0].args == [value]


@pytest.mark.parametrize("value", ["{", "}", 'a b\\"', "a b\\", "#\\"])
def test_unwritable_values_are_refused_with_the_value_named(value: str) -> None:
    with pytest.raises(InputError) as caught:
        quote(value, "argument of directive 'x'")
    assert "argument of directive 'x'" in str(caught.value)


@pytest.mark.parametrize(
    "block",
    [
        ServerBlock([]),
        ServerBlock(["a,b"]),
        ServerBlock(["import"]),
        ServerBlock(["(x)"]),
        ServerBlock([""]),
        ServerBlock(["."], [Directive("import", ["a", "b"])]),
        ServerBlock(["."], [Directive("")]),
    ],
)
def test_models_no_corefile_can_express_are_refused(block: ServerBlock) -> None:
    with pytest.raises(InputError):
        format_corefile(Corefile([block]))


def test_canonical_layout() -> None:
    text = (
        "# top\n(s) {\nlog\n}\n.:53 { # root\n  import s\n     forward . 8.8.8.8 {\n"
        "  max_fails 2\n}\n}\nimport more.conf\n# end\n"
    )
    assert format_corefile(parse(text)) == (
        "# top\n"
        "(s) {\n"
        "    log\n"
        "}\n"
        "\n"
        ".:53 { # root\n"
        "    import s\n"
        "    forward . 8.8.8.8 {\n"
        "        max_fails 2\n"
        "    }\n"
        "}\n"
        "\n"
        "import more.conf\n"
        "\n"
        "# end\n"
    )


def test_empty_model_prints_empty_text() -> None:
    assert format_corefile(Corefile()) == ""
    assert parse("") == Corefile()


# Fragments that make random text look like a Corefile often enough to reach deep parser paths.
FRAGMENTS = st.sampled_from(
    [
        "{", "}", "\n", " ", "\r\n", "#", '"', "\\", ",", ".:53", "import", "(s)", "s", "a",
        "{$X}", "forward", "\ufeff", "\t", "x,", "custom/*.conf", ".:53 {\n", "\n    log\n",
        "\n}\n", "(s) {\n", "import s\n", " {\n", "\n  }",
    ]
)  # fmt: skip
random_text = st.lists(FRAGMENTS | st.text(alphabet=TRICKY, max_size=3), max_size=40).map("".join)


@SETTINGS
@given(random_text)
def test_random_text_fails_only_with_corefile_syntax_error(text: str) -> None:
    try:
        cf = parse(text)
    except CorefileSyntaxError as err:
        assert str(err).startswith(f"Corefile:{err.line}: ")
        assert 1 <= err.line <= text.count("\n") + 1
        return
    printed = format_corefile(cf)
    assert parse(printed) == cf
    with contextlib.suppress(CorefileSyntaxError):
        expand(cf, env={})


def test_format_directive_prints_one_directive_at_a_depth() -> None:
    directive = Directive("forward", [".", "8.8.8.8"], [Directive("max_fails", ["2"])], trailing_comment="up")
    assert format_directive(directive, depth=1) == (
        "    forward . 8.8.8.8 { # up\n        max_fails 2\n    }\n"
    )
