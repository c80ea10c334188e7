"""The switch stops on a Corefile CoreDNS refuses, even when the wizard's own checker let it through.

The Corefile is written into the ConfigMap after the deploy step, past the wizard's checker, so
only the lab's CoreDNS (which refuses it as CoreDNS 1.8.4 does: `forward` twice in one server
block) can stop the switch. The switch must stop at the first CoreDNS replica, say why in
CoreDNS's words, leave kube-dns untouched, and never leave the kube-dns Service without ready
endpoints.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from switch_support import (
    NS,
    Recorder,
    deployment_replicas,
    fast_options,
    gateway_for,
    journal_in,
    make_test_plan,
)

ONCE = "this plugin can only be used once per Server Block"


@pytest.mark.lab_options(nodes=4)
def test_switch_stops_on_a_corefile_coredns_refuses_even_if_the_checker_accepted_it(
    lab: Any, tmp_path: Path
) -> None:
    from wizard.migration.switch import Switcher

    gateway = gateway_for(lab)
    plan = make_test_plan(gateway)
    assert plan.coredns_version.startswith("1.8"), plan.coredns_version  # forward once per block up to 1.9.3
    journal = journal_in(tmp_path)
    deployed = Switcher(gateway, plan, journal, fast_options()).run(stop_after="deploy")
    assert deployed.completed, deployed.reason

    corefile = lab.store.get("configmaps", NS, "coredns")["data"]["Corefile"]
    refused = corefile.replace("    forward . ", "    forward abc.com 1.2.3.4\n    forward . ", 1)
    assert refused != corefile
    lab.store.mutate("configmaps", NS, "coredns", lambda cm: cm["data"].update(Corefile=refused))

    lowest: list[int] = []
    lock = threading.Lock()

    def on_endpoints(event: str, obj: dict[str, Any]) -> None:
        if obj["metadata"].get("name") == "kube-dns":
            ready = sum(len(s.get("addresses") or []) for s in obj.get("subsets") or [])
            with lock:
                lowest.append(ready)

    unwatch = lab.store.watch("endpoints", on_endpoints, namespace=NS)
    try:
        events = Recorder()
        outcome = Switcher(gateway, plan, journal, fast_options(ready_timeout_seconds=15.0), events).run()
    finally:
        unwatch()
    assert not outcome.completed
    assert (outcome.stopped_at or "").startswith("r1."), outcome.stopped_at
    # what the operator is shown: the crashed pod's previous log, in CoreDNS's words
    shown = "\n".join(repr(event) for event in events.events)
    assert f"plugin/forward: {ONCE}" in shown
    assert deployment_replicas(lab, "kube-dns") == 3
    with lock:
        assert not lowest or min(lowest) >= 3, lowest  # kube-dns kept serving through it all
