"""The plugin data (wizard.dns.plugins) against what each CoreDNS release really compiles in.

tests/fixtures/coredns_directives.json holds, per release tag, core/dnsserver/zdirectives.go (the
directives the binary registers, what decides "Unknown directive") and plugin.cfg (its source, which
can disagree: v1.14.2 compiles proxyproto in without listing it). Made by
scripts/extract_coredns_setup_tests.py --directives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizard.dns.plugins import directives_in
from wizard.dns.versions import KNOWN_COREDNS_VERSIONS

FIXTURE = Path(__file__).parent / "fixtures" / "coredns_directives.json"
RELEASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["releases"]
PARSER_DIRECTIVES = {"import"}
"""Handled by the Corefile parser itself, in no plugin list."""


def test_every_known_version_is_a_release_in_the_fixture() -> None:
    assert [v for v in KNOWN_COREDNS_VERSIONS if f"v{v}" not in RELEASES] == []


@pytest.mark.parametrize("version", KNOWN_COREDNS_VERSIONS)
def test_directives_match_what_the_release_compiles_in(version: str) -> None:
    compiled = set(RELEASES[f"v{version}"]["zdirectives"])
    known = set(directives_in(version)) - PARSER_DIRECTIVES
    assert {"missing": sorted(compiled - known), "extra": sorted(known - compiled)} == {
        "missing": [],
        "extra": [],
    }


def test_plugin_cfg_and_compiled_list_differ_only_where_known() -> None:
    differ = {
        tag: sorted(set(rel["zdirectives"]) ^ set(rel["plugin_cfg"]))
        for tag, rel in RELEASES.items()
        if set(rel["zdirectives"]) != set(rel["plugin_cfg"])
    }
    assert differ == {"v1.0.5": ["forward"], "v1.14.2": ["proxyproto"]}
