"""The console script: subcommands stay headless and unchanged, --help is fast and complete, bad
input is one line with exit 2, and the engine never pulls in Textual."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_subcommands_and_wizard_options_without_textual() -> None:
    code = (
        "import sys\n"
        "from screens.entry import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        "print('textual loaded:', 'textual' in sys.modules)\n"
    )
    result = _python("-c", code)
    out = result.stdout
    assert "exit 0" in out and "textual loaded: False" in out
    for command in ("translate", "check-corefile", "render", "versions", "lab", "plan", "switch",
                    "rollback", "status", "cleanup"):
        assert f"\n  {command} " in out, command
    for option in ("--kubeconfig", "--context", "--request-timeout", "--dry-run", "--read-only",
                   "--coredns-version", "--image", "--image-host", "--probe-name", "--observe",
                   "--ipvs-wait", "--ready-timeout", "--autoscaler-policy", "--order", "--demo",
                   "--nodes", "--kube-dns-replicas", "--k8s-version", "--proxy-mode", "--fault", "--speed"):
        assert option in out, option


def test_subcommand_is_delegated_unchanged() -> None:
    via_entry = _python("-m", "screens.entry", "versions", "--k8s-version", "1.20")
    via_cli = _python("-m", "wizard", "versions", "--k8s-version", "1.20")
    assert via_entry.returncode == via_cli.returncode == 0
    assert via_entry.stdout == via_cli.stdout and "1.7.0" in via_entry.stdout


def test_python_m_wizard_stays_headless() -> None:
    code = (
        "import runpy, sys\nsys.argv=['wizard','--help']\n"
        "try:\n    runpy.run_module('wizard', run_name='__main__')\n"
        "except SystemExit:\n    pass\nprint('textual loaded:', 'textual' in sys.modules)\n"
    )
    result = _python("-c", code)
    assert "textual loaded: False" in result.stdout and "plan" in result.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--observe", "soon"], "--observe 'soon' is not a duration"),
        (["--ipvs-wait", "5 minutes"], "--ipvs-wait '5 minutes' is not a duration"),
        (["--nodes", "2"], "--nodes configures the demo lab: add --demo"),
        (["--demo", "--context", "prod"], "--demo opens the wizard on its own lab"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "kubeconfig /nonexistent/kubeconfig: file not found"),
        (["--demo", "--proxy-mode", "userspace"], "--proxy-mode 'userspace': must be ipvs or iptables"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str, tmp_path: Path) -> None:
    result = _python("-m", "screens.entry", "--log-file", str(tmp_path / "tui.log"), *argv)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("coredns-wizard:")]) >= 1


def test_unknown_argument_is_a_usage_error() -> None:
    result = _python("-m", "screens.entry", "--frobnicate")
    assert result.returncode == 2 and "unrecognized arguments: --frobnicate" in result.stderr


def test_every_wizard_module_imports_without_textual() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import wizard, wizard.cli\n"
        "names = [m.name for m in pkgutil.walk_packages(wizard.__path__, 'wizard.')\n"
        "         if m.name != 'wizard.__main__']\n"
        "for name in names:\n    importlib.import_module(name)\n"
        "print(len(names), 'modules;', 'textual loaded:', 'textual' in sys.modules,"
        " 'screens loaded:', any(k.startswith('screens') for k in sys.modules))\n"
    )
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert "textual loaded: False" in result.stdout and "screens loaded: False" in result.stdout
    assert int(result.stdout.split()[0]) > 40


def test_console_script_and_packaging() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["coredns-wizard"] == "screens.entry:main"
    from setuptools import find_packages

    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(str(ROOT), include=include)
    assert {"screens", "screens.stages", "screens.widgets", "wizard.assets"} <= set(packages)
    assert "*.tcss" in project["tool"]["setuptools"]["package-data"]["screens"]
    assert (ROOT / "screens" / "app.tcss").is_file()


def test_demo_flags_become_fast_lab_options() -> None:
    from screens.entry import DEMO_SPEED, build_parser, lab_options

    args = build_parser().parse_args(["--demo", "--nodes", "2", "--kube-dns-replicas", "2",
                                      "--fault", "autoscaler", "--proxy-mode", "iptables"])
    options = lab_options(args)
    assert (options.nodes, options.kube_dns_replicas, options.proxy_mode) == (2, 2, "iptables")
    assert options.faults == ("autoscaler",) and options.speed == DEMO_SPEED >= 10
    assert options.dns_port == 0, "the demo picks a free DNS port instead of needing 53"
    assert lab_options(build_parser().parse_args([])) is None


def test_wizard_options_become_switch_options() -> None:
    from screens.entry import build_parser, switch_options

    args = build_parser().parse_args(["--read-only", "--ipvs-wait", "90s", "--observe", "2m",
                                      "--probe-name", "web.shop", "--order", "shrink-first"])
    options = switch_options(args, 1053)
    assert options.mode == "read-only" and options.ipvs_wait_seconds == 90 and options.observe_seconds == 120
    assert options.probe_names == ("web.shop",) and options.order == "shrink-first"
    assert options.dns_port == 1053
    assert switch_options(build_parser().parse_args(["--dry-run"]), None).mode == "dry-run"
