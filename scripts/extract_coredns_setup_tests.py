#!/usr/bin/env python3
"""Extract the `shouldErr` tables of CoreDNS's plugin setup tests, for the checker's conformance suite.

CoreDNS's own `plugin/*/setup_test.go` files hold tables of Corefile snippets with whether the
plugin's setup must refuse them. They are the best statement of what each release accepts, so the
wizard's checker is measured against them (tests/test_checker_conformance.py).

Usage:
    scripts/extract_coredns_setup_tests.py COREDNS_REPO [--tag v1.8.4 ...] [-o FILE]
    scripts/extract_coredns_setup_tests.py COREDNS_REPO --directives [-o FILE]

The fixtures in tests/fixtures/ were made with:
    ... COREDNS_REPO -o tests/fixtures/coredns_setup_tests.json
    ... COREDNS_REPO --directives -o tests/fixtures/coredns_directives.json

COREDNS_REPO is a clone of https://github.com/coredns/coredns (a bare one works: files are read
with `git show TAG:PATH`, so no checkout of each tag is needed). The output (JSON) lists, per
release tag, every table row whose snippet is a string literal and whose verdict is a literal
true/false: plugin, file, line of the row, snippet, shouldErr. Rows built at run time (fmt.Sprintf,
variables) are skipped and counted. Only test data is read; no Go code is carried over.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TAGS = ("v1.6.7", "v1.8.4", "v1.11.1", "v1.14.7")
VERDICT_FIELDS = ("shouldErr", "shouldError", "shouldFail")
"""The bool column that says "setup must refuse this snippet"."""

_CONTROLLER_RE = re.compile(
    r'NewTestController\(\s*"dns"\s*,\s*(?:fmt\.Sprintf\(\s*("(?:[^"\\]|\\.)*")\s*,\s*)?\w+\.(\w+)\s*\)'
)
"""`NewTestController("dns", test.input)` or `... fmt.Sprintf("cache {\\n%s\\n}", test.input))`."""


@dataclass
class Token:
    kind: str  # "str", "ident", "punct", "nl", "other"
    text: str
    line: int
    value: str | None = None  # the decoded string for "str" tokens


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}  # fmt: skip


def _decode_interpreted(body: str) -> str:
    """A Go "..." literal's content, escapes decoded."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        elif nxt.isdigit():
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{nxt}")
    return "".join(out)


def tokenize(src: str) -> list[Token]:
    """Go tokens, enough for composite literals: strings, identifiers, punctuation, newlines."""
    tokens: list[Token] = []
    i, line = 0, 1
    n = len(src)
    while i < n:
        ch = src[i]
        if ch == "\n":
            tokens.append(Token("nl", "\n", line))
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end == -1 else end
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end == -1 else end + 2
            line += src.count("\n", i, end)
            i = end
        elif ch == "`":
            end = src.find("`", i + 1)
            text = src[i + 1 : end]
            tokens.append(Token("str", src[i : end + 1], line, text.replace("\r", "")))
            line += text.count("\n")
            i = end + 1
        elif ch == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            tokens.append(Token("str", src[i : j + 1], line, _decode_interpreted(src[i + 1 : j])))
            i = j + 1
        elif ch == "'":
            j = i + 1
            while src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            tokens.append(Token("other", src[i : j + 1], line))
            i = j + 1
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            tokens.append(Token("ident", src[i:j], line))
            i = j
        elif ch.isdigit():
            j = i
            while j < n and (src[j].isalnum() or src[j] in "._"):
                j += 1
            tokens.append(Token("other", src[i:j], line))
            i = j
        else:
            tokens.append(Token("punct", ch, line))
            i += 1
    return tokens


def _matching(tokens: list[Token], start: int) -> int:
    """Index of the brace closing the `{` at `start`."""
    depth = 0
    for k in range(start, len(tokens)):
        if tokens[k].kind == "punct" and tokens[k].text in "{([":
            depth += 1
        elif tokens[k].kind == "punct" and tokens[k].text in "})]":
            depth -= 1
            if depth == 0:
                return k
    raise ValueError("unbalanced braces")


