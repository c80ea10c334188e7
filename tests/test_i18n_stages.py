"""The stage screens in Simplified Chinese, driven with Pilot against the lab.

What is checked: each stage opens in Chinese and shows its own texts translated (titles,
headings, status lines, key hints, the `?` help's top, confirmations, the Done summary). The
engine's findings, gate verdicts and step descriptions are other areas' catalogs: they are passed
in `allow` (whole lines of Text.plain, never wrapped), so only this area's prose is judged here.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from i18n_support import english_prose
from tui_shell_support import lab_context, screen_text, wait_until

from wizard.lab.cluster import Lab

SIZE = (120, 40)

DATA = (
    "kube-system/", "ConfigMap kube-system", "Deployment kube-system", "switch2coredns.yaml",
    "coredns-wizard", "dryRun=All",
)
"""Names and flags that may sit next to two ordinary words (object kinds read as words)."""


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _prose(text: str, *engine: Any) -> list[str]:
    allow = [str(e) for e in engine if e] + list(DATA)
    return english_prose(text, allow=allow)


def _finding_lines(findings: Any) -> list[str]:
    lines: list[str] = []
    for f in findings:
        lines += [f.title, f.advice, *f.evidence]
    return lines


SHELL = ("context lab  cluster lab", "? Help", "changes: ")
"""Lines of the shell around a stage (header, footer, the diff widget's count): another area's."""
_ENGLISH_RUN = re.compile(r"[ -~]{6,}")


def _screen_prose(text: str, engine: list[str]) -> list[str]:
    """English prose on the whole screen that is neither the engine's text (other areas'
    catalogs, possibly wrapped or cut by a pane: a long English run of the line must then be
    part of it) nor the shell's header and footer."""
    blob = " ".join(" ".join(str(e).split()) for e in engine if e)
    left = []
    for line in english_prose(text, allow=SHELL):
        runs = [" ".join(r.split()).strip(" …:;,.0123456789") for r in _ENGLISH_RUN.findall(line)]
        if not any(r and r[:40] in blob for r in runs):
            left.append(line)
    return left


def _ipvs_engine_lines(report: Any, gate: Any) -> list[str]:
    from wizard.migration.preflight.proxy import kernel_summary, read_proxy_setup

    setup = read_proxy_setup(report.facts)
    return [setup.mode_source, *setup.notes, *kernel_summary(report.facts.nodes),
            gate.summary, gate.action, *gate.evidence]


def test_shell_stages_in_chinese_against_the_lab(lab: Lab) -> None:
    from screens.app import build_app
    from screens.stages.deploy import confirmation_body
    from screens.stages.ipvs import gate_text, ipvs_facts_text
    from screens.stages.migration import configmap_text, verdicts_text
    from screens.stages.preconditions import summary_text
    from screens.widgets.confirm import ConfirmationModal
    from wizard.i18n import set_language
    from wizard.migration.preflight.proxy import kernel_summary, read_proxy_setup
    from wizard.migration.preflight.run import FINDING_GROUPS

    set_language("zh")
    try:
        context = lab_context(lab, ipvs_wait_seconds=3600)
        app = build_app(context)

        async def scenario() -> None:
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "preconditions")
                await wait_until(pilot, lambda: app.context.report is not None, "the pre-flight report", 90)
                await wait_until(pilot, lambda: app.advance_blocked() is None, "n to be allowed")
                screen = app.screen
                report = app.context.report
                text = screen_text(app)
                assert "预检" in text and "1 前置检查" in text and "0 项阻塞" in text
                assert screen.stage_title() == "1 前置检查"
                summary = summary_text(report).plain
                assert "计划:" in summary
                assert _prose(summary) == []
                groups = list(FINDING_GROUPS)  # the findings widget's headings: the engine's names
                assert _screen_prose(text, [*_finding_lines(report.findings), *groups]) == []
                assert _prose(screen.help_text().plain) == []
                assert "本阶段:" in screen.help_text().plain

                await pilot.press("n")
                await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage")
                await wait_until(pilot, lambda: app.screen.gate is not None, "the gate")
                screen = app.screen
                gate = screen.gate
                text = screen_text(app)
                assert "检测到的模式:" in text and "IPVS UDP 超时时间过长" in text
                assert "跳过等待" in text
                engine = [setup_line for setup_line in _ipvs_engine_lines(report, gate)]
                assert _screen_prose(text, engine) == []
                setup = read_proxy_setup(report.facts)
                facts = ipvs_facts_text(report).plain
                kernels = kernel_summary(report.facts.nodes)
                assert _prose(facts, setup.mode_source, *setup.notes, *kernels) == []
                shown = gate_text(gate, screen.wall_clock(), None).plain
                assert _prose(shown, gate.summary, gate.action, *gate.evidence) == []
                blocked = screen.advance_blocked()
                assert blocked is not None and _prose(blocked) == []
                await pilot.click("#ipvs-reason")
                await pilot.press(*"rehearsal on the lab, no clients")
                await pilot.press("enter")
                await wait_until(pilot, lambda: app.advance_blocked() is None, "the skip with a reason")
                skipped = gate_text(screen.gate, screen.wall_clock(), screen.skip_reason).plain
                assert "已跳过等待:" in skipped
                assert _prose(skipped, screen.skip_reason, screen.gate.summary, screen.gate.action,
                              *screen.gate.evidence) == []

                await pilot.press("n")
                await wait_until(pilot, lambda: app.screen.id == "stage-migration", "the migration stage")
                await wait_until(pilot, lambda: app.advance_blocked() is None, "the Corefile check")
                screen = app.screen
                text = screen_text(app)
                assert "差异 (d)" in text and "指南默认配置" in text and "由 kube-dns 迁移" in text
                engine = [*screen.rendered.warnings, *screen.rendered.notes, screen.migrated, screen.guide]
                assert _screen_prose(text, engine) == []
                verdicts = verdicts_text(screen.rendered.warnings, screen.rendered.notes).plain
                assert _prose(verdicts, *screen.rendered.warnings, *screen.rendered.notes) == []
                cm = configmap_text(report.facts.kube_dns_configmap, "ConfigMap kube-system/kube-dns").plain
                assert "的数据:" in cm  # the data below it is the cluster's YAML: not judged
                assert _prose(screen.help_text().plain) == []

                await pilot.press("n")
                await wait_until(pilot, lambda: app.screen.id == "stage-deploy", "the deploy stage")
                await wait_until(pilot, lambda: app.screen.prepared is not None, "the dry-run", 60)
                screen = app.screen
                text = screen_text(app)
                assert "服务端试运行" in text
                prepared = screen.prepared
                yaml_text = prepared.rendered.yaml_text if prepared.rendered else ""
                engine = [*_finding_lines([prepared.dry_run, *prepared.blocking]), yaml_text]
                assert _screen_prose(text, engine) == []
                assert "按 n(或 a)确认后应用 switch2coredns.yaml" in text
                assert app.advance_blocked() == "资源文件尚未应用"
                body = confirmation_body(context.plan, "lab", dry_run=False).plain
                assert "以下操作将变更集群:" in body and "上下文 lab" in body
                assert _prose(body) == []
                await pilot.press("n")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmationModal), "the confirmation")
                assert app.screen.title_text == "应用 switch2coredns.yaml?"
                await pilot.press("y")
                await wait_until(pilot, lambda: app.deployed, "the apply", 60)
                status = screen_text(app)
                assert "n:进入切换" in status

        asyncio.run(scenario())
    finally:
        set_language("en")
        context.gateway.close()


