"""The parser builds the model CoreDNS's Caddyfile parser implies, keeps comments and imports,
and refuses broken Corefiles with FILE:LINE; `expand()` and `parse_key()` give effective values."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.dns.corefile import (
    Corefile,
    CorefileSyntaxError,
    Directive,
    ServerBlock,
    ServerKey,
    Snippet,
    TopLevelImport,
    expand,
    format_corefile,
    parse,
    parse_key,
)
from wizard.errors import InputError

# The Corefile of switch2coredns.yaml in /work/shared/docs/procedure.md (stage 3).
TEMPLATE = """\
.:53 {
    template ANY HINFO . {
        rcode NXDOMAIN
    }
    errors
    health {
        lameduck 30s
    }
    ready
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        upstream            # only when CoreDNS < 1.7.0
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        prefer_udp
    }
    cache 30
    reload
    loadbalance
}
"""

# The guide's worked example (stage 3b).
WORKED_EXAMPLE = """\
.:53 {
    kubernetes cluster.local. in-addr.arpa ip6.arpa {
        pods insecure
        upstream 8.8.8.8 8.8.4.4      # only when CoreDNS < 1.7.0
        fallthrough in-addr.arpa ip6.arpa
    }
    federation cluster.local {
        foo foo.feddomain.com
    }
    forward . 8.8.8.8 8.8.4.4
}
abc.com:53 {
    forward . 1.2.3.4
}
my.cluster.local:53 {
    forward . 2.3.4.5
}
"""


def d(
    name: str,
    *args: str,
    block: list[Directive] | None = None,
    comments: list[str] | None = None,
    trailing_comment: str | None = None,
) -> Directive:
    return Directive(name, list(args), block, comments or [], trailing_comment)


def syntax_error(text: str) -> CorefileSyntaxError:
    with pytest.raises(CorefileSyntaxError) as caught:
        parse(text, filename="cm/Corefile")
    assert isinstance(caught.value, InputError)
    assert str(caught.value).startswith(f"cm/Corefile:{caught.value.line}: ")
    return caught.value


# -- the guide's Corefiles ---------------------------------------------------------------


def test_template_corefile_parses_to_the_expected_structure() -> None:
    cf = parse(TEMPLATE)
    assert cf == Corefile(
        items=[
            ServerBlock(
                keys=[".:53"],
                directives=[
                    d("template", "ANY", "HINFO", ".", block=[d("rcode", "NXDOMAIN")]),
                    d("errors"),
                    d("health", block=[d("lameduck", "30s")]),
                    d("ready"),
                    d(
                        "kubernetes",
                        "cluster.local.",
                        "in-addr.arpa",
                        "ip6.arpa",
                        block=[
                            d("pods", "insecure"),
                            d("upstream", trailing_comment="only when CoreDNS < 1.7.0"),
                            d("fallthrough", "in-addr.arpa", "ip6.arpa"),
                        ],
                    ),
                    d("prometheus", ":9153"),
                    d("forward", ".", "/etc/resolv.conf", block=[d("prefer_udp")]),
                    d("cache", "30"),
                    d("reload"),
                    d("loadbalance"),
                ],
            )
        ]
    )
    block = cf.blocks[0]
    kubernetes = block.directive("kubernetes")
    assert kubernetes is not None and kubernetes.line == 10
    upstream = kubernetes.option("upstream")
    assert upstream is not None and upstream.line == 12


def test_worked_example_parses_to_four_directives_and_three_blocks() -> None:
    cf = parse(WORKED_EXAMPLE)
    assert [b.keys for b in cf.blocks] == [[".:53"], ["abc.com:53"], ["my.cluster.local:53"]]
    root = cf.blocks[0]
    assert [x.name for x in root.directives] == ["kubernetes", "federation", "forward"]
    federation = root.directive("federation")
    assert federation == d("federation", "cluster.local", block=[d("foo", "foo.feddomain.com")])
    upstream = root.directives[0].option("upstream")
    assert upstream == d("upstream", "8.8.8.8", "8.8.4.4", trailing_comment="only when CoreDNS < 1.7.0")
    assert cf.blocks[1].directives == [d("forward", ".", "1.2.3.4")]
    assert [parse_key(b.keys[0]) for b in cf.blocks] == [
        ServerKey("dns", ".", 53),
        ServerKey("dns", "abc.com.", 53),
        ServerKey("dns", "my.cluster.local.", 53),
    ]


def test_guide_corefiles_print_back_canonically() -> None:
    for text in (TEMPLATE, WORKED_EXAMPLE):
        cf = parse(text)
        printed = format_corefile(cf)
        assert parse(printed) == cf
        assert format_corefile(parse(printed)) == printed
    assert "        upstream # only when CoreDNS < 1.7.0\n" in format_corefile(parse(TEMPLATE))


# -- keys -------------------------------------------------------------------------------


def test_keys_split_on_spaces_and_commas_and_continue_after_a_trailing_comma() -> None:
    cf = parse("a.org, b.org c.org d.org,\n  e.org , f.org {\n}\n")
    assert cf.blocks[0].keys == ["a.org", "b.org", "c.org", "d.org", "e.org", "f.org"]


def test_keys_keep_transport_prefixes() -> None:
    cf = parse("tls://example.org:853 grpc://. {\n}\n")
    assert cf.blocks[0].keys == ["tls://example.org:853", "grpc://."]


def test_brace_glued_to_a_key_is_not_an_opening_brace() -> None:
    # `.:53{` is one token, so the block has no braces and `errors` is read as its directive;
    # the `}` that follows has nothing to close.
    err = syntax_error(".:53{\n    errors\n}\n")
    assert err.line == 3
    assert "unexpected '}'" in str(err)


def test_opening_brace_may_start_the_next_line() -> None:
    cf = parse(".:53\n{\n  errors\n}\n")
    assert cf.blocks[0] == ServerBlock([".:53"], [d("errors")])


def test_single_block_may_omit_its_braces() -> None:
    cf = parse("example.org:1053\nforward . 8.8.8.8\nlog\n")
    assert cf == Corefile([ServerBlock(["example.org:1053"], [d("forward", ".", "8.8.8.8"), d("log")])])
    assert format_corefile(cf) == "example.org:1053 {\n    forward . 8.8.8.8\n    log\n}\n"


def test_key_line_alone_is_an_empty_block() -> None:
    assert parse(".:53\n") == Corefile([ServerBlock([".:53"])])


def test_environment_placeholders_are_kept_verbatim() -> None:
    cf = parse("{$ZONE}:53 {\n    forward . {%UPSTREAM%} {$SECOND}\n}\n")
    assert cf.blocks[0].keys == ["{$ZONE}:53"]
    assert cf.blocks[0].directives[0].args == [".", "{%UPSTREAM%}", "{$SECOND}"]


# -- directives and nesting --------------------------------------------------------------


def test_blocks_nest_three_deep_and_keep_empty_blocks_apart_from_none() -> None:
    cf = parse(
        ".:53 {\n"
        "    a 1 {\n"
        "        b 2 {\n"
        "            c 3 {\n"
        "                leaf x\n"
        "            }\n"
        "        }\n"
        "        empty {\n"
        "        }\n"
        "    }\n"
        "}\n"
    )
    leaf = d("leaf", "x")
    assert cf.blocks[0].directives == [
        d("a", "1", block=[d("b", "2", block=[d("c", "3", block=[leaf])]), d("empty", block=[])])
    ]


def test_option_block_may_sit_on_one_line_like_coredns_allows() -> None:
    cf = parse(".:53 {\n    health { lameduck 5s }\n    ready\n}\n")
    assert cf.blocks[0].directives == [d("health", block=[d("lameduck", "5s")]), d("ready")]


def test_quoted_arguments_keep_spaces_hashes_and_quotes() -> None:
    cf = parse(
        '.:53 {\n    template IN A {\n        answer "{{ .Name }} 60 IN A 1.2.3.4 # x \\"y\\""\n    }\n}\n'
    )
    answer = cf.blocks[0].directives[0].option("answer")
    assert answer is not None
    assert answer.args == ['{{ .Name }} 60 IN A 1.2.3.4 # x "y"']


def test_crlf_and_bom_corefile_parses_like_plain_text() -> None:
    text = "\ufeff.:53 {\r\n    errors\r\n    cache 30 # short\r\n}\r\n"
    assert parse(text) == parse(".:53 {\n    errors\n    cache 30 # short\n}\n")


# -- comments ----------------------------------------------------------------------------


def test_comments_attach_to_the_following_node_same_line_and_closing_brace() -> None:
    cf = parse(
        "# about the root zone\n"
        "#\n"
        ".:53 { # root\n"
        "    # first\n"
        "    forward . 1.1.1.1 { # opts\n"
        "        # before option\n"
        "        max_fails 3 # three\n"
        "        # end of forward\n"
        "    }\n"
        "    cache 30 #no space\n"
        "    # end of block\n"
        "}\n"
        "# the end\n"
    )
    block = cf.blocks[0]
    assert block.comments == ["about the root zone", ""]
    assert block.trailing_comment == "root"
    assert block.closing_comments == ["end of block"]
    forward, cache = block.directives
    assert forward.comments == ["first"]
    assert forward.trailing_comment == "opts"
    assert forward.closing_comments == ["end of forward"]
    assert forward.block == [d("max_fails", "3", comments=["before option"], trailing_comment="three")]
    assert cache.trailing_comment == "no space"
    assert cf.closing_comments == ["the end"]


def test_comment_after_a_closing_brace_stays_with_its_directive_or_moves_to_the_next_node() -> None:
    cf = parse(
        ".:53 {\n    health {\n        lameduck 5s\n    } # health done\n}   # block done\nb.org {\n}\n"
    )
    assert cf.blocks[0].directives[0].trailing_comment == "health done"
    assert cf.blocks[1].comments == ["block done"]


def test_one_line_snippet_is_allowed_like_coredns_does() -> None:
    cf = parse("(s) { log }\n(t) { a { b } }\n")
    assert cf.items == [Snippet("s", [d("log")]), Snippet("t", [d("a", block=[d("b")])])]


def test_snippet_comments_are_kept() -> None:
    cf = parse("# shared\n(common) { # body\n    log\n    # last\n}\n")
    assert cf.items == [
        Snippet("common", [d("log")], comments=["shared"], closing_comments=["last"], trailing_comment="body")
    ]


# -- snippets and imports ----------------------------------------------------------------


def test_snippet_imported_in_a_block_stays_an_import_directive() -> None:
    cf = parse(
        "(common) {\n    errors\n    cache 30\n}\n.:53 {\n    import common\n    forward . 8.8.8.8\n}\n"
    )
    assert cf.snippets["common"].directives == [d("errors"), d("cache", "30")]
    assert cf.blocks[0].directives[0] == d("import", "common")


def test_snippet_imported_between_blocks_holds_server_blocks() -> None:
    cf = parse("(zones) {\n    a.org b.org {\n        whoami\n    }\n}\nimport zones\n.:53 {\n}\n")
    snippet = cf.snippets["zones"]
    assert snippet.directives == []
    assert snippet.blocks == [ServerBlock(["a.org", "b.org"], [d("whoami")])]
    assert cf.top_level_imports == [TopLevelImport(1, d("import", "zones"))]
    assert [b.keys for b in expand(cf).blocks] == [["a.org", "b.org"], [".:53"]]


def test_file_imports_are_kept_for_expand() -> None:
    cf = parse("import custom/*.server\n.:53 {\n    import custom/*.override\n}\n")
    assert cf.top_level_imports == [TopLevelImport(0, d("import", "custom/*.server"))]
    assert cf.blocks[0].directives == [d("import", "custom/*.override")]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (".:53 {\n    errors\n", 1, "unclosed '{'"),
        (".:53 {\n    forward . 1.1.1.1 {\n        max_fails 2\n}\n", 1, "unclosed '{'"),
        (".:53 {\n}\n}\n", 3, "unexpected '}'"),
        ("{\n    errors\n}\n", 1, "missing server block keys"),
        (".:53 {\n    errors }\n", 2, "own line"),
        (".:53 {\n    errors\n    {\n    }\n}\n", 3, "unexpected '{'"),
        (".:53 {\n    health {\n    } extra\n}\n", 3, "unexpected 'extra'"),
        ("a.org, {\n}\n", 1, "extra comma"),
        ("a.org,\n", 1, "no key follows"),
        ('.:53 {\n    rewrite name "a\n}\n', 2, "unterminated quoted token"),
        (".:53 {\n    import missing\n}\n", 2, "unknown snippet 'missing'"),
        (".:53 {\n    import common\n}\n(common) {\n    log\n}\n", 2, "before its definition"),
        ("(a) {\n    import b\n}\n(b) {\n    import a\n}\n", 5, "import cycle between snippets: a -> b -> a"),
        ("(a) {\n    import a\n}\n", 2, "import cycle between snippets: a -> a"),
        ("(a) {\n}\n(a) {\n}\n", 3, "already defined on line 1"),
        ("(a)\n", 1, "needs a body"),
        (".:53 {\n    import a b\n}\n", 2, "exactly one argument"),
        ('.:53 {\n    "" x\n}\n', 2, "empty directive name"),
        ("(s) {\n    log\n}\nimport s\n", 2, "must be a server block"),
        ("(s) {\n    a {\n    }\n}\nimport s\n.:53 {\n    import s\n}\n", 1, "both between server blocks"),
        ("a.org,b.org {\n}\n", 1, "has a comma inside"),
        ("a.org,\n  {, b.org {\n}\n", 2, "'{' cannot be a server block key"),
        ("import, b.org {\n}\n", 1, "'import' cannot be a server block key"),
        (",\n(s) {\n}\n", 1, "reads as a snippet name"),
    ],
)
def test_syntax_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    err = syntax_error(text)
    assert err.line == line, str(err)
    assert fragment in str(err)


def test_default_filename_is_corefile() -> None:
    with pytest.raises(CorefileSyntaxError, match=r"^Corefile:1: "):
        parse("}")


# -- expand ------------------------------------------------------------------------------


def test_expand_splices_snippets_recursively_and_substitutes_environment() -> None:
    cf = parse(
        "(base) {\n    errors\n}\n"
        "(common) {\n    import base\n    cache {$TTL}\n}\n"
        "{$ZONE}:53 {\n"
        "    import common\n"
        "    forward . {%UPSTREAM%} {$UNSET}x\n"
        "    kubernetes cluster.local {\n        import base\n    }\n"
        "}\n"
    )
    effective = expand(cf, env={"TTL": "30", "ZONE": "Example.org", "UPSTREAM": "8.8.8.8"})
    assert effective == Corefile(
        [
            ServerBlock(
                ["Example.org:53"],
                [
                    d("errors"),
                    d("cache", "30"),
                    d("forward", ".", "8.8.8.8", "x"),
                    d("kubernetes", "cluster.local", block=[d("errors")]),
                ],
            )
        ]
    )
    assert cf.snippets  # the input is not modified
    assert cf.blocks[0].keys == ["{$ZONE}:53"]


def test_expand_reads_os_environ_when_env_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIZARD_TEST_UPSTREAM", "9.9.9.9")
    cf = parse(".:53 {\n    forward . {$WIZARD_TEST_UPSTREAM}\n}\n")
    assert expand(cf).blocks[0].directives[0].args == [".", "9.9.9.9"]


def test_expand_environment_edge_cases_follow_coredns() -> None:
    cf = parse(".:53 {\n    x {$} {$A}{%B%} {$A {$A}{$A}\n}\n")
    args = expand(cf, env={"A": "1", "B": "2"}).blocks[0].directives[0].args
    assert args == ["{$}", "12", "{$A", "11"]


def test_expand_file_imports_need_base_dir() -> None:
    cf = parse(".:53 {\n    import custom/*.override\n}\n")
    with pytest.raises(CorefileSyntaxError, match=r"Corefile:2: import of file 'custom/\*.override' needs"):
        expand(cf)


def test_expand_reads_file_globs_relative_to_base_dir(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "b.override").write_text("log\n")
    (custom / "a.override").write_text("# first\nrewrite name a.org b.org\n")
    (custom / "x.server").write_text("internal.org {\n    forward . 10.0.0.1\n}\n")
    cf = parse("import custom/*.server\n.:53 {\n    import custom/*.override\n    import custom/none*.x\n}\n")
    effective = expand(cf, env={}, base_dir=tmp_path)
    assert [b.keys for b in effective.blocks] == [["internal.org"], [".:53"]]
    assert [x.name for x in effective.blocks[1].directives] == ["rewrite", "log"]


def test_expand_reports_missing_files_and_wide_globs(tmp_path: Path) -> None:
    missing = parse(".:53 {\n    import nothere.conf\n}\n")
    with pytest.raises(CorefileSyntaxError, match="file to import not found"):
        expand(missing, base_dir=tmp_path)
    wide = parse(".:53 {\n    import */*.conf\n}\n")
    with pytest.raises(CorefileSyntaxError, match="only one wildcard"):
        expand(wide, base_dir=tmp_path)


def test_expand_stops_a_file_that_imports_itself(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").write_text("import loop.conf\n")
    cf = parse(".:53 {\n    import loop.conf\n}\n")
    with pytest.raises(CorefileSyntaxError, match="import cycle"):
        expand(cf, base_dir=tmp_path)


# -- parse_key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (".", ServerKey("dns", ".", 53)),
        (".:53", ServerKey("dns", ".", 53)),
        ("Cluster.Local", ServerKey("dns", "cluster.local.", 53)),
        ("dns://example.org.:1053", ServerKey("dns", "example.org.", 1053)),
        ("tls://example.org", ServerKey("tls", "example.org.", 853)),
        ("https://example.org", ServerKey("https", "example.org.", 443)),
        ("grpc://.", ServerKey("grpc", ".", 443)),
        ("quic://example.org", ServerKey("quic", "example.org.", 853)),
        ("10.0.0.0/24", ServerKey("dns", "10.0.0.0/24", 53)),
        ("10.0.0.0/24:1053", ServerKey("dns", "10.0.0.0/24", 1053)),
        ("fd00::/8", ServerKey("dns", "fd00::/8", 53)),
    ],
)
def test_parse_key(key: str, expected: ServerKey) -> None:
    assert parse_key(key) == expected


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("example.org:0", "port '0'"),
        ("example.org:65536", "port '65536'"),
        ("example.org:dns", "port 'dns'"),
        ("example.org:", "ends with ':'"),
        (":53", "has no zone"),
        ("udp://example.org", "unknown transport 'udp://'"),
    ],
)
def test_parse_key_rejects_bad_keys(key: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_key(key)
    assert fragment in str(caught.value)
    assert repr(key) in str(caught.value)
