"""The kube-dns-autoscaler puts kube-dns replicas back, until it is scaled to 0 or retargeted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lab_controllers_harness import Lab

from wizard.lab.controllers.autoscaler import (
    FlagError,
    LinearParams,
    autoscaler_flags,
    linear_replicas,
    parse_cpu,
    parse_flags,
)

PARAMS = {"coresPerReplica": 256, "nodesPerReplica": 16, "min": 1, "preventSinglePointFailure": True}


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    for i in range(1, 4):
        lab.add_node(f"node-{i}")
    yield lab
    lab.close()


FLAG_FORMS = {
    # kubeadm/upstream addon: everything in `command`, `--target=` form
    "command-equals": (["/cluster-proportional-autoscaler", "--namespace=kube-system",
                        "--configmap=kube-dns-autoscaler", "--target=Deployment/kube-dns",
                        "--logtostderr=true"], []),
    # flags in `args` after the image's entrypoint, `--target X` form
    "args-space": ([], ["--namespace", "kube-system", "--configmap", "kube-dns-autoscaler",
                        "--target", "Deployment/kube-dns", "--logtostderr", "--v", "2"]),
    # the executable in `command`, the space form in `args`
    "command-plus-args": (["/cluster-proportional-autoscaler"],
                          ["--logtostderr", "--target", "Deployment/kube-dns", "--configmap",
                           "kube-dns-autoscaler", "--namespace=kube-system"]),
}


def create_autoscaler(lab: Lab, target: str = "Deployment/kube-dns") -> None:
    lab.store.create(
        "configmaps",
        {
            "metadata": {"name": "kube-dns-autoscaler", "namespace": "kube-system"},
            "data": {"linear": json.dumps(PARAMS)},
        },
    )
    lab.create_deployment(
        "kube-dns-autoscaler",
        1,
        labels={"k8s-app": "kube-dns-autoscaler"},
        image="registry.k8s.io/cluster-proportional-autoscaler-amd64:1.8.1",
    )
    lab.store.mutate(
        "deployments.apps",
        "kube-system",
        "kube-dns-autoscaler",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
            "command",
            [
                "/cluster-proportional-autoscaler",
                "--namespace=kube-system",
                "--configmap=kube-dns-autoscaler",
                f"--target={target}",
                "--logtostderr=true",
            ],
        ),
    )


def replicas(lab: Lab, name: str) -> int:
    return int(lab.get("deployments.apps", "kube-system", name)["spec"]["replicas"])


def polls(lab: Lab) -> int:
    assert lab.controllers.autoscaler is not None
    return lab.loop_thread.call(lambda: lab.controllers.autoscaler.polls)  # type: ignore[union-attr]


def test_autoscaler_puts_kube_dns_back_and_stops_when_scaled_to_zero(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    create_autoscaler(lab)
    lab.wait_for(
        "autoscaler ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
            .get("status", {})
            .get("readyReplicas")
            == 1
        ),
    )
    lab.scale("kube-system", "kube-dns", 1)
    lab.wait_for(
        "kube-dns put back to 2 (3 nodes, preventSinglePointFailure)", lambda: replicas(lab, "kube-dns") == 2
    )
    lab.scale("kube-system", "kube-dns-autoscaler", 0)
    lab.wait_for(
        "autoscaler stopped",
        lambda: (
            not lab.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
            .get("status", {})
            .get("readyReplicas")
        ),
    )
    lab.scale("kube-system", "kube-dns", 1)
    seen = polls(lab)
    lab.wait_for("three more polls", lambda: polls(lab) >= seen + 3, locked=False)
    assert replicas(lab, "kube-dns") == 1, "a stopped autoscaler must not touch kube-dns"


def test_retargeted_autoscaler_follows_coredns(lab: Lab) -> None:
    lab.create_deployment("kube-dns", 2, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    lab.create_deployment("coredns", 0)
    create_autoscaler(lab)
    lab.wait_for(
        "autoscaler ready",
        lambda: (
            lab.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
            .get("status", {})
            .get("readyReplicas")
            == 1
        ),
    )
    lab.store.mutate(
        "deployments.apps",
        "kube-system",
        "kube-dns-autoscaler",
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["command"].__setitem__(
            3, "--target=Deployment/coredns"
        ),
    )
    lab.wait_for("coredns scaled by the autoscaler", lambda: replicas(lab, "coredns") == 2)
    lab.scale("kube-system", "kube-dns", 0)
    seen = polls(lab)
    lab.wait_for("three more polls", lambda: polls(lab) >= seen + 3, locked=False)
    assert replicas(lab, "kube-dns") == 0


def test_linear_formula() -> None:
    params = LinearParams.parse(json.dumps(PARAMS))
    assert linear_replicas(params, nodes=1, cores=4) == 1
    assert linear_replicas(params, nodes=3, cores=12) == 2  # no single point of failure
    assert linear_replicas(params, nodes=40, cores=160) == 3  # ceil(40 / 16)
    assert linear_replicas(params, nodes=40, cores=1000) == 4  # ceil(1000 / 256)
    capped = LinearParams(nodes_per_replica=1, max=5)
    assert linear_replicas(capped, nodes=9, cores=0) == 5
    with pytest.raises(ValueError):
        LinearParams.parse("{}")
    with pytest.raises(ValueError):
        LinearParams.parse("not json")


def test_flags_and_cpu_parsing() -> None:
    d = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"command": ["cpa", "--target=Deployment/x"], "args": ["--configmap", "cm", "--v=2"]}
                    ]
                }
            }
        }
    }
    assert autoscaler_flags(d) == {"target": "Deployment/x", "configmap": "cm", "v": "2"}


def test_flags_parse_as_pflag_does() -> None:
    # `--target X`: the next word is the value even when it starts with a dash; booleans take none
    assert parse_flags(["--logtostderr", "--target", "Deployment/kube-dns", "--v", "2"]) == {
        "logtostderr": "true", "target": "Deployment/kube-dns", "v": "2"}
    assert parse_flags(["--default-params", "-x"]) == {"default-params": "-x"}
    assert parse_flags(["-v=2", "--target=a/b", "--target=Deployment/c", "--", "--configmap=x"]) == {
        "v": "2", "target": "Deployment/c"}
    for bad in (["-target=Deployment/kube-dns"], ["--target"], ["---x"]):
        with pytest.raises(FlagError):
            parse_flags(bad)


@pytest.mark.parametrize("form", sorted(FLAG_FORMS))
def test_autoscaler_reads_both_flag_forms_in_command_or_args(lab: Lab, form: str) -> None:
    command, args = FLAG_FORMS[form]
    lab.create_deployment("kube-dns", 2, image="registry.k8s.io/k8s-dns-kube-dns:1.14.13")
    create_autoscaler(lab)

    def set_flags(d: dict[str, Any]) -> None:
        container = d["spec"]["template"]["spec"]["containers"][0]
        container.pop("command", None)
        if command:
            container["command"] = list(command)
        container["args"] = list(args)

    lab.store.mutate("deployments.apps", "kube-system", "kube-dns-autoscaler", set_flags)
    lab.wait_for(
        "autoscaler ready",
        lambda: lab.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
        .get("status", {}).get("readyReplicas") == 1,
    )
    lab.scale("kube-system", "kube-dns", 1)
    lab.wait_for(f"kube-dns put back to 2 ({form})", lambda: replicas(lab, "kube-dns") == 2)
    assert parse_cpu("4") == 4.0 and parse_cpu("3500m") == 3.5 and parse_cpu(None) == 0.0
