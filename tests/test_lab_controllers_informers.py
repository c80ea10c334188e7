"""The controllers' cache: write-through, resourceVersion order, and no resurrection by late events."""

from __future__ import annotations

import asyncio
from typing import Any

from wizard.lab.api.store import Store
from wizard.lab.controllers.informers import BY_LABEL, ClusterCache, add_standard_indexes, select_candidates

Obj = dict[str, Any]


def test_late_watch_events_neither_resurrect_nor_roll_back() -> None:
    async def scenario() -> tuple[list[tuple[str | None, str | None]], Obj | None, Obj | None]:
        store = Store()
        cache = ClusterCache(store, ["configmaps"])
        seen: list[tuple[str | None, str | None]] = []
        cache["configmaps"].add_handler(
            lambda old, new: seen.append(
                (old and old["metadata"]["resourceVersion"], new and new["metadata"]["resourceVersion"])
            )
        )
        await cache.start()
        # writes through the cache are visible at once; their watch events arrive later
        cache.create("configmaps", {"metadata": {"name": "gone", "namespace": "a"}, "data": {"v": "1"}})
        cache.delete("configmaps", "a", "gone")
        cache.create("configmaps", {"metadata": {"name": "kept", "namespace": "a"}, "data": {"v": "1"}})
        cache.mutate("configmaps", "a", "kept", lambda o: o["data"].__setitem__("v", "2"))
        for _ in range(5):  # let the queued watch events be delivered
            await asyncio.sleep(0)
        cache.stop()
        return seen, cache["configmaps"].get("a", "gone"), cache["configmaps"].get("a", "kept")

    seen, gone, kept = asyncio.run(scenario())
    assert gone is None, "a late ADDED event must not bring a deleted object back"
    assert kept is not None and kept["data"] == {"v": "2"}, "a late event must not roll back a write"
    assert seen == [(None, "1"), ("1", None), (None, "3"), ("3", "4")], "each change notified once"


def test_label_index_narrows_candidates() -> None:
    async def scenario() -> list[str]:
        store = Store()
        for i in range(6):
            store.create(
                "pods",
                {
                    "metadata": {
                        "name": f"p{i}",
                        "namespace": "ns",
                        "labels": {"app": "dns" if i % 3 == 0 else "web"},
                    }
                },
            )
        cache = ClusterCache(store, ["pods"])
        add_standard_indexes(cache["pods"])
        await cache.start()
        cache.stop()
        assert cache["pods"].count_by(BY_LABEL, ("ns", "app", "dns")) == 2
        return [p["metadata"]["name"] for p in select_candidates(cache["pods"], "ns", [("app", "dns")])]

    assert asyncio.run(scenario()) == ["p0", "p3"]
