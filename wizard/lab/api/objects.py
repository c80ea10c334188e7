"""Small, pure helpers over Kubernetes objects (plain dicts) that every lab controller needs.

Kept in one place so label-selector semantics, ownership and pod readiness are decided the same
way by the ReplicaSet controller, the scheduler, the endpoints controller and the GC; a
difference between them is exactly the kind of bug that makes a simulated cluster lie.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from wizard.lab.api.store import Obj

# The alphabet Kubernetes uses for generated name suffixes and pod-template-hash values: no
# vowels (no accidental words) and no look-alike characters.
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# ---- time ------------------------------------------------------------------------------------
def rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float | None:
    """Seconds since the epoch, or None for a missing or unparsable timestamp."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


# ---- names -----------------------------------------------------------------------------------
def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(SAFE_ALPHANUMS) for _ in range(length))


def safe_encode(text: str) -> str:
    """Map each byte to the safe alphabet, as Kubernetes' rand.SafeEncodeString does."""
    return "".join(SAFE_ALPHANUMS[b % len(SAFE_ALPHANUMS)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A pod-template-hash in the real controller's shape (safe-encoded decimal FNV-32a)."""
    import json

    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def crc_of(text: str) -> int:
    return zlib.crc32(text.encode())


# ---- metadata --------------------------------------------------------------------------------
def meta(obj: Obj) -> Obj:
    m: Obj = obj.get("metadata") or {}
    return m


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def labels_of(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = meta(obj).get("labels") or {}
    return labels


def is_deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with controller=true: who is responsible for this object."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            found: Obj = ref
            return found
    return None


def owner_reference(owner: Obj, controller: bool = True) -> Obj:
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


# ---- label selectors -------------------------------------------------------------------------
def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = expr.get("key", "")
    op = expr.get("operator", "")
    values = expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an unknown operator selects nothing, as the API machinery rejects it


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: None selects nothing, `{}` selects everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def map_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service's plain map selector (every pair must match)."""
    return all(labels.get(k) == v for k, v in selector.items())


def required_pairs(selector: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(key, value) pairs every matching object must carry: lets callers use a label index."""
    if not selector:
        return []
    pairs = [(str(k), str(v)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = expr.get("values") or []
        if expr.get("operator") == "In" and len(values) == 1:
            pairs.append((str(expr.get("key", "")), str(values[0])))
    return pairs


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The selector in kubectl's text form, as the Scale subresource's status.selector shows it."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


# ---- pods ------------------------------------------------------------------------------------
def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


def is_terminal(pod: Obj) -> bool:
    return pod_phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Counts toward a ReplicaSet's replicas: not being deleted and not finished."""
    return not is_deleting(pod) and not is_terminal(pod)


def pod_condition(pod: Obj, kind: str) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            found: Obj = cond
            return found
    return None


def is_ready(pod: Obj) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_rfc3339(cond.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: float, now: float) -> bool:
    """Ready for at least minReadySeconds (immediately when it is 0), as the controllers judge."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


def restart_count(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def node_name_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def set_condition(conditions: list[Obj], new: Obj, now: str) -> bool:
    """Set a typed condition in place; keeps lastTransitionTime when the status is unchanged.
    Returns whether anything changed."""
    for i, cond in enumerate(conditions):
        if cond.get("type") != new.get("type"):
            continue
        if all(cond.get(k) == v for k, v in new.items()):
            return False
        merged = {**cond, **new}
        if cond.get("status") != new.get("status"):
            merged["lastTransitionTime"] = now
        if "lastUpdateTime" in cond:
            merged["lastUpdateTime"] = now
        conditions[i] = merged
        return True
    conditions.append({**new, "lastTransitionTime": now})
    return True


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """Resolve an IntOrString like maxSurge (`1`, `"25%"`) against a replica count."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        percent = int(text[:-1])
        scaled = total * percent
        return -(-scaled // 100) if round_up else scaled // 100
    return int(text)


def first(items: Iterable[Obj]) -> Obj | None:
    return next(iter(items), None)
