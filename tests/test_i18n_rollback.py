"""The rollback area in Chinese: `status`, `cleanup` and `rollback` against the lab with
`--lang zh` (no English prose left, names and commands kept), their `-o json` message ids, and
the HTML change record's headings and sentences."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from i18n_support import chinese, english_prose, wizard_zh
from switch_support import NS, deployment_replicas
from test_rollback_scheduling import switch_shrink_first

ROOT = Path(__file__).resolve().parent.parent




def journal_lines(text: str) -> list[str]:
    """The journal's entries as `status` prints them: data written by the switch, not prose."""
    lines = text.splitlines()
    if "日志(最近的条目):" not in lines:
        return []
    return [line.strip() for line in lines[lines.index("日志(最近的条目):") + 1:] if line.strip()]


def no_prose(text: str, allow: list[str] | None = None) -> None:
    found = english_prose(text, allow=allow or [])
    assert not found, "\n".join(found) + "\n---\n" + text


@pytest.mark.lab_options(kernel="fixed")
def test_status_cleanup_rollback_in_chinese(lab: Any, tmp_path: Path) -> None:
    switch_shrink_first(lab, tmp_path)

    status = wizard_zh(lab, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert "阶段:completed" in out, out
    assert "CoreDNS:3/3 就绪(Deployment coredns)" in out, out
    assert "kube-dns 最后一次缩容:" in out and "清理:从 " in out and "起允许" in out, out
    assert "下一步:在允许清理之前无需操作(`coredns-wizard cleanup`)" in out, out
    no_prose(out, journal_lines(out))

    document = json.loads(wizard_zh(lab, tmp_path, "status", "-o", "json").stdout)
    assert document["phase"] == "completed"
    assert document["next_message"]["id"] == "rollback.status-next-completed"
    assert document["next"].startswith("在允许清理之前无需操作")

    # clean-up: too early (the message is the error the command prints), then a dry run with --force
    early = wizard_zh(lab, tmp_path, "cleanup", "--yes")
    assert early.returncode != 0
    assert "指南要求观察 72 小时无问题后再删除 kube-dns" in early.stderr, early.stderr
    assert "Traceback" not in early.stderr
    no_prose(early.stderr)
    dry = wizard_zh(lab, tmp_path, "cleanup", "--yes", "--dry-run", "--force")
    assert dry.returncode == 0, dry.stderr
    assert f"将删除 Deployment {NS}/kube-dns" in dry.stdout, dry.stdout
    assert f"→ 删除 Deployment {NS}/kube-dns" in dry.stderr, dry.stderr
    assert f"保留 Service {NS}/kube-dns:CoreDNS 在它的 ClusterIP 后提供服务" in dry.stderr, dry.stderr
    no_prose(dry.stdout)
    no_prose(dry.stderr)

    # rollback: the preview and a dry run, then the real one
    preview = wizard_zh(lab, tmp_path, "rollback", "--yes", "--dry-run", "-o", "json")
    assert preview.returncode == 0, preview.stderr
    assert "回滚将按顺序执行以下" not in preview.stderr  # the list is text output only
    result = json.loads(preview.stdout)
    assert result["completed"] and result["reason"].startswith("dry-run:将把 kube-dns")
    assert result["reason_message"]["id"].startswith("rollback.summary"), result
    assert result["planned_steps"], result
    for step in result["planned_steps"]:
        assert step["description_message"]["id"].startswith("rollback.step-"), step
    assert any(s["description"].startswith("缩容 CoreDNS") for s in result["planned_steps"])
    no_prose(preview.stderr)

    done = wizard_zh(lab, tmp_path, "rollback", "--yes", "--ready-timeout", "30s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "回滚将按顺序执行以下" in done.stderr, done.stderr
    first = r"  1\. 缩容 CoreDNS kube-system/coredns \d → \d,为 kube-dns Pod 腾出一个节点"
    assert re.search(first, done.stderr), done.stderr
    assert "回滚顺序:原地替换" in done.stderr, done.stderr
    assert f"已将 kube-dns {NS}/kube-dns 恢复到 3 个副本" in done.stderr, done.stderr
    no_prose(done.stderr)
    assert (deployment_replicas(lab, "coredns"), deployment_replicas(lab, "kube-dns")) == (0, 3)

    after = wizard_zh(lab, tmp_path, "status")
    assert after.returncode == 0, after.stderr
    assert "阶段:rolled-back" in after.stdout, after.stdout
    assert "下一步:无需操作:kube-dns 已重新提供服务" in after.stdout, after.stdout
    assert "清理:暂不允许" in after.stdout, after.stdout
    no_prose(after.stdout, journal_lines(after.stdout))


def test_change_record_html_in_chinese() -> None:
    from wizard.migration.change_record import ChangeRecord, ObservationSample, StepRecord
    from wizard.migration.change_record_html import render_change_record

    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    with chinese():
        record = ChangeRecord(
            generated_at=now, context="lab", cluster_server="https://127.0.0.1:6443", k8s_version="1.22",
            namespace=NS, coredns_version="1.8.4", image="registry/coredns:1.8.4", kube_dns_replicas=3,
            order="", order_reason="", outcome="completed", findings=(), corefile_before_title="nothing",
            corefile_diff=(),
            steps=(StepRecord("round-1.scale-coredns", "Scale", "deployment kube-system/coredns",
                              ("kubectl scale deployment coredns -n kube-system --replicas=1",), True,
                              "done", now, now, "", True),),
            observations=(ObservationSample("round-1.observe", now, 1.0, 10, 0, 1.0, 2.0),),
            journal_path="/tmp/journal", operator="ops",
        )
        html = render_change_record(record)
    assert '<html lang="zh-CN">' in html
    for heading in ("概要", "预检结果", "步骤", "各轮切换期间的 DNS", "回滚与清理"):
        assert f"<h2>{heading}</h2>" in html
    assert "完成(dry-run)" in html and "等效的 kubectl 命令" in html
    assert "本次运行没有预检报告(切换是继续执行的)。" in html
    text = re.sub(r"<style>.*?</style>|<code>.*?</code>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", "\n", text)
    no_prose(text)
