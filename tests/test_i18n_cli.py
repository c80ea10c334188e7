"""Area `cli` in Chinese: argparse's own texts and the shared help, kubeconfig and connection
errors, API errors with their advice, file and YAML/JSON errors, and `coredns-wizard lab`.

Each test makes the text in Chinese, checks a few key sentences, then that no English prose is
left (names, flags, metavars and cluster data are allowed: they stay English), and that English
comes back unchanged when the same Message is rendered again.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from i18n_support import chinese, english_prose

from wizard import i18n
from wizard.cli import ARGPARSE_TEXTS, main
from wizard.errors import InputError
from wizard.i18n import t, tr

ROOT = Path(__file__).resolve().parent.parent

# argparse texts an operator never sees: they report a programming error while a parser is built
ARGPARSE_DEVELOPER_TEXTS = {
    "'required' is an invalid argument for positionals",
    "%r is not callable",
    ".__call__() not defined",
    'argument "-" with mode %r',
    "cannot have multiple subparser arguments",
    "cannot merge actions - two groups are named %r",
    "conflicting subparser alias: %s",
    "conflicting subparser: %s",
    "dest= is required for options like %r",
    "invalid conflict_resolution value: %r",
    "mutually exclusive arguments must be optional",
    "unexpected option string: %s",
    "conflicting option string: %s",
    "conflicting option strings: %s",
    "invalid option string %(option)r: ",
}


@pytest.fixture(autouse=True)
def fresh_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    i18n._catalogs.clear()
    yield
    i18n.set_language("en")
    i18n._catalogs.clear()


def run_cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "LC_ALL": "", "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "wizard.cli", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def argparse_texts() -> set[str]:
    """Every text this Python's argparse asks gettext for (`_(...)` and `ngettext(...)`)."""
    source = inspect.getsource(argparse)
    literal = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
    found = {ast.literal_eval(text) for text in re.findall(rf"\b_\(\s*({literal})", source)}
    for call in re.findall(r"ngettext\(([^)]*)\)", source, re.S):
        found.update(ast.literal_eval(text) for text in re.findall(literal, call))
    return found


def test_every_argparse_text_an_operator_can_see_is_translated() -> None:
    seen = argparse_texts()
    assert "usage: " in seen and "the following arguments are required: %s" in seen
    assert not seen - set(ARGPARSE_TEXTS) - ARGPARSE_DEVELOPER_TEXTS, "argparse texts left in English"
    with chinese():
        untranslated = [text for text in ARGPARSE_TEXTS if t(text) == text]
        assert not untranslated
        # argparse fills its %-placeholders itself: each translation keeps them all
        placeholder = re.compile(r"%\(\w+\)\w|%\w")
        for text in ARGPARSE_TEXTS:
            assert sorted(placeholder.findall(t(text))) == sorted(placeholder.findall(text))


def test_plan_help_in_chinese_has_no_english_prose_but_flags(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "plan", "--lang", "zh", "--help")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for sentence in ("用法:coredns-wizard plan", "选项:", "显示本帮助并退出", "kubeconfig 文件(默认:",
                     "单个 API 请求的超时时间", "完整的 CoreDNS 镜像地址", "消息语言:en 或 zh"):
        assert sentence in out
    # plan's own description and -o help belong to its area (translated there)
    own = ["Pre-flight checks", "cluster changes)", "output format"]
    assert english_prose(out, allow=own) == []


def test_lab_help_and_top_level_help_in_chinese(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "lab", "--lang", "zh", "--help")
    assert done.returncode == 0, done.stderr
    assert "运行一个仍使用 kube-dns 的模拟 Kubernetes 集群" in done.stdout
    assert "节点数(默认 3)" in done.stdout and "列出可注入的故障并退出" in done.stdout
    assert english_prose(done.stdout) == []
    top = run_cli(tmp_path, "--lang", "zh", "--help")
    assert "将 Kubernetes 集群的 DNS 从 kube-dns 逐个副本切换到 CoreDNS" in top.stdout
    assert "位置参数:" in top.stdout and "显示程序版本号并退出" in top.stdout
    options = top.stdout.split("选项:", 1)[1]
    assert english_prose(options) == []


