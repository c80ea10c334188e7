"""What the operator asked for, shared by pre-flight, the plan, the switch and the TUI.

One frozen value built once from the command line (or the TUI's start screen), so every stage
sees the same choices and a resumed run can be compared with the original one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["live", "dry-run", "read-only"]
AutoscalerPolicy = Literal["retarget", "restore", "leave-paused"]
Order = Literal["auto", "grow-first", "shrink-first"]
OnFailure = Literal["contain", "stop"]

DEFAULT_OBSERVE_SECONDS = 300.0
"""The guide's five minutes of watching after each kube-dns scale-down."""
DEFAULT_OUTSIDE_NAME = "www.baidu.com"
"""The guide's external probe name."""
DEFAULT_READY_TIMEOUT_SECONDS = 300.0
DEFAULT_IPVS_WAIT_SECONDS = 300.0
"""The guide's wait after shortening the IPVS UDP timeout."""
CLEANUP_AFTER_HOURS = 72.0
"""The guide's quiet period before kube-dns objects may be deleted."""


@dataclass(frozen=True)
class SwitchOptions:
    """The operator's choices for one switch. Defaults follow the guide."""

    namespace: str = "kube-system"
    kube_dns_deployment: str = "kube-dns"
    kube_dns_configmap: str = "kube-dns"
    dns_service: str = "kube-dns"
    coredns_deployment: str = "coredns"
    coredns_version: str | None = None
    """None: the recommendation for the cluster's Kubernetes version."""
    image: str | None = None
    image_host: str | None = None
    cluster_domain: str | None = None
    """None: read from kube-dns's --domain (the cluster facts); pre-flight blocks when it cannot be."""
    drop_federations: bool = False
    corefile_override: str | None = None
    """A Corefile the operator edited (TUI editor or --corefile FILE) used instead of the translation."""
    probe_names: tuple[str, ...] = ()
    """Business names to probe, NAME or NAME.NAMESPACE; empty: a few real Services found in the cluster."""
    outside_name: str = DEFAULT_OUTSIDE_NAME
    observe_seconds: float = DEFAULT_OBSERVE_SECONDS
    ready_timeout_seconds: float = DEFAULT_READY_TIMEOUT_SECONDS
    ipvs_wait_seconds: float = DEFAULT_IPVS_WAIT_SECONDS
    """How long the IPVS gate waits once the short timeout is in effect when the wizard did not
    read the old timeout itself (the guide's 5 minutes: the kernel's 300 s default)."""
    ipvs_ack: str | None = None
    """The operator's reason to scale kube-dns down while the IPVS gate is closed (journaled)."""
    ipvsadm_set_at: float | None = None
    """When the operator ran `ipvsadm --set … UDP` with a short UDP timeout on every node (epoch s)."""
    order: Order = "auto"
    autoscaler_policy: AutoscalerPolicy = "retarget"
    """What to do at the end of a switch with a kube-dns autoscaler paused for it: retarget it to
    the CoreDNS Deployment and restore its replicas (default); restore it exactly as it was (it
    then targets kube-dns again and will scale kube-dns back up: the wizard warns); or leave it
    paused. A rollback always restores it exactly."""
    on_failure: OnFailure = "contain"
    """When a verification fails after a change: "contain" returns the cluster to the round's
    last verified state and waits until the failing pod has left the Service's endpoints before
    stopping (default); "stop" stops at once and leaves the failing pod in place (and serving, when
    it is a ready endpoint) for the operator to inspect."""
    mode: Mode = "live"
    assume_yes: bool = False
    dns_port: int | None = None
    """The port DNS pods listen on; None: the lab's kubeconfig extension, else 53."""
