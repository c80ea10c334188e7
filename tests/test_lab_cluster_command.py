"""`coredns-wizard lab` as an operator runs it: foreground, usable kubeconfig, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lab_clients import KUBECTL

ROOT = Path(__file__).resolve().parent.parent


def start_lab_command(kubeconfig: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "wizard", "lab", "--kubeconfig-out", str(kubeconfig), "--dns-port", "0",
         "--speed", "20", "--nodes", "2", "--kube-dns-replicas", "2", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    banner = ""
    for line in process.stdout:  # blocks until the lab prints its banner (or exits)
        banner += line
        if "Press Ctrl-C" in line:
            break
    return process, banner


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_lab_command_serves_until_signalled(tmp_path: Path, stop_signal: int) -> None:
    kubeconfig = tmp_path / "lab.kubeconfig"
    process, banner = start_lab_command(kubeconfig)
    try:
        assert f"export KUBECONFIG={kubeconfig}" in banner
        assert "kubectl get pods -n kube-system" in banner and "dig @127." in banner
        nodes = subprocess.run([str(KUBECTL), "get", "nodes", "-o", "name"], capture_output=True, text=True,
                               env={**os.environ, "KUBECONFIG": str(kubeconfig)}, timeout=60, check=True)
        assert nodes.stdout.split() == ["node/10.0.1.1", "node/10.0.1.2"]
    finally:
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "lab stopped" in stderr


@pytest.mark.parametrize("args, message", [
    (["--proxy-mode", "nftables"], "--proxy-mode 'nftables'"),
    (["--fault", "meteor"], "--fault 'meteor'"),
    (["--kube-dns-configmap", "/nonexistent/cm.yaml"], "/nonexistent/cm.yaml"),
])
def test_lab_command_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "wizard", "lab", "--dns-port", "0", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("coredns-wizard lab: ")
