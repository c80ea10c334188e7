"""Messages in English or Simplified Chinese, through gettext catalogs kept as `.po` sources.

Why a `Message` that is a `str`: the engine hands its findings, advice, step titles, stop reasons
and errors to code (and tests) that treat them as text. A Message is that text, rendered in the
language chosen at start-up, and it also keeps its stable id, its English template and its
parameters, so an edge can render it again in another language (`tr`, the TUI's language key)
and `-o json` can publish the id and parameters beside the text.

Three calls mark text for translation, and only these (the completeness test extracts them):
- `msg("stable.id", "English template with {name}", name=value)` in the engine: a Message;
- `t("English template with {name}", name=value)` at the edges (TUI, command output): a str;
- `N_("Label")` for labels fixed before the language is known (key bindings): English, marked.

Catalogs: `wizard/locale/<lang>/LC_MESSAGES/*.po` (one file per area; the msgctxt of an engine
message is its id). They are compiled with Babel into one `.mo` in the user's cache the first
time a language is used after an upgrade, then loaded with the standard library's gettext.
Names, flags, commands and cluster data are parameters, never translated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False  # typing itself costs `--help` ~2 ms to import; mypy reads this as typing's
if TYPE_CHECKING:  # gettext, hashlib, io and pathlib load with a catalog: English costs no start-up
    import gettext
    from pathlib import Path
    from typing import Any, BinaryIO

LANGUAGES = ("en", "zh")
"""Languages with a catalog; English is the source language and the fallback."""

LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")

_current = "en"
_catalogs: dict[str, gettext.NullTranslations] = {}
_english: dict[str, str] = {}


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language POSIX would pick for messages: LC_ALL, then LC_MESSAGES, then LANG (the first
    one set wins, even when it names a language without a catalog: then English)."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return _language_of(value)
    return "en"


def _language_of(locale_name: str) -> str:
    code = locale_name.split(".")[0].split("@")[0].replace("-", "_").lower()
    base = code.split("_")[0]
    return base if base in LANGUAGES else "en"


def set_language(language: str | None) -> str:
    """Use `language` (en or zh; None: from the environment) for every message made from now on."""
    global _current
    chosen = language_from_environment() if language is None else language
    if chosen not in LANGUAGES:
        from wizard.errors import InputError

        raise InputError(f"--lang {chosen}: unknown language; use one of {', '.join(LANGUAGES)}")
    _current = chosen
    return chosen


def current_language() -> str:
    return _current


class Message(str):
    """Text rendered in the language current when it was made, with its id and parameters."""

    id: str
    template: str
    params: dict[str, Any]

    def __new__(cls, id: str, template: str, params: Mapping[str, Any]) -> Message:
        text = _render(id, template, params, _current)
        self = super().__new__(cls, text)
        self.id = id
        self.template = template
        self.params = dict(params)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles are the same message (rendered in the language of their moment)."""
        return (Message, (self.id, self.template, self.params))

    def __copy__(self) -> Message:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Message:
        return self  # immutable, like the str it is

    def render(self, language: str | None = None) -> str:
        """This message in `language` (default: the current one)."""
        return _render(self.id, self.template, self.params, language or _current)

    def reference(self) -> dict[str, Any]:
        """The stable id and the parameters, as `-o json` publishes them beside the text."""
        return {"id": self.id, "params": {k: _json_value(v) for k, v in self.params.items()}}


def msg(id: str, template: str, /, **params: Any) -> Message:
    """An engine message: a stable id, the English template, and its parameters."""
    return Message(id, template, params)


def t(template: str, /, **params: Any) -> str:
    """An edge's own text (a label, a heading, a line of command output), translated now."""
    translated = _catalog(_current).gettext(template) if _current != "en" else template
    if not params and translated != template:
        _english[translated] = template
    return _format(translated, template, params, _current)


def N_(template: str, /) -> str:
    """Marks a label defined before the language is known (a key binding's description, a class
    attribute) for the catalogs, untranslated: `t()` translates it where it is shown."""
    return template


