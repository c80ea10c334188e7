"""The gateway is the only door to the API server, and the engine modules import lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

WIZARD = Path(__file__).resolve().parent.parent / "wizard"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_gateway_imports_the_kubernetes_client() -> None:
    offenders = [
        str(path.relative_to(WIZARD.parent))
        for path in WIZARD.rglob("*.py")
        if "lab" not in path.relative_to(WIZARD).parts  # the lab is the server side
        and path.name != "gateway.py"
        and any(m == "kubernetes" or m.startswith("kubernetes.") for m in _imported_modules(path))
    ]
    assert offenders == []


def test_engine_modules_import_no_heavy_library_at_load() -> None:
    code = (
        "import sys\n"
        "import wizard.k8s.connection, wizard.k8s.gateway, wizard.k8s.watch\n"
        "import wizard.migration.journal, wizard.migration.probes\n"
        "heavy = [m for m in ('kubernetes', 'dns', 'yaml', 'urllib3', 'textual') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=WIZARD.parent
    )
    assert out.stdout.strip() == ""