def test_usage_errors_in_chinese(tmp_path: Path) -> None:
    misplaced = run_cli(tmp_path, "--kubeconfig", "/nonexistent", "--lang", "zh", "plan")
    assert misplaced.returncode == 2
    assert "coredns-wizard:错误:" in misplaced.stderr and "无效的取值:'/nonexistent'" in misplaced.stderr
    missing = run_cli(tmp_path, "versions", "--lang", "zh")
    assert missing.returncode == 2
    assert "缺少必需的参数:--k8s-version" in missing.stderr
    excluded = run_cli(tmp_path, "plan", "--lang", "zh", "--image", "a/b:1", "--image-host", "h")
    assert excluded.returncode == 2
    assert "不能与参数 --image 同时使用" in excluded.stderr
    for done in (misplaced, missing, excluded):
        assert "Traceback" not in done.stderr
        assert english_prose(done.stderr) == []
    english = run_cli(tmp_path, "versions")
    assert "the following arguments are required: --k8s-version" in english.stderr


def test_unreachable_cluster_in_chinese_names_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_cmd_plan import unreachable_kubeconfig

    kubeconfig, port = unreachable_kubeconfig(tmp_path)
    with chinese():
        code = main(["plan", "--lang", "zh", "--kubeconfig", str(kubeconfig), "--request-timeout", "2s"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"无法连接位于 http://127.0.0.1:{port} 的 API server(连接被拒绝)" in err
    assert "请检查 VPN 或 kubeconfig 中的 server 地址" in err and "中的集群 'gone'" in err
    assert english_prose(err) == []


def test_kubeconfig_errors_in_chinese_and_again_in_english(tmp_path: Path) -> None:
    from wizard.k8s.connection import parse_request_timeout, resolve_connection

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters:\n- name: a\n  cluster:\n    server: https://10.0.0.1\n"
        "contexts:\n- name: a\n  context:\n    cluster: a\n    user: ghost\n",
        encoding="utf-8",
    )
    errors = []
    with chinese():
        for attempt in (
            lambda: resolve_connection(str(kubeconfig), context="b", environ={}),
            lambda: resolve_connection(str(kubeconfig), environ={}),
            lambda: resolve_connection(str(tmp_path / "missing"), environ={}),
            lambda: resolve_connection(environ={}, home=tmp_path / "nohome", service_account_dir=tmp_path),
            lambda: parse_request_timeout("soon"),
        ):
            with pytest.raises(InputError) as caught:
                attempt()
            errors.append(caught.value.args[0])
    text = "\n".join(str(e) for e in errors)
    assert "上下文 'b' 不存在" not in text  # the sentence below is the translation
    assert "找不到上下文 'b';已有的上下文:a" in text
    assert "引用的用户 'ghost' 在所有 kubeconfig 文件" in text
    assert "文件不存在;请用 --kubeconfig 指定一个存在的文件" in text
    assert "找不到 kubeconfig(已查找" in text
    assert "--request-timeout 'soon' 不是有效的时长" in text
    assert english_prose(text) == []
    assert tr(errors[0], "en") == f"kubeconfig {kubeconfig}: context 'b' not found; known contexts: a"
    assert errors[0].id == "cli.context-not-found"


def test_file_and_yaml_json_errors_in_chinese(tmp_path: Path) -> None:
    from wizard.safe_load import load_json, load_yaml, read_text

    texts = []
    with chinese():
        for attempt in (
            lambda: read_text(tmp_path / "none.yaml", "kube-dns ConfigMap"),
            lambda: read_text(tmp_path, "kubeconfig"),
            lambda: load_yaml("a: [1, 2\n", "cm.yaml"),
            lambda: load_yaml("a: 1\n---\nb: 2\n", "cm.yaml"),
            lambda: load_yaml("a: *missing\n", "cm.yaml"),
            lambda: load_json('{"a": 1', "stubDomains"),
            lambda: load_json("1" * 200, "upstreamNameservers"),
        ):
            with pytest.raises(InputError) as caught:
                attempt()
            texts.append(caught.value.args[0])
    text = "\n".join(str(e) for e in texts)
    for sentence in ("文件不存在;请给出 kube-dns ConfigMap 的路径", "是目录;请给出其中 kubeconfig 的路径",
                     "cm.yaml:第 2 行第 1 列不是有效的 YAML:", "包含 2 个 YAML 文档;应只有一个",
                     "别名 *missing 没有对应的锚点", "stubDomains:不是有效的 JSON(第 1 行第 8 列:",
                     "upstreamNameservers:不是有效的 JSON(有整数超过 100 位)"):
        assert sentence in text
    # the parser's own reason (PyYAML's, Python's json's) stays English as a parameter
    assert english_prose(text, allow=["did not find expected", "Expecting ',' delimiter"]) == []
    assert tr(texts[-1], "en") == "upstreamNameservers: not valid JSON (an integer has more than 100 digits)"
    assert texts[-1].params["detail"].id == "cli.json-integer-too-long"


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                           "reason": "Forbidden", "message": "deployments.apps is forbidden"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_permission_error_advice_in_chinese(tmp_path: Path) -> None:
    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.gateway import Gateway, GatewayError

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{server.server_port}\n"
        "users:\n- name: ops\n  user:\n    token: abc\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: ops\n",
        encoding="utf-8",
    )
    try:
        with chinese():
            gateway = Gateway(resolve_connection(str(kubeconfig), environ={}), "live")
            with gateway, pytest.raises(GatewayError) as caught:
                gateway.get_deployment("kube-system", "coredns")
    finally:
        server.shutdown()
        server.server_close()
    message = caught.value.args[0]
    assert "在上下文 'c' 中 get Deployment kube-system/coredns 失败:HTTP 403 Forbidden" in message
    assert ("缺少权限:请授予用户 'ops' 对 deployments(API 组 'apps')(命名空间 'kube-system')的 get 权限"
            "(检查命令:kubectl auth can-i get deployments.apps -n kube-system)") in message
    assert english_prose(message, allow=["is forbidden"]) == []
    assert tr(message, "en") == (
        "get Deployment kube-system/coredns in context 'c' failed: HTTP 403 Forbidden: deployments.apps is "
        "forbidden. Missing permission: grant get on deployments (API group 'apps') in namespace "
        "'kube-system' to user 'ops' (check with: kubectl auth can-i get deployments.apps -n kube-system)"
    )


