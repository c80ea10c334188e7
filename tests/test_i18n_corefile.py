"""The corefile area in Chinese: the Corefile reader's syntax, import, snippet and environment
errors, as `check-corefile --lang zh` prints them and as the engine raises them.

What stays English on purpose: the `FILE:LINE: error:` prefix (scripts and editors parse it) and
the Corefile text quoted in a message (a key, a snippet name, a brace, an import pattern); those
are parameters, never translated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.i18n_support import english_prose
from wizard.i18n import Message, error_text, tr, with_message_ids

ROOT = Path(__file__).resolve().parent.parent


def check_corefile(tmp_path: Path, text: str, name: str = "Corefile") -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "wizard", "check-corefile", str(path), "--coredns-version", "1.8.4",
         "--lang", "zh"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr
    return done




# ---------------------------------------------------------------- check-corefile --lang zh

SYNTAX_ERRORS = [
    # (Corefile, the Chinese message after "FILE:LINE: error: ", line)
    (".:53 {\n    errors\n", "此行打开的 '{' 没有闭合:请补上对应的 '}'", 1),
    (".:53 {\n    errors\n}\n}\n", "多余的 '}':此处没有打开的块;请删除它", 4),
    (".:53 {\n    forward . \"1.1.1.1\n}\n",
     "带引号的词没有结束:此处开始的 '\"' 没有闭合;请补上结尾的 '\"'", 2),
    ("a.org,b.org {\n    log\n}\n",
     "server block 键 'a.org,b.org' 中间有逗号,CoreDNS 会把它当作一个区域:请用 ', ' 或空格分隔各个键", 1),
    ("{\n    log\n}\n", "'{' 之前缺少 server block 键:请先写区域,例如 '.:53 {'", 1),
    (".:53 {\n    log }\n", "'}' 与指令 'log' 在同一行:请把右花括号单独放在一行", 2),
    (".:53 {\n    import nosuch\n}\n",
     "导入了未知的片段 'nosuch':请在此行之前用 '(nosuch) { ... }' 定义它,或导入一个文件路径", 2),
    (".:53 {\n    import later\n}\n(later) {\n    log\n}\n",
     "片段 'later' 在其定义(第 4 行)之前就被导入:请把定义移到前面(CoreDNS 从上到下读取 Corefile)", 2),
    ("(a) {\n    import b\n}\n(b) {\n    import a\n}\n.:53 {\n    import a\n}\n",
     "片段之间循环导入:a -> b -> a;请删除其中一个导入", 5),
    ("(a) {\n    log\n}\n(a) {\n    errors\n}\n", "片段 'a' 已在第 1 行定义:请重命名或删除其中一个", 4),
    (".:53 {\n    import a b\n}\n",
     "import 只接受一个参数(片段名或文件通配模式),实际有 2 个", 2),
    (".:53 {\n    import {$CORE_WIZARD_TEST_UNSET}\n}\n",
     "导入 '{$CORE_WIZARD_TEST_UNSET}' 在应用环境变量后不指向任何内容", 2),
    (".:53 {\n    import missing.conf\n}\n", "找不到要导入的文件:'missing.conf'", 2),
    (".:53 {\n    import ../outside/x.conf\n}\n",
     "导入的 '../outside/x.conf' 位于 Corefile 所在目录之外;向导只读取该目录内的导入文件:"
     "请把文件复制到该目录", 2),
    (".:53 {\n    import sub/\n}\n", "无法导入 'sub':它是一个目录", 2),
    (".:53 {\n    import broken.conf\n}\n", "导入的文件 'broken.conf' 第 2 行不是有效的 Corefile 语法", 2),
]


@pytest.mark.parametrize(("text", "chinese_message", "line"), SYNTAX_ERRORS)
def test_check_corefile_syntax_errors_in_chinese(
    tmp_path: Path, text: str, chinese_message: str, line: int
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "sub").mkdir()
    (work / "broken.conf").write_text("log\n}\n", encoding="utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.conf").write_text("log\n", encoding="utf-8")
    done = check_corefile(work, text)
    assert done.returncode == 1, done.stderr
    corefile = work / "Corefile"
    # the location and severity stay in the form scripts and editors parse, in every language
    assert done.stdout == f"{corefile}:{line}: error: {chinese_message}\n"
    assert f"{corefile}: CoreDNS 1.8.4 会拒绝此 Corefile(1 个错误,0 个警告)" in done.stderr
    assert english_prose(done.stdout.removeprefix(f"{corefile}:{line}: error: ") + done.stderr) == []


# ---------------------------------------------------------------- the engine, unit level


def test_syntax_error_renders_again_in_english_with_its_location(zh: None) -> None:
    from wizard.dns.corefile import CorefileSyntaxError, parse

    with pytest.raises(CorefileSyntaxError) as caught:
        parse("(x) {\n    log\n}\n(x) {\n}\n", "cf")
    err = caught.value
    assert str(err) == "cf:4: 片段 'x' 已在第 1 行定义:请重命名或删除其中一个"
    assert err.filename == "cf" and err.line == 4
    assert isinstance(err.message, Message) and err.message.id == "corefile.snippet-defined-twice"
    assert tr(error_text(err), "en") == "cf:4: snippet 'x' is already defined on line 1: rename or remove one"
    assert tr(err.message, "en") == "snippet 'x' is already defined on line 1: rename or remove one"
    published = with_message_ids({"message": err.message})
    assert published["message_message"] == {
        "id": "corefile.snippet-defined-twice", "params": {"name": "x", "line": 1},
    }


def test_server_key_errors_in_chinese(zh: None) -> None:
    from wizard.dns.corefile import parse_key
    from wizard.errors import InputError

    expected = {
        "udp://.:53": "server block 键 'udp://.:53':未知的传输协议 'udp://';请使用 dns://, tls://, https://, "
        "grpc://, quic:// 之一",
        ":53": "server block 键 ':53' 没有区域:请在端口前写上区域,例如 '.:53'",
        "example.org:": "server block 键 'example.org:' 以 ':' 结尾但没有端口:请加上端口或删除 ':'",
        "example.org:99999": "server block 键 'example.org:99999':端口 '99999' 不是 1 到 65535 之间的数字",
    }
    for key, message in expected.items():
        with pytest.raises(InputError) as caught:
            parse_key(key)
        assert str(caught.value) == message
        assert english_prose(message.replace("server block", "")) == []
        assert tr(error_text(caught.value), "en").startswith("server block key ")


def test_printer_refusals_in_chinese(zh: None) -> None:
    from wizard.dns.corefile import Corefile, Directive, ServerBlock, Snippet, format_corefile
    from wizard.errors import InputError

    def refusal(cf: Corefile) -> str:
        with pytest.raises(InputError) as caught:
            format_corefile(cf)
        return error_text(caught.value)

    lone = refusal(Corefile(items=[ServerBlock(keys=["."], directives=[Directive("log", args=["{"])])]))
    assert lone == "指令 'log' 的参数 '{' 是单独的 '{',CoreDNS 总会把它当作花括号,即使加了引号:请修改该值"
    assert tr(lone, "en") == (
        "argument '{' of directive 'log' is a lone '{', which CoreDNS always reads as a brace, even in "
        "quotes: change the value"
    )
    comma = refusal(Corefile(items=[ServerBlock(keys=["a.org,b.org"])]))
    assert comma == "server block 键 'a.org,b.org' 包含 ',',而 Corefile 用它分隔各个键:请把它拆成两个键"
    backslash = Directive("log", args=["a b\\"])
    unquotable = refusal(Corefile(items=[ServerBlock(keys=["."], directives=[backslash])]))
    assert unquotable == (
        "指令 'log' 的参数 'a b\\\\' 需要加引号,但 Corefile 的引号内无法写出位于 '\"' 之前或末尾的反斜杠:"
        "请修改该值"
    )
    nameless = refusal(Corefile(items=[Snippet(name="")]))
    assert nameless == "有一个片段名称为空:请为它命名,例如 '(common) { ... }'"
    no_keys = refusal(Corefile(items=[ServerBlock(keys=[])]))
    assert no_keys == "有一个 server block 没有键:请为它指定区域,例如 '.:53'"
    for text in (lone, comma, unquotable, nameless, no_keys):
        assert english_prose(text.replace("server block", "")) == []
