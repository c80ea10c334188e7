"""The controllers' cache after its speed-ups: `by()` answers from cached key orders that follow
every membership change, index buckets are only touched when an object's index values change,
and events written from the lab loop itself (queued without a wake-up) still arrive in order."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.lab.api.store import Store
from wizard.lab.controllers.informers import BY_LABEL, BY_NODE, ClusterCache, Informer, add_standard_indexes

Obj = dict[str, Any]

NAMES = ["a", "b", "c", "d", "e"]
APPS = ["web", "db"]
NODES = [None, "node-1", "node-2"]

steps = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from([*APPS, None]), st.sampled_from(NODES),
              st.booleans()),
    max_size=40,
)


def _pod(name: str, app: str, node: str | None, version: int) -> Obj:
    spec: Obj = {"nodeName": node} if node else {}
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": app},
                         "resourceVersion": str(version)}, "spec": spec, "status": {"v": version}}


@settings(max_examples=150, deadline=None)
@given(steps)
def test_by_matches_a_fresh_scan_after_every_change(
    changes: list[tuple[str, str | None, str | None, bool]],
) -> None:
    informer = Informer("pods")
    add_standard_indexes(informer)
    for version, (name, app, node, query_first) in enumerate(changes, start=1):
        if query_first:  # fill the sorted-key cache before the change, so a stale entry would show
            for value in APPS:
                informer.by(BY_LABEL, ("ns", "app", value))
            for value in NODES[1:]:
                informer.by(BY_NODE, value)
        informer._put(None if app is None else _pod(name, app, node, version), ("ns", name))
        everything = informer.all()
        for value in APPS:
            expected = sorted((o for o in everything if o["metadata"]["labels"]["app"] == value),
                              key=lambda o: o["metadata"]["name"])
            got = informer.by(BY_LABEL, ("ns", "app", value))
            assert [id(o) for o in got] == [id(o) for o in expected], "current versions, sorted"
            assert informer.count_by(BY_LABEL, ("ns", "app", value)) == len(expected)
        for value in NODES[1:]:
            on_node = [o["metadata"]["name"] for o in everything if o["spec"].get("nodeName") == value]
            assert [o["metadata"]["name"] for o in informer.by(BY_NODE, value)] == sorted(on_node)
            assert informer.keys_by(BY_NODE, value) == {("ns", n) for n in on_node}


def test_queries_for_gone_owners_do_not_grow_the_cache() -> None:
    informer = Informer("pods")
    add_standard_indexes(informer)
    for i in range(50):
        assert informer.by(BY_LABEL, ("ns", "app", f"gone-{i}")) == []
    assert informer._sorted_buckets == {}
    informer._put(_pod("a", "web", None, 1), ("ns", "a"))
    assert [o["metadata"]["name"] for o in informer.by(BY_LABEL, ("ns", "app", "web"))] == ["a"]
    informer._put(None, ("ns", "a"))
    assert informer.by(BY_LABEL, ("ns", "app", "web")) == []
    assert informer._sorted_buckets == {}, "a bucket that empties drops its cached order"


def test_writes_from_the_loop_and_from_other_threads_arrive_in_commit_order() -> None:
    async def scenario() -> tuple[list[str], dict[str, str], dict[str, str]]:
        store = Store()
        cache = ClusterCache(store, ["configmaps"])
        seen: list[str] = []
        cache["configmaps"].add_handler(lambda old, new: seen.append((new or old or {})["metadata"]["name"]))
        await cache.start()

        def from_another_thread() -> None:
            for i in range(50):
                store.create("configmaps", {"metadata": {"name": f"t{i:02d}", "namespace": "a"}})

        writer = threading.Thread(target=from_another_thread)
        writer.start()
        for i in range(50):  # plain Store writes on the loop thread: queued with call_soon
            store.create("configmaps", {"metadata": {"name": f"l{i:02d}", "namespace": "a"}})
            if i % 10 == 0:
                await asyncio.sleep(0)
        await asyncio.to_thread(writer.join)
        while len(cache["configmaps"]) < 100:
            await asyncio.sleep(0.01)
        cache.stop()
        items, _ = store.list("configmaps")
        commit_order = sorted(items, key=lambda o: int(o["metadata"]["resourceVersion"]))
        cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in cache["configmaps"].all()}
        stored = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}
        return seen, cached, {"order": ",".join(o["metadata"]["name"] for o in commit_order), **stored}

    seen, cached, stored = asyncio.run(scenario())
    assert ",".join(seen) == stored.pop("order"), "each event delivered once, in commit order"
    assert cached == stored
