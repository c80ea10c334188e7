"""The seeded lab cluster: the vendor guide's starting point, a TKE-like cluster still on kube-dns.

Written straight into the Store (as if etcd already held it) so the lab starts in one step: nodes,
namespaces, a few applications whose Service names probes can resolve, kube-dns exactly as the
vendor ships it (three containers, real args and probes, the guide's ConfigMap customisation),
kube-proxy with its mode in both places the wizard reads it, and optionally the
kube-dns-autoscaler and a bulk of extra pods and Services for scale tests.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from wizard.errors import InputError
from wizard.lab.addresses import AddressPlan
from wizard.lab.api.store import Obj, Store, now_rfc3339

REGISTRY = "ccr.ccs.tencentyun.com"
KUBE_DNS_VERSION = "1.14.13"

KERNELS = {
    "old": "5.4.119-19-0009.11",  # TencentOS 3.1 before the expire_nodest_conn fix
    "fixed": "5.4.119-19-0009.28",  # TencentOS 3.1 from 0009.23 on: stale IPVS flows expire fast
}
OS_IMAGE = "TencentOS Server 3.1 (Final)"

STUB_DOMAINS = {"abc.com": ["1.2.3.4"], "my.cluster.local": ["2.3.4.5"]}
UPSTREAMS = ["8.8.8.8", "8.8.4.4"]
DEFAULT_KUBE_DNS_DATA = {
    "stubDomains": json.dumps(STUB_DOMAINS),
    "upstreamNameservers": json.dumps(UPSTREAMS),
}
"""The default customisation: translatable for every CoreDNS version."""

GUIDE_KUBE_DNS_DATA = {
    **DEFAULT_KUBE_DNS_DATA,
    "federations": json.dumps({"foo": "foo.feddomain.com"}),
}
"""The guide's full example; `federations` blocks translation for CoreDNS ≥ 1.7.0."""

APPS: tuple[tuple[str, str, str, int], ...] = (
    # namespace, name, image, replicas
    ("default", "nginx", "nginx:1.21.6", 2),
    ("shop", "cart", "ccr.ccs.tencentyun.com/shop/cart:2.3.1", 2),
    ("shop", "orders", "ccr.ccs.tencentyun.com/shop/orders:1.9.0", 1),
    ("monitoring", "grafana", "grafana/grafana:8.3.3", 1),
)


@dataclass
class SeedOptions:
    """What the seeded cluster looks like (the Lab's options, minus the runtime ones)."""

    k8s_version: str = "1.20.15"
    nodes: int = 3
    kube_dns_replicas: int = 3
    proxy_mode: str = "ipvs"
    udp_timeout: int = 300
    kernel: str = "old"
    kube_dns_data: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KUBE_DNS_DATA))
    autoscaler: bool = False
    extra_pods: int = 0
    extra_services: int = 0
    api_host: str = "127.0.0.1"
    api_port: int = 443


def load_kube_dns_configmap(path: Path) -> dict[str, str]:
    """The `data` of a kube-dns ConfigMap file (a ConfigMap manifest, YAML or JSON)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot read the kube-dns ConfigMap file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({str(err).splitlines()[0]}); fix the file") from err
    if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
        raise InputError(f"{path}: kind must be ConfigMap (a kube-dns ConfigMap manifest)")
    data = document.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InputError(f"{path}: data must map keys to strings, e.g. stubDomains: '{{...}}'")
    return {str(k): v for k, v in data.items()}


def _meta(name: str, namespace: str | None = None, **extra: Any) -> Obj:
    meta: Obj = {"name": name, **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def node_name(index: int) -> str:
    """Vendor-style node names: the node's VPC address (10.0.1.1, 10.0.1.2, ...)."""
    return f"10.0.{1 + index // 250}.{index % 250 + 1}"


