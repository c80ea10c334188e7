"""The switch in Chinese: `coredns-wizard switch --lang zh --yes` against the lab says its steps,
results and outcome in Chinese (names, ids and commands stay as they are), and `-o json` publishes
the message ids beside the outcome's reason and advice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from i18n_support import chinese, english_prose, wizard_zh

ROOT = Path(__file__).resolve().parent.parent




def switch_lines(stdout: str, stderr: str) -> list[str]:
    """What the switch itself says (pre-flight's report, the plan's step titles and the probes'
    verdict lines are other modules' output): step results, notes, problems and the outcome."""
    marks = ("✓", "·", "○", "✗", "提示", "问题")
    lines = [line for line in stderr.splitlines() if line.lstrip().startswith(marks)]
    outcome = stdout[stdout.index("coredns-wizard switch:"):].splitlines()
    return lines + outcome


@pytest.mark.lab_options(nodes=4, kernel="fixed")
def test_switch_in_chinese(lab: Any, tmp_path: Path) -> None:
    done = wizard_zh(lab, tmp_path, "switch", "--yes", "--observe", "1s", "--ready-timeout", "30s")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "coredns-wizard switch: 切换完成:CoreDNS kube-system/coredns 已在提供服务" in out, out[-2000:]
    assert "日志:" in out
    err = done.stderr
    assert "r1.scale-coredns: 完成 — Deployment kube-system/coredns 副本数 0 → 1" in err, err[-3000:]
    assert "已就绪:coredns-" in err and "全部正确" in err and "r3.observe: 完成 — 已观察 " in err
    assert "提示:通过 udp 探测 " in err
    said = "\n".join(switch_lines(out, err))
    assert "已观察 1 s,共 4 个目标:16 次查询,0 次失败" in said, said
    assert english_prose(said) == [], said

    again = wizard_zh(lab, tmp_path, "switch", "--yes", "-o", "json", "--observe", "1s")
    assert again.returncode == 0, again.stderr[-3000:]
    data = json.loads(again.stdout)
    assert data["completed"] is True
    assert data["reason"].startswith("CoreDNS kube-system/coredns 已在提供服务")
    assert data["reason_message"]["id"] == "switch.completed-summary"
    assert data["reason_message"]["params"]["deployment"] == "kube-system/coredns"


def test_stops_and_containment_words_in_chinese() -> None:
    """Unit level: the stop reasons and advice the engine makes, rendered in Chinese and again in English."""
    from wizard.i18n import tr
    from wizard.migration.plan import Step
    from wizard.migration.step_runner import SwitchStop, rollback_advice
    from wizard.migration.switch import _declined

    step = Step(id="r1.scale-coredns", kind="scale-coredns", round=1, description="scale", kubectl=(),
                target="deployment kube-system/coredns", replicas=1, changes_cluster=True)
    with chinese():
        stop = _declined(step)
        default = SwitchStop("x")
        advice = rollback_advice()
    assert stop.reason.startswith("操作人员拒绝了步骤 r1.scale-coredns"), stop.reason
    assert "`coredns-wizard switch`" in stop.advice and "继续切换" in stop.advice
    assert "回滚" in default.advice and english_prose(default.advice) == []
    assert tr(advice, "en").startswith("roll back with `coredns-wizard rollback`")
    assert english_prose("\n".join([stop.reason, stop.advice, advice])) == []


def test_confirmation_and_progress_in_chinese() -> None:
    """The [y/N] question and the progress lines in Chinese; y, yes and 是 all answer yes."""
    import io

    from wizard.commands._progress import TextProgress, terminal_confirm
    from wizard.migration.plan import Step
    from wizard.migration.progress import StepFinished, SwitchStopped
    from wizard.migration.step_runner import rollback_advice

    step = Step(id="r1.scale-kube-dns", kind="scale-kube-dns", round=1, description="scale", kubectl=(),
                target="deployment kube-system/kube-dns", replicas=2, changes_cluster=True)
    for answer, expected in (("是\n", True), ("y\n", True), ("yes\n", True), ("\n", False)):
        out = io.StringIO()
        with chinese():
            confirmed = terminal_confirm("lab", io.StringIO(answer), out)(step, "scale")
        assert confirmed is expected
        assert "在上下文 'lab' 中执行?[y/N]" in out.getvalue()
    stream = io.StringIO()
    with chinese():
        progress = TextProgress(stream, tty=False)
        progress(StepFinished(step, "declined", "the operator declined"))
        progress(SwitchStopped("stopped", rollback_advice()))
    text = stream.getvalue()
    assert "r1.scale-kube-dns: 已拒绝" in text and "怎么做:用 `coredns-wizard rollback` 回滚" in text, text
