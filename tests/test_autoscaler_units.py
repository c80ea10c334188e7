"""The autoscaler's --target flag, read and rewritten in every form CPA accepts (no cluster)."""

from __future__ import annotations

import pytest

from wizard.migration.autoscaler import AutoscalerRecord, find_target_flag, targets, with_target
from wizard.migration.facts import find_autoscaler
from wizard.migration.journal import ANNOTATION_AUTOSCALER


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["--target=Deployment/kube-dns"], (0, True, "Deployment/kube-dns")),
        (["--v=2", "--target", "Deployment/kube-dns"], (2, False, "Deployment/kube-dns")),
        (["-target=deployment/kube-dns"], (0, True, "deployment/kube-dns")),
        (["-target", "Deployment/kube-dns", "--v=2"], (1, False, "Deployment/kube-dns")),
        (["--target"], None),  # a flag without its value is not a target
        (["--targets=x", "--v=2"], None),
    ],
)
def test_target_flag_forms(words: list[str], expected: tuple[int, bool, str] | None) -> None:
    assert find_target_flag(words) == expected


def test_rewrite_keeps_the_form_and_everything_else() -> None:
    assert with_target(["/cpa", "--target", "Deployment/kube-dns", "--v=2"], "Deployment/coredns") == [
        "/cpa", "--target", "Deployment/coredns", "--v=2",
    ]
    one_dash = with_target(["-target=Deployment/kube-dns"], "Deployment/coredns")
    assert one_dash == ["-target=Deployment/coredns"]
    assert with_target(["--v=2"], "Deployment/coredns") is None
    assert targets(" deployment/KUBE-DNS", "kube-dns") and not targets("Deployment/kube-dns2", "kube-dns")


def test_a_retargeted_autoscaler_is_found_again_as_it_was() -> None:
    """A switch killed after the retarget: facts still find the autoscaler, with its record's words."""
    record = AutoscalerRecord(
        "kube-dns-autoscaler", "kube-system", 1, "Deployment/kube-dns", "autoscaler", "args",
        ("--target", "Deployment/kube-dns"),
    )
    deployment = {
        "metadata": {
            "name": "kube-dns-autoscaler",
            "namespace": "kube-system",
            "annotations": {ANNOTATION_AUTOSCALER: record.to_json()},
        },
        "spec": {
            "replicas": 0,
            "template": {"spec": {"containers": [
                {"name": "autoscaler", "command": ["/cpa"], "args": ["--target", "Deployment/coredns"]}
            ]}},
        },
    }
    found = find_autoscaler(deployment, "kube-system", "kube-dns", "coredns")
    assert found is not None
    assert (found.target, found.replicas, found.args, found.args_field) == (
        "Deployment/kube-dns", 1, ("--target", "Deployment/kube-dns"), "args",
    )
    assert find_autoscaler(deployment, "kube-system", "kube-dns") is None  # without the CoreDNS name
    unrecorded = {**deployment, "metadata": {"name": "kube-dns-autoscaler", "namespace": "kube-system"}}
    assert find_autoscaler(unrecorded, "kube-system", "kube-dns", "coredns") is None  # someone else's