def _node(index: int, address: str, options: SeedOptions) -> Obj:
    name = node_name(index)
    return {
        "metadata": _meta(name, labels={
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "SA2.MEDIUM4",
            "topology.kubernetes.io/zone": "ap-guangzhou-3",
        }),
        "spec": {"podCIDR": "", "providerID": f"qcloud:///100003/ins-{uuid.uuid4().hex[:8]}"},
        "status": {
            "capacity": {"cpu": "2", "memory": "3808148Ki", "pods": "61", "ephemeral-storage": "51473868Ki"},
            "allocatable": {"cpu": "1930m", "memory": "2871188Ki", "pods": "61",
                            "ephemeral-storage": "47438316671"},
            "conditions": [
                {"type": t, "status": "False", "reason": r, "message": m,
                 "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}
                for t, r, m in (
                    ("MemoryPressure", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                )
            ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "kubelet is posting ready status",
                  "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}],
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "docker://19.3.9",
                "kernelVersion": KERNELS[options.kernel],
                "kubeProxyVersion": f"v{options.k8s_version}",
                "kubeletVersion": f"v{options.k8s_version}",
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": OS_IMAGE,
                "systemUUID": str(uuid.uuid4()).upper(),
            },
        },
    }


def _http_probe(path: str, port: int, **timing: int) -> Obj:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, **timing}


def kube_dns_deployment(replicas: int) -> Obj:
    """kube-dns as the vendor ships it: kubedns + dnsmasq + sidecar, the upstream manifest's probes."""
    liveness = {"initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 5}
    labels = {"k8s-app": "kube-dns"}
    pod_spec: Obj = {
        "priorityClassName": "system-cluster-critical",
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "volumes": [{"name": "kube-dns-config", "configMap": {"name": "kube-dns", "optional": True}}],
        "containers": [
            {
                "name": "kubedns",
                "image": f"{REGISTRY}/tkeimages/kubedns-amd64:{KUBE_DNS_VERSION}",
                "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                "livenessProbe": _http_probe("/healthcheck/kubedns", 10054, **liveness),
                "readinessProbe": _http_probe("/readiness", 8081, initialDelaySeconds=3, timeoutSeconds=5),
                "args": ["--domain=cluster.local.", "--dns-port=10053", "--config-dir=/kube-dns-config",
                         "--v=2"],
                "env": [{"name": "PROMETHEUS_PORT", "value": "10055"}],
                "ports": [
                    {"containerPort": 10053, "name": "dns-local", "protocol": "UDP"},
                    {"containerPort": 10053, "name": "dns-tcp-local", "protocol": "TCP"},
                    {"containerPort": 10055, "name": "metrics", "protocol": "TCP"},
                ],
                "volumeMounts": [{"name": "kube-dns-config", "mountPath": "/kube-dns-config"}],
            },
            {
                "name": "dnsmasq",
                "image": f"{REGISTRY}/tkeimages/dnsmasq-nanny-amd64:{KUBE_DNS_VERSION}",
                "livenessProbe": _http_probe("/healthcheck/dnsmasq", 10054, **liveness),
                "args": ["-v=2", "-logtostderr", "-configDir=/etc/k8s/dns/dnsmasq-nanny",
                         "-restartDnsmasq=true", "--", "-k", "--cache-size=1000", "--no-negcache",
                         "--log-facility=-", "--server=/cluster.local/127.0.0.1#10053",
                         "--server=/in-addr.arpa/127.0.0.1#10053", "--server=/ip6.arpa/127.0.0.1#10053"],
                "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                          {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "150m", "memory": "20Mi"}},
                "volumeMounts": [{"name": "kube-dns-config", "mountPath": "/etc/k8s/dns/dnsmasq-nanny"}],
            },
            {
                "name": "sidecar",
                "image": f"{REGISTRY}/tkeimages/sidecar-amd64:{KUBE_DNS_VERSION}",
                "livenessProbe": _http_probe("/metrics", 10054, **liveness),
                "args": ["--v=2", "--logtostderr",
                         "--probe=kubedns,127.0.0.1:10053,kubernetes.default.svc.cluster.local,5,SRV",
                         "--probe=dnsmasq,127.0.0.1:53,kubernetes.default.svc.cluster.local,5,SRV"],
                "ports": [{"containerPort": 10054, "name": "metrics", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
            },
        ],
        "dnsPolicy": "Default",
        "serviceAccountName": "kube-dns",
        "terminationGracePeriodSeconds": 30,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
    }
    return {
        "metadata": _meta("kube-dns", "kube-system", labels={
            "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
            "addonmanager.kubernetes.io/mode": "Reconcile"}),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0}},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _service(namespace: str, name: str, cluster_ip: str, ports: list[Obj], selector: dict[str, str] | None,
             labels: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports,
                 "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": _meta(name, namespace, labels=labels or {}), "spec": spec,
            "status": {"loadBalancer": {}}}


def _app_deployment(namespace: str, name: str, image: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {
        "metadata": _meta(name, namespace, labels=labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": name, "image": image,
                                "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30}},
        },
    }


def kube_proxy_config(mode: str, udp_timeout: int) -> str:
    """The kube-proxy ConfigMap's config.conf (KubeProxyConfiguration)."""
    return (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
        "kind: KubeProxyConfiguration\n"
        "bindAddress: 0.0.0.0\n"
        "clientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n"
        "clusterCIDR: \"\"\n"
        f"mode: {mode}\n"
        "ipvs:\n  scheduler: rr\n  strictARP: false\n"
        f"  tcpTimeout: 0s\n  tcpFinTimeout: 0s\n  udpTimeout: {udp_timeout}s\n"
        "iptables:\n  masqueradeAll: false\n  syncPeriod: 30s\n"
    )


def _kube_proxy(options: SeedOptions) -> tuple[Obj, Obj]:
    labels = {"k8s-app": "kube-proxy"}
    daemonset = {
        "metadata": _meta("kube-proxy", "kube-system", labels=labels),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": labels}, "spec": {
                "hostNetwork": True,
                "priorityClassName": "system-node-critical",
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": "kube-proxy",
                    "image": f"{REGISTRY}/tkeimages/kube-proxy:v{options.k8s_version}",
                    "command": ["kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                f"--proxy-mode={options.proxy_mode}", "--v=2"],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}],
                }],
                "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy"}}],
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "kube-proxy",
            }},
        },
    }
    configmap = {
        "metadata": _meta("kube-proxy", "kube-system", labels=labels,
                          managedFields=[_installed_by("kubeadm", {"f:data": {"f:config.conf": {}}})]),
        "data": {"config.conf": kube_proxy_config(options.proxy_mode, options.udp_timeout)},
    }
    return daemonset, configmap


