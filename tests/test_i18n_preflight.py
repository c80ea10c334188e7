"""Pre-flight and the step plan in Simplified Chinese: `coredns-wizard plan --lang zh` against the lab.

What must stay English in the Chinese output is data: object names, flags, kubectl lines, the
kube-dns ConfigMap's own values, CoreDNS's own words quoted in a reason. Everything else, the
findings' titles, evidence and advice, the group headings and the step titles, is Chinese; the
JSON keeps the English-independent ids of every message beside its text.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.i18n_support import chinese, english_prose

ROOT = Path(__file__).resolve().parent.parent

DATA = (
    "$ kubectl",  # the kubectl line of each step (a command, never translated)
    "nslookup ",  # the probe commands
    "stubDomains:",  # the kube-dns ConfigMap's own keys and values, as evidence
    "upstreamNameservers:",
    "federations:",
)
OTHER_AREAS = (
    # the recommendation's and the image's reasons come from wizard/dns (area "dns"), not from here
    "kube-dns comes from the TKE registry",
    "the kube-dns image is on the vendor registry",
)


def run_plan(tmp_path: Path, lab: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "screens.entry", "plan", "--kubeconfig", str(lab.kubeconfig_path),
         "--lang", "zh", *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=env,
    )


def test_plan_text_is_chinese(lab: Any, tmp_path: Path) -> None:
    done = run_plan(tmp_path, lab)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "集群与访问权限" in out and "网络数据路径" in out  # group headings
    assert "  ✔ Kubernetes 版本" in out
    assert "  ! kube-dns 缩容期间的 kube-proxy 与过期 UDP 会话" in out
    assert "→ 切换前请缩短 IPVS UDP 会话保持的超时时间" in out
    assert "API server 报告的版本为 v1.20.15" in out
    assert " 1. [deploy] 应用 switch2coredns.yaml(CoreDNS " in out
    assert "$ kubectl scale deployment kube-dns -n kube-system --replicas=2" in out  # commands stay
    assert "将 kube-dns kube-system/kube-dns 的副本数从 3 缩容到 2" in out
    assert "未做任何更改。使用相同的选项运行 `coredns-wizard switch` 即可执行此计划。" in out
    assert english_prose(out, allow=DATA + OTHER_AREAS) == []


@pytest.mark.lab_options(nodes=4, faults=("autoscaler",))
def test_plan_json_carries_message_ids(lab: Any, tmp_path: Path) -> None:
    done = run_plan(tmp_path, lab, "-o", "json", "--autoscaler-policy", "restore")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    by_id = {f["id"]: f for f in doc["findings"]}
    autoscaler = by_id["autoscaler"]
    assert autoscaler["group"] == "Controllers that could undo the switch"  # a key, not prose
    assert autoscaler["title"] == "kube-dns 自动扩缩容器"
    assert autoscaler["title_message"] == {"id": "preflight.autoscaler.title", "params": {}}
    assert autoscaler["advice_message"]["id"] == "preflight.autoscaler.advice"
    assert autoscaler["advice_message"]["params"]["policy"] == "restore"
    version = by_id["kubernetes-version"]
    assert version["evidence_message"][0] == {
        "id": "preflight.kubernetes-version.reported", "params": {"version": "v1.20.15"}
    }
    steps = doc["plan"]["steps"]
    assert steps[0]["description"].startswith("暂停 kube-dns 自动扩缩容器 kube-system/kube-dns-autoscaler")
    assert steps[0]["description_message"]["id"] == "preflight.step.pause-autoscaler"
    assert steps[-1]["description_message"]["id"] == "preflight.step.restore-autoscaler"
    assert doc["plan"]["order_reason_message"]["id"].startswith("preflight.order.")
    texts = "\n".join(
        [f["title"] for f in doc["findings"]] + [f["advice"] for f in doc["findings"]]
        + [e for f in doc["findings"] for e in f["evidence"]] + [s["description"] for s in steps]
    )
    assert english_prose(texts, allow=DATA + OTHER_AREAS) == []


def test_findings_and_steps_render_again_in_english() -> None:
    """A Message made in Chinese renders in English for a reader that needs it (the journal)."""
    from wizard.i18n import tr
    from wizard.migration.preflight.checks import check_node_local_dns
    from wizard.migration.scheduling import node_names

    facts: Any = type("Facts", (), {"node_local_dns": ("kube-system/node-local-dns",)})()
    with chinese():
        found = check_node_local_dns(facts)
        names = node_names(["a", "b", "c", "d", "e", "f"])
    assert found.title == "NodeLocal DNSCache"
    assert found.evidence == ("DaemonSet kube-system/node-local-dns",)
    assert "清理时请保留该 ConfigMap" in found.advice
    assert tr(found.advice, "en").startswith("NodeLocal DNSCache answers on the cluster DNS IP")
    assert names == "a, b, c, d 等(另有 2 个)"
    assert tr(names, "en") == "a, b, c, d and 2 more"


def test_step_titles_are_english_in_the_journal(tmp_path: Path) -> None:
    """A step shown in Chinese is journaled in English: the journal is read back by code and by
    whoever resumes, whatever their language."""
    from tests.plan_facts import make_facts
    from wizard.migration.journal import Journal
    from wizard.migration.plan import make_plan
    from wizard.options import SwitchOptions

    with chinese():
        plan = make_plan(make_facts(nodes=3, replicas=3), SwitchOptions())
        step = plan.step("r1.scale-kube-dns")
        assert step.description == "将 kube-dns kube-system/kube-dns 的副本数从 3 缩容到 2"
        journal = Journal(tmp_path / "journal.jsonl", operator="ops@host")
        journal.intent(step.id, step.description, step.target, 3, 2)
    assert journal.read().entries[0].action == "Scale kube-dns kube-system/kube-dns 3 → 2"
