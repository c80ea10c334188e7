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
from pathlib import Path

import pytest

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


def next_key(screen: str) -> str | None:
    """What an operator pressing only n and y would press now (None: wait)."""
    if "Cancel (esc)" in screen:  # a confirmation: name, object and context are on it
        return "y"
    if "RUNNING" in screen or "ROLLING BACK" in screen:
        return None  # the engine works; the next confirmation will come by itself
    return "n"


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (scripts/test.sh installs it where apt-get can)")
def test_demo_switch_completes_with_only_n_and_y(tmp_path: Path) -> None:
    tmux = Tmux(f"coredns-wizard-test-{os.getpid()}")
    log_file = tmp_path / "tui.log"
    command = (
        f"cd {REPO} && PYTHONPATH={REPO} XDG_STATE_HOME={tmp_path / 'state'} "
        f"{wizard_command()} --demo --kernel fixed --observe 2s --ipvs-wait 2s --log-file {log_file}; "
        "echo WIZARD-EXITED $?; sleep 600"
    )
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
            if "Switch complete" in screen or "WIZARD-EXITED" in screen:
                break
            if time.monotonic() - changed_at > STUCK_S:
                break
            key = next_key(screen) if "stage:" in screen else None
            if key is not None:
                tmux.press(key)
                pressed.append(key)
            time.sleep(POLL_S)
        assert "Switch complete" in screen, (
            "the wizard did not reach 'Switch complete' (timed out or stuck); keys pressed: "
            f"{pressed.count('n')} x n, {pressed.count('y')} x y; last screen:\n{screen}\nlog ({log_file}):\n"
            + (log_file.read_text()[-3000:] if log_file.exists() else "none")
        )
        assert "stage: 6 Done" in screen and "coredns-wizard cleanup" in screen
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
