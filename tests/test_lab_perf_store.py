"""The Store's speed-ups keep its behaviour: the sorted key index, positional watch replay,
per-watcher routing, the JSON-per-version cache and the copy that replaced `copy.deepcopy`."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.lab.api.store import ApiError, Store, json_copy

Obj = dict[str, Any]

# namespaces that are prefixes of each other, and the empty one: the slice bounds' edge cases
NAMESPACES = ["", "a", "a-b", "kube-system", "kube-system2", "z"]
NAMES = ["a", "a0", "b", "kube-dns", "pod-1", "pod-10", "pod-2"]

operations = st.lists(
    st.tuples(st.sampled_from(["create", "delete", "update"]), st.sampled_from(NAMESPACES[1:]),
              st.sampled_from(NAMES)),
    max_size=60,
)


def _configmap(namespace: str, name: str, value: str = "1") -> Obj:
    return {"metadata": {"name": name, "namespace": namespace}, "data": {"v": value}}


def _names(items: list[Obj]) -> list[tuple[str, str]]:
    return [(i["metadata"].get("namespace", ""), i["metadata"]["name"]) for i in items]


@settings(max_examples=150, deadline=None)
@given(operations)
def test_lists_stay_sorted_and_complete_across_creates_and_deletes(ops: list[tuple[str, str, str]]) -> None:
    store = Store()
    model: dict[tuple[str, str], str] = {}
    for step, (op, namespace, name) in enumerate(ops):
        if op == "create" and (namespace, name) not in model:
            store.create("configmaps", _configmap(namespace, name))
            model[(namespace, name)] = "1"
        elif op == "delete" and (namespace, name) in model:
            store.delete("configmaps", namespace, name)
            del model[(namespace, name)]
        elif op == "update" and (namespace, name) in model:
            store.mutate("configmaps", namespace, name, lambda o, s=step: o["data"].update(v=str(s)))
            model[(namespace, name)] = str(step)
    everything, _ = store.list("configmaps")
    assert _names(everything) == sorted(model)
    assert {ident: i["data"]["v"] for ident, i in zip(_names(everything), everything, strict=True)} == model
    for namespace in [*NAMESPACES, "kube", "kube-system\x00"]:
        listed, _ = store.list("configmaps", namespace)
        assert _names(listed) == sorted(k for k in model if k[0] == namespace), namespace


def test_namespace_filter_does_not_leak_into_namespaces_sharing_a_prefix() -> None:
    store = Store()
    for namespace in ("kube-system2", "kube-system", "kube-systen", "kube"):
        store.create("configmaps", _configmap(namespace, "x"))
    assert _names(store.list("configmaps", "kube-system")[0]) == [("kube-system", "x")]
    assert _names(store.list("configmaps", "kube")[0]) == [("kube", "x")]
    assert store.list("configmaps", "kube-sys")[0] == []


def test_cluster_scoped_kinds_and_predicates_use_the_same_index() -> None:
    store = Store()
    for name in ("node-3", "node-1", "node-2"):
        store.create("nodes", {"metadata": {"name": name, "labels": {"n": name[-1]}}})
    store.delete("nodes", "", "node-2")
    assert _names(store.list("nodes")[0]) == [("", "node-1"), ("", "node-3")]
    odd, rv = store.list("nodes", predicate=lambda n: n["metadata"]["labels"]["n"] == "3")
    assert _names(odd) == [("", "node-3")] and rv == store.resource_version


def test_json_copy_is_a_deep_copy_without_shared_parts() -> None:
    original: Obj = {"a": [1, 2.5, {"b": None, "c": True}], "d": {"e": "f"}, "t": (1, [2])}
    copied = json_copy(original)
    assert copied == original == copy.deepcopy(original)
    copied["a"][2]["b"] = "changed"
    copied["d"]["e"] = "changed"
    copied["t"][1].append(3)
    assert original == {"a": [1, 2.5, {"b": None, "c": True}], "d": {"e": "f"}, "t": (1, [2])}


def test_snapshots_stay_unchanged_by_later_writes() -> None:
    store = Store()
    given_obj = _configmap("a", "cm")
    created = store.create("configmaps", given_obj)
    given_obj["data"]["v"] = "caller's later edit"
    mutated = store.mutate("configmaps", "a", "cm", lambda o: o["data"].update(v="2"))
    assert created["data"] == {"v": "1"}, "mutate must edit a copy, not the shared snapshot"
    assert mutated["data"] == {"v": "2"}
    edited = json_copy(mutated)
    store.update("configmaps", edited)
    edited["data"]["v"] = "after update"
    assert store.get("configmaps", "a", "cm")["data"] == {"v": "2"}, "update must store a copy"
    held = {"phase": "Running"}
    store.mutate("configmaps", "a", "cm", lambda o: o.__setitem__("status", held))
    held["phase"] = "the caller's later edit"
    assert store.get("configmaps", "a", "cm")["status"] == {"phase": "Running"}, (
        "a part `change` put in and its caller still holds must not alias the stored object")
    before_delete = store.get("configmaps", "a", "cm")
    gone = store.delete("configmaps", "a", "cm")
    gone["data"]["v"] = "edited tombstone"
    assert before_delete["data"] == {"v": "2"}, "the DELETED object must not share parts with a snapshot"


def test_encoded_is_cached_per_version_and_never_stale() -> None:
    store = Store()
    first = store.create("configmaps", _configmap("a", "cm"))
    encoded = store.encoded("configmaps", first)
    assert json.loads(encoded) == first and encoded == json.dumps(first).encode()
    assert store.encoded("configmaps", first) is encoded, "the second encoding comes from the cache"
    second = store.mutate("configmaps", "a", "cm", lambda o: o["data"].update(v="2"))
    assert json.loads(store.encoded("configmaps", second))["data"] == {"v": "2"}
    assert json.loads(store.encoded("configmaps", first))["data"] == {"v": "1"}, (
        "an older snapshot is encoded as it is, not from the newer version's cache entry")
    gone = store.delete("configmaps", "a", "cm")
    assert json.loads(store.encoded("configmaps", gone)) == gone
    assert store.encoded("configmaps", gone) is not store.encoded("configmaps", gone), (
        "a deleted object is not kept in the cache")
    again = store.create("configmaps", _configmap("a", "cm", "3"))
    assert json.loads(store.encoded("configmaps", again))["data"] == {"v": "3"}


def _record(store: Store, key: str, since: int | None, namespace: str | None = None) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    store.watch(key, lambda t, o: seen.append((t, o["metadata"]["resourceVersion"])), namespace, since)
    return seen


def test_watch_replays_exactly_the_events_after_a_version() -> None:
    store = Store()
    for i in range(5):
        store.create("configmaps", _configmap("a" if i % 2 else "b", f"cm{i}"))
        store.create("services", {"metadata": {"name": f"s{i}", "namespace": "a"}})
    store.delete("configmaps", "a", "cm1")
    # configmap events: rv 1 (b), 3 (a), 5 (b), 7 (a), 9 (b), and DELETED 11 (a)
    assert _record(store, "configmaps", 4) == [("ADDED", "5"), ("ADDED", "7"), ("ADDED", "9"),
                                               ("DELETED", "11")]
    assert _record(store, "configmaps", 4, "a") == [("ADDED", "7"), ("DELETED", "11")]
    assert _record(store, "configmaps", 0, "b") == [("ADDED", "1"), ("ADDED", "5"), ("ADDED", "9")]
    assert _record(store, "configmaps", store.resource_version) == []


def test_watch_replay_after_the_history_wrapped_and_410_before_it() -> None:
    store = Store(history=4)
    for i in range(10):
        store.create("configmaps", _configmap("a", f"cm{i}"))
    assert _record(store, "configmaps", 6) == [("ADDED", "7"), ("ADDED", "8"), ("ADDED", "9"),
                                               ("ADDED", "10")]
    assert _record(store, "configmaps", 8) == [("ADDED", "9"), ("ADDED", "10")]
    with pytest.raises(ApiError) as expired:
        _record(store, "configmaps", 5)
    assert expired.value.code == 410
    store.compact()
    with pytest.raises(ApiError):
        _record(store, "configmaps", 9)


def test_live_events_reach_only_watchers_of_their_kind_until_they_unsubscribe() -> None:
    store = Store()
    pods: list[str] = []
    services: list[str] = []
    in_b: list[str] = []
    stop_pods = store.watch("pods", lambda t, o: pods.append(o["metadata"]["name"]))
    store.watch("services", lambda t, o: services.append(o["metadata"]["name"]))
    store.watch("pods", lambda t, o: in_b.append(o["metadata"]["name"]), namespace="b")
    store.create("pods", {"metadata": {"name": "p1", "namespace": "a"}})
    store.create("services", {"metadata": {"name": "s1", "namespace": "a"}})
    store.create("pods", {"metadata": {"name": "p2", "namespace": "b"}})
    stop_pods()
    stop_pods()  # twice is harmless
    store.create("pods", {"metadata": {"name": "p3", "namespace": "b"}})
    assert pods == ["p1", "p2"]
    assert services == ["s1"]
    assert in_b == ["p2", "p3"]
