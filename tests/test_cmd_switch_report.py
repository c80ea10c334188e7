"""`coredns-wizard switch --report FILE`: the headless run writes the same change record as the
terminal wizard's Done stage (built by wizard.migration.change_record), and an unwritable file is
refused before anything connects or changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from switch_support import NS, deployment_replicas
from test_cmd_switch import wizard


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2, kernel="fixed")
def test_switch_report_writes_the_change_record(lab: Any, tmp_path: Path) -> None:
    for bad, why in ((tmp_path / "missing" / "record.html", "does not exist"), (tmp_path, "is a directory")):
        refused = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--report", str(bad))
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "--report" in lines[0] and why in lines[0], refused.stderr
        assert lab.store.try_get("deployments.apps", NS, "coredns") is None  # nothing started

    path = tmp_path / "record.html"
    done = wizard(lab, tmp_path, "switch", "--yes", "--observe", "2s", "--report", str(path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (2, 0)
    assert "coredns-wizard switch: switch complete" in done.stdout  # the outcome on stdout
    assert f"change record: {path.resolve()}" in done.stderr
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for section in ("Summary", "Pre-flight findings", "Corefile", "Steps", "DNS during the rounds",
                    "Rollback and clean-up"):
        assert f"<h2>{section}</h2>" in page, section
    for step in ("deploy", "r1.scale-coredns", "r1.observe", "r2.scale-kube-dns"):
        assert f"<code>{step}</code>" in page, step
    assert "<code>kubectl scale deployment coredns -n kube-system --replicas=1</code>" in page
    assert page.count("<svg") >= 4 and "<polyline" in page  # success rate and latency per round
    assert len(re.findall(r'class="ok">done<', page)) >= 6
    assert "Switch complete" in page and "UTC)" in page
    assert "coredns-wizard rollback --context" in page and "coredns-wizard cleanup --context" in page
    assert "deployed Corefile" in page  # the diff's second title
