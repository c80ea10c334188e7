"""The Corefile lexer reads text exactly as CoreDNS's Caddyfile lexer does (coredns/caddy
`caddyfile/lexer.go`), plus comment tokens."""

from __future__ import annotations

import pytest

from wizard.dns.corefile import CorefileSyntaxError
from wizard.dns.corefile.lexer import Token, tokenize
from wizard.errors import InputError


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text) if not t.comment]


def test_words_are_separated_by_any_white_space() -> None:
    assert words("forward .\t8.8.8.8\n  cache   30\v\f") == ["forward", ".", "8.8.8.8", "cache", "30"]


def test_go_unicode_spaces_separate_tokens_but_python_only_spaces_do_not() -> None:
    # U+00A0 and U+3000 are white space to Go's unicode.IsSpace; U+001C is not (Python says it is).
    assert words("a\u00a0b\u3000c") == ["a", "b", "c"]
    assert words("a\x1cb") == ["a\x1cb"]


def test_brace_glued_to_a_key_is_part_of_the_token() -> None:
    assert words(".:53{\n}") == [".:53{", "}"]
    assert words(".:53 {") == [".:53", "{"]


def test_hash_starts_a_comment_even_inside_a_bare_word() -> None:
    tokens = tokenize("foo#bar baz\nnext")
    assert tokens == [
        Token("foo", 1, 1),
        Token("bar baz", 1, 1, comment=True),
        Token("next", 2, 2),
    ]


def test_hash_inside_quotes_is_text() -> None:
    assert words('rewrite "a # b" c') == ["rewrite", "a # b", "c"]


def test_quoted_token_unescapes_only_backslash_quote() -> None:
    tokens = tokenize(r'"say \"hi\"" "a\nb" "back\\slash"')
    assert [t.text for t in tokens] == ['say "hi"', r"a\nb", r"back\\slash"]
    assert all(t.quoted for t in tokens)


def test_quote_after_the_start_of_a_bare_word_is_literal() -> None:
    assert words('a"b c"') == ['a"b', 'c"']


def test_quoted_token_ends_at_its_closing_quote_even_without_space() -> None:
    assert words('"a"b') == ["a", "b"]


def test_empty_quoted_token_is_a_token() -> None:
    tokens = tokenize('x ""')
    assert tokens[1] == Token("", 1, 1, quoted=True)


def test_multi_line_quoted_token_keeps_its_newlines_and_counts_lines() -> None:
    tokens = tokenize('a "one\ntwo\nthree" b\nc')
    assert tokens[1] == Token("one\ntwo\nthree", 1, 3, quoted=True)
    assert tokens[2] == Token("b", 3, 3)
    assert tokens[3] == Token("c", 4, 4)


def test_escaped_newline_inside_quotes_still_counts_a_line() -> None:
    tokens = tokenize('"a\\\nb"\nc')
    assert tokens[0].text == "a\\\nb"
    assert tokens[1].line == 3


def test_leading_byte_order_mark_is_dropped_but_not_later_ones() -> None:
    assert words("\ufeff.:53 {") == [".:53", "{"]
    assert words("a \ufeffb") == ["a", "\ufeffb"]


def test_crlf_reads_like_lf_and_a_carriage_return_does_not_split_a_word() -> None:
    assert tokenize(".:53 {\r\n  errors\r\n}\r\n") == tokenize(".:53 {\n  errors\n}\n")
    assert words("ab\rcd") == ["abcd"]


def test_carriage_return_inside_quotes_is_kept() -> None:
    assert words('"a\rb"') == ["a\rb"]


def test_comment_token_keeps_text_after_hash_without_carriage_return() -> None:
    tokens = tokenize("errors # keep me\r\n# own line\n")
    assert tokens[1] == Token(" keep me", 1, 1, comment=True)
    assert tokens[2] == Token(" own line", 2, 2, comment=True)


def test_comma_separated_keys_stay_one_token_for_the_parser_to_split() -> None:
    assert words("a.org,b.org, c.org {") == ["a.org,b.org,", "c.org", "{"]


def test_environment_placeholders_are_ordinary_tokens() -> None:
    assert words("{$ZONE}:53 {\n forward . {%UPSTREAM%}\n}") == [
        "{$ZONE}:53",
        "{",
        "forward",
        ".",
        "{%UPSTREAM%}",
        "}",
    ]


def test_quoted_brace_is_still_a_brace_like_coredns() -> None:
    token = tokenize('"{"')[0]
    assert token.quoted
    assert token.is_brace("{")
    assert not Token("{", 1, 1, comment=True).is_brace("{")


def test_unterminated_quote_reports_the_line_it_opened_on() -> None:
    with pytest.raises(CorefileSyntaxError) as caught:
        tokenize('.:53 {\n  forward . "8.8.8.8\n}\n', filename="my/Corefile")
    err = caught.value
    assert isinstance(err, InputError)
    assert (err.filename, err.line) == ("my/Corefile", 2)
    assert str(err).startswith("my/Corefile:2: unterminated quoted token")


def test_backslash_at_end_of_unterminated_quote_is_an_error_not_a_crash() -> None:
    with pytest.raises(CorefileSyntaxError):
        tokenize('"abc\\')


def test_empty_text_has_no_tokens() -> None:
    assert tokenize("") == []
    assert tokenize("\ufeff \r\n\t") == []
