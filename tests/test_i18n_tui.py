"""The TUI shell in Simplified Chinese (issue 13): the dialogs (quit, resume, rollback
confirmation, help), the header, the live panes, the pod logs, the keymap errors and the wizard's
own command-line help. Rendered with Textual's Pilot in Chinese; what is left in English may only
be names, commands and cluster data."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from i18n_support import english_prose
from rich.cells import cell_len
from test_probes_faces import OWNERS, batch
from test_tui_switch_snapshots import SnapshotApp, fixed_context, fixed_status, svg_text
from textual.app import App, ComposeResult
from textual.screen import Screen


def shoot(make_screen: Callable[[], Screen[Any]], prepare: Callable[[Any], None] | None = None,
          size: tuple[int, int] = (120, 40)) -> str:
    """The screen built by `make_screen` (inside the running app, so in the current language), as
    the plain text of its screenshot."""
    context = fixed_context()

    async def run() -> str:
        app = SnapshotApp(context, make_screen)
        async with app.run_test(size=size) as pilot:
            for _ in range(50):
                await pilot.pause(0.02)
                if app.screen is not app.screen_stack[0]:
                    break
            if prepare is not None:
                prepare(app.screen)
            await pilot.pause(0.1)
            return svg_text(app.export_screenshot())

    return asyncio.run(run())


def test_quit_dialog_in_chinese(zh: None) -> None:
    from screens.widgets.quit import QuitScreen

    context = fixed_context()

    def read(screen: Any) -> None:
        screen.workers.cancel_all()
        screen.on_quit_screen_status_read(QuitScreen.StatusRead(fixed_status()))

    text = shoot(lambda: QuitScreen(context, "回滚"), read)
    assert "要在切换中途退出吗?" in text
    assert "留下 (esc)" in text and "退出,可继续 (q)" in text and "回滚… (r)" in text
    assert "第 1 轮(共 3 轮)" in text and "最后步骤" in text
    assert "kube-dns  2/3 就绪" in text
    assert "退出会让集群保持现状" in text
    assert english_prose(text) == []


def test_quit_summary_lines_align_in_cells(zh: None) -> None:
    """The command after the Chinese "继续"/"回滚" labels starts where the Deployment lines'
    counts do (column 10, in terminal cells: a CJK character takes two)."""
    from screens.widgets.quit import mixed_state_lines

    lines = mixed_state_lines(fixed_status(), fixed_context())
    resume = next(line for line in lines if line.startswith("继续"))
    rollback = next(line for line in lines if line.startswith("回滚"))
    coredns = next(line for line in lines if line.startswith("CoreDNS"))
    assert cell_len(resume.split("coredns-wizard")[0]) == 10
    assert cell_len(rollback.split("coredns-wizard")[0]) == 10
    assert cell_len(coredns.split("1/3")[0]) == 10
    assert english_prose("\n".join(lines)) == []


def test_resume_offer_in_chinese(zh: None) -> None:
    from screens.resume import ResumeScreen, resume_text

    context = fixed_context()
    text = shoot(lambda: ResumeScreen(context, fixed_status()))
    assert "切换正在进行" in text and "继续 (c)" in text and "退出 (q)" in text
    assert "context prod-east 中有一次从 kube-dns 到 CoreDNS 的切换正在进行。" in text
    assert "in-progress, 第 1 轮(共 3 轮), 最后完成的步骤 r1.observe" in text
    # the journal's own lines are data (English, as the engine wrote them)
    assert english_prose(text, allow=["done r1.observe"]) == []
    body = resume_text(fixed_status(), "prod-east").plain.splitlines()
    stands = next(line for line in body if line.startswith("当前进度"))
    assert cell_len(stands.split("in-progress")[0]) == 17, "the labels' column, in cells"


def test_rollback_confirmation_in_chinese(zh: None) -> None:
    from screens.widgets.rollback_preview import RollbackPreview, rollback_confirmation

    context = fixed_context()
    text = shoot(lambda: rollback_confirmation(RollbackPreview(), context, switch_running=True))
    assert "回滚到 kube-dns?" in text and "回滚将依次执行以下步骤:" in text
    assert "无需变更:kube-dns 已在提供服务,CoreDNS 已为 0 副本" in text
    assert "取消 (esc)" in text and "是,回滚 (y)" in text
    assert english_prose(text) == []


def test_key_descriptions_and_help_in_chinese(zh: None) -> None:
    from screens.localize import localize_bindings
    from screens.widgets.confirm import ConfirmationModal
    from screens.widgets.help import HelpScreen
    from wizard.i18n import t

    modal = ConfirmationModal("标题", "正文")
    localize_bindings(modal)
    descriptions = {b.id: b.description for _, b in modal._bindings if b.id is not None}
    assert descriptions == {"confirm.yes": "是,执行", "confirm.cancel": "取消"}

    not_now = t("{description} (not now)", description=t("Next"))
    rows = [("q", "app.quit", t("Quit")), ("n", "app.advance", not_now)]
    text = shoot(lambda: HelpScreen(rows, t("Switch")))
    assert "“切换”阶段的按键" in text and "下一步(当前不可用)" in text and "作用" in text
    assert english_prose(text) == []


def test_header_in_chinese(zh: None) -> None:
    from screens.app import STAGES
    from screens.widgets.header import WizardHeader
    from wizard.i18n import t

    header = WizardHeader("prod-east", "prod-east", "https://10.0.0.1:6443", "live", t(STAGES[4].title))
    header.set_link = types.MethodType(lambda self, s, d="": None, header)  # not mounted: no update
    header.link, header.link_detail = "unreachable", t("no response")
    text = header.render_text().plain
    assert "阶段: 切换" in text and "✖ 无法连接 (无响应)" in text
    assert "集群 prod-east" in text and "服务器 https://10.0.0.1:6443" in text
    assert english_prose(text) == []


class _Panes(App[None]):
    CSS = """
    PodsPane, EndpointsPane, ObservationPane, ProbesPane, EventLogPane { border: round white; height: 10; }
    """

    def compose(self) -> ComposeResult:
        from screens.widgets.panes import EndpointsPane, EventLogPane, ObservationPane, PodsPane, ProbesPane

        yield PodsPane(lambda: 1000.0, id="pods")
        yield EndpointsPane("kube-system/kube-dns", id="endpoints")
        yield ObservationPane(id="observation")
        yield ProbesPane(id="probes")
        yield EventLogPane(lambda: 1000.0, id="events")


def test_live_panes_in_chinese(zh: None) -> None:
    from screens.widgets.panes import EndpointsPane, ObservationPane, PodsPane, ProbesPane
    from wizard.migration.progress import ObservationTick, PodView

    seen: dict[str, Any] = {}

    async def run() -> None:
        app = _Panes()
        async with app.run_test(size=(160, 60)) as pilot:
            app.query_one(PodsPane).update_pods((
                PodView("coredns-a", "coredns", "node-1", "10.244.3.10", "Running", True, 0, 30.0),
                PodView("kube-dns-a", "kube-dns", "node-2", "10.244.1.5", "Running", False, 2, 600.0),
            ))
            app.query_one(EndpointsPane).update_endpoints(("10.244.3.10",), ("10.244.1.5",), OWNERS)
            app.query_one(ObservationPane).update_tick(ObservationTick(100.0, 300.0, 1, 50, 1.5, 4.0, 0, 10))
            app.query_one(ProbesPane).update_batch(batch(), OWNERS)
            await pilot.pause(0.2)
            seen["text"] = svg_text(app.export_screenshot())
            probes = app.query_one(ProbesPane)
            seen["verdicts"] = [str(probes.get_row_at(i)[-1]) for i in range(probes.row_count)]

    asyncio.run(run())
    text = seen["text"]
    for words in ("DNS Pod", "就绪", "重启次数", "运行时长", "是", "否",
                  "Service kube-system/kube-dns 的 Endpoints", "就绪 1", "未就绪 1", "未就绪: 10.244.1.5",
                  "剩余 200s / 共 300s", "查询 50", "错误 1",
                  "延迟 p50 1.5 ms  p95 4.0 ms", "固定连接 0/10 失败", "DNS 探测", "判定", "事件"):
        assert words in text, words
    verdicts = seen["verdicts"]
    assert verdicts[0] == "- 基准" and verdicts[1] == "是" and verdicts[3].startswith("否:")
    # the engine's verdict reasons are another area's messages: only this area's words are checked
    assert english_prose(text, allow=["否:", "NO:"]) == []


def test_pod_logs_sections_in_chinese(zh: None) -> None:
    from screens.widgets.logs import read_pod_story
    from wizard.errors import WizardError

    class Gateway:
        def events_for(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
            return []

        def pod_logs(self, namespace: str, pod: str, **_: Any) -> str:
            if _.get("previous"):
                raise WizardError("previous terminated container not found")
            return ""

    sections = read_pod_story(Gateway(), "kube-system", "coredns-a", container="coredns")  # type: ignore[arg-type]
    assert sections[0] == ("事件", ["无"])
    assert sections[1] == ("日志 (kubectl logs -n kube-system coredns-a -c coredns --tail=200)", ["(空)"])


def test_small_widgets_in_chinese(zh: None) -> None:
    from screens.widgets.corefile_editor import check_text
    from screens.widgets.diff_view import diff_rows, diff_summary
    from screens.widgets.findings import findings_text
    from wizard.migration.preflight.checks import finding

    assert diff_summary(diff_rows("a\nb\n", "a\nc\nd\n")) == "新增 1 行,删除 0 行,修改 1 行"
    assert diff_summary(diff_rows("a\n", "a\n")) == "完全相同"
    assert check_text([], "").plain == "✔ CoreDNS 会接受此 Corefile"
    grouped = findings_text([finding("a", "甲", "ok", []), finding("b", "乙", "ok", [])], [("组", ["a"])])
    assert "其他" in grouped.plain


def test_wizard_command_line_in_chinese(zh: None, tmp_path: Path) -> None:
    """The wizard's own options, the demo note and the keymap errors (the other options and
    argparse's own words belong to other areas)."""
    from screens.entry import apply_wait_defaults, build_parser
    from screens.keymap import load_keymap
    from wizard.errors import InputError

    parser = build_parser()
    mine = ("dry_run", "read_only", "ipvs_wait", "report", "log_file", "keymap", "demo", "nodes",
            "kube_dns_replicas", "k8s_version", "proxy_mode", "preset", "cluster_domain", "kernel",
            "guide_configmap", "fault", "speed")
    helps = {a.dest: a.help or "" for a in parser._actions if a.dest in mine}
    assert set(helps) == set(mine)
    assert english_prose("\n".join([parser.description or "", *helps.values()])) == []
    assert "向导选项" in parser.format_help() and "模拟集群的节点数(默认 3)" in helps["nodes"]

    args = parser.parse_args(["--demo"])
    note = apply_wait_defaults(args)
    assert note.startswith("演示:使用较短的等待时间(--observe 15s;") and english_prose(note) == []

    bad = tmp_path / "keymap.toml"
    bad.write_text("[keys]\napp.advanse = 'space'\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_keymap(str(bad))
    message = str(raised.value)
    assert "没有绑定使用此 id;是否想写 app.advance?" in message
    assert english_prose(message) == []
