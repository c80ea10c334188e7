"""The switch, status, rollback and cleanup commands as an operator runs them, against the lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from switch_support import NS, deployment_replicas

ROOT = Path(__file__).resolve().parent.parent


def wizard(
    lab: Any, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wizard",
            *args,
            "--kubeconfig",
            str(lab.kubeconfig_path),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        input=stdin if stdin is not None else "",
    )


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_switch_status_cleanup_rollback_commands(lab: Any, tmp_path: Path) -> None:
    refused = wizard(lab, tmp_path, "switch", "--observe", "1s")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert lab.store.try_get("deployments.apps", NS, "coredns") is None

    done = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "30s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "r3.observe" in done.stderr  # progress went to stderr
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)

    status = wizard(lab, tmp_path, "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["phase"] == "completed"
    assert data["coredns"] == {"name": "coredns", "replicas": 3, "ready": 3}
    assert len(data["endpoints"]["coredns"]) == 3 and data["endpoints"]["kube_dns"] == []
    assert data["cleanup_allowed"] is False and data["cleanup_allowed_at"]
    assert any("r3.observe" in line for line in data["journal_tail"])

    text = wizard(lab, tmp_path, "status")
    assert text.returncode == 0 and "phase: completed" in text.stdout
    assert "CoreDNS: 3/3 ready" in text.stdout and "clean-up: allowed from" in text.stdout

    early = wizard(lab, tmp_path, "cleanup", "--yes")
    assert early.returncode == 1 and "72" in early.stderr
    assert lab.store.try_get("deployments.apps", NS, "kube-dns") is not None

    rolled = wizard(lab, tmp_path, "rollback", "--yes")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)
    refused_cleanup = wizard(lab, tmp_path, "cleanup", "--yes", "--force")
    assert refused_cleanup.returncode == 1 and "still has 3 replica" in refused_cleanup.stderr


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_forced_cleanup_backs_up_and_keeps_the_service(lab: Any, tmp_path: Path) -> None:
    done = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s")
    assert done.returncode == 0, done.stderr[-3000:]
    cleaned = wizard(lab, tmp_path, "cleanup", "--yes", "--force", "-o", "json")
    assert cleaned.returncode == 0, cleaned.stderr
    result = json.loads(cleaned.stdout)
    assert set(result["deleted"]) == {
        f"Deployment {NS}/kube-dns",
        f"ConfigMap {NS}/kube-dns",
        f"ServiceAccount {NS}/kube-dns",
    }
    assert len(result["backups"]) == 3 and all(Path(p).is_file() for p in result["backups"])
    assert "kind: Deployment" in Path(result["backups"][0]).read_text() or any(
        "kind: Deployment" in Path(p).read_text() for p in result["backups"]
    )
    assert lab.store.try_get("deployments.apps", NS, "kube-dns") is None
    assert lab.store.try_get("services", NS, "kube-dns") is not None


@pytest.mark.lab_options(nodes=4)
def test_dry_run_command_changes_nothing(lab: Any, tmp_path: Path) -> None:
    before = lab.store.resource_version
    dry = wizard(lab, tmp_path, "switch", "--dry-run", "--observe", "1s")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "dry-run: would wait" in dry.stderr
    assert lab.store.resource_version == before


def test_bad_duration_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "wizard", "switch", "--observe", "5 minutes", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--observe '5 minutes'" in result.stderr and "Traceback" not in result.stderr


def start_switch(lab: Any, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wizard",
            "switch",
            "--yes",
            "--observe",
            "1s",
            "--kubeconfig",
            str(lab.kubeconfig_path),
            "--state-dir",
            str(tmp_path / "state"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_stderr_until(child: subprocess.Popen[str], marker: str) -> list[str]:
    assert child.stderr is not None
    lines: list[str] = []
    for line in child.stderr:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never appeared: {''.join(lines)[-3000:]}")


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_command_killed_mid_switch_resumes_when_run_again(lab: Any, tmp_path: Path) -> None:
    child = start_switch(lab, tmp_path)
    try:
        read_stderr_until(child, "✓ r1.scale-kube-dns")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    again = wizard(lab, tmp_path, "switch", "--yes", "--observe", "1s")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stderr
    assert "→ Apply" not in again.stderr and "r1.scale-coredns" not in again.stderr
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (3, 0)


@pytest.mark.lab_options(nodes=4, faults=("coredns-crashloop",), kernel="fixed")  # no IPVS gate here
def test_ctrl_c_during_a_wait_stops_cleanly_and_says_how_to_go_on(lab: Any, tmp_path: Path) -> None:
    child = start_switch(lab, tmp_path, "--ready-timeout", "5m")
    try:
        read_stderr_until(child, "→ ")  # pre-flight done, the first step started
        read_stderr_until(child, "r1.scale-coredns: done")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 1
    assert "stopped on request" in err and "coredns-wizard rollback" in err and "Traceback" not in err
    assert deployment_replicas(lab, "kube-dns") == 3