def english_source(text: str) -> str:
    """The English a label translated by `t()` came from (to translate it again after the
    language changes); any other text as it is."""
    return _english.get(text, text)


def tr(text: str, language: str | None = None) -> str:
    """Any text from the engine, in `language` (default: the current one): a Message is rendered
    again; plain text (names, cluster data) is returned as it is."""
    return text.render(language) if isinstance(text, Message) else text


def error_text(err: BaseException) -> str:
    """An exception's message, kept a Message when it is one (`str(err)` would freeze it in the
    language of the moment; a Message renders again in the language shown)."""
    first = err.args[0] if len(err.args) == 1 else None
    return first if isinstance(first, Message) and str(err) == str(first) else str(err)


def with_message_ids(document: Any) -> Any:
    """`document` for `-o json`, with every text field that is a Message (or a list of them)
    joined by a sibling `<field>_message`: its id and parameters. The text fields stay strings,
    so readers of earlier output keep working; nested objects and lists are handled too."""
    if isinstance(document, list):
        return [with_message_ids(item) for item in document]
    if not isinstance(document, dict):
        return document
    out: dict[str, Any] = {}
    for key, value in document.items():
        out[key] = with_message_ids(value)
        if isinstance(value, Message):
            out[f"{key}_message"] = value.reference()
        elif isinstance(value, (list, tuple)) and value and any(isinstance(v, Message) for v in value):
            out[f"{key}_message"] = [v.reference() if isinstance(v, Message) else None for v in value]
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, Message):
        return {"text": str(value), **value.reference()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


def _render(id: str, template: str, params: Mapping[str, Any], language: str) -> str:
    translated = _catalog(language).pgettext(id, template) if language != "en" else template
    return _format(translated, template, params, language)


def _format(translated: str, template: str, params: Mapping[str, Any], language: str) -> str:
    if not params:
        return translated
    values = {k: (v.render(language) if isinstance(v, Message) else v) for k, v in params.items()}
    try:
        return translated.format(**values)
    except (KeyError, IndexError, ValueError):
        # a catalog entry whose placeholders differ (the completeness test forbids it): English
        return template.format(**values)


def placeholders(template: str) -> set[str]:
    """The named fields of a template, as the completeness test compares them across languages."""
    import string

    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


# ---- catalogs ---------------------------------------------------------------------------------
def _catalog(language: str) -> gettext.NullTranslations:
    catalog = _catalogs.get(language)
    if catalog is None:
        catalog = _catalogs[language] = _load(language)
    return catalog


def po_files(language: str) -> list[Path]:
    from pathlib import Path

    return sorted((Path(LOCALE_DIR) / language / "LC_MESSAGES").glob("*.po"))


def _load(language: str) -> gettext.NullTranslations:
    import gettext
    import hashlib
    import io

    sources = po_files(language)
    if not sources:
        return gettext.NullTranslations()
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    compiled = _cache_dir() / f"{language}-{digest.hexdigest()[:16]}.mo"
    try:
        if not compiled.exists():
            _compile(sources, compiled)
        with compiled.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    except OSError:  # no writable cache (a read-only home): compile in memory, every start
        buffer = io.BytesIO()
        _write_mo(sources, language, buffer)
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)


def _cache_dir() -> Path:
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "coredns-wizard" / "locale"


def _compile(sources: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as handle:
        _write_mo(sources, target.name.split("-")[0], handle)
    partial.replace(target)  # atomic: a second wizard starting at once reads a whole file


def _write_mo(sources: list[Path], language: str, handle: BinaryIO) -> None:
    """Merge the area catalogs into one `.mo` (Babel reads and writes; only on first use)."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    merged = Catalog(locale=language)
    for path in sources:
        with path.open("rb") as po:
            for message in read_po(po):
                if message.id and message.string and not message.fuzzy:
                    merged.add(message.id, message.string, context=message.context)
    write_mo(handle, merged)


def language_from_argv(argv: list[str]) -> str | None:
    """The value of `--lang X` / `--lang=X` anywhere in argv (read before the parsers are built,
    so their help is in that language too); None when absent."""
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None
