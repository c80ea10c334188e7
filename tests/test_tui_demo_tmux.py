"""The real thing in a real terminal: `coredns-wizard --demo` in tmux, driven only by `n` (go on)
and `y` (confirm), must walk every stage and end on "Switch complete".

Why tmux: pilot tests run the App in-process with a fake driver; this one runs the console
script with its real terminal driver, argument parsing, logging to a file and the demo lab, as an
operator would. Skipped (saying so) only when tmux is not installed; scripts/test.sh installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from i18n_support import screen_prose

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240.0
STUCK_S = 60.0
"""Fail early when the screen has not changed for this long although keys were pressed."""
POLL_S = 0.3


class Tmux:
    """One private tmux server (its own socket), so the test never touches anyone's sessions."""

    def __init__(self, name: str) -> None:
        self.socket = name
        self.session = "wizard"

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return done.stdout

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def press(self, key: str) -> None:
        self.run("send-keys", "-t", self.session, key)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def wizard_command() -> str:
    """The installed console script when it is the wizard's, else the same entry from the tree."""
    script = shutil.which("coredns-wizard")
    text = Path(script).read_text(errors="replace") if script is not None else ""
    if script is not None and "screens.entry" in text:
        return script
    return f"{sys.executable} -m screens.entry"


@dataclass(frozen=True)
class Words:
    """What the driver reads on the screen, in the wizard's language."""

    stage: str
    cancel: str
    running: tuple[str, ...]
    complete: str
    done_stage: str


WORDS = {
    "en": Words("stage:", "Cancel (esc)", ("RUNNING", "ROLLING BACK"), "Switch complete", "stage: 6 Done"),
    "zh": Words("阶段:", "取消 (esc)", ("运行中", "回滚中"), "切换完成", "阶段: 6 完成"),
}


def next_key(screen: str, words: Words = WORDS["en"]) -> str | None:
    """What an operator pressing only n and y would press now (None: wait)."""
    if words.cancel in screen:  # a confirmation: name, object and context are on it
        return "y"
    if any(word in screen for word in words.running):
        return None  # the engine works; the next confirmation will come by itself
    return "n"


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (scripts/test.sh installs it where apt-get can)")
@pytest.mark.parametrize("language", ["en", "zh"])
def test_demo_switch_completes_with_only_n_and_y(tmp_path: Path, language: str) -> None:
    """In Chinese, every screen the operator sees on the way is also checked for English prose
    (names, flags, commands and cluster data allowed): the issue 13 promise, end to end."""
    words = WORDS[language]
    tmux = Tmux(f"coredns-wizard-test-{os.getpid()}-{language}")
    log_file = tmp_path / "tui.log"
    command = (
        f"cd {REPO} && PYTHONPATH={REPO} XDG_STATE_HOME={tmp_path / 'state'} "
        f"XDG_CACHE_HOME={tmp_path / 'cache'} "
        f"{wizard_command()} --demo --kernel fixed --observe 2s --ipvs-wait 2s --log-file {log_file} "
        f"--lang {language}; echo WIZARD-EXITED $?; sleep 600"
    )
    prose: dict[str, str] = {}
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "120", "-y", "40", command)
    screen = ""
    pressed: list[str] = []
    try:
        deadline = time.monotonic() + TIMEOUT_S
        changed_at = time.monotonic()
        while time.monotonic() < deadline:
            before, screen = screen, tmux.capture()
            if screen != before:
                changed_at = time.monotonic()
            if language != "en" and words.stage in screen:
                prose.update((line, screen) for line in screen_prose(screen))
            if words.complete in screen or "WIZARD-EXITED" in screen:
                break
            if time.monotonic() - changed_at > STUCK_S:
                break
            key = next_key(screen, words) if words.stage in screen else None
            if key is not None:
                tmux.press(key)
                pressed.append(key)
            time.sleep(POLL_S)
        assert words.complete in screen, (
            "the wizard did not reach 'Switch complete' (timed out or stuck); keys pressed: "
            f"{pressed.count('n')} x n, {pressed.count('y')} x y; last screen:\n{screen}\nlog ({log_file}):\n"
            + (log_file.read_text()[-3000:] if log_file.exists() else "none")
        )
        assert words.done_stage in screen and "coredns-wizard cleanup" in screen
        assert not prose, "English prose on the way:\n" + "\n".join(
            f"{line}\n  on the screen:\n{where}" for line, where in list(prose.items())[:3])
        assert set(pressed) <= {"n", "y"}
        tmux.press("q")
        deadline = time.monotonic() + 60
        while "WIZARD-EXITED" not in screen and time.monotonic() < deadline:
            time.sleep(POLL_S)
            screen = tmux.capture()
        assert "WIZARD-EXITED 0" in screen, screen
        assert "Traceback" not in screen
    finally:
        tmux.kill()
