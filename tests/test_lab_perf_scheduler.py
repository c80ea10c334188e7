"""The scheduler's fast path for pods pinned to nodes by name (DaemonSet pods) decides exactly
what walking every node decides: the same node, or the same "0/N nodes are available" message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.lab.api.store import Store
from wizard.lab.controllers import scheduler as scheduler_module
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.controllers.informers import ClusterCache
from wizard.lab.controllers.scheduler import Scheduler, pinned_nodes
from wizard.lab.faults import Faults

Obj = dict[str, Any]
NODE_KINDS = ["plain", "tainted", "cordoned", "full", "labelled"]


def _pin(*term_names: list[str], extra_term: Obj | None = None) -> Obj:
    terms: list[Obj] = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": names}]}
                        for names in term_names]
    if extra_term is not None:
        terms.append(extra_term)
    return {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": terms}}}}}


def test_pinned_nodes_reads_name_pins_only() -> None:
    assert pinned_nodes({"spec": {}}) is None
    assert pinned_nodes(_pin(["node-1"])) == {"node-1"}
    assert pinned_nodes(_pin(["node-1"], ["node-2", "node-3"])) == {"node-1", "node-2", "node-3"}
    assert pinned_nodes(_pin(["node-1"], extra_term={})) == {"node-1"}, "an empty term admits nothing"
    by_label = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
    assert pinned_nodes(_pin(["node-1"], extra_term=by_label)) is None, "a label term admits any node"
    not_in = {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}]}
    assert pinned_nodes(_pin(extra_term=not_in)) is None
    both = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1", "node-2"]},
                            {"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}
    assert pinned_nodes(_pin(extra_term=both)) == {"node-2"}


def _node(name: str, kind: str) -> Obj:
    spec: Obj = {}
    if kind == "tainted":
        spec["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    if kind == "cordoned":
        spec["unschedulable"] = True
    pods = "1" if kind == "full" else "110"
    labels = {"kubernetes.io/hostname": name, **({"disk": "ssd"} if kind == "labelled" else {})}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec,
            "status": {"allocatable": {"pods": pods}, "capacity": {"pods": pods}}}


def _schedule(
    node_kinds: list[str], pinned: list[int], tolerate: bool, node_selector: bool
) -> tuple[str, str]:
    async def scenario() -> tuple[str, str]:
        store = Store()
        for i, kind in enumerate(node_kinds):
            store.create("nodes", _node(f"node-{i}", kind))
        # one running pod on every node: "full" nodes (capacity 1) are then full
        for i in range(len(node_kinds)):
            store.create("pods", {"metadata": {"name": f"running-{i}", "namespace": "default"},
                                  "spec": {"nodeName": f"node-{i}", "containers": [{"name": "c"}]}})
        cache = ClusterCache(store, ["pods", "nodes"])
        scheduler = Scheduler(cache, EventRecorder(store, "default-scheduler"), Faults(), speed=100.0)
        await cache.start()
        pod = _pin([f"node-{i}" for i in pinned])
        pod["metadata"] = {"name": "daemon", "namespace": "default"}
        pod["spec"]["containers"] = [{"name": "c"}]
        if tolerate:
            pod["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        if node_selector:
            pod["spec"]["nodeSelector"] = {"disk": "ssd"}
        cache.create("pods", pod)
        scheduler.reconcile(("default", "daemon"))
        cache.stop()
        placed = store.get("pods", "default", "daemon")
        condition = next(c for c in placed["status"]["conditions"] if c["type"] == "PodScheduled")
        return placed["spec"].get("nodeName", ""), str(condition.get("message", ""))

    return asyncio.run(scenario())


@settings(max_examples=60, deadline=None)
@given(
    node_kinds=st.lists(st.sampled_from(NODE_KINDS), min_size=1, max_size=6),
    pinned=st.lists(st.integers(0, 7), min_size=1, max_size=3),
    tolerate=st.booleans(),
    node_selector=st.booleans(),
)
def test_fast_path_decides_as_the_full_walk(
    node_kinds: list[str], pinned: list[int], tolerate: bool, node_selector: bool
) -> None:
    fast = _schedule(node_kinds, pinned, tolerate, node_selector)
    with pytest.MonkeyPatch.context() as patched:  # no pins known: the scheduler walks every node
        patched.setattr(scheduler_module, "pinned_nodes", lambda pod: None)
        full = _schedule(node_kinds, pinned, tolerate, node_selector)
    assert fast == full
    node, message = fast
    if node:
        assert int(node.split("-")[1]) in pinned
    else:
        assert message.startswith(f"0/{len(node_kinds)} nodes are available")


@pytest.mark.parametrize("kind", ["tainted", "cordoned", "full"])
def test_a_pinned_pod_that_cannot_fit_reports_every_node(kind: str) -> None:
    node, message = _schedule(["plain", kind, "plain"], [1], tolerate=False, node_selector=False)
    assert node == ""
    assert message.startswith("0/3 nodes are available: ")
    assert "2 node(s) didn't match node selector" in message
