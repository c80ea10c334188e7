"""The lab's command ends promptly: a fault that keeps kube-dns from starting says so and exits, and
SIGTERM during start-up stops every part in a few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lab(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wizard",
            "lab",
            "--dns-port",
            "0",
            "--kubeconfig-out",
            str(tmp_path / "k"),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_a_fault_that_stops_start_up_says_so_and_exits(tmp_path: Path) -> None:
    began = time.monotonic()
    proc = _lab(tmp_path, "--fault", "unschedulable", "--speed", "20")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert time.monotonic() - began < 60
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "fault unschedulable stops start-up" in lines[0], err
    assert "Traceback" not in err


def test_sigterm_during_start_up_ends_the_lab(tmp_path: Path) -> None:
    proc = _lab(tmp_path, "--speed", "0.05")  # slow enough to still be starting
    time.sleep(3)
    assert proc.poll() is None, proc.communicate()[1]
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - began < 10
    assert proc.returncode == 0, err
    assert "Traceback" not in err
