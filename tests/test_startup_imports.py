"""What each command loads before it does its job: `--help` and `versions` never load the
kubernetes client, urllib3 or Textual; a cluster command talks to the API server without the
kubernetes client (it is loaded only for exec / auth-provider credentials and port-forward);
and errors stay one line. Each case runs in a fresh interpreter, so an import added back at the
top of any module on the path fails here (benchmark: tests/bench_startup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("kubernetes", "urllib3", "textual", "rich", "ruamel", "dns")
"""Libraries none of the fast commands needs; each costs tens to hundreds of milliseconds."""


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _loaded_after(call: str) -> tuple[list[str], int | None, str, str]:
    """Run `call` (a statement that may raise SystemExit) in a fresh interpreter; the heavy
    libraries it loaded, its exit code, its stdout and stderr."""
    code = (
        "import json, sys\n"
        "code = None\n"
        f"try:\n    code = {call}\nexcept SystemExit as exit:\n    code = exit.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('\\nLOADED ' + json.dumps([heavy, code]))\n"
    )
    result = _run(code)
    out, _, tail = result.stdout.rpartition("\nLOADED ")
    assert tail, f"the child did not report (exit {result.returncode}): {result.stderr[-2000:]}"
    heavy, exit_code = json.loads(tail)
    return heavy, exit_code, out, result.stderr


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["versions", "--k8s-version", "1.20"], ["versions", "--help"], ["plan", "--help"],
     ["--version"]],
    ids=lambda argv: " ".join(argv),
)
@pytest.mark.parametrize("entry", ["wizard.cli", "screens.entry"])
def test_fast_commands_load_no_heavy_library(entry: str, argv: list[str]) -> None:
    heavy, code, out, err = _loaded_after(f"__import__({entry!r}, fromlist=['main']).main({argv!r})")
    assert code in (0, None), err
    assert out.strip(), "the command printed nothing"
    assert heavy == [], f"{entry} {' '.join(argv)} loaded {heavy}"


def test_building_a_gateway_loads_neither_the_client_nor_urllib3(tmp_path: Path) -> None:
    """Constructing the gateway is free: the HTTP pool (urllib3) comes with the first request,
    which the terminal wizard sends after its first frame."""
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1", {"token": "abc"})
    heavy, code, _, err = _loaded_after(
        "(lambda c: __import__('wizard.k8s.gateway', fromlist=['Gateway']).Gateway(c).close())("
        f"__import__('wizard.k8s.connection', fromlist=['x']).resolve_connection({str(kubeconfig)!r}))"
    )
    assert code is None, err
    assert "kubernetes" not in heavy and "urllib3" not in heavy, heavy


def test_an_unreachable_cluster_is_one_line_without_the_kubernetes_client(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1", {"token": "abc"})
    heavy, code, _, err = _loaded_after(
        "__import__('screens.entry', fromlist=['main']).main(['status', '--kubeconfig', "
        f"{str(kubeconfig)!r}, '--request-timeout', '2s'])"
    )
    assert code == 2  # a WizardError
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "cannot reach the API server at https://127.0.0.1:1" in lines[0]
    assert "kubernetes" not in heavy and "textual" not in heavy, heavy


def test_a_bad_kubeconfig_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("clusters: {not: a list}\n", encoding="utf-8")
    heavy, code, _, err = _loaded_after(
        "__import__('screens.entry', fromlist=['main']).main(['status', '--kubeconfig', "
        f"{str(kubeconfig)!r}])"
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "'clusters' must be a list" in err
    assert "kubernetes" not in heavy, heavy


def test_a_cluster_command_against_the_lab_needs_no_kubernetes_client(lab: Any) -> None:
    """Reads over the lab's real HTTPS API (CA-verified, bearer token) with urllib3 alone."""
    heavy, code, out, err = _loaded_after(
        "__import__('wizard.cli', fromlist=['main']).main(['status', '--kubeconfig', "
        f"{str(lab.kubeconfig_path)!r}])"
    )
    assert code == 0, err
    assert "kube-dns" in out
    assert "kubernetes" not in heavy, heavy


def _kubeconfig(tmp_path: Path, server: str, user: dict[str, Any]) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_wizard_paints_before_it_asks_the_cluster_anything(lab: Any) -> None:
    """The first frame comes before any worker that reads the cluster starts, before the first
    API request and before the gateway's HTTP pool exists; the resume check and the first stage
    follow."""
    import asyncio

    from tui_shell_support import lab_context, wait_until

    from screens.app import build_app

    order: list[str] = []
    context = lab_context(lab, "read-only")
    gateway = context.gateway
    gateway.on_request = lambda event: order.append(f"request {event.path}")
    app = build_app(context)
    original = app._display

    def display(screen: Any, update: Any) -> None:
        if update is not None and "frame" not in order:
            order.append("frame")
            order.append(f"pool built: {gateway._transport_built is not None}")
            order.append(f"workers: {[worker.description for worker in app.workers]}")
        original(screen, update)

    app._display = display  # type: ignore[method-assign]

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.screen.id == "stage-preconditions", "the first stage", 60)

    asyncio.run(run())
    assert order[:3] == ["frame", "pool built: False", "workers: []"], order[:5]
    assert any(entry.startswith("request ") for entry in order)


def test_the_app_module_leaves_the_stages_for_after_the_first_frame() -> None:
    """screens.app names its stages through loader functions: importing it (all the first frame
    needs) loads no stage screen; asking a stage for its screen class does."""
    code = (
        "import sys\n"
        "import screens.app as app\n"
        "before = sorted(m for m in sys.modules\n"
        "                if m.startswith('screens.stages.') and m != 'screens.stages.base')\n"
        "classes = [(s.screen.__name__, s.live_screen.__name__ if s.live_screen else '')\n"
        "           for s in app.STAGES]\n"
        "print(before, classes)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == (
        "[] [('PreconditionsScreen', ''), ('IpvsScreen', ''), ('MigrationScreen', ''), "
        "('DeployScreen', 'ApplyDeployScreen'), ('SwitchScreen', ''), ('DoneScreen', '')]"
    )


@pytest.mark.parametrize(("argv", "unwanted"), [
    (["--help"], ("dataclasses", "inspect", "json", "typing", "pathlib", "shutil", "threading", "signal")),
    (["versions", "--k8s-version", "1.20"], ("dataclasses", "inspect", "json", "pathlib", "shutil")),
], ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_help_and_versions_skip_the_standard_librarys_slow_modules(argv: list[str],
                                                                   unwanted: tuple[str, ...]) -> None:
    """Each costs `--help` one to several milliseconds of its ~13 ms of own work (issue 15: no slower
    than `kubectl version --client`). Run with `-S`: site-packages' start-up hooks (one imports
    certifi, and with it pathlib and typing, on some machines) would hide what the wizard loads."""
    import site

    code = (
        "import contextlib, io, sys\n"
        "from screens.entry import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {unwanted!r} if m in sys.modules))\n"
    )
    path = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": path})
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
