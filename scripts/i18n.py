"""Keep the translation catalogs (wizard/locale/<lang>/LC_MESSAGES/<area>.po) in step with the code.

    python3 scripts/i18n.py update AREA FILE...   add the messages marked in FILEs to AREA.po
    python3 scripts/i18n.py check                 what tests/test_i18n_catalogs.py fails on

Messages are marked with `msg("id", "template", ...)` (engine; the id is the msgctxt),
`t("template", ...)` (edges) and `N_("label")` (key bindings); see wizard/i18n.py. Babel
extracts them; an entry keeps its translation when the code moves, and `update` never drops one
(`check` reports stale ones).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "wizard" / "locale"
SOURCE_DIRS = ("wizard", "screens")
KEYWORDS = {"msg": ((1, "c"), 2), "t": (1,), "N_": (1,)}
TRANSLATED = ("zh",)


@dataclass(frozen=True)
class Marked:
    context: str | None
    msgid: str
    where: str


def source_files() -> list[Path]:
    """Every module that may show text to an operator (the lab's own logs are not the wizard's)."""
    files: list[Path] = []
    for top in SOURCE_DIRS:
        files += [p for p in sorted((ROOT / top).rglob("*.py"))
                  if "lab" not in p.relative_to(ROOT).parts[1:2]]
    return files


def extract(files: Iterable[Path]) -> list[Marked]:
    from babel.messages.extract import extract_from_file

    found: list[Marked] = []
    for path in files:
        for line, msgid, _comments, context in extract_from_file("python", str(path), keywords=KEYWORDS):
            if isinstance(msgid, str) and msgid:
                found.append(Marked(context, msgid, f"{path.relative_to(ROOT)}:{line}"))
    return found


def literal_calls(path: Path) -> int:
    """How many msg/t/N_ calls in `path` have a literal template, by Python's own parser: Babel's
    tokenizer can miss some (after a name `t` used as a variable), and a missed text would fall
    back to English unnoticed."""
    import ast

    count = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
            index = 1 if node.func.id == "msg" else 0
            if len(node.args) > index and isinstance(node.args[index], ast.Constant) \
                    and isinstance(node.args[index].value, str):
                count += 1
    return count


def po_path(language: str, area: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{area}.po"


def read_catalog(path: Path):  # type: ignore[no-untyped-def]
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    if not path.exists():
        return Catalog(
            locale=path.parent.parent.name, project="coredns-wizard", version="", fuzzy=False,
            header_comment=f"# {path.parent.parent.name} messages of coredns-wizard, area {path.stem!r}.\n"
            "# Object names, flags, commands and cluster data stay as they are (they are parameters).",
            copyright_holder="the coredns-wizard authors", language_team="coredns-wizard",
            last_translator="coredns-wizard", msgid_bugs_address="",
        )
    with path.open("rb") as handle:
        return read_po(handle)


def write_catalog(catalog, path: Path) -> None:  # type: ignore[no-untyped-def]
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, include_previous=False)


def update(area: str, files: list[Path]) -> int:
    """Add what FILEs mark to AREA.po of every translated language (empty translations to fill)."""
    marked = extract(files)
    for language in TRANSLATED:
        path = po_path(language, area)
        catalog = read_catalog(path)
        added = 0
        for item in marked:
            if catalog.get(item.msgid, context=item.context) is None:
                where = item.where.rsplit(":", 1)[0]
                catalog.add(item.msgid, "", context=item.context, locations=[(where, 0)])
                added += 1
        write_catalog(catalog, path)
        print(f"{path.relative_to(ROOT)}: {added} new, {len(catalog)} in all")
    return 0


def problems() -> list[str]:
    """Why the catalogs do not cover the code: missing entries, empty or fuzzy translations,
    placeholders that differ, stale entries, one id used with two templates."""
    from wizard.i18n import placeholders

    files = source_files()
    marked = extract(files)
    found: list[str] = []
    per_file: dict[str, int] = {}
    for item in marked:
        name = item.where.rsplit(":", 1)[0]
        per_file[name] = per_file.get(name, 0) + 1
    for path in files:
        name = str(path.relative_to(ROOT))
        missed = literal_calls(path) - per_file.get(name, 0)
        if missed > 0:
            found.append(f"{name}: {missed} marked text(s) Babel does not extract "
                         "(a name `t` or `msg` used as a variable before them?)")
    templates: dict[str, str] = {}
    for item in marked:
        if item.context is not None and templates.setdefault(item.context, item.msgid) != item.msgid:
            found.append(f"{item.where}: id {item.context!r} is used with two different templates")
    wanted = {(m.context, m.msgid): m for m in marked}
    for language in TRANSLATED:
        entries: dict[tuple[str | None, str], tuple[str, str]] = {}
        for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
            for message in read_catalog(path):
                if message.id:
                    key = (message.context, str(message.id))
                    text = str(message.string or "")
                    if key in entries and entries[key][0] != text and entries[key][0] and text:
                        found.append(f"{path.name}: {message.id!r} is translated differently in "
                                     f"{entries[key][1]} ({entries[key][0]!r} vs {text!r}): one wins")
                    entries[key] = (text, path.name)
                    if message.fuzzy:
                        found.append(f"{path.name}: {message.id!r} is marked fuzzy")
        for key, item in wanted.items():
            entry = entries.get(key)
            if entry is None:
                found.append(f"{item.where}: {item.msgid!r} is not in the {language} catalogs")
            elif not entry[0].strip():
                found.append(f"{entry[1]}: {item.msgid!r} has no {language} translation")
            elif placeholders(entry[0]) != placeholders(item.msgid):
                theirs, ours = sorted(placeholders(entry[0])), sorted(placeholders(item.msgid))
                found.append(f"{entry[1]}: {item.msgid!r}: {language} placeholders {theirs} != {ours}")
        for key, (_, po) in entries.items():
            if key not in wanted:
                found.append(f"{po}: {key[1]!r} is no longer in the code (remove it)")
    return found


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    if argv[:1] == ["update"] and len(argv) >= 3:
        return update(argv[1], [Path(f).resolve() for f in argv[2:]])
    if argv == ["check"]:
        found = problems()
        print("\n".join(found) or "catalogs complete")
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
