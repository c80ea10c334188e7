"""Cluster shapes operators really run kube-dns in: `coredns-wizard lab --preset NAME`.

Each preset is written from a public manifest (named in `modelled_on`) and differs where those
manifests differ: images and registry, one / three / four containers, with or without the
sidecar, dnsmasq's extra options (kops even routes `in6.arpa`, not `ip6.arpa`, to kubedns), the
sidecar's probe type, the kube-dns-autoscaler (absent, its flags in `command`, or in `args`, in
the `--target=X` or the `--target X` form), and the nodes: OS image, kernel (one without and one
with the IPVS expire_nodest_conn fix of Linux 5.9 or the vendor's backport), container runtime and
the kube-proxy version string they report.

- tke: TKE's kube-dns (ccr.ccs.tencentyun.com/tkeimages, 3 containers) on TencentOS 3.1 nodes.
- kubeadm: kubeadm's kube-dns addon (cmd/kubeadm/app/phases/addons/dns, Kubernetes <= 1.17):
  3 containers, no autoscaler.
- upstream: kubernetes/kubernetes cluster/addons/dns/kube-dns/kube-dns.yaml.in (1.22.20) and
  cluster/addons/dns-horizontal-autoscaler (`--target=` in `command`).
- gke: GKE's kube-dns: the upstream three plus prometheus-to-sd (4 containers), its
  kube-dns-autoscaler with includeUnschedulableNodes, COS nodes.
- kops: kubernetes/kops addons/kube-dns.addons.k8s.io/k8s-1.12.yaml.template: 1.14.13,
  `--server=/in6.arpa/...`, sidecar probes of type A, autoscaler in `command`.
- helm-cpa: the upstream kube-dns with kubernetes-sigs/cluster-proportional-autoscaler's Helm
  chart (flags in `args`, `--target=deployment/kube-dns`).
- minimal: no vendor file: kubedns alone on port 53 (no dnsmasq, no sidecar) and an autoscaler
  with its flags in `args` in the `--target Deployment/kube-dns` form; both are accepted by the tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from wizard.lab.api.store import Obj

LIVENESS = {"initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 5}
UPSTREAM_PARAMS = {"coresPerReplica": 256, "nodesPerReplica": 16, "preventSinglePointFailure": True}


def http_probe(path: str, port: int, **timing: int) -> Obj:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, **timing}


@dataclass(frozen=True)
class KubeDNSShape:
    """How one vendor writes the kube-dns Deployment."""

    kubedns_image: str
    dnsmasq_image: str | None  # None: kubedns alone serves port 53
    sidecar_image: str | None
    dnsmasq_extra: tuple[str, ...] = ()  # options between --log-facility and the --server lines
    reverse_zones: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa")
    probe_type: str = "SRV"
    extra_containers: tuple[Obj, ...] = ()
    tolerations: tuple[Obj, ...] = ({"key": "CriticalAddonsOnly", "operator": "Exists"},)
    labels: tuple[tuple[str, str], ...] = (("addonmanager.kubernetes.io/mode", "Reconcile"),
                                           ("kubernetes.io/cluster-service", "true"))
    run_as_user: int | None = None

    def deployment(self, replicas: int, cluster_domain: str) -> Obj:
        domain = cluster_domain.rstrip(".")
        containers = [self._kubedns_container(domain)]
        if self.dnsmasq_image:
            containers.append(self._dnsmasq_container(domain))
        if self.sidecar_image:
            containers.append(self._sidecar_container(domain))
        containers.extend(json.loads(json.dumps(list(self.extra_containers))))
        labels = {"k8s-app": "kube-dns"}
        pod_spec: Obj = {
            "priorityClassName": "system-cluster-critical",
            "tolerations": [dict(t) for t in self.tolerations],
            "volumes": [{"name": "kube-dns-config", "configMap": {"name": "kube-dns", "optional": True}}],
            "containers": containers,
            "dnsPolicy": "Default",
            "serviceAccountName": "kube-dns",
            "terminationGracePeriodSeconds": 30,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
        }
        return {
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", **dict(self.labels)}},
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0}},
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        }

    def _kubedns_container(self, domain: str) -> Obj:
        """kubedns: on 10053 behind dnsmasq, on 53 when it is alone."""
        dns_port = 10053 if self.dnsmasq_image else 53
        kubedns: Obj = {
            "name": "kubedns",
            "image": self.kubedns_image,
            "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
            "livenessProbe": (
                http_probe("/healthcheck/kubedns", 10054, **LIVENESS) if self.sidecar_image
                else http_probe("/readiness", 8081, **LIVENESS)),
            "readinessProbe": http_probe("/readiness", 8081, initialDelaySeconds=3, timeoutSeconds=5),
            "args": [f"--domain={domain}.", f"--dns-port={dns_port}", "--config-dir=/kube-dns-config",
                     "--v=2"],
            "env": [{"name": "PROMETHEUS_PORT", "value": "10055"}],
            "ports": [
                {"containerPort": dns_port, "name": "dns-local" if self.dnsmasq_image else "dns",
                 "protocol": "UDP"},
                {"containerPort": dns_port, "name": "dns-tcp-local" if self.dnsmasq_image else "dns-tcp",
                 "protocol": "TCP"},
                {"containerPort": 10055, "name": "metrics", "protocol": "TCP"},
            ],
            "volumeMounts": [{"name": "kube-dns-config", "mountPath": "/kube-dns-config"}],
        }
        if self.run_as_user is not None:
            kubedns["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                          "runAsUser": self.run_as_user, "runAsGroup": self.run_as_user}
        return kubedns

    def _dnsmasq_container(self, domain: str) -> Obj:
        """dnsmasq-nanny: the cluster and reverse zones sent to kubedns on 10053."""
        servers = [f"--server=/{zone}/127.0.0.1#10053" for zone in (domain, *self.reverse_zones)]
        return {
            "name": "dnsmasq",
            "image": self.dnsmasq_image,
            "livenessProbe": http_probe("/healthcheck/dnsmasq", 10054, **LIVENESS),
            "args": ["-v=2", "-logtostderr", "-configDir=/etc/k8s/dns/dnsmasq-nanny",
                     "-restartDnsmasq=true", "--", "-k", "--cache-size=1000", *self.dnsmasq_extra,
                     "--no-negcache",
                     "--log-facility=-", *servers],
            "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                      {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "150m", "memory": "20Mi"}},
            "volumeMounts": [{"name": "kube-dns-config", "mountPath": "/etc/k8s/dns/dnsmasq-nanny"}],
        }

    def _sidecar_container(self, domain: str) -> Obj:
        """The sidecar probing kubedns and dnsmasq with a cluster name."""
        probe = f"kubernetes.default.svc.{domain},5,{self.probe_type}"
        return {
            "name": "sidecar",
            "image": self.sidecar_image,
            "livenessProbe": http_probe("/metrics", 10054, **LIVENESS),
            "args": ["--v=2", "--logtostderr", f"--probe=kubedns,127.0.0.1:10053,{probe}",
                     f"--probe=dnsmasq,127.0.0.1:53,{probe}"],
            "ports": [{"containerPort": 10054, "name": "metrics", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
        }


@dataclass(frozen=True)
class AutoscalerShape:
    """How one vendor writes the kube-dns-autoscaler (cluster-proportional-autoscaler)."""

    image: str
    command: tuple[str, ...]  # the flags when they are in `command` (after the executable)
    args: tuple[str, ...] = ()
    default_params: Obj = field(default_factory=lambda: dict(UPSTREAM_PARAMS))

    def deployment(self) -> Obj:
        labels = {"k8s-app": "kube-dns-autoscaler"}
        container: Obj = {"name": "autoscaler", "image": self.image,
                          "resources": {"requests": {"cpu": "20m", "memory": "10Mi"}}}
        if self.command:
            container["command"] = list(self.command)
        if self.args:
            container["args"] = list(self.args)
        return {
            "metadata": {"name": "kube-dns-autoscaler", "namespace": "kube-system",
                         "labels": {**labels, "addonmanager.kubernetes.io/mode": "Reconcile"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "containers": [container],
                    "serviceAccountName": "kube-dns-autoscaler",
                }},
            },
        }


def _cpa_command(image_params: Obj, target: str = "--target=Deployment/kube-dns") -> tuple[str, ...]:
    return ("/cluster-proportional-autoscaler", "--namespace=kube-system", "--configmap=kube-dns-autoscaler",
            target, "--default-params=" + json.dumps({"linear": image_params}, separators=(",", ":")),
            "--logtostderr=true", "--v=2")


@dataclass(frozen=True)
class NodeShape:
    os_image: str
    kernels: dict[str, str]  # "old": without the IPVS fix, "fixed": with it
    runtime: str
    labels: dict[str, str]
    kube_proxy_image: str  # "{version}": the Kubernetes version
    kube_proxy_suffix: str = ""  # what the vendor appends to the version kube-proxy reports
    provider_id: str = "qcloud:///100003/ins-{id}"

    def kube_proxy_version(self, k8s_version: str) -> str:
        return f"v{k8s_version}{self.kube_proxy_suffix}"


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    modelled_on: str
    kube_dns: KubeDNSShape
    nodes: NodeShape
    autoscaler: AutoscalerShape | None = None

    def kube_dns_deployment(self, replicas: int, cluster_domain: str) -> Obj:
        return self.kube_dns.deployment(replicas, cluster_domain)


TKE_REGISTRY = "ccr.ccs.tencentyun.com"
K8S_GCR = "k8s.gcr.io"
REGISTRY_K8S = "registry.k8s.io"

TKE_NODES = NodeShape(
    os_image="TencentOS Server 3.1 (Final)",
    kernels={"old": "5.4.119-19-0009.11", "fixed": "5.4.119-19-0009.28"},
    runtime="docker://19.3.9",
    labels={"node.kubernetes.io/instance-type": "SA2.MEDIUM4",
            "topology.kubernetes.io/zone": "ap-guangzhou-3",
            "topology.kubernetes.io/region": "gz", "failure-domain.beta.kubernetes.io/zone": "100003",
            "failure-domain.beta.kubernetes.io/region": "gz"},
    kube_proxy_image=TKE_REGISTRY + "/tkeimages/kube-proxy:v{version}",
)
UBUNTU_NODES = NodeShape(
    os_image="Ubuntu 18.04.6 LTS",
    kernels={"old": "4.15.0-213-generic", "fixed": "5.15.0-89-generic"},
    runtime="docker://19.3.15",
    labels={"kubernetes.io/os": "linux"},
    kube_proxy_image=K8S_GCR + "/kube-proxy:v{version}",
    provider_id="",
)
COS_NODES = NodeShape(
    os_image="Container-Optimized OS from Google",
    kernels={"old": "5.4.170+", "fixed": "5.10.162+"},
    runtime="containerd://1.4.8",
    labels={"cloud.google.com/gke-nodepool": "default-pool", "cloud.google.com/gke-os-distribution": "cos",
            "node.kubernetes.io/instance-type": "e2-medium", "topology.kubernetes.io/zone": "us-central1-c",
            "topology.kubernetes.io/region": "us-central1",
            "failure-domain.beta.kubernetes.io/zone": "us-central1-c",
            "failure-domain.beta.kubernetes.io/region": "us-central1"},
    kube_proxy_image="gke.gcr.io/kube-proxy-amd64:v{version}-gke.1000",
    kube_proxy_suffix="-gke.1000",
    provider_id="gce://lab-project/us-central1-c/gke-lab-default-pool-{id}",
)
AWS_UBUNTU_NODES = NodeShape(
    os_image="Ubuntu 20.04.6 LTS",
    kernels={"old": "5.4.0-1103-aws", "fixed": "5.15.0-1051-aws"},
    runtime="containerd://1.4.13",
    labels={"kops.k8s.io/instancegroup": "nodes-us-east-1a",
            "node.kubernetes.io/instance-type": "t3.medium",
            "topology.kubernetes.io/zone": "us-east-1a", "topology.kubernetes.io/region": "us-east-1",
            "failure-domain.beta.kubernetes.io/zone": "us-east-1a",
            "failure-domain.beta.kubernetes.io/region": "us-east-1"},
    kube_proxy_image=REGISTRY_K8S + "/kube-proxy:v{version}",
    provider_id="aws:///us-east-1a/i-{id}",
)

UPSTREAM_KUBE_DNS = KubeDNSShape(
    kubedns_image=f"{REGISTRY_K8S}/dns/k8s-dns-kube-dns:1.22.20",
    dnsmasq_image=f"{REGISTRY_K8S}/dns/k8s-dns-dnsmasq-nanny:1.22.20",
    sidecar_image=f"{REGISTRY_K8S}/dns/k8s-dns-sidecar:1.22.20",
    dnsmasq_extra=("--dns-loop-detect",),
    run_as_user=1001,
)

PRESETS: dict[str, Preset] = {
    "tke": Preset(
        "tke", "TKE: kube-dns 1.14.13 from the TKE registry, 3 containers, TencentOS 3.1 nodes",
        "the TKE kube-dns Deployment (ccr.ccs.tencentyun.com/tkeimages/*-amd64:1.14.13) as the vendor's "
        "CoreDNS migration guide starts from",
        KubeDNSShape(
            kubedns_image=f"{TKE_REGISTRY}/tkeimages/kubedns-amd64:1.14.13",
            dnsmasq_image=f"{TKE_REGISTRY}/tkeimages/dnsmasq-nanny-amd64:1.14.13",
            sidecar_image=f"{TKE_REGISTRY}/tkeimages/sidecar-amd64:1.14.13",
        ),
        TKE_NODES,
    ),
    "kubeadm": Preset(
        "kubeadm", "kubeadm's kube-dns addon: 1.14.13 from k8s.gcr.io, 3 containers, no autoscaler",
        "kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns manifests (kube-dns, Kubernetes <= 1.17)",
        KubeDNSShape(
            kubedns_image=f"{K8S_GCR}/k8s-dns-kube-dns:1.14.13",
            dnsmasq_image=f"{K8S_GCR}/k8s-dns-dnsmasq-nanny:1.14.13",
            sidecar_image=f"{K8S_GCR}/k8s-dns-sidecar:1.14.13",
            dnsmasq_extra=("--dns-loop-detect",),
            tolerations=({"key": "CriticalAddonsOnly", "operator": "Exists"},
                         {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}),
            labels=(),
        ),
        UBUNTU_NODES,
    ),
    "upstream": Preset(
        "upstream", "cluster/addons/dns/kube-dns 1.22.20 + dns-horizontal-autoscaler (--target= in command)",
        "kubernetes/kubernetes cluster/addons/dns/kube-dns/kube-dns.yaml.in and "
        "cluster/addons/dns-horizontal-autoscaler/dns-horizontal-autoscaler.yaml",
        UPSTREAM_KUBE_DNS,
        COS_NODES,
        AutoscalerShape(f"{K8S_GCR}/cluster-proportional-autoscaler-amd64:1.1.2-r2",
                        _cpa_command(UPSTREAM_PARAMS)),
    ),
    "gke": Preset(
        "gke", "GKE: kube-dns with prometheus-to-sd (4 containers), kube-dns-autoscaler, COS nodes",
        "GKE's kube-dns Deployment (the upstream addon plus the prometheus-to-sd container, as dumped in "
        "public issue reports) and its kube-dns-autoscaler",
        KubeDNSShape(
            kubedns_image="gke.gcr.io/k8s-dns-kube-dns:1.22.28-gke.0",
            dnsmasq_image="gke.gcr.io/k8s-dns-dnsmasq-nanny:1.22.28-gke.0",
            sidecar_image="gke.gcr.io/k8s-dns-sidecar:1.22.28-gke.0",
            dnsmasq_extra=("--dns-forward-max=1500", "--dns-loop-detect"),
            extra_containers=({
                "name": "prometheus-to-sd",
                "image": f"{K8S_GCR}/prometheus-to-sd:v0.4.2",
                "command": ["/monitor", "--source=kubedns:http://localhost:10054?whitelisted=probe_kubedns_"
                            "latency_ms,probe_kubedns_errors,dnsmasq_misses,dnsmasq_hits",
                            "--stackdriver-prefix=container.googleapis.com/internal/addons",
                            "--api-override=https://monitoring.googleapis.com/", "--pod-id=$(POD_NAME)",
                            "--namespace-id=$(POD_NAMESPACE)", "--v=2"],
                "resources": {"requests": {"cpu": "1m", "memory": "20Mi"}},
            },),
        ),
        COS_NODES,
        AutoscalerShape("gke.gcr.io/cluster-proportional-autoscaler:1.8.4-gke.1",
                        _cpa_command({**UPSTREAM_PARAMS, "includeUnschedulableNodes": True})),
    ),
    "kops": Preset(
        "kops", "kops: kube-dns 1.14.13, in6.arpa in dnsmasq, A probes, autoscaler in command",
        "kubernetes/kops upup/models/cloudup/resources/addons/kube-dns.addons.k8s.io/k8s-1.12.yaml.template",
        KubeDNSShape(
            kubedns_image=f"{K8S_GCR}/k8s-dns-kube-dns-amd64:1.14.13",
            dnsmasq_image=f"{K8S_GCR}/k8s-dns-dnsmasq-nanny-amd64:1.14.13",
            sidecar_image=f"{K8S_GCR}/k8s-dns-sidecar-amd64:1.14.13",
            dnsmasq_extra=("--dns-forward-max=150", "--min-port=1024"),
            reverse_zones=("in-addr.arpa", "in6.arpa"),
            probe_type="A",
            labels=(("k8s-addon", "kube-dns.addons.k8s.io"), ("kubernetes.io/cluster-service", "true")),
        ),
        AWS_UBUNTU_NODES,
        AutoscalerShape(f"{K8S_GCR}/cluster-proportional-autoscaler-amd64:1.4.0",
                        _cpa_command(UPSTREAM_PARAMS)),
    ),
    "helm-cpa": Preset(
        "helm-cpa", "upstream kube-dns + the CPA Helm chart (flags in args, --target=deployment/kube-dns)",
        "kubernetes-sigs/cluster-proportional-autoscaler charts/cluster-proportional-autoscaler "
        "(fullnameOverride kube-dns-autoscaler) next to the upstream kube-dns addon",
        UPSTREAM_KUBE_DNS,
        UBUNTU_NODES,
        AutoscalerShape(f"{REGISTRY_K8S}/cpa/cluster-proportional-autoscaler:1.8.9", (), (
            "--configmap=kube-dns-autoscaler", "--logtostderr=true", "--namespace=kube-system",
            "--target=deployment/kube-dns", "--v=0", "--max-sync-failures=0")),
    ),
    "minimal": Preset(
        "minimal", "kubedns alone on port 53 (1 container); autoscaler flags in args, --target X form",
        "no vendor file: the shapes the tools accept that no manifest above uses (kubedns serving port 53 "
        "without dnsmasq or sidecar; cluster-proportional-autoscaler flags as separate words in args)",
        KubeDNSShape(
            kubedns_image=f"{REGISTRY_K8S}/dns/k8s-dns-kube-dns:1.22.20",
            dnsmasq_image=None,
            sidecar_image=None,
        ),
        UBUNTU_NODES,
        AutoscalerShape(f"{REGISTRY_K8S}/cpa/cluster-proportional-autoscaler:1.8.9", (), (
            "--namespace", "kube-system", "--configmap", "kube-dns-autoscaler",
            "--target", "Deployment/kube-dns", "--logtostderr", "--v", "2")),
    ),
}
DEFAULT_PRESET = "tke"


def preset_names() -> list[str]:
    """For `--list-presets` and for a UI that offers the presets (e.g. `--demo --preset`)."""
    return list(PRESETS)


def describe_presets() -> list[tuple[str, str, str]]:
    """(name, summary, what it is modelled on) for every preset, default first."""
    return [(p.name, p.summary, p.modelled_on) for p in PRESETS.values()]
