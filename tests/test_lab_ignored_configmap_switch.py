"""The guide's kube-dns ConfigMap (JSON federations) was never live: kube-dns ignored all of it.

Real kube-dns reads `federations` only as name=domain; on the guide's JSON it logs "Invalid
configuration for federations, ignoring update" and runs with defaults, so its stub domains and
upstreams were never served. The lab's kube-dns does the same; a switch that carries those stub
domains into CoreDNS changes what the cluster answers, and the wizard's r1 probe catches it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wizard.lab.cluster import Lab, LabOptions

ROOT = Path(__file__).resolve().parent.parent


def test_lab_kube_dns_logs_that_it_ignored_the_guide_configmap() -> None:
    options = LabOptions(guide_configmap=True, kube_dns_replicas=1, speed=20.0, dns_port=0)
    with Lab(options) as lab:
        assert lab.kubelet is not None
        pod = lab.store.list("pods", "kube-system", lambda p: "kube-dns" in p["metadata"]["name"])[0][0]
        log = lab.kubelet.logs("kube-system", pod["metadata"]["name"], "kubedns", 50, False)
        assert ("Invalid configuration for federations, ignoring update: invalid format, must be key=value"
                in log)
        assert "starting with default values" in log


def test_switch_with_drop_federations_on_the_guide_configmap_completes(tmp_path: Path) -> None:
    options = LabOptions(guide_configmap=True, nodes=4, kube_dns_replicas=2, kernel="fixed", speed=20.0,
                         dns_port=0)
    with Lab(options) as lab:
        done = subprocess.run(
            [sys.executable, "-m", "wizard", "switch", "--yes", "--drop-federations", "--observe", "1s",
             "--ready-timeout", "30s", "--kubeconfig", str(lab.kubeconfig_path),
             "--state-dir", str(tmp_path / "state")],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
            input="")
        assert done.returncode == 0, done.stderr[-2000:]