INSTALLED_BEFORE_S = 60
"""How long before the lab's start the installer wrote objects that carry its managedFields: the
kube-proxy pods of a real cluster start after their ConfigMap was written, never in the same second."""


def _installed_by(manager: str, fields: Obj) -> Obj:
    """The managedFields entry an installer's create leaves (the API server keeps one per manager)."""
    written = datetime.now(UTC) - timedelta(seconds=INSTALLED_BEFORE_S)
    return {"manager": manager, "operation": "Update", "apiVersion": "v1",
            "time": written.strftime("%Y-%m-%dT%H:%M:%SZ"), "fieldsType": "FieldsV1", "fieldsV1": fields}


def _autoscaler(min_replicas: int) -> tuple[Obj, Obj]:
    """The cluster-proportional-autoscaler; `min` keeps the seeded kube-dns size, so scaling
    kube-dns below it is undone at the next poll, as operators see in real clusters."""
    labels = {"k8s-app": "kube-dns-autoscaler"}
    params = {"coresPerReplica": 256, "nodesPerReplica": 16, "min": min_replicas,
              "preventSinglePointFailure": True}
    deployment = {
        "metadata": _meta("kube-dns-autoscaler", "kube-system", labels={
            **labels, "addonmanager.kubernetes.io/mode": "Reconcile"}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "priorityClassName": "system-cluster-critical",
                "containers": [{
                    "name": "autoscaler",
                    "image": f"{REGISTRY}/tkeimages/cluster-proportional-autoscaler-amd64:1.8.1",
                    "command": ["/cluster-proportional-autoscaler", "--namespace=kube-system",
                                "--configmap=kube-dns-autoscaler", "--target=Deployment/kube-dns",
                                "--default-params={\"linear\":" + json.dumps(params) + "}",
                                "--logtostderr=true", "--v=2"],
                    "resources": {"requests": {"cpu": "20m", "memory": "10Mi"}},
                }],
                "serviceAccountName": "kube-dns-autoscaler",
            }},
        },
    }
    configmap = {"metadata": _meta("kube-dns-autoscaler", "kube-system"),
                 "data": {"linear": json.dumps(params)}}
    return deployment, configmap