@pytest.mark.lab_options(nodes=4, kube_dns_replicas=2)
def test_switch_and_done_in_chinese_against_the_lab(lab: Lab, tmp_path: Path) -> None:
    from tui_switch_support import lab_context as switch_context
    from tui_switch_support import wait_until as wait_for

    from screens.app import build_app
    from screens.stages.done import DoneScreen, cleanup_text, summary_rows
    from screens.stages.switch import SwitchScreen
    from screens.widgets.confirm import ConfirmationModal
    from wizard.i18n import set_language

    set_language("zh")
    try:
        context = switch_context(lab, tmp_path)
        app = build_app(context, start_stage="switch")

        async def scenario() -> None:
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, SwitchScreen), 10, "the switch screen")
                screen = app.screen
                assert isinstance(screen, SwitchScreen)
                text = screen_text(app)
                assert "5 切换" in text and "就绪:按 n 开始" in text
                assert "按 n 开始切换" in screen._intro()
                steps = [s.description for s in context.plan.steps] if context.plan else []
                for part in (screen._intro(), screen.status_text().plain, screen.hint_text().plain,
                             screen.help_text().plain):
                    assert _prose(part, *steps) == [], part
                await pilot.press("n")
                titles: list[str] = []
                while not isinstance(app.screen, DoneScreen):
                    await wait_for(pilot, lambda: isinstance(app.screen, (ConfirmationModal, DoneScreen)),
                                   60, "a confirmation or the summary")
                    modal = app.screen
                    if isinstance(modal, ConfirmationModal):
                        titles.append(modal.title_text)
                        await pilot.press("y")
                        await wait_for(pilot, lambda m=modal: app.screen is not m, 5, "the modal to close")
                assert titles and all(title.startswith("步骤 ") for title in titles), titles
                done = app.screen
                assert isinstance(done, DoneScreen)
                await wait_for(pilot, lambda: done.status is not None, 20, "the status read")
                assert done.title_text == "切换完成"
                text = screen_text(app)
                assert "6 完成" in text and "切换完成" in text and "探测" in text
                rows = summary_rows(context, done.result, done.status)
                result = done.result
                engine = [result.summary, result.advice] if result else []
                for label, value in rows:
                    assert _prose(f"{label} {value.plain}", *engine, *context.notes) == [], (label, value)
                labels = [label for label, _ in rows]
                assert "耗时" in labels and "操作记录" in labels
                cleanup = cleanup_text(done.status, 0).plain
                assert "清理" in cleanup and _prose(cleanup) == []

        asyncio.run(scenario())
    finally:
        set_language("en")
        context.gateway.close()


def test_terminal_too_small_and_titles_in_chinese() -> None:
    from i18n_support import chinese

    from screens.stages.base import MOVE_AND_SELECT
    from screens.stages.deploy import DeployScreen
    from screens.stages.done import done_title, format_duration
    from screens.stages.ipvs import IpvsScreen
    from screens.stages.migration import MigrationScreen
    from screens.stages.preconditions import PreconditionsScreen
    from screens.stages.switch import SwitchResult, SwitchScreen
    from wizard.i18n import t

    with chinese():
        for cls in (PreconditionsScreen, IpvsScreen, MigrationScreen, DeployScreen, SwitchScreen):
            title, purpose = t(cls.STAGE_TITLE), t(cls.PURPOSE)
            assert title != cls.STAGE_TITLE and purpose != cls.PURPOSE
            assert _prose(purpose) == [], purpose
        assert _prose(t(MOVE_AND_SELECT)) == []
        assert done_title(SwitchResult("dry-run", ""), None) == "试运行完成:未做任何变更"
        assert done_title(None, None) == "已停止:阶段 未知"
        assert format_duration(3725) == "1 小时 02 分"
        assert t("Terminal too small") == "终端窗口太小"
    assert done_title(None, None) == "Stopped: phase unknown"
