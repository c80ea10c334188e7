"""The lab checks the wizard, it does not agree with it: nothing in wizard/lab imports the engine.

Every module of wizard/lab is parsed and every import in it (top level, inside functions, relative
ones resolved, `importlib.import_module("...")` and `__import__("...")` with a literal name) must
stay inside `wizard.lab`, name `wizard.errors`, or leave the project altogether.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parent.parent / "wizard" / "lab"
ALLOWED = ("wizard.lab", "wizard.errors")


def _module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    return _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, wherever it is; `package` is
    the file's package (for relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = getattr(func, "attr", None) or getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((node.lineno, first.value))
    return found


def forbidden(module: str) -> bool:
    if module != "wizard" and not module.startswith("wizard."):
        return False
    return not any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED)


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: each form of engine import is caught (a test that cannot fail is a defect)."""
    sample = tmp_path / "probe.py"
    source = (
        "import wizard.dns.checker\n"
        "from wizard.migration import switch\n"
        "def f():\n    from ...dns import corefile\n    return corefile\n"
        "import importlib\nimportlib.import_module('wizard.k8s.gateway')\n"
        "from wizard import options\n"
    )
    sample.write_text(source, encoding="utf-8")
    bad = sorted({m for _, m in imported_modules(sample, "wizard.lab.dns") if forbidden(m)})
    assert "wizard.dns.checker" in bad and "wizard.migration" in bad and "wizard.dns" in bad
    assert "wizard.k8s.gateway" in bad and "wizard.options" in bad


@pytest.mark.parametrize("path", sorted(LAB.rglob("*.py")), ids=lambda p: str(p.relative_to(LAB)))
def test_lab_module_imports_no_engine_code(path: Path) -> None:
    bad = [f"{path.relative_to(LAB.parent.parent)}:{line}: {module}"
           for line, module in imported_modules(path, _package(path)) if forbidden(module)]
    assert not bad, "the lab must not import the engine (only wizard.errors): " + "; ".join(bad)
