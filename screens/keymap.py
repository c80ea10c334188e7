"""The operator's keymap file: binding id → key(s), read and checked before the wizard starts.

Why checked up front: Textual applies a keymap silently (an unknown id is ignored, a clash is only
reported to a hook, on every key press). On a production switch a key that quietly does nothing,
or does something else than the help says, is worse than not starting: so every problem is one
InputError line naming the file, the id or key, and what to do, before the App runs.

The file (TOML):

    [keys]
    app.advance = "space"          # or "n,space" for several keys
    "switch.pause" = "ctrl+p"      # quoted ids work too

Textual applies the keymap to every binding in the chain (App, screen, focused widget), so stage
and dialog keys are remapped as well as the App's.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.errors import InputError
from wizard.i18n import N_, t
from wizard.safe_load import read_text

KEYMAP_MAX_BYTES = 64 * 1024
"""A keymap names a few dozen bindings; anything larger is not one."""

if TYPE_CHECKING:
    from textual.binding import BindingsMap

KEYMAP_FILE_NAME = "keymap.toml"
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
FOCUS_DEFAULT_KEYS = frozenset({"enter", "ctrl+m", "space"})
"""Keys a focused button answers (Cancel has the focus in every confirmation)."""
APP_CLASS = "screens.app:LiveWizardApp"
"""The live App binds every App key (the read-only one binds a subset)."""
DIALOGS: tuple[tuple[str, str], ...] = (
    (N_("the confirmation dialog"), "screens.widgets.confirm:ConfirmationModal"),
    (N_("the help screen"), "screens.widgets.help:HelpScreen"),
    (N_("the pod logs screen"), "screens.widgets.logs:PodLogsScreen"),
    (N_("the resume offer"), "screens.resume:ResumeScreen"),
    (N_("the quit dialog"), "screens.widgets.quit:QuitScreen"),
)
"""Modal screens: their keys are checked on their own (the App's keys do not reach them). The
names are English, marked with N_; `binding_scopes` translates them."""


@dataclass(frozen=True)
class BindingScope:
    """Keys that are live at the same time: a stage screen plus the App, or one dialog."""

    name: str
    classes: tuple[str, ...]
    """module:Class paths; the earlier ones win a key (screen before App)."""


def binding_scopes() -> tuple[BindingScope, ...]:
    """Every place keys are bound, from the App's stage list, so a new stage is covered."""
    from screens.app import STAGES

    scopes = [BindingScope(t("every stage"), (APP_CLASS,))]
    for stage in STAGES:
        classes = (stage.live_screen, stage.screen)
        for path in dict.fromkeys(f"{c.__module__}:{c.__qualname__}" for c in classes if c is not None):
            scopes.append(BindingScope(t("the {stage} stage", stage=t(stage.title)), (path, APP_CLASS)))
    scopes.extend(BindingScope(t(name), (path,)) for name, path in DIALOGS)
    return tuple(scopes)


def _bindings_of(path: str) -> BindingsMap:
    module_name, _, class_name = path.partition(":")
    node_class: Any = getattr(importlib.import_module(module_name), class_name)
    merged: BindingsMap = node_class._merge_bindings()
    return merged


def known_binding_ids(scopes: tuple[BindingScope, ...] | None = None) -> frozenset[str]:
    ids: set[str] = set()
    for scope in scopes or binding_scopes():
        for path in scope.classes:
            ids.update(b.id for _, b in _bindings_of(path) if b.id is not None)
    return frozenset(ids)


def default_keymap_path() -> Path:
    """$XDG_CONFIG_HOME/coredns-wizard/keymap.toml, else ~/.config/coredns-wizard/keymap.toml."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "coredns-wizard" / KEYMAP_FILE_NAME


def load_keymap(explicit: str | None) -> tuple[dict[str, str], Path | None]:
    """The checked keymap (binding id → normalised comma-separated keys) and the file it came
    from: `--keymap FILE` if given (it must exist), else the default file when it exists."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise InputError(t("--keymap {file}: no such file; pass a TOML file or drop --keymap",
                               file=explicit))
    else:
        path = default_keymap_path()
        if not path.is_file():
            return {}, None
    import tomllib  # only with a keymap file: the wizard starts without it

    try:
        document = tomllib.loads(read_text(path, "keymap", max_bytes=KEYMAP_MAX_BYTES))
    except tomllib.TOMLDecodeError as err:
        raise InputError(t("{path}: not valid TOML ({error}); fix the file or pass another --keymap",
                           path=path, error=err)) from None
    except RecursionError:
        raise InputError(t("{path}: not valid TOML (nested too deeply); fix the file", path=path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(t("{path}: cannot read the keymap ({error}); fix its permissions or encoding",
                           path=path, error=err)) from None
    keymap = parse_keymap(document, path)
    check_keymap(keymap, path)
    return keymap, path


def parse_keymap(document: Mapping[str, Any], path: Path) -> dict[str, str]:
    """[keys] → {binding id: normalised keys}; dotted TOML keys (app.advance = ...) are nested
    tables, so they are joined back into ids."""
    extra = [name for name in document if name != "keys"]
    if extra:
        raise InputError(t("{path}: {name} is outside the [keys] table; put binding ids under [keys]",
                           path=path, name=repr(extra[0])))
    table = document.get("keys")
    if not isinstance(table, dict):
        raise InputError(t("{path}: no [keys] table; add one, e.g. [keys] then app.advance = \"space\"",
                           path=path))
    keymap: dict[str, str] = {}
    for binding_id, value in _flatten(table, ""):
        keymap[binding_id] = _normalise_keys(value, path, binding_id)
    return keymap


def _flatten(table: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for name, value in table.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _flatten(value, full + ".")
        else:
            yield full, value


def _normalise_keys(value: Any, path: Path, binding_id: str) -> str:
    """A string "a,b" or a list of strings → Textual's long key names ("?" → question_mark)."""
    from textual.keys import _normalize_key_list

    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise InputError(t("{path}: [keys] {id} = {value}: give the key(s) as a string, "
                           "e.g. \"space\" or \"n,space\"", path=path, id=binding_id, value=repr(value)))
    parts = [p.strip() for p in value.split(",")]
    if not value.strip() or any(not p for p in parts):
        raise InputError(t("{path}: [keys] {id} = {value}: empty key; give key names "
                           "separated by commas, e.g. \"n,space\"",
                           path=path, id=binding_id, value=repr(value)))
    keys = _normalize_key_list(",".join(parts)).split(",")
    for key in keys:
        if not is_key_name(key):
            raise InputError(t("{path}: [keys] {id} = {value}: {key} is not a key Textual knows; "
                               "use a character or a name like space, enter, f5, ctrl+p, question_mark",
                               path=path, id=binding_id, value=repr(value), key=repr(key)))
    return ",".join(dict.fromkeys(keys))


def is_key_name(key: str) -> bool:
    """A key Textual can deliver: optional modifiers, then a character or a key name."""
    from textual.keys import Keys, format_key

    *modifiers, base = key.split("+")
    if not base or any(m not in MODIFIERS for m in modifiers):
        return False
    names = {k.value.rsplit("+", 1)[-1] for k in Keys if not k.value.startswith("<")}
    return len(base) == 1 or base in names or format_key(base) != base


def check_keymap(
    keymap: Mapping[str, str], path: Path, scopes: tuple[BindingScope, ...] | None = None
) -> None:
    """Unknown ids, a key bound twice where both are live, and `y` moved onto a key that the
    focused Cancel button answers: one InputError each."""
    scopes = scopes or binding_scopes()
    known = known_binding_ids(scopes)
    for binding_id in keymap:
        if binding_id not in known:
            import difflib

            close = difflib.get_close_matches(binding_id, sorted(known), n=1)
            hint = t("did you mean {id}?", id=close[0]) if close else t("the ? help screen lists every id")
            raise InputError(t("{path}: [keys] {id}: no binding has this id; {hint}",
                               path=path, id=binding_id, hint=hint))
    focus_keys = FOCUS_DEFAULT_KEYS & set(keymap.get("confirm.yes", "").split(","))
    if focus_keys:
        key = sorted(focus_keys)[0]
        raise InputError(t("{path}: [keys] confirm.yes = {value}: {key} presses the focused "
                           "Cancel button in a confirmation, so it cannot mean yes; pick another key",
                           path=path, value=repr(keymap["confirm.yes"]), key=key))
    for scope in scopes:
        _check_scope(keymap, path, scope)


def _key_owners(scope: BindingScope, keymap: Mapping[str, str]) -> dict[str, list[str]]:
    """key → the binding ids (or actions) it reaches in this scope once the keymap moved the
    remapped bindings. Computed here rather than with Textual's apply_keymap, which silently
    drops the other binding of a clashing key."""
    owners: dict[str, list[str]] = {}
    for class_path in scope.classes:
        for key, key_bindings in _bindings_of(class_path).key_to_bindings.items():
            for binding in key_bindings:
                name = binding.id or binding.action
                remapped = keymap.get(binding.id) if binding.id is not None else None
                for new_key in remapped.split(",") if remapped else [key]:
                    if name not in owners.setdefault(new_key, []):
                        owners[new_key].append(name)
    return owners


def _check_scope(keymap: Mapping[str, str], path: Path, scope: BindingScope) -> None:
    from textual.keys import format_key

    shared_by_default = [set(names) for names in _key_owners(scope, {}).values() if len(names) > 1]
    after = _key_owners(scope, keymap)
    for key, names in after.items():
        if len(names) < 2 or any(set(names) <= shared for shared in shared_by_default):
            continue  # one owner, or a pair the wizard shares on purpose (switch.continue and app.advance)
        mine = [n for n in names if n in keymap] or names
        others = [n for n in names if n != mine[0]]
        raise InputError(t("{path}: [keys] {id}: key {key} is also {others} on {scope}; pick a key that is "
                           "free there", path=path, id=mine[0], key=format_key(key), others=", ".join(others),
                           scope=scope.name))
