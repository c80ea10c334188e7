"""`coredns-wizard plan` end to end against the lab: output, JSON and exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from wizard.cli import main


def unreachable_kubeconfig(tmp_path: Path) -> tuple[Path, int]:
    """A kubeconfig whose only context points at a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\n"
        "users:\n- name: me\n  user:\n    token: abc\n"
        "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: me\n",
        encoding="utf-8",
    )
    return kubeconfig, port


def run_plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_lab_prints_findings_and_numbered_plan(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_plan(capsys, "--kubeconfig", str(lab.kubeconfig_path))
    assert code == 0, err
    assert "Cluster and access" in out and "Network data path" in out
    assert "  ✔ Kubernetes version" in out
    assert "  ! kube-proxy and stale UDP flows" in out
    assert "→ Shorten the IPVS UDP timeout" in out
    assert "order shrink-first" in out
    assert " 1. [deploy] Apply switch2coredns.yaml" in out
    assert "$ kubectl scale deployment kube-dns -n kube-system --replicas=2" in out
    assert "19. [r3.observe]" in out
    assert "Nothing was changed" in out
    assert "Traceback" not in out + err


@pytest.mark.lab_options(nodes=4, faults=("autoscaler",))
def test_json_output_carries_findings_and_steps(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(
        capsys, "--kubeconfig", str(lab.kubeconfig_path), "-o", "json", "--autoscaler-policy", "restore"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["blocked"] is False
    assert doc["kubernetes_version"] == "v1.20.15"
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["autoscaler"]["status"] == "warn"
    assert by_id["autoscaler"]["group"] == "Controllers that could undo the switch"
    plan = doc["plan"]
    assert plan["order"] == "grow-first"
    assert plan["autoscaler"]["name"] == "kube-dns-autoscaler"
    steps = plan["steps"]
    assert [s["number"] for s in steps] == list(range(1, len(steps) + 1))
    assert steps[0]["id"] == "pause-autoscaler"
    assert steps[-1]["kubectl"] == [
        "kubectl scale deployment kube-dns-autoscaler -n kube-system --replicas=1"
    ]
    assert "kind: Deployment" in plan["manifests_yaml"]


@pytest.mark.lab_options(faults=("deny-scale",))
def test_blocking_finding_exits_1_without_a_plan(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(capsys, "--kubeconfig", str(lab.kubeconfig_path))
    assert code == 1
    assert "  ✖ Permissions" in out
    assert "deployments.apps/scale" in out
    assert "Plan:" not in out
    code, out, _ = run_plan(capsys, "--kubeconfig", str(lab.kubeconfig_path), "-o", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["blocked"] is True and doc["plan"] is None


@pytest.mark.lab_options(guide_configmap=True)
def test_a_configmap_kube_dns_ignores_is_a_warning(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(capsys, "--kubeconfig", str(lab.kubeconfig_path))
    assert code == 0
    assert "kube-dns ignores this whole ConfigMap" in out and "data.federations" in out


def test_order_override_is_checked(lab: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_plan(capsys, "--kubeconfig", str(lab.kubeconfig_path), "--order", "grow-first")
    assert code == 1
    assert "would stay Pending" in out


def test_missing_kubeconfig_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run_plan(capsys, "--kubeconfig", str(missing))
    assert code == 2
    assert out == ""
    assert str(missing) in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unreachable_cluster_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig, _ = unreachable_kubeconfig(tmp_path)
    code, out, err = run_plan(capsys, "--kubeconfig", str(kubeconfig), "--request-timeout", "2s")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "gone" in err
    assert "Traceback" not in err


def test_image_and_image_host_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", "--image", "a/b:1", "--image-host", "h"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_malformed_coredns_version_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_plan(capsys, "--kubeconfig", str(tmp_path / "unused"), "--coredns-version", "latest")
    assert code == 2
    assert out == ""
    assert "'latest'" in err
    assert len(err.strip().splitlines()) == 1
