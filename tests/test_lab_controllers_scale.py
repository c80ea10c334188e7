"""The controllers at the size the lab promises: 1,000 nodes, 10,000 pods, 2,000 Services.

No timing is asserted; the wait limits only keep a pathological (quadratic) regression from
hanging the suite. The point is that the whole cluster converges and that the controllers still
react to a single change afterwards.
"""

from __future__ import annotations

from lab_controllers_harness import Lab

NODES, SERVICES, DEPLOYMENTS, REPLICAS = 1000, 2000, 1000, 10


def test_a_large_cluster_converges_and_stays_responsive() -> None:
    lab = Lab()
    try:
        for i in range(NODES):
            lab.add_node(f"node-{i}")
        for i in range(SERVICES):  # two Services per app; every second one is in another namespace
            lab.store.create(
                "services",
                {
                    "metadata": {"name": f"svc-{i}", "namespace": f"ns-{i % 20}"},
                    "spec": {
                        "selector": {"app": f"app-{i // 2}"},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                    },
                },
            )
        for i in range(DEPLOYMENTS):
            lab.create_deployment(
                f"app-{i}", REPLICAS, namespace=f"ns-{(2 * i) % 20}", labels={"app": f"app-{i}"}
            )

        def running() -> int:
            return sum(1 for p in lab.store.list("pods")[0] if p.get("status", {}).get("phase") == "Running")

        lab.wait_for(
            "10,000 pods running",
            lambda: running() == DEPLOYMENTS * REPLICAS,
            timeout=400,
            locked=False,
            interval=0.5,
        )

        def addresses(namespace: str, name: str) -> int:
            ep = lab.store.try_get("endpoints", namespace, name)
            return sum(len(s.get("addresses", [])) for s in (ep or {}).get("subsets", []))

        lab.wait_for(
            "every Service's endpoints",
            lambda: all(addresses(f"ns-{i % 20}", f"svc-{i}") == REPLICAS for i in range(0, SERVICES, 2)),
            timeout=400,
            locked=False,
            interval=0.5,
        )
        assert all(addresses(f"ns-{i % 20}", f"svc-{i}") == 0 for i in range(1, SERVICES, 2))
        per_node = [0] * NODES
        for pod in lab.store.list("pods")[0]:
            per_node[int(pod["spec"]["nodeName"].split("-")[1])] += 1
        assert max(per_node) - min(per_node) <= 1, "the scheduler spreads pods evenly"

        lab.scale("ns-0", "app-0", REPLICAS + 1)
        lab.wait_for("one more endpoint", lambda: addresses("ns-0", "svc-0") == REPLICAS + 1, timeout=120)
    finally:
        lab.close()
