"""The keymap file: remapped keys drive the wizard and show in the footer and the `?` help; every
bad file is one error line naming the file and the id or key, exit 2, before anything starts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from textual.widgets._footer import FooterKey
from tui_shell_support import lab_context, screen_text, wait_until

from screens.entry import main
from screens.keymap import default_keymap_path, known_binding_ids, load_keymap
from screens.widgets.help import HelpScreen
from wizard.errors import InputError
from wizard.lab.cluster import Lab

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keymap.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dotted_and_quoted_ids_several_keys_and_lists_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\napp.advance = "n, space"\n"switch.pause" = "ctrl+p"\n'
                           'app.help = ["h", "?"]\n')
    keymap, source = load_keymap(str(path))
    assert source == path
    assert keymap == {"app.advance": "n,space", "switch.pause": "ctrl+p", "app.help": "h,question_mark"}


def test_no_file_at_the_default_place_means_no_keymap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_keymap_path() == tmp_path / "coredns-wizard" / "keymap.toml"
    assert load_keymap(None) == ({}, None)
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_keymap_path() == tmp_path / "home" / ".config" / "coredns-wizard" / "keymap.toml"


BAD_FILES = [
    ("[keys\napp.advance = 'space'\n", r"not valid TOML \(.*line 1.*\); fix the file"),
    ("[keys]\napp.advnce = 'space'\n", r"app\.advnce: no binding has this id; did you mean app\.advance\?"),
    ("[keys]\napp.advance = 'p'\n", r"app\.advance: key p is also switch\.pause on the Switch stage"),
    ("[keys]\nswitch.pause = 'n'\n", r"\[keys\] switch\.pause: key n is also switch\.continue, app\.advance"),
    ("[keys]\nconfirm.cancel = 'y'\n", r"key y is also confirm\.yes on the confirmation dialog"),
    ("[keys]\napp.advance = '?'\n", r"\[keys\] app\.advance: key \? is also app\.help on every stage"),
    ("[keys]\napp.advance = 'tab'\n", r"key tab is also app\.focus_next on the Preconditions stage"),
    ("[keys]\nconfirm.yes = 'enter'\n", r"confirm\.yes = 'enter': enter presses the focused Cancel button"),
    ("[keys]\nconfirm.yes = 'y,space'\n", r"space presses the focused Cancel button"),
    ("[keys]\napp.advance = 'spcae'\n", r"'spcae' is not a key Textual knows"),
    ("[keys]\napp.advance = 'hyperdrive+x'\n", r"'hyperdrive\+x' is not a key Textual knows"),
    ("[keys]\napp.advance = 3\n", r"app\.advance = 3: give the key\(s\) as a string"),
    ("[keys]\napp.advance = 'n,'\n", r"app\.advance = 'n,': empty key"),
    ("app.advance = 'space'\n", r"'app' is outside the \[keys\] table"),
    ("# nothing here\n", r"no \[keys\] table"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_keymap(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert re.search(expected, message), message
    assert caught.value.exit_code == 2


def test_the_console_script_stops_before_the_app_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --demo would start a lab: the keymap is checked before it, so the error comes first.
    path = write(tmp_path, "[keys]\nswitch.bogus = 'x'\n")
    assert main(["--demo", "--keymap", str(path), "--log-file", str(tmp_path / "tui.log")]) == 2
    err = capsys.readouterr().err
    assert err == (f"coredns-wizard: {path}: [keys] switch.bogus: no binding has this id; "
                   "did you mean switch.logs?\n")
    assert not (tmp_path / "tui.log").exists(), "nothing may start before the keymap is checked"

    assert main(["--keymap", str(tmp_path / "missing.toml")]) == 2
    assert "--keymap " + str(tmp_path / "missing.toml") + ": no such file" in capsys.readouterr().err

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    default = tmp_path / "config" / "coredns-wizard" / "keymap.toml"
    default.parent.mkdir(parents=True)
    default.write_text("[keys]\nconfirm.yes = 'enter'\n", encoding="utf-8")
    assert main(["--demo"]) == 2
    assert capsys.readouterr().err.startswith(f"coredns-wizard: {default}: [keys] confirm.yes")


def test_the_readme_example_is_a_valid_keymap(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(\[keys\].*?)```", readme, re.S)
    assert example, "README.md has no [keys] example"
    keymap, _ = load_keymap(str(write(tmp_path, example.group(1))))
    # the Switch stage's own n moved with the App's: the pair may share a key, as n did
    assert keymap["app.advance"] == "space" and keymap["switch.continue"] == "n,space"


def test_every_binding_in_the_source_has_an_id_the_keymap_knows() -> None:
    """A new Binding without an id could not be remapped; one outside the known scopes would
    escape the clash check."""
    source_ids: set[str] = set()
    for path in (ROOT / "screens").rglob("*.py"):
        # strings whole, and one level of parentheses: a description marked for translation, N_("Quit")
        atom = r"""(?:"[^"]*"|'[^']*'|[^()"'])"""
        pattern = rf"Binding\(((?:{atom}|\({atom}*\))*?)\)(?:,|\])"
        for call in re.findall(pattern, path.read_text(encoding="utf-8"), re.S):
            found = re.search(r'id="([^"]+)"', call)
            assert found, f"{path.name}: a Binding without an id: Binding({call})"
            source_ids.add(found.group(1))
    assert len(source_ids) > 20
    assert source_ids == set(known_binding_ids())


def test_remapped_advance_drives_a_stage_and_shows_in_footer_and_help(lab: Lab, tmp_path: Path) -> None:
    from screens.app import build_app

    keymap, _ = load_keymap(str(write(tmp_path, "[keys]\napp.advance = 'space'\n")))
    context = lab_context(lab, ipvs_wait_seconds=3600)
    app = build_app(context, keymap=keymap)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "the preconditions stage")
            await wait_until(pilot, lambda: app.context.report is not None, "the pre-flight report", 90)
            await wait_until(pilot, lambda: app.advance_blocked() is None, "going on to be allowed")

            def footer() -> list[tuple[str, str]]:
                return [(key.key_display, key.description) for key in app.screen.query(FooterKey)]

            await wait_until(pilot, lambda: ("space", "Next") in footer(), "the footer to show space Next")
            assert ("n", "Next") not in footer(), footer()
            await wait_until(pilot, lambda: "space: go on to the next stage" in screen_text(app),
                             "the status line to name space")

            await pilot.press("n")
            assert app.screen.id == "stage-preconditions", "n is no longer bound to app.advance"

            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
            rows = [line for line in screen_text(app).splitlines() if "app.advance" in line]
            assert len(rows) == 1 and re.search(r"\bspace\s+app\.advance\s+Next", rows[0]), rows
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "the help to close")

            await pilot.press("space")
            await wait_until(pilot, lambda: app.screen.id == "stage-ipvs", "the IPVS stage, reached by space")

    asyncio.run(scenario())
