"""The checker against CoreDNS's own plugin setup tests (tests/fixtures/coredns_setup_tests.json).

The fixture holds the `shouldErr` tables of `plugin/*/setup_test.go` at four releases, extracted by
scripts/extract_coredns_setup_tests.py. Each snippet is the body of a server block, checked for the
release it came from. Every snippet CoreDNS accepts must be accepted; at least 95% of the ones it
refuses must be refused, by an error on a line of the snippet that names the plugin under test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wizard.dns.checker import Finding, check_corefile_text

FIXTURE = Path(__file__).parent / "fixtures" / "coredns_setup_tests.json"
RELEASES = ("v1.6.7", "v1.8.4", "v1.11.1", "v1.14.7")
REFUSED_AT_LEAST = 0.95

DIRECTIVE_OF = {"metrics": "prometheus"}
"""Plugin directories whose directive has another name."""


@dataclass(frozen=True)
class Case:
    release: str
    plugin: str
    file: str
    line: int
    snippet: str
    should_err: bool

    @property
    def directive(self) -> str:
        return DIRECTIVE_OF.get(self.plugin, self.plugin)

    @property
    def corefile(self) -> str:
        """The snippet as the body of a server block; snippet line N is Corefile line N + 1."""
        return ".:53 {\n" + self.snippet + "\n}\n"


def _cases() -> Iterator[Case]:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for release in RELEASES:
        for row in data["releases"][release]["cases"]:
            yield Case(release, row["plugin"], row["file"], row["line"], row["input"], row["shouldErr"])


CASES = list(_cases())


def _names_another_directive(case: Case) -> bool:
    """A setup test may misspell the directive (erratic's `erraric`): setup() never reads the name,
    but CoreDNS itself would refuse the unknown directive, so such rows say nothing either way."""
    words = case.snippet.split()
    return not words or words[0] != case.directive


def errors_of(case: Case) -> list[Finding]:
    return [f for f in check_corefile_text(case.corefile, case.release[1:], env={}) if f.is_error]


def _on_the_right_line(case: Case, finding: Finding) -> bool:
    """Within the snippet (not the wrapping block) and naming the directive it tests (as written)."""
    snippet_lines = case.snippet.count("\n") + 1
    first = next(i for i, text in enumerate(case.snippet.splitlines(), 1) if text.strip())
    return finding.directive == case.snippet.split()[0] and first <= finding.line - 1 <= snippet_lines


def test_fixture_covers_the_four_releases() -> None:
    for release in RELEASES:
        rows = [c for c in CASES if c.release == release]
        assert sum(c.should_err for c in rows) > 100 and sum(not c.should_err for c in rows) > 150


@pytest.mark.parametrize("release", RELEASES)
def test_every_snippet_coredns_accepts_is_accepted(release: str) -> None:
    rejected = [
        (c.file, c.line, c.snippet, errors_of(c)[0].message)
        for c in CASES
        if c.release == release and not c.should_err and not _names_another_directive(c) and errors_of(c)
    ]
    assert rejected == []


@pytest.mark.parametrize("release", RELEASES)
def test_snippets_coredns_refuses_are_refused_on_the_right_line(release: str) -> None:
    invalid = [c for c in CASES if c.release == release and c.should_err]
    refused = 0
    wrong_line = []
    for case in invalid:
        found = errors_of(case)
        if not found:
            continue
        refused += 1
        if not any(_on_the_right_line(case, f) for f in found):
            wrong_line.append((case.file, case.line, case.snippet, [(f.line, f.message) for f in found]))
    assert wrong_line == []
    assert refused / len(invalid) >= REFUSED_AT_LEAST, f"{release}: refused {refused} of {len(invalid)}"


def conformance_figures() -> dict[str, tuple[int, int, int, int]]:
    """release → (valid accepted, valid, invalid refused, invalid): the README's table."""
    figures = {}
    for release in RELEASES:
        rows = [
            c
            for c in CASES
            if c.release == release and not (not c.should_err and _names_another_directive(c))
        ]
        valid = [c for c in rows if not c.should_err]
        invalid = [c for c in rows if c.should_err]
        figures[release] = (
            sum(not errors_of(c) for c in valid),
            len(valid),
            sum(bool(errors_of(c)) for c in invalid),
            len(invalid),
        )
    return figures


if __name__ == "__main__":  # print the figures: PYTHONPATH=. python3 tests/test_checker_conformance.py
    for release, (ok, valid, refused, invalid) in conformance_figures().items():
        print(
            f"{release}: accepted {ok}/{valid} valid, "
            f"refused {refused}/{invalid} invalid ({refused / invalid:.1%})"
        )
