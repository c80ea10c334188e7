"""Just enough of the Kubernetes protobuf encoding to read a SelfSubjectAccessReview (and a
SelfSubjectRulesReview).

kubectl's typed clients (e.g. `kubectl auth can-i`) send built-in kinds as
`application/vnd.kubernetes.protobuf`: the bytes "k8s\\0" then a runtime.Unknown message whose
field 2 holds the object. Only string fields are needed here, so this is a small reader of the
protobuf wire format (varints and length-delimited fields), not a general decoder.
"""

from __future__ import annotations

from typing import Any

from wizard.lab.api.store import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# field numbers from k8s.io/api/authorization/v1/generated.proto
_RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                        6: "subresource", 7: "name"}
_NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Field number → values (bytes for length-delimited fields, int for varints)."""
    found: dict[int, list[bytes | int]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value = data[pos:pos + size]
            pos += size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        found.setdefault(number, []).append(value)
    return found


def _first_bytes(found: dict[int, list[bytes | int]], number: int) -> bytes:
    for value in found.get(number, []):
        if isinstance(value, bytes):
            return value
    return b""


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    found = fields(data)
    return {name: _first_bytes(found, n).decode() for n, name in names.items() if n in found}


def access_review_from_protobuf(body: bytes) -> dict[str, Any]:
    """A SelfSubjectAccessReview sent as protobuf, as the JSON dict the server works with."""
    try:
        if not body.startswith(_MAGIC):
            raise ValueError("missing the k8s protobuf magic prefix")
        envelope = fields(body[len(_MAGIC):])
        review = fields(_first_bytes(envelope, 2))
        spec = fields(_first_bytes(review, 2))
        result: dict[str, Any] = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                  "metadata": {}, "spec": {}}
        if 1 in spec:
            result["spec"]["resourceAttributes"] = _strings(_first_bytes(spec, 1), _RESOURCE_ATTRIBUTES)
        if 2 in spec:
            non_resource = _first_bytes(spec, 2)
            result["spec"]["nonResourceAttributes"] = _strings(non_resource, _NON_RESOURCE_ATTRIBUTES)
        return result
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "BadRequest", f"unable to decode the protobuf request body: {error}") from None


def rules_review_from_protobuf(body: bytes) -> dict[str, Any]:
    """A SelfSubjectRulesReview sent as protobuf (`kubectl auth can-i --list`): its spec has one
    field, 1 = namespace."""
    try:
        if not body.startswith(_MAGIC):
            raise ValueError("missing the k8s protobuf magic prefix")
        envelope = fields(body[len(_MAGIC):])
        review = fields(_first_bytes(envelope, 2))
        spec = _strings(_first_bytes(review, 2), {1: "namespace"})
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "metadata": {}, "spec": spec}
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "BadRequest", f"unable to decode the protobuf request body: {error}") from None
