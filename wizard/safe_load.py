"""Read files and decode YAML/JSON from operators and clusters with hard limits: the one home for it.

Every file or cluster object the wizard parses goes through here, so a hostile or broken input
costs bounded time and memory and ends in one InputError line, never a traceback or a hang:
- files: regular files only (no devices or FIFOs: `/dev/zero` would never end, a FIFO blocks),
  at most `max_bytes`, UTF-8 (a byte-order mark is dropped);
- YAML: libyaml's event parser (fast, lazy) feeding an iterative builder that refuses nesting
  deeper than `MAX_DEPTH`, alias expansion past `MAX_NODES` (the "billion laughs" bomb), self-
  referencing aliases and non-scalar mapping keys; values are JSON-like (a `!!timestamp` stays
  the text it was, as Kubernetes' YAML-to-JSON reading keeps it a string);
- JSON: the same depth limit and integers of at most `MAX_INT_DIGITS` digits.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from wizard.errors import InputError
from wizard.i18n import msg
from wizard.textsafety import short_quote

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A kubeconfig or `kubectl get -o yaml` output larger than this is not what the wizard expects."""
MAX_DEPTH = 64
"""Kubernetes objects nest about 15 levels; 64 leaves room and keeps every consumer's recursion safe."""
MAX_NODES = 200_000
"""Values in one document once aliases are expanded: enough for any real object, far below a bomb."""
MAX_INT_DIGITS = 100
"""A Kubernetes integer fits in 64 bits (20 digits); Python refuses over 4,300 with a ValueError."""

_YAML_INT = "tag:yaml.org,2002:int"
_YAML_MERGE = "tag:yaml.org,2002:merge"
_YAML_STR = "tag:yaml.org,2002:str"
_YAML_MAP = "tag:yaml.org,2002:map"
_YAML_SEQ = "tag:yaml.org,2002:seq"
_TEXT_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", _YAML_STR)
_SCALAR_TAGS = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", _YAML_INT, "tag:yaml.org,2002:float")


