"""Version parsing and ordering, the version tables, and the recommendation (incl. the command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.dns.versions import (
    KNOWN_COREDNS_VERSIONS,
    KUBEADM_TABLE,
    NEWEST_KNOWN,
    TKE_TABLE,
    Version,
    is_tke_registry,
    min_kubernetes_for,
    parse_kubernetes_version,
    recommend,
    registry_host,
)
from wizard.errors import InputError

REPO = Path(__file__).resolve().parent.parent
KUBEADM = "kubeadm's table (coredns/deployment CoreDNS-k8s_version.md)"
TKE = "the TKE DNS best-practice table"
ACK = "Alibaba ACK's table"
TKE_IMAGE = "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.1"
HK_TKE_IMAGE = "hkccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.1"
UPSTREAM_IMAGE = "k8s.gcr.io/k8s-dns-kube-dns-amd64:1.14.13"


# --- Version ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.8.4", Version(1, 8, 4)),
        ("v1.8.4", Version(1, 8, 4)),
        ("1.11.1-tke.1", Version(1, 11, 1, "-tke.1")),
        ("v1.11.1-tke.1", Version(1, 11, 1, "-tke.1")),
        ("  1.2.6 ", Version(1, 2, 6)),
    ],
)
def test_parse_accepts_plain_prefixed_and_vendor_versions(text: str, expected: Version) -> None:
    assert Version.parse(text) == expected


@pytest.mark.parametrize("text", ["", "banana", "1.8", "1", "1.8.x", "v", "1..4", "1.8.4 1.8.5", "latest"])
def test_parse_refuses_garbage_naming_the_value(text: str) -> None:
    with pytest.raises(InputError) as err:
        Version.parse(text)
    assert repr(text) in str(err.value)
    assert "CoreDNS version" in str(err.value)


def test_parse_names_what_was_being_parsed() -> None:
    with pytest.raises(InputError, match=r"--coredns-version 'x\.y'"):
        Version.parse("x.y", "--coredns-version")


def test_versions_compare_numerically_not_as_text() -> None:
    assert Version.parse("1.10.1") > Version.parse("1.9.3")
    assert Version.parse("1.8.10") > Version.parse("1.8.9")
    assert Version.parse("v1.8.4") == Version.parse("1.8.4")
    assert sorted(Version.parse(v) for v in ["1.11.1", "1.2.6", "1.10.0", "1.9.4"]) == [
        Version(1, 2, 6),
        Version(1, 9, 4),
        Version(1, 10, 0),
        Version(1, 11, 1),
    ]


def test_vendor_suffix_sorts_after_the_release_but_shares_its_release() -> None:
    tke = Version.parse("1.11.1-tke.1")
    assert tke > Version.parse("1.11.1")
    assert tke < Version.parse("1.11.3")
    assert tke.release == Version.parse("1.11.1")
    assert str(tke) == "1.11.1-tke.1"


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_parse_and_str_round_trip(major: int, minor: int, patch: int) -> None:
    version = Version(major, minor, patch)
    assert Version.parse(str(version)) == version
    assert Version.parse("v" + str(version)) == version


def test_kubernetes_versions_may_omit_the_patch_and_carry_vendor_suffixes() -> None:
    assert parse_kubernetes_version("1.22").minor_line == (1, 22)
    assert parse_kubernetes_version("v1.20.6-tke.12").minor_line == (1, 20)
    assert parse_kubernetes_version("1.22+").minor_line == (1, 22)
    with pytest.raises(InputError, match=r"Kubernetes version 'one\.two'"):
        parse_kubernetes_version("one.two")


def test_known_versions_are_sorted_and_include_every_table_version() -> None:
    parsed = [Version.parse(v) for v in KNOWN_COREDNS_VERSIONS]
    assert parsed == sorted(parsed)
    assert len(set(parsed)) == len(parsed)
    for table in (KUBEADM_TABLE, TKE_TABLE):
        for _, coredns in table.rows:
            assert coredns in KNOWN_COREDNS_VERSIONS
    assert "1.8.1" not in KNOWN_COREDNS_VERSIONS  # tagged but never published as an image


def test_coredns_1_11_needs_kubernetes_1_21() -> None:
    assert min_kubernetes_for("1.10.1") == Version(1, 12)
    assert min_kubernetes_for("1.11.0") == Version(1, 21)
    assert min_kubernetes_for("v1.11.1-tke.1") == Version(1, 21)


# --- registry hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "host"),
    [
        (TKE_IMAGE, "ccr.ccs.tencentyun.com"),
        (HK_TKE_IMAGE, "hkccr.ccs.tencentyun.com"),
        ("registry.k8s.io/coredns/coredns:v1.8.0", "registry.k8s.io"),
        ("localhost:5000/kubedns:1", "localhost:5000"),
        ("Mirror.Example.COM:8443/a/b@sha256:abc", "mirror.example.com:8443"),
        ("coredns/coredns:1.6.2", None),
        ("kubedns:1.14", None),
    ],
)
def test_registry_host(image: str, host: str | None) -> None:
    assert registry_host(image) == host


@pytest.mark.parametrize("image", ["", "   ", "a b/c", "/path/only"])
def test_registry_host_refuses_non_images(image: str) -> None:
    with pytest.raises(InputError, match="kube-dns image"):
        registry_host(image)


def test_tke_registry_is_any_tencentyun_host_and_nothing_else() -> None:
    assert is_tke_registry("ccr.ccs.tencentyun.com")
    assert is_tke_registry("hkccr.ccs.tencentyun.com:443")
    assert not is_tke_registry("tencentyun.com.evil.example")
    assert not is_tke_registry("nottencentyun.com")
    assert not is_tke_registry(None)


# --- recommend ----------------------------------------------------------------------------------------

KUBEADM_ROWS = {
    "1.12": "1.2.2", "1.13": "1.2.6", "1.14": "1.3.1", "1.15": "1.3.1", "1.16": "1.6.2",
    "1.17": "1.6.5", "1.18": "1.6.7", "1.19": "1.7.0", "1.20": "1.7.0", "1.21": "1.8.0",
    "1.22": "1.8.4", "1.23": "1.8.6", "1.24": "1.8.6", "1.25": "1.9.3", "1.26": "1.9.3",
    "1.27": "1.10.1", "1.28": "1.10.1", "1.29": "1.11.1", "1.30": "1.11.1", "1.31": "1.11.3",
    "1.32": "1.11.3",
}  # fmt: skip

TKE_ROWS = {
    "1.14": "1.6.2", "1.16": "1.6.2", "1.18": "1.7.0", "1.20": "1.8.4", "1.22": "1.8.4", "1.24": "1.11.1",
}  # fmt: skip


@pytest.mark.parametrize(("k8s", "coredns"), sorted(KUBEADM_ROWS.items()))
def test_every_kubeadm_row_without_a_vendor_image(k8s: str, coredns: str) -> None:
    for image in (None, UPSTREAM_IMAGE):
        rec = recommend(k8s, image)
        assert (rec.version, rec.source) == (coredns, KUBEADM)
        assert f"Kubernetes {k8s}" in rec.reason
        assert coredns not in [v for v, _ in rec.alternatives]


@pytest.mark.parametrize(("k8s", "coredns"), sorted(TKE_ROWS.items()))
def test_every_tke_row_with_a_tke_image(k8s: str, coredns: str) -> None:
    rec = recommend(f"v{k8s}.3-tke.1", HK_TKE_IMAGE)
    assert (rec.version, rec.source) == (coredns, TKE)
    assert "hkccr.ccs.tencentyun.com" in rec.reason
    if KUBEADM_ROWS[k8s] != coredns:
        assert (KUBEADM_ROWS[k8s], KUBEADM) in rec.alternatives


def test_tke_table_is_open_ended_from_1_24() -> None:
    for k8s in ("1.26", "1.30", "1.35"):
        rec = recommend(k8s, TKE_IMAGE)
        assert (rec.version, rec.source) == ("1.11.1", TKE)
        assert "1.24 or newer" in rec.reason


def test_tke_minor_without_a_row_uses_the_row_below() -> None:
    rec = recommend("1.21", TKE_IMAGE)
    assert (rec.version, rec.source) == ("1.8.4", TKE)
    assert "no row for Kubernetes 1.21" in rec.reason
    assert ("1.8.0", KUBEADM) in rec.alternatives


def test_tke_image_on_a_kubernetes_older_than_its_table_falls_back_to_kubeadm() -> None:
    rec = recommend("1.13", TKE_IMAGE)
    assert (rec.version, rec.source) == ("1.2.6", KUBEADM)
    assert "TKE table starts at Kubernetes 1.14" in rec.reason


def test_same_kubernetes_vendor_image_changes_the_choice() -> None:
    assert recommend("1.20").version == "1.7.0"
    assert recommend("1.20", TKE_IMAGE).version == "1.8.4"
    assert recommend("1.20", UPSTREAM_IMAGE).version == "1.7.0"
    assert ("1.8.4", TKE) in recommend("1.20").alternatives


def test_ack_rows_appear_as_alternatives_only() -> None:
    rec = recommend("1.12")
    assert (rec.version, rec.source) == ("1.2.2", KUBEADM)
    assert rec.alternatives == [("1.2.6", ACK)]
    assert ("1.6.7", ACK) not in recommend("1.18").alternatives  # same as kubeadm's: listed once
    assert recommend("1.18").version == "1.6.7"


ACK_ROWS = [("1.12", "1.2.6"), ("1.14", "1.3.1"), ("1.16", "1.6.2"), ("1.18", "1.6.7")]


@pytest.mark.parametrize(("k8s", "coredns"), ACK_ROWS)
def test_every_ack_row_is_offered_unless_it_is_the_recommendation(k8s: str, coredns: str) -> None:
    rec = recommend(k8s)
    assert rec.version == coredns or (coredns, ACK) in rec.alternatives
    assert not any(source == ACK for _, source in recommend("1.19").alternatives)  # past ACK's table


def test_kubernetes_newer_than_kubeadms_table_gets_the_newest_supporting_release() -> None:
    rec = recommend("1.34")
    assert rec.version == str(NEWEST_KNOWN)
    assert "newer than kubeadm's table" in rec.reason
    assert "1.32" in rec.reason
    assert ("1.11.3", KUBEADM) in rec.alternatives
    assert ("1.11.1", TKE) in rec.alternatives


@pytest.mark.parametrize("k8s", ["1.11", "v1.10.3", "1.9"])
def test_kubernetes_older_than_1_12_is_refused(k8s: str) -> None:
    with pytest.raises(InputError, match=r"needs Kubernetes 1\.12 or newer"):
        recommend(k8s)


def test_garbage_kubernetes_version_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match="'eleven'"):
        recommend("eleven")


# --- the command ----------------------------------------------------------------------------------------


def _wizard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_versions_command_text() -> None:
    result = _wizard("versions", "--k8s-version", "1.20", "--kube-dns-image", TKE_IMAGE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "CoreDNS 1.8.4 for Kubernetes 1.20"
    assert f"source: {TKE}" in result.stdout
    assert "1.7.0" in result.stdout and KUBEADM in result.stdout


def test_versions_command_json() -> None:
    result = _wizard("versions", "--k8s-version", "v1.22.5", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == "1.8.4"
    assert document["source"] == KUBEADM
    assert document["kubernetes"] == "1.22"
    assert {"version": "1.8.4", "source": TKE} not in document["alternatives"]


def test_versions_command_refuses_old_kubernetes_with_one_line_and_exit_2() -> None:
    result = _wizard("versions", "--k8s-version", "1.11")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "1.12" in result.stderr and "Traceback" not in result.stderr