def _split_top(tokens: list[Token]) -> list[list[Token]]:
    """Split a token run at commas that are not inside brackets; newlines dropped."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "nl":
            continue
        if tok.kind == "punct" and tok.text in "{([":
            depth += 1
        elif tok.kind == "punct" and tok.text in "})]":
            depth -= 1
        if depth == 0 and tok.kind == "punct" and tok.text == ",":
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def _struct_fields(tokens: list[Token]) -> list[tuple[str, str]]:
    """(name, type text) per field of a struct body, in order."""
    fields: list[tuple[str, str]] = []
    lines: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "punct" and tok.text in "{([":
            depth += 1
        elif tok.kind == "punct" and tok.text in "})]":
            depth -= 1
        if depth == 0 and (tok.kind == "nl" or (tok.kind == "punct" and tok.text == ";")):
            lines.append([])
        else:
            lines[-1].append(tok)
    for row in lines:
        if not row:
            continue
        names: list[str] = []
        k = 0
        while k < len(row) and row[k].kind == "ident":
            names.append(row[k].text)
            if k + 1 < len(row) and row[k + 1].text == ",":
                k += 2
                continue
            k += 1
            break
        type_text = "".join(t.text for t in row[k:])
        if not type_text:  # an embedded field: its name is its type
            type_text, names = names[-1], names[-1:]
        elif k and row[k - 1].kind == "ident" and len(names) == 1 and not type_text:
            pass
        for name in names:
            fields.append((name, type_text))
    return fields


def _literal_string(part: list[Token]) -> str | None:
    """`"a" + "b"` or a raw string; None for anything computed at run time."""
    if not part or part[0].kind != "str":
        return None
    text = part[0].value or ""
    k = 1
    while k < len(part):
        if part[k].text == "+" and k + 1 < len(part) and part[k + 1].kind == "str":
            text += part[k + 1].value or ""
            k += 2
        else:
            return None
    return text


def extract_file(src: str, path: str) -> tuple[list[dict[str, object]], int]:
    """The rows of every shouldErr table in one setup_test.go, and how many rows were skipped."""
    controllers = [
        (
            src.count("\n", 0, m.start()) + 1,
            m.group(2),
            _decode_interpreted(m.group(1)[1:-1]) if m.group(1) else "%s",
        )
        for m in _CONTROLLER_RE.finditer(src)
    ]
    tokens = [t for t in tokenize(src)]
    rows: list[dict[str, object]] = []
    skipped = 0
    k = 0
    while k < len(tokens) - 3:
        if not (tokens[k].text == "[" and tokens[k + 1].text == "]" and tokens[k + 2].text == "struct"):
            k += 1
            continue
        open_def = k + 3
        close_def = _matching(tokens, open_def)
        fields = _struct_fields(tokens[open_def + 1 : close_def])
        open_body = close_def + 1
        if tokens[open_body].text != "{":
            k = close_def
            continue
        close_body = _matching(tokens, open_body)
        names = [name for name, _ in fields]
        verdict = next((f for f in VERDICT_FIELDS if f in names), None)
        # the table feeds the first NewTestController call after it
        use = next((c for c in controllers if c[0] > tokens[close_body].line), None)
        source = None
        if use is not None and (use[1], "string") in fields:
            source = use[1]
        if verdict is None or source is None or use is None:
            k = close_body
            continue
        for entry in _split_top(tokens[open_body + 1 : close_body]):
            if entry[0].text != "{":
                skipped += 1
                continue
            values: dict[str, list[Token]] = {}
            for pos, part in enumerate(_split_top(entry[1:-1])):
                if len(part) > 2 and part[0].kind == "ident" and part[1].text == ":":
                    values[part[0].text] = part[2:]
                elif pos < len(names):
                    values[names[pos]] = part
            snippet = _literal_string(values.get(source, []))
            flag = values.get(verdict)
            flag_text = flag[0].text if flag is not None and len(flag) == 1 else None
            if flag is None:
                flag_text = "false"  # an omitted bool field is false in Go
            if snippet is None or flag_text not in ("true", "false"):
                skipped += 1
                continue
            if use[2].count("%s") != 1 or "%" in use[2].replace("%s", ""):
                skipped += 1
                continue
            rows.append(
                {
                    "plugin": path.split("/")[1],
                    "file": path,
                    "line": entry[0].line,
                    "input": use[2].replace("%s", snippet),
                    "shouldErr": flag_text == "true",
                }
            )
        k = close_body
    return rows, skipped


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def extract(repo: Path, tags: list[str]) -> dict[str, object]:
    releases: dict[str, object] = {}
    for tag in tags:
        commit = _git(repo, "rev-list", "-n", "1", tag).strip()
        paths = [
            p
            for p in _git(repo, "ls-tree", "-r", "--name-only", tag, "plugin").splitlines()
            if re.fullmatch(r"plugin/[^/]+/setup_test\.go", p)
        ]
        cases: list[dict[str, object]] = []
        skipped = 0
        for path in sorted(paths):
            rows, missed = extract_file(_git(repo, "show", f"{tag}:{path}"), path)
            cases.extend(rows)
            skipped += missed
        releases[tag] = {"commit": commit, "skipped_rows": skipped, "cases": cases}
    return {
        "source": "https://github.com/coredns/coredns plugin/*/setup_test.go, shouldErr tables "
        "(test data only), extracted by scripts/extract_coredns_setup_tests.py",
        "releases": releases,
    }


_DIRECTIVE_RE = re.compile(r'^\s*"([a-z0-9_]+)",\s*$', re.M)


def release_tags(repo: Path) -> list[str]:
    """Every vMAJOR.MINOR.PATCH tag from v1.0.0 on, oldest first."""
    tags = [t for t in _git(repo, "tag").split() if re.fullmatch(r"v1\.\d+\.\d+", t)]
    return sorted(tags, key=lambda t: tuple(int(p) for p in t[1:].split(".")))


def extract_directives(repo: Path, tags: list[str]) -> dict[str, object]:
    """Per release: the directives compiled in (core/dnsserver/zdirectives.go) and plugin.cfg's names.
    They can differ: v1.14.2 compiles `proxyproto` in although its plugin.cfg does not list it."""
    releases: dict[str, object] = {}
    for tag in tags:
        compiled = _DIRECTIVE_RE.findall(_git(repo, "show", f"{tag}:core/dnsserver/zdirectives.go"))
        cfg = [
            line.split(":", 1)[0].strip()
            for line in _git(repo, "show", f"{tag}:plugin.cfg").splitlines()
            if line.strip() and not line.lstrip().startswith("#") and ":" in line
        ]
        releases[tag] = {"zdirectives": compiled, "plugin_cfg": cfg}
    return {
        "source": "https://github.com/coredns/coredns core/dnsserver/zdirectives.go and plugin.cfg at each "
        "release tag, extracted by scripts/extract_coredns_setup_tests.py --directives",
        "releases": releases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a coredns/coredns git clone (bare is fine)")
    parser.add_argument("--tag", action="append", dest="tags", help="release tag (repeatable)")
    parser.add_argument("-o", "--output", type=Path, help="write JSON here (default: stdout)")
    parser.add_argument(
        "--directives",
        action="store_true",
        help="instead: each release's compiled directive list and plugin.cfg (all v1.x.y tags unless --tag)",
    )
    args = parser.parse_args(argv)
    if args.directives:
        listing = extract_directives(args.repo, args.tags or release_tags(args.repo))
        out = json.dumps(listing, indent=1) + "\n"
        if args.output:
            args.output.write_text(out, encoding="utf-8")
        else:
            sys.stdout.write(out)
        return 0
    data = extract(args.repo, args.tags or list(DEFAULT_TAGS))
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for tag, rel in data["releases"].items():  # type: ignore[attr-defined]
        cases = rel["cases"]
        bad = sum(1 for c in cases if c["shouldErr"])
        print(
            f"{tag}: {len(cases) - bad} valid, {bad} invalid, {rel['skipped_rows']} rows skipped",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