def read_text(path: str | Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of the regular file at `path` (named `what` in errors), refusing devices, FIFOs,
    sockets, files over `max_bytes` and bytes that are not UTF-8."""
    return decode_text(read_bytes(path, what, max_bytes), str(path), what)


def read_bytes(path: str | Path, what: str, max_bytes: int, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file at `path`, refusing devices, FIFOs, sockets, files over
    `max_bytes` and, unless `follow_symlinks`, a symbolic link."""
    shown = str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; fstat then tells what it is
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(msg("cli.file-not-found", "{path}: file not found; give the path of the {what}",
                             path=shown, what=what)) from None
    except IsADirectoryError:
        raise _is_a_directory(shown, what) from None
    except PermissionError:
        raise InputError(msg("cli.file-permission-denied",
                             "{path}: permission denied; make the {what} readable",
                             path=shown, what=what)) from None
    except OSError as err:
        if err.errno == errno.ELOOP and not follow_symlinks:
            raise InputError(msg(
                "cli.file-is-symlink",
                "{path}: is a symbolic link; the wizard does not follow links for its {what}",
                path=shown, what=what,
            )) from None
        raise InputError(msg("cli.file-cannot-open", "{path}: cannot open the {what} ({error})",
                             path=shown, what=what, error=err.strerror or _error_word())) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _is_a_directory(shown, what)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(msg(
                "cli.file-not-regular",
                "{path}: is not a regular file (a device, FIFO or socket); give the {what} file",
                path=shown, what=what,
            ))
        if info.st_size > max_bytes:
            raise InputError(msg(
                "cli.file-too-large", "{path}: is {size} bytes, more than the {max_bytes} a {what} may have",
                path=shown, size=info.st_size, max_bytes=max_bytes, what=what,
            ))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise InputError(msg("cli.file-cannot-read", "{path}: cannot read the {what} ({error})",
                             path=shown, what=what, error=err.strerror or _error_word())) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:
        raise InputError(msg("cli.file-grew-too-large",
                             "{path}: is more than the {max_bytes} bytes a {what} may have",
                             path=shown, max_bytes=max_bytes, what=what))
    return data


def _is_a_directory(shown: str, what: str) -> InputError:
    return InputError(msg("cli.file-is-directory",
                          "{path}: is a directory; give the path of the {what} inside it",
                          path=shown, what=what))


def _error_word() -> str:
    """What an OSError without a description is called."""
    return msg("cli.os-error", "error")


def decode_text(data: bytes, source: str, what: str) -> str:
    """UTF-8 bytes as text without a byte-order mark; anything else is one clear error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        problem = msg("cli.utf8-problem",
                      "{reason} at byte {position}", reason=err.reason, position=err.start)
        raise InputError(msg("cli.not-utf8", "{source}: the {what} is not UTF-8 text ({problem})",
                             source=source, what=what, problem=problem)) from None
    return text[1:] if text.startswith("\ufeff") else text


def check_size(text: str, source: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse text larger than a file of this kind may be (for text that did not come from a file)."""
    if len(text) > max_bytes:
        raise InputError(msg("cli.text-too-long",
                             "{source}: the {what} has {length} characters, more than {max_bytes}",
                             source=source, what=what, length=len(text), max_bytes=max_bytes))


# ---------------------------------------------------------------- YAML


def load_yaml_documents(text: str, source: str, max_bytes: int = MAX_FILE_BYTES) -> list[Any]:
    """Every document of a YAML stream, as plain JSON-like values (empty documents are None)."""
    import yaml

    check_size(text, source, "YAML", max_bytes)
    builder = _YamlBuilder(source)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = short_quote(str(getattr(err, "problem", None) or msg("cli.invalid-yaml", "invalid YAML")),
                              80, quote=False)
        if mark is not None:
            raise InputError(msg(
                "cli.yaml-invalid-at", "{source}: not valid YAML at line {line}, column {column}: {problem}",
                source=source, line=mark.line + 1, column=mark.column + 1, problem=problem,
            )) from None
        raise InputError(msg("cli.yaml-invalid", "{source}: not valid YAML: {problem}",
                             source=source, problem=problem)) from None
    return builder.documents


def load_yaml(text: str, source: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The one document of a YAML text (None when empty); several documents are an error."""
    docs = load_yaml_documents(text, source, max_bytes)
    if len(docs) > 1:
        raise InputError(msg("cli.yaml-several-documents",
                             "{source}: holds {count} YAML documents; expected one",
                             source=source, count=len(docs)))
    return docs[0] if docs else None


class _YamlBuilder:
    """Builds values from parser events without recursion, counting depth and expanded size."""

    def __init__(self, source: str) -> None:
        import yaml
        from yaml.constructor import SafeConstructor
        from yaml.resolver import Resolver

        self.source = source
        self.documents: list[Any] = []
        self._resolver = Resolver()
        self._constructor = SafeConstructor()
        self._node_type = yaml.ScalarNode
        # each open collection: [value, anchor, size, pending mapping key, has key]
        self._stack: list[list[Any]] = []
        self._anchors: dict[str, tuple[Any, int]] = {}
        self._open_anchors: set[str] = set()
        self._size = 0
        self._root: Any = None

    def feed(self, event: Any) -> None:
        import yaml

        value: Any
        if isinstance(event, yaml.DocumentStartEvent):
            self._anchors, self._open_anchors, self._size = {}, set(), 0
            self._root = None
        elif isinstance(event, yaml.DocumentEndEvent):
            self.documents.append(self._root)
        elif isinstance(event, yaml.ScalarEvent):
            self._add(self._scalar(event), event.anchor, 1, event)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise self._error(event, msg(
                    "cli.yaml-alias-recursive", "alias *{anchor} refers to the collection that contains it",
                    anchor=short_quote(event.anchor, 40, quote=False),
                ))
            if event.anchor not in self._anchors:
                raise self._error(event, msg("cli.yaml-alias-no-anchor", "alias *{anchor} has no anchor",
                                             anchor=short_quote(event.anchor, 40, quote=False)))
            value, size = self._anchors[event.anchor]
            self._add(value, None, size, event, alias=True)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(self._stack) >= MAX_DEPTH:
                raise self._error(event, msg("cli.yaml-too-deep", "nested more than {depth} levels deep",
                                             depth=MAX_DEPTH))
            tag = event.tag
            expected = _YAML_SEQ if isinstance(event, yaml.SequenceStartEvent) else _YAML_MAP
            if tag not in (None, "!", expected):
                raise self._error(event, _unsupported_tag(tag))
            value = [] if isinstance(event, yaml.SequenceStartEvent) else {}
            if event.anchor is not None:
                self._open_anchors.add(event.anchor)
            self._stack.append([value, event.anchor, 1, None, False])
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            value, anchor, size, _key, _has_key = self._stack.pop()
            if anchor is not None:
                self._open_anchors.discard(anchor)
            self._add(value, anchor, size, event)

    def _scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolver.resolve(  # type: ignore[no-untyped-call]
                self._node_type, event.value, event.implicit
            )
        if tag in _TEXT_TAGS:
            return event.value
        if tag == _YAML_MERGE:
            return _MERGE
        if tag not in _SCALAR_TAGS:
            raise self._error(event, _unsupported_tag(tag))
        if tag == _YAML_INT and sum(ch.isdigit() for ch in event.value) > MAX_INT_DIGITS:
            raise self._error(event, msg("cli.yaml-integer-too-long",
                                         "integer {value} has more than {digits} digits",
                                         value=short_quote(event.value), digits=MAX_INT_DIGITS))
        node = self._node_type(tag, event.value)
        try:
            return self._constructor.construct_object(node)
        except (ValueError, TypeError, AttributeError):
            raise self._error(event, msg("cli.yaml-invalid-scalar", "{value} is not a valid {type}",
                                         value=short_quote(event.value),
                                         type=tag.rsplit(":", 1)[-1])) from None

    def _add(self, value: Any, anchor: str | None, size: int, event: Any, alias: bool = False) -> None:
        self._size += size
        if self._size > MAX_NODES:
            raise self._error(event, msg("cli.yaml-too-many-values",
                                         "expands to more than {limit} values (aliases repeat too much)",
                                         limit=MAX_NODES))
        if anchor is not None:
            self._anchors[anchor] = (value, size)
        if value is _MERGE and not (self._stack and isinstance(self._stack[-1][0], dict)
                                    and not self._stack[-1][4]):
            value = "<<"  # only a mapping key merges
        if not self._stack:
            self._root = value
            return
        frame = self._stack[-1]
        frame[2] += size
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
        elif not frame[4]:
            if isinstance(value, dict | list):
                raise self._error(event, msg("cli.yaml-collection-key",
                                             "a mapping key is a collection; keys must be plain values"))
            frame[3], frame[4] = value, True
        else:
            key = frame[3]
            frame[3], frame[4] = None, False
            if key is _MERGE:
                self._merge(container, value, event)
            else:
                container[key] = value

    def _merge(self, target: dict[Any, Any], value: Any, event: Any) -> None:
        """`<<: *base` (or a list of them): keys not already set come from the merged mappings."""
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise self._error(event, msg("cli.yaml-bad-merge",
                                             "'<<' must merge a mapping or a list of mappings"))
            for key, item in source.items():
                target.setdefault(key, item)

    def _error(self, event: Any, message: str) -> InputError:
        mark = getattr(event, "start_mark", None)
        if mark is not None:
            return InputError(msg("cli.yaml-error-at", "{source}: YAML at line {line}: {message}",
                                  source=self.source, line=mark.line + 1, message=message))
        return InputError(msg("cli.yaml-error",
                              "{source}: YAML: {message}", source=self.source, message=message))


def _unsupported_tag(tag: str) -> str:
    return msg("cli.yaml-unsupported-tag", "tag {tag} is not supported; remove it", tag=short_quote(tag, 40))


class _MergeKey:
    """The `<<` merge key, kept apart from any string key until its value arrives."""

    def __hash__(self) -> int:
        return 0


_MERGE = _MergeKey()


# ---------------------------------------------------------------- JSON


def load_json(
    text: str | bytes, source: str, max_bytes: int | None = MAX_FILE_BYTES, check_depth: bool = True
) -> Any:
    """A JSON value with bounded size, nesting and integer length; errors name `source` only.

    API responses pass `max_bytes=None` (a list of every pod is legitimately large) and
    `check_depth=False` (walking it would cost; a nesting deep enough to matter still ends in the
    parser's RecursionError, reported as too deep)."""
    if max_bytes is not None and len(text) > max_bytes:
        raise InputError(msg("cli.json-too-large", "{source}: JSON of {size} bytes is more than {max_bytes}",
                             source=source, size=len(text), max_bytes=max_bytes))
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise _json_too_deep(source) from None
    except json.JSONDecodeError as err:
        detail = msg("cli.json-error-at", "{error} at line {line}, column {column}",
                     error=err.msg, line=err.lineno, column=err.colno)
        raise _json_invalid(source, detail) from None
    except _IntegerTooLong:
        raise _json_invalid(source, msg("cli.json-integer-too-long",
                                        "an integer has more than {digits} digits",
                                        digits=MAX_INT_DIGITS)) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise _json_invalid(source, short_quote(str(err), 80, quote=False)) from None
    if check_depth and nesting_depth(value) > MAX_DEPTH:
        raise _json_too_deep(source)
    return value


def _json_invalid(source: str, detail: str) -> InputError:
    """`detail` (a parameter of the Message, for callers that quote it in their own words)."""
    return InputError(msg("cli.json-invalid",
                          "{source}: not valid JSON ({detail})", source=source, detail=detail))


def _json_too_deep(source: str) -> InputError:
    return InputError(msg("cli.json-too-deep", "{source}: JSON nested more than {depth} levels deep",
                          source=source, depth=MAX_DEPTH))


class _IntegerTooLong(ValueError):
    """An integer literal longer than MAX_INT_DIGITS (reported in the current language)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _IntegerTooLong(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts nest in `value` (a scalar is 0), counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth) for child in children)
    return deepest
