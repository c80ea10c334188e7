"""Clean-up against the lab: the 72-hour rule, the refusals, backups, NodeLocal DNSCache."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from switch_support import NS, fast_options, gateway_for, journal_in
from test_switch_engine import run_switch

from wizard.errors import CheckFailed
from wizard.migration.cleanup import check_cleanup_allowed, cleanup
from wizard.migration.status import last_kube_dns_scale_down, read_status

NODE_LOCAL_DNS = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "node-local-dns", "namespace": NS, "labels": {"k8s-app": "node-local-dns"}},
    "spec": {
        "selector": {"matchLabels": {"k8s-app": "node-local-dns"}},
        "template": {
            "metadata": {"labels": {"k8s-app": "node-local-dns"}},
            "spec": {
                "containers": [
                    {"name": "node-cache", "image": "registry.k8s.io/dns/k8s-dns-node-cache:1.22.20"}
                ]
            },
        },
    },
}


@pytest.mark.lab_options(nodes=4)
def test_cleanup_refused_while_kube_dns_runs(lab: Any, tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="still has 3 replica"):
        cleanup(gateway_for(lab), journal_in(tmp_path), fast_options(), force=True)
    assert lab.store.try_get("deployments.apps", NS, "kube-dns") is not None


@pytest.mark.lab_options(nodes=4)
def test_cleanup_waits_72_hours_then_backs_up_and_keeps_what_is_still_used(lab: Any, tmp_path: Path) -> None:
    outcome, _ = run_switch(lab, tmp_path)
    assert outcome.completed, outcome.reason
    gateway = gateway_for(lab)
    journal = journal_in(tmp_path)
    options = fast_options()
    last = last_kube_dns_scale_down(gateway, journal, options)
    assert last is not None
    with pytest.raises(CheckFailed, match="72 h"):
        check_cleanup_allowed(gateway, journal, options, force=False, now=last + timedelta(hours=71))
    status = read_status(gateway, journal, options, now=last + timedelta(hours=73))
    assert status.cleanup_allowed and status.phase == "completed"

    gateway.apply([NODE_LOCAL_DNS])
    result = cleanup(gateway, journal, options, now=last + timedelta(hours=73))
    assert set(result.deleted) == {f"Deployment {NS}/kube-dns", f"ServiceAccount {NS}/kube-dns"}
    assert result.warnings and "node-local-dns" in result.warnings[0]
    assert lab.store.try_get("configmaps", NS, "kube-dns") is not None
    assert lab.store.try_get("services", NS, "kube-dns") is not None
    assert lab.store.try_get("deployments.apps", NS, "kube-dns") is None
    kinds = {yaml.safe_load(Path(p).read_text())["kind"] for p in result.backups}
    assert kinds == {"Deployment", "ServiceAccount"}
    assert all(Path(p).parent == journal.state_dir / "backups" for p in result.backups)
