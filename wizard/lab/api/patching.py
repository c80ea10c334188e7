"""The four patch flavours the API server accepts, applied to plain JSON dicts.

Clients pick the flavour by Content-Type: kubectl patch --type json|merge|strategic, kubectl apply
(strategic merge, client side) and --server-side (apply-patch+yaml). Strategic merge matters most:
patching one container's image must not drop the pod's other containers.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from wizard.lab.api.store import ApiError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


_REJECTED = "the server rejected our request due to an error in our request: "


def _bad(message: str, code: int = 422, reason: str = "Invalid") -> ApiError:
    return ApiError(code, reason, message)


# ---- RFC 6902 JSON patch -------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _bad(_REJECTED + f"invalid JSON pointer {path!r}",
                   400, "BadRequest")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve_parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _bad(_REJECTED + f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _resolve_parent(doc, parts, path)
    key = parts[-1]
    if isinstance(parent, dict) and key in parent:
        return parent[key]
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent[int(key)]
    raise _bad(_REJECTED + f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _resolve_parent(doc, parts, path)
    key = parts[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        if key == "-":
            parent.append(value)
        elif key.isdigit() and int(key) <= len(parent):
            parent.insert(int(key), value)
        else:
            raise _bad(_REJECTED + f"add operation index out of bounds: {path!r}")
    else:
        raise _bad(_REJECTED + f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _resolve_parent(doc, parts, path)
    key = parts[-1] if parts else ""
    if isinstance(parent, dict) and key in parent:
        del parent[key]
    elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        del parent[int(key)]
    else:
        raise _bad(_REJECTED + f"unable to remove nonexistent key: {path!r}")
    return doc


def apply_json_patch(doc: Any, operations: Any) -> Any:
    """Apply an RFC 6902 operation list to a private copy of `doc` and return it."""
    if not isinstance(operations, list):
        raise _bad(_REJECTED + ""
                   "a JSON patch must be a list of operations", 400, "BadRequest")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _bad(_REJECTED + f"invalid JSON patch operation {op!r}", 400, "BadRequest")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _remove(doc, path) if _pointer(path) else doc
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _bad(_REJECTED + f"testing value {path} failed")
        else:
            raise _bad(_REJECTED + f"unknown JSON patch operation {kind!r}", 400, "BadRequest")
    return doc


# ---- RFC 7386 merge patch ------------------------------------------------------------------

def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# ---- strategic merge patch -----------------------------------------------------------------

# List fields merged element by element, and the key that identifies an element. The real
# server reads these from the Go types' patchMergeKey tags; these are the ones the wizard's
# objects use.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "taints": "key",
}
# Lists of scalars merged as sets.
PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        # container ports merge by containerPort, Service ports by port
        keyed = [i for i in items if isinstance(i, dict)]
        if any("containerPort" in i for i in keyed):
            return "containerPort"
        return "port"
    return MERGE_KEYS.get(field)


def _strategic_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    if field in PRIMITIVE_MERGE_LISTS and isinstance(original, list):
        merged = list(original)
        for item in patch:
            if item not in merged:
                merged.append(copy.deepcopy(item))
        return merged
    items = original if isinstance(original, list) else []
    key = _merge_key(field, [*items, *patch])
    if key is None or not all(isinstance(i, dict) for i in patch):
        # atomic list: replaced (after stripping directives such as {"$patch": "replace"})
        return [copy.deepcopy(i) for i in patch
                if not (isinstance(i, dict) and "$patch" in i and len(i) == 1)]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(copy.deepcopy(i)) for i in patch
                if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    merged = [copy.deepcopy(i) for i in items]
    for item in patch:
        ident = item.get(key)
        position = next(
            (n for n, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == ident), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del merged[position]
            continue
        if position is None:
            merged.append(_strip_directives(copy.deepcopy(item)))
        else:
            merged[position] = apply_strategic_merge_patch(merged[position], item)
    return merged


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def apply_strategic_merge_patch(doc: Any, patch: Any) -> Any:
    """Kubernetes strategic merge: like merge patch, but lists with a merge key merge by it,
    and `$patch: replace|delete` and `$deleteFromPrimitiveList/` directives are honoured
    (`$setElementOrder/` and `$retainKeys` are accepted and ignored)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(copy.deepcopy(patch))
    if patch.get("$patch") == "delete":
        return {}
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(key, result.get(key), value)
        elif isinstance(value, dict):
            result[key] = apply_strategic_merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


def apply_patch(content_type: str, doc: Any, patch: Any) -> Any:
    """Dispatch on the patch Content-Type (server-side apply is handled by the caller)."""
    if content_type == JSON_PATCH:
        return apply_json_patch(doc, patch)
    if not isinstance(patch, dict):
        raise _bad(_REJECTED + ""
                   "a merge patch must be a JSON object", 400, "BadRequest")
    if content_type == MERGE_PATCH:
        return apply_merge_patch(doc, patch)
    if content_type in (STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        return apply_strategic_merge_patch(doc, patch)
    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                   f"accepted media types include: {', '.join(PATCH_TYPES)}")


# ---- server-side apply field sets ----------------------------------------------------------
#
# Server-side apply remembers, per field manager, which fields its last applied configuration
# set (managedFields[].fieldsV1), so that fields dropped from the next apply are removed. These
# helpers build that set in the real server's notation ("f:name", keyed list items as
# 'k:{"name":"coredns"}', set items as 'v:"x"') and remove what a manager stopped applying.


def _item_key(field: str, item: Any, items: list[Any]) -> str | None:
    if field in PRIMITIVE_MERGE_LISTS and not isinstance(item, (dict, list)):
        return "v:" + json.dumps(item, separators=(",", ":"))
    key = _merge_key(field, items)
    if key is None or not isinstance(item, dict) or key not in item:
        return None
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def field_set(value: Any, field: str = "") -> dict[str, Any]:
    """The fields an applied configuration sets, as a fieldsV1 tree."""
    if isinstance(value, dict):
        return {f"f:{k}": field_set(v, k) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        keyed: dict[str, Any] = {}
        for item in value:
            key = _item_key(field, item, value)
            if key is None:
                return {}  # an atomic list: owned as a whole
            keyed[key] = {".": {}, **field_set(item)} if isinstance(item, dict) else {}
        return keyed
    return {}


def remove_dropped_fields(live: Any, before: dict[str, Any], after: dict[str, Any], field: str = "") -> Any:
    """A copy of `live` without the fields in `before` (the manager's last apply) that are not
    in `after` (its new apply)."""
    if isinstance(live, dict):
        result = dict(live)
        for name, sub_before in before.items():
            if not name.startswith("f:"):
                continue
            key = name[2:]
            if key not in result:
                continue
            if name not in after:
                del result[key]
            elif sub_before and after[name]:
                result[key] = remove_dropped_fields(result[key], sub_before, after[name], key)
        return result
    if isinstance(live, list):
        kept: list[Any] = []
        for item in live:
            item_key = _item_key(field, item, live)
            if item_key is not None and item_key in before and item_key not in after:
                continue
            if item_key is not None and item_key in before and isinstance(item, dict):
                item = remove_dropped_fields(item, before[item_key], after[item_key], field)
            kept.append(item)
        return kept
    return live
