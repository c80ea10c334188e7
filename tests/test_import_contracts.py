"""The layers keep their boundaries: read every import (module level and inside functions) of the
engine, the lab and the UI from source with `ast`, and check who may import whom.

- `wizard.dns` imports nothing of `wizard.k8s`, `wizard.migration`, `wizard.lab` or `screens`;
- `wizard.migration` imports no UI (`textual`, `rich`, `screens`) and nothing of the lab;
- the lab imports only `wizard.errors` of the engine (it checks the wizard, it does not agree with it);
- the engine (`wizard/`) imports no `textual`, `rich` or `screens`;
- only `wizard/k8s/` imports the `kubernetes` client.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI = ("textual", "rich", "screens")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from wizard import lab` imports wizard.lab
                yield node.lineno, f"{target}.{alias.name}"


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(
    files: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (), root: Path = ROOT
) -> list[str]:
    found = []
    for path in sorted(root.glob(files)):
        for line, name in _imports(path, root):
            if _within(name, forbidden) and not _within(name, allowed):
                found.append(f"{path.relative_to(root)}:{line}: imports {name}")
    return sorted(set(found))


def test_the_parsing_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself must see a lazy import, or every contract below could pass vacuously."""
    probe = tmp_path / "wizard" / "dns" / "corefile" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    import textual.app\n    from ...k8s import gateway\n", encoding="utf-8")
    assert _violations("wizard/dns/**/*.py", ("textual",), root=tmp_path) == [
        "wizard/dns/corefile/probe.py:2: imports textual.app"
    ]
    assert "wizard/dns/corefile/probe.py:3: imports wizard.k8s" in _violations(
        "wizard/dns/**/*.py", ("wizard.k8s",), root=tmp_path
    )


def test_dns_imports_nothing_of_the_cluster_side_or_the_ui() -> None:
    forbidden = ("wizard.k8s", "wizard.migration", "wizard.lab", "wizard.commands", *UI, "kubernetes")
    assert _violations("wizard/dns/**/*.py", forbidden) == []


def test_migration_imports_no_ui_and_no_lab() -> None:
    assert _violations("wizard/migration/**/*.py", ("wizard.lab", *UI)) == []


def test_step_handlers_and_the_runner_do_not_import_the_switch() -> None:
    """switch.py dispatches to the handlers and drives the runner, never the other way round."""
    switch = ("wizard.migration.switch",)
    assert _violations("wizard/migration/switch_steps/**/*.py", switch) == []
    assert _violations("wizard/migration/step_runner.py", switch) == []


def _lab_engine_imports() -> list[str]:
    return _violations("wizard/lab/**/*.py", ("wizard",), allowed=("wizard.lab", "wizard.errors"))


def test_the_lab_imports_only_wizard_errors_of_the_engine() -> None:
    assert _lab_engine_imports() == []


def test_the_engine_imports_no_ui() -> None:
    assert _violations("wizard/**/*.py", UI) == []


def test_only_the_k8s_package_imports_the_kubernetes_client() -> None:
    found = _violations("wizard/**/*.py", ("kubernetes",)) + _violations("screens/**/*.py", ("kubernetes",))
    outside = [v for v in found if not v.startswith("wizard/k8s/")]
    assert outside == []
