"""Area verify in Chinese: probe verdicts, the IPVS gate, autoscaler notes, pending pods, the
journal's resume reasons, the step gate's notes; what code and the journal read stays English."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from i18n_support import chinese, english_prose
from kube_proxy_support import set_udp_timeout
from switch_support import gateway_for, journal_in

from wizard.errors import CheckFailed
from wizard.i18n import Message, msg, tr, with_message_ids
from wizard.lab.cluster import Lab
from wizard.migration.autoscaler import describe_now
from wizard.migration.ipvs_gate import (
    ACK_STEP_ID,
    IpvsGateTracker,
    IpvsReading,
    KubeProxyPod,
    acknowledge,
    evaluate,
)
from wizard.migration.journal import Journal
from wizard.migration.pending_pods import StuckScheduling
from wizard.migration.plan import Step
from wizard.migration.preflight.proxy import ProxySetup
from wizard.migration.probes import (
    ObservationStats,
    ProbeQuery,
    ProbeResult,
    ProbeTarget,
    choose_transport,
    default_probe_set,
)
from wizard.migration.progress import Event, Note, StepFinished
from wizard.migration.step_gate import StepGate
from wizard.migration.verdicts import Expected, judge
from wizard.options import SwitchOptions

DOMAIN = "corp.example"
K8S = f"kubernetes.default.svc.{DOMAIN}"
CLUSTER = ProbeQuery(K8S, "A", "cluster", service="default/kubernetes")
OUTSIDE = ProbeQuery("www.baidu.com", "A", "external")
K8S_IP = Expected(frozenset({"10.96.0.1"}), "Service default/kubernetes ClusterIP 10.96.0.1")


def answer(query: ProbeQuery, rcode: str = "NOERROR", rdata: tuple[str, ...] = (),
           who: str = "coredns-a (127.1.0.5)", error: str | None = None) -> ProbeResult:
    lines = tuple(f"{query.name}. {query.rdtype} {r}" for r in rdata)
    return ProbeResult(who, query.name, query.rdtype, rcode, lines, 1.0, error, "udp")


def test_verdict_reasons_and_lines_in_chinese() -> None:
    baseline = answer(CLUSTER, rdata=("10.96.0.1",), who="kube-dns-a (127.1.0.2)")
    with chinese():
        failed = judge(CLUSTER, answer(CLUSTER, "NXDOMAIN"), baseline, K8S_IP)
        passed = judge(CLUSTER, answer(CLUSTER, rdata=("10.96.0.1",)), baseline, K8S_IP)
        outside = judge(OUTSIDE, answer(OUTSIDE, "NXDOMAIN"), answer(OUTSIDE, "NXDOMAIN", who="kube-dns-a"))
        timeout = msg("verify.no-answer-within", "no answer within {timeout:g}s", timeout=2.0)
        silent = judge(OUTSIDE, answer(OUTSIDE, "", error=timeout), None)
        lines = [failed.line, passed.line, outside.line, silent.line]
    assert not failed.passed and failed.mark == "NO", "values code compares stay as they are"
    assert failed.reason == (
        "CoreDNS 返回 NXDOMAIN,但 Service default/kubernetes ClusterIP 10.96.0.1 存在:应为 [10.96.0.1]"
    )
    assert "与 Service default/kubernetes ClusterIP 10.96.0.1 一致,kube-dns 也一样" in passed.reason
    assert "这证明不了什么" in outside.reason and outside.mark == "?"
    assert ": 失败: " in lines[0] and ": 通过: " in lines[1] and ": 无法判定: " in lines[2]
    assert lines[3].endswith(": 失败: CoreDNS 没有应答 (2s 内无应答)")
    text = "\n".join(lines)
    assert english_prose(text) == [], text
    # the same Message renders again in English (a TUI language switch, logs)
    assert tr(failed.reason, "en") == (
        "CoreDNS says NXDOMAIN, but Service default/kubernetes ClusterIP 10.96.0.1 exists: want [10.96.0.1]"
    )
    assert tr(lines[0], "en").endswith(": FAILED: " + tr(failed.reason, "en"))
    assert failed.line.endswith(": FAILED: " + tr(failed.reason, "en")), "rendered when read"
    document = with_message_ids({"reason": failed.reason})
    assert document["reason_message"]["id"] == "verify.service-not-noerror"
    assert document["reason_message"]["params"]["rcode"] == "NXDOMAIN"


def test_probe_notes_transport_and_observation_summary_in_chinese() -> None:
    with chinese():
        queries = default_probe_set(
            DOMAIN, ["nginx"], stub_domains=["abc.com"], kubernetes_service_ip="10.96.0.1"
        )
        stats = ObservationStats()
        stats.record(answer(CLUSTER, rdata=("10.96.0.1",)))
        stats.record(answer(CLUSTER, "", error="no answer within 2s"))
        summary = stats.summary()
        with pytest.raises(CheckFailed) as caught:
            choose_transport(ProbeTarget("coredns-a", None), name=K8S)
    notes = "\n".join(q.note for q in queries)
    assert "指南中的 `kubernetes.default`,按 pod 的搜索路径展开" in notes
    assert "业务域名 nginx (Service default/nginx)" in notes and "存根域 abc.com(转发)" in notes
    assert summary.startswith("2 次查询,1 次失败 (50.0%)")
    unreachable = str(caught.value)
    assert "无法访问 DNS 服务器 coredns-a:没有可直接访问的 IP。" in unreachable
    assert english_prose("\n".join([notes, summary, unreachable])) == []


@pytest.mark.lab_options(nodes=3, udp_timeout=300)
def test_the_ipvs_gate_not_in_effect_yet_in_chinese(lab: Lab) -> None:
    from wizard.migration.facts import collect_facts

    gateway = gateway_for(lab)
    options = SwitchOptions()
    tracker = IpvsGateTracker.from_facts(gateway, collect_facts(gateway, options), options)
    with chinese():
        long = tracker.check()
        set_udp_timeout(lab, "5s")
        gate = tracker.check()
    assert long.status == "timeout-long" and "IPVS UDP 超时时间为 300 秒" in long.summary
    assert gate.status == "not-in-effect", gate
    assert gate.summary.startswith(
        "尚未生效:ConfigMap 中为 5 秒,但共 3 个 kube-proxy pod,其中 3 个在修改之前启动"
    )
    restart = "`kubectl -n kube-system rollout restart daemonset kube-proxy`"
    assert f"重启 kube-proxy 使其读取新值:{restart}" in gate.action
    text = "\n".join([long.summary, long.action, gate.summary, gate.action, *gate.evidence])
    assert "ConfigMap 最后修改于" in text and "启动于" in text
    assert english_prose(text) == [], text
    assert tr(gate.summary, "en").startswith("not in effect yet: the ConfigMap says 5 s, but 3 of 3")


def _reading(starts: list[float]) -> IpvsReading:
    setup = ProxySetup("ipvs", "test", 5.0, "5s", ())
    pods = tuple(KubeProxyPod(f"kube-proxy-{i}", f"n{i}", s) for i, s in enumerate(starts))
    return IpvsReading(setup, False, 1000.0, "managedFields", "1", pods, len(pods))


def test_ipvs_waiting_open_and_the_ack_in_chinese_with_an_english_journal(tmp_path: Path) -> None:
    journal = journal_in(tmp_path)
    with chinese():
        waiting = evaluate(_reading([1001.0, 1003.0]), old_timeout_s=300, now=1004.0)
        opened = evaluate(_reading([1001.0, 1003.0]), old_timeout_s=300, now=1400.0)
        note = acknowledge("kube-proxy restart is scheduled by ops", waiting, journal)
    assert "还剩 299 秒" in waiting.summary and waiting.action == "等待,或说明原因后继续"
    assert "之前建立的会话均已过期" in opened.summary
    assert note.startswith("已跳过 IPVS 等待 (waiting: 5 秒的超时时间自")
    assert english_prose("\n".join([waiting.summary, opened.summary]), allow=[]) == []
    entry = journal.read().entries[-1]
    assert entry.step == ACK_STEP_ID and entry.action.startswith("go on before the IPVS gate opened (the 5 s")


def test_journal_reasons_in_chinese_and_entries_written_in_english(tmp_path: Path) -> None:
    from wizard.i18n import msg

    journal = journal_in(tmp_path)
    with chinese():
        journal.done("r1.scale", msg("verify.resume-all-done", "every step of the plan is done"), "x")
        journal.intent("r2.scale", "scale Deployment kube-system/kube-dns", "Deployment kube-system/kube-dns")
        state = journal.read()
        resume = state.next_step(["r1.scale", "r2.scale"])
        rest = Journal(journal.path).read().next_step(["r1.scale"])
    assert state.entries[0].action == "every step of the plan is done", "the journal file stays English"
    assert "r2.scale (scale Deployment kube-system/kube-dns)" in resume.reason
    assert "但从未完成:重复执行前请先检查集群" in resume.reason
    assert rest.reason.startswith("步骤 r2.scale")
    assert english_prose(resume.reason, allow=["scale Deployment"]) == []


def test_autoscaler_pending_pods_and_step_gate_notes_in_chinese() -> None:
    pod = {
        "metadata": {"name": "kube-dns-x", "namespace": "kube-system"},
        "spec": {},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
    }
    container = {"name": "autoscaler", "command": ["/cpa", "--target=Deployment/kube-dns"]}
    deployment = {"metadata": {"name": "kube-dns-autoscaler"},
                  "spec": {"replicas": 1, "template": {"spec": {"containers": [container]}}}}
    with chinese():
        stuck = StuckScheduling(grace_s=0.0).check([pod], [pod])
        now = describe_now(deployment)
        gone = describe_now(None)
        notes = _gate_notes()
    assert stuck == "pod kube-system/kube-dns-x 无法调度:调度器没有为它找到节点"
    assert now == "1 个副本,--target=Deployment/kube-dns" and gone == "已不存在"
    assert notes == ["已在步骤 r1.scale 后暂停:继续之前不会做任何修改", "继续"]
    assert english_prose("\n".join([str(stuck), now, gone, *notes])) == []


def _gate_notes() -> list[str]:
    step = Step("r1.scale", "scale", 1, "Scale kube-dns", (), "deployment kube-system/kube-dns")
    seen: list[Event] = []
    gate = StepGate()
    gated = gate.wrap(seen.append)
    gate.pause()
    worker = threading.Thread(target=gated, args=(StepFinished(step, "done", ""),))
    worker.start()
    for _ in range(200):
        if gate.holding:
            break
        threading.Event().wait(0.01)
    gate.resume()
    worker.join(5)
    notes = [e.message for e in seen if isinstance(e, Note)]
    assert all(isinstance(n, Message) for n in notes)
    return notes
