"""Label and field selectors, parsed the way the API server parses `labelSelector` and
`fieldSelector` query parameters, so the wizard's filters behave the same against the lab as
against a real cluster (a kube-dns selector must not also pick up unrelated pods)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wizard.lab.api.store import ApiError, Obj

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_NOT_EXISTS = re.compile(rf"^!\s*({_KEY})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\((.*)\)$")
_COMPARE = re.compile(rf"^({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})$")
_EXISTS = re.compile(rf"^({_KEY})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")


def _bad_selector(text: str, why: str) -> ApiError:
    return ApiError(400, "BadRequest", f"unable to parse requirement: {why} in selector {text!r}")


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: key, operator (=, !=, in, notin, exists, !, gt, lt), values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator in (">", "<"):
            try:
                number = int(value or "")
            except ValueError:
                return False
            bound = int(self.values[0])
            return number > bound if self.operator == ">" else number < bound
        raise AssertionError(self.operator)


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside `in (...)` value lists."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def matches_object(self, obj: Obj) -> bool:
        return self.matches(obj.get("metadata", {}).get("labels"))

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` string; an empty or missing one selects everything.
    Raises ApiError 400 for syntax the real server would also reject."""
    if not text or not text.strip():
        return LabelSelector(())
    requirements: list[Requirement] = []
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise _bad_selector(text, "found '', expected: identifier")
        if m := _NOT_EXISTS.match(part):
            requirements.append(Requirement(m.group(1), "!"))
        elif m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(3).split(","))
            for value in values:
                if not _VALUE_ONLY.match(value):
                    raise _bad_selector(text, f"invalid label value {value!r}")
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _COMPARE.match(part):
            op = "=" if m.group(2) == "==" else m.group(2)
            if op in (">", "<") and not m.group(3).isdigit():
                raise _bad_selector(text, f"for 'Gt', 'Lt' operators, the value must be an integer: {part!r}")
            requirements.append(Requirement(m.group(1), op, (m.group(3),)))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m.group(1), "exists"))
        else:
            raise _bad_selector(text, f"invalid requirement {part!r}")
    return LabelSelector(tuple(requirements))


def selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """A metav1.LabelSelector object (matchLabels, matchExpressions) as a selector string, the
    form autoscaling/v1 Scale.status.selector and `kubectl get -l` use."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def selector_object_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a metav1.LabelSelector object selects these labels (an empty selector selects all)."""
    return parse_label_selector(selector_to_string(selector)).matches(labels)


# ---- field selectors -----------------------------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
}


def _field_value(obj: Obj, path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component", ""))
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str

    def matches(self, obj: Obj) -> bool:
        return (_field_value(obj, self.path) == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...]

    def matches(self, obj: Obj) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_field_selector(text: str | None, kind: str) -> FieldSelector:
    """Parse a `fieldSelector` for objects of `kind`; unsupported fields get the real server's
    400 "field label not supported"."""
    if not text or not text.strip():
        return FieldSelector(())
    allowed = _COMMON_FIELDS + _FIELDS_BY_KIND.get(kind, ())
    requirements: list[FieldRequirement] = []
    for raw in text.split(","):
        part = raw.strip()
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid selector: {part!r}; can't understand {part!r}")
        path, op, value = m.group(1), m.group(2), m.group(3).strip()
        if path not in allowed:
            raise ApiError(400, "BadRequest", f'field label not supported: {path}')
        requirements.append(FieldRequirement(path, op != "!=", value))
    return FieldSelector(tuple(requirements))


def object_filter(label: LabelSelector, field: FieldSelector) -> Callable[[Obj], bool] | None:
    """One predicate for both selectors, or None when nothing is filtered (the fast path)."""
    if label.empty and field.empty:
        return None
    if field.empty:
        return label.matches_object
    if label.empty:
        return field.matches
    return lambda obj: label.matches_object(obj) and field.matches(obj)