def test_short_quote_descriptions_in_chinese() -> None:
    from wizard.textsafety import short_quote

    with chinese():
        assert short_quote({"a": 1, "b": 2}) == "含 2 项的 dict"
        assert short_quote(10 ** 200) == "一个极大的数"
    assert short_quote([1, 2, 3]) == "a list of 3 items"


@pytest.mark.lab_options(nodes=2, kube_dns_replicas=2)
def test_lab_banner_in_chinese(lab: Any, tmp_path: Path) -> None:
    from wizard.commands.lab import _usage

    with chinese():
        banner = _usage(lab, tmp_path / "lab.kubeconfig")
        stopped = t("lab stopped")
    assert "实验环境已运行(预设 tke,Kubernetes" in banner and "2 个节点,kube-dns x2" in banner
    assert "接下来,在导出了该 KUBECONFIG 的 shell 中执行:" in banner and "按 Ctrl-C 停止。" in banner
    assert "# 逐个副本切换到 CoreDNS" in banner and stopped == "实验环境已停止"
    assert english_prose(banner) == []


@pytest.mark.parametrize("command", ["translate", "check-corefile", "render", "versions", "lab", "plan",
                                     "switch", "rollback", "status", "cleanup", None])
def test_every_help_is_chinese(tmp_path: Path, command: str | None) -> None:
    """`--help` of the wizard and of every command: options and descriptions in Chinese (flags,
    metavars and example values stay)."""
    argv = [command] if command else []
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "LC_ALL": "", "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "screens.entry", *argv, "--help", "--lang", "zh"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "用法:" in done.stdout
    assert english_prose(done.stdout) == [], done.stdout