def _rbac() -> list[tuple[str, Obj]]:
    role = {
        "metadata": _meta("system:kube-dns", labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
        "rules": [{"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]}],
    }
    binding = {
        "metadata": _meta("system:kube-dns", labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:kube-dns"},
        "subjects": [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}],
    }
    return [("clusterroles.rbac.authorization.k8s.io", role),
            ("clusterrolebindings.rbac.authorization.k8s.io", binding)]


def seed(store: Store, addresses: AddressPlan, options: SeedOptions) -> None:
    """Write the starting cluster into an empty Store. Pods of Deployments come from the controllers."""
    node_ips: list[str] = []
    for index in range(options.nodes):
        node_ips.append(addresses.nodes.take())
        store.create("nodes", _node(index, node_ips[-1], options))
    namespaces = ["default", "kube-system", "kube-public", "kube-node-lease", "shop", "monitoring"]
    for namespace in namespaces:
        store.create("namespaces", {"metadata": _meta(namespace, labels={
            "kubernetes.io/metadata.name": namespace}), "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}})
    for namespace in namespaces:
        store.create("serviceaccounts", {"metadata": _meta("default", namespace)})

    kubernetes_ip = addresses.services.take(f"127.{addresses.octet}.0.1")
    dns_ip = addresses.services.take(addresses.dns_service_ip)
    store.create("services", _service("default", "kubernetes", kubernetes_ip, [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": options.api_port}], None,
        {"component": "apiserver", "provider": "kubernetes"}))
    store.create("endpoints", {"metadata": _meta("kubernetes", "default"), "subsets": [{
        "addresses": [{"ip": options.api_host}],
        "ports": [{"name": "https", "port": options.api_port, "protocol": "TCP"}]}]})

    for namespace, name, image, replicas in APPS:
        store.create("deployments.apps", _app_deployment(namespace, name, image, replicas))
        store.create("services", _service(namespace, name, addresses.services.take(), [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}], {"app": name}))

    store.create("serviceaccounts", {"metadata": _meta("kube-dns", "kube-system", labels={
        "kubernetes.io/cluster-service": "true", "addonmanager.kubernetes.io/mode": "Reconcile"})})
    store.create("serviceaccounts", {"metadata": _meta("kube-proxy", "kube-system")})
    for key, obj in _rbac():
        store.create(key, obj)
    store.create("configmaps", {"metadata": _meta("kube-dns", "kube-system", labels={
        "addonmanager.kubernetes.io/mode": "EnsureExists"}), "data": dict(options.kube_dns_data)})
    store.create("services", _service("kube-system", "kube-dns", dns_ip, [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}], {"k8s-app": "kube-dns"},
        {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubeDNS",
         "addonmanager.kubernetes.io/mode": "Reconcile"}))
    store.create("deployments.apps", kube_dns_deployment(options.kube_dns_replicas))
    daemonset, proxy_config = _kube_proxy(options)
    store.create("configmaps", proxy_config)
    store.create("daemonsets.apps", daemonset)
    if options.autoscaler:
        deployment, configmap = _autoscaler(options.kube_dns_replicas)
        store.create("serviceaccounts", {"metadata": _meta("kube-dns-autoscaler", "kube-system")})
        store.create("configmaps", configmap)
        store.create("deployments.apps", deployment)
    _seed_bulk(store, addresses, options)


def _seed_bulk(store: Store, addresses: AddressPlan, options: SeedOptions) -> None:
    """Extra Services and already-running pods, spread over 20 namespaces, for scale tests."""
    if not options.extra_pods and not options.extra_services:
        return
    spaces = [f"bulk-{i:02d}" for i in range(20)]
    for namespace in spaces:
        store.create("namespaces", {"metadata": _meta(namespace), "spec": {"finalizers": ["kubernetes"]},
                                    "status": {"phase": "Active"}})
    for index in range(options.extra_services):
        namespace = spaces[index % len(spaces)]
        store.create("services", _service(namespace, f"svc-{index:05d}", addresses.services.take(), [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}], {"app": f"svc-{index:05d}"}))
    started = now_rfc3339()
    for index in range(options.extra_pods):
        namespace = spaces[index % len(spaces)]
        app = f"svc-{index % max(options.extra_services, 1):05d}"
        node = node_name(index % max(options.nodes, 1))
        image = "nginx:1.21.6"
        ip = addresses.pods.take()
        conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
                      for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        store.create("pods", {
            "metadata": _meta(f"bulk-{index:05d}", namespace, labels={"app": app}),
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}],
                     "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30},
            "status": {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": started,
                "conditions": conditions, "qosClass": "BestEffort",
                "containerStatuses": [{
                    "name": "app", "image": image, "imageID": f"docker-pullable://nginx@sha256:{'0' * 64}",
                    "containerID": "docker://" + uuid.uuid4().hex * 2, "ready": True, "restartCount": 0,
                    "started": True, "state": {"running": {"startedAt": started}}, "lastState": {}}],
            },
        })
