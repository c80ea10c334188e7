"""A full switch and rollback on every preset (slow: about half a minute each).

The wizard must handle each vendor's kube-dns shape (container layout, the autoscaler's flag form
and place, the cluster domain) end to end: switch to CoreDNS one replica at a time, then back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from switch_support import NS, deployment_replicas

from wizard.lab.cluster import Lab, LabOptions
from wizard.lab.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent


def wizard(lab: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "wizard", *args, "--kubeconfig", str(lab.kubeconfig_path),
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, env=env, timeout=300, input="",
    )


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_switch_and_rollback_on_every_preset(preset: str, tmp_path: Path) -> None:
    options = LabOptions(preset=preset, nodes=4, kube_dns_replicas=2, kernel="fixed", speed=20.0, dns_port=0,
                         start_timeout=60.0)
    with Lab(options) as lab:
        done = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "30s")
        assert done.returncode == 0, f"{preset}: {done.stderr[-3000:]}"
        assert deployment_replicas(lab, "kube-dns") == 0 and deployment_replicas(lab, "coredns") >= 2
        rolled = wizard(lab, tmp_path, "rollback", "--yes")
        assert rolled.returncode == 0, f"{preset}: {rolled.stderr[-3000:]}"
        assert deployment_replicas(lab, "coredns") == 0 and deployment_replicas(lab, "kube-dns") == 2
        assert lab.store.try_get("deployments.apps", NS, "kube-dns") is not None
