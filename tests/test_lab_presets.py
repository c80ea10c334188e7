"""Every cluster shape (`coredns-wizard lab --preset NAME`) starts, and its kube-dns Service answers.

Each preset is modelled on a public manifest (wizard/lab/presets.py says which); this checks the
shape the lab seeds is that manifest's (containers, dnsmasq wiring, autoscaler flag form, nodes)
and that the lab's kube-dns and autoscaler work with it as the real ones would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lab_clients import addresses_of, kubectl_json, query, rcode_text, wait_for

from wizard.errors import InputError
from wizard.lab.cluster import Lab, LabOptions
from wizard.lab.controllers.autoscaler import autoscaler_flags
from wizard.lab.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS = {
    "tke": ["kubedns", "dnsmasq", "sidecar"],
    "kubeadm": ["kubedns", "dnsmasq", "sidecar"],
    "upstream": ["kubedns", "dnsmasq", "sidecar"],
    "gke": ["kubedns", "dnsmasq", "sidecar", "prometheus-to-sd"],
    "kops": ["kubedns", "dnsmasq", "sidecar"],
    "helm-cpa": ["kubedns", "dnsmasq", "sidecar"],
    "minimal": ["kubedns"],
}
AUTOSCALER_FORM = {  # where the flags are, and how --target is written
    "upstream": ("command", "--target=Deployment/kube-dns"),
    "gke": ("command", "--target=Deployment/kube-dns"),
    "kops": ("command", "--target=Deployment/kube-dns"),
    "helm-cpa": ("args", "--target=deployment/kube-dns"),
    "minimal": ("args", "--target Deployment/kube-dns"),
}


def test_every_preset_is_listed_with_what_it_is_modelled_on() -> None:
    assert sorted(PRESETS) == sorted(CONTAINERS)
    listing = subprocess.run([sys.executable, "-m", "wizard.cli", "lab", "--list-presets"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT)})
    assert listing.returncode == 0, listing.stderr
    for name, preset in PRESETS.items():
        assert name in listing.stdout and preset.modelled_on in listing.stdout


def test_an_unknown_preset_is_refused_by_name() -> None:
    with pytest.raises(InputError, match=r"--preset 'eks'.*tke"):
        LabOptions(preset="eks").validate()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_starts_and_the_kube_dns_service_answers(preset: str) -> None:
    options = LabOptions(preset=preset, speed=20.0, dns_port=0, start_timeout=60.0, kube_dns_replicas=2,
                         cluster_domain="corp.example" if preset == "kops" else "cluster.local")
    with Lab(options) as lab:
        domain = options.cluster_domain
        deployment = kubectl_json(lab, "get", "deployment", "kube-dns", "-n", "kube-system")
        containers = deployment["spec"]["template"]["spec"]["containers"]
        assert [c["name"] for c in containers] == CONTAINERS[preset]
        kubernetes_ip = lab.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]
        answer = query(lab.dns_service_ip, lab.dns_port, f"kubernetes.default.svc.{domain}.")
        assert addresses_of(answer) == [kubernetes_ip], preset
        outside = query(lab.dns_service_ip, lab.dns_port, "www.example.com.")
        assert rcode_text(outside) == "NOERROR" and addresses_of(outside), preset

        node = kubectl_json(lab, "get", "nodes")["items"][0]["status"]["nodeInfo"]
        shape = PRESETS[preset].nodes
        assert node["osImage"] == shape.os_image and node["kernelVersion"] == shape.kernels["old"]
        assert node["kubeProxyVersion"] == shape.kube_proxy_version(options.k8s_version)

        autoscaler = lab.store.try_get("deployments.apps", "kube-system", "kube-dns-autoscaler")
        if preset not in AUTOSCALER_FORM:
            assert autoscaler is None
            return
        assert autoscaler is not None
        where, target = AUTOSCALER_FORM[preset]
        container = autoscaler["spec"]["template"]["spec"]["containers"][0]
        assert " ".join(container[where]).find(target) >= 0
        assert autoscaler_flags(autoscaler)["target"].lower() == "deployment/kube-dns"
        # the lab's autoscaler reads that form: kube-dns scaled below its min comes back
        wait_for(lambda: (lab.store.get("deployments.apps", "kube-system", "kube-dns-autoscaler")
                          .get("status", {}).get("readyReplicas")) == 1, 30, "the autoscaler ready")
        lab.store.mutate("deployments.apps", "kube-system", "kube-dns",
                         lambda d: d["spec"].__setitem__("replicas", 1))
        wait_for(lambda: lab.store.get("deployments.apps", "kube-system", "kube-dns")["spec"]["replicas"]
                 == 2, 30, f"{preset}: the autoscaler puts kube-dns back to 2")


