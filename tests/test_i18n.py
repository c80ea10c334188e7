"""Languages: how one is chosen, what a Message is, and that the catalogs cover the code.

The completeness test runs scripts/i18n.py's check: every text marked with `msg`/`t` in
wizard/ and screens/ has a Chinese translation with the same placeholders, and no catalog entry
is stale. What is not marked is found by the screen scans (tests/test_i18n_screens.py).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wizard import i18n
from wizard.errors import InputError
from wizard.i18n import language_from_argv, language_from_environment, msg, set_language, tr

ROOT = Path(__file__).resolve().parent.parent




@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
    ({"LC_MESSAGES": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
    ({"LC_ALL": "", "LANG": "zh_CN"}, "zh"),
])
def test_the_language_comes_from_lc_all_then_lc_messages_then_lang(environ: dict[str, str],
                                                                   expected: str) -> None:
    assert language_from_environment(environ) == expected


def test_lang_on_the_command_line_wins_and_a_wrong_one_is_refused() -> None:
    assert language_from_argv(["plan", "--lang", "zh"]) == "zh"
    assert language_from_argv(["--lang=en", "status"]) == "en"
    assert language_from_argv(["translate", "--", "--lang", "zh"]) is None
    with pytest.raises(InputError, match="--lang fr: unknown language; use one of en, zh"):
        set_language("fr")
    done = subprocess.run([sys.executable, "-m", "screens.entry", "versions", "--lang", "fr"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2 and "unknown language" in done.stderr and "Traceback" not in done.stderr


def test_a_message_is_its_english_text_and_keeps_its_id_and_parameters() -> None:
    inner = msg("test.inner", "{count} replicas", count=3)
    outer = msg("test.outer", "kube-dns has {what}", what=inner)
    assert outer == "kube-dns has 3 replicas" and isinstance(outer, str)
    assert outer.id == "test.outer" and outer.params["what"] is inner
    document = i18n.with_message_ids({"advice": outer, "evidence": ["plain", inner], "n": 1})
    assert document["advice"] == "kube-dns has 3 replicas"
    assert document["advice_message"] == {
        "id": "test.outer",
        "params": {"what": {"text": "3 replicas", "id": "test.inner", "params": {"count": 3}}},
    }
    assert document["evidence_message"] == [None, {"id": "test.inner", "params": {"count": 3}}]
    assert json.loads(json.dumps(document))["advice"] == "kube-dns has 3 replicas"


def test_a_message_survives_copies_and_pickles() -> None:
    import copy
    import dataclasses
    import pickle

    message = msg("test.copy", "{count} replicas", count=2)
    assert copy.deepcopy(message) is message and copy.copy(message) is message
    again = pickle.loads(pickle.dumps(message))
    assert again == message and again.id == "test.copy" and again.params == {"count": 2}

    @dataclasses.dataclass
    class Step:
        description: str

    assert dataclasses.asdict(Step(message)) == {"description": "2 replicas"}  # the journal's way


def test_messages_render_in_chinese_and_again_in_english(zh: None) -> None:
    line = i18n.t("source: {source}", source="kubeadm")
    assert line == "来源:kubeadm"
    assert tr("plain cluster data") == "plain cluster data"


def test_a_translation_whose_placeholders_differ_falls_back_to_english() -> None:
    assert i18n._format("{wrong} 个副本", "{count} replicas", {"count": 2}, "zh") == "2 replicas"


def test_versions_in_chinese_through_the_command_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "screens.entry", "versions", "--k8s-version", "1.20"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**env, "LANG": "zh_CN.UTF-8"})
    assert done.returncode == 0, done.stderr
    assert "适用于 Kubernetes 1.20 的 CoreDNS 版本:1.7.0" in done.stdout
    assert list((tmp_path / "cache" / "coredns-wizard" / "locale").glob("zh-*.mo")), "compiled once, cached"
    english = subprocess.run([sys.executable, "-m", "screens.entry", "versions", "--k8s-version", "1.20",
                              "--lang", "en"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env={**env, "LANG": "zh_CN.UTF-8"})
    assert english.stdout.startswith("CoreDNS 1.7.0 for Kubernetes 1.20"), english.stdout


def test_a_read_only_cache_still_gets_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    i18n._catalogs.clear()
    try:
        set_language("zh")
        assert i18n.t("alternatives:") == "其他可选版本:"
    finally:
        set_language("en")
        i18n._catalogs.clear()


def _catalog_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_every_marked_text_has_a_chinese_translation_with_the_same_placeholders() -> None:
    problems = _catalog_script().problems()
    more = f"\n… {len(problems)} in all" if len(problems) > 40 else ""
    assert not problems, "\n".join(problems[:40]) + more


def test_the_completeness_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _catalog_script()
    source = tmp_path / "wizard" / "sample.py"
    source.parent.mkdir()
    source.write_text('from wizard.i18n import msg, t\n'
                      'a = msg("sample.one", "{count} replicas", count=1)\n'
                      'b = t("untranslated heading")\n'
                      'c = msg("sample.one", "another template")\n')
    hidden = tmp_path / "wizard" / "hidden.py"
    hidden.write_text('from wizard.i18n import msg\n'
                      'd = msg("sample.hidden", "a text Babel missed")\n')
    babel = script.extract
    monkeypatch.setattr(script, "extract", lambda files: [  # as Babel's tokenizer sometimes does
        m for m in babel(files) if not m.where.startswith("wizard/hidden.py")])
    po = tmp_path / "wizard" / "locale" / "zh" / "LC_MESSAGES" / "sample.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgctxt "sample.one"\nmsgid "{count} replicas"\nmsgstr "{n} 个副本"\n\n'
                  'msgid "gone"\nmsgstr "已删除"\n', encoding="utf-8")
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
    (po.parent / "other.po").write_text(header + 'msgid "gone"\nmsgstr "不见了"\n', encoding="utf-8")
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(script, "LOCALE_DIR", tmp_path / "wizard" / "locale")
    monkeypatch.setattr(script, "SOURCE_DIRS", ("wizard",))
    found = "\n".join(script.problems())
    assert "id 'sample.one' is used with two different templates" in found
    assert "'untranslated heading' is not in the zh catalogs" in found
    assert "placeholders ['n'] != ['count']" in found
    assert "'gone' is no longer in the code" in found
    assert "'gone' is translated differently in" in found
    assert "wizard/hidden.py: 1 marked text(s) Babel does not extract" in found
