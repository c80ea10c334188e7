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
from wizard.lab.presets import DEFAULT_PRESET, PRESETS

REGISTRY = "ccr.ccs.tencentyun.com"
KERNELS = PRESETS[DEFAULT_PRESET].nodes.kernels
"""`--kernel old|fixed`: each preset's node kernel without / with the IPVS expire_nodest_conn fix."""

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
"""The guide's full example. Its `federations` is JSON, which kube-dns does not read (it wants
name=domain): real kube-dns, and the lab's, ignore this whole ConfigMap and run with defaults."""

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
    cluster_domain: str = "cluster.local"
    preset: str = DEFAULT_PRESET
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
    shape = PRESETS[options.preset].nodes
    return {
        "metadata": _meta(name, labels={
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            **shape.labels,  # the vendor's: instance type, zone/region (kube-dns federation reads those)
        }),
        "spec": {"podCIDR": "", "providerID": shape.provider_id.format(id=uuid.uuid4().hex[:8])},
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
                "containerRuntimeVersion": shape.runtime,
                "kernelVersion": shape.kernels[options.kernel],
                "kubeProxyVersion": shape.kube_proxy_version(options.k8s_version),
                "kubeletVersion": f"v{options.k8s_version}",
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": shape.os_image,
                "systemUUID": str(uuid.uuid4()).upper(),
            },
        },
    }


def kube_dns_deployment(
    replicas: int, cluster_domain: str = "cluster.local", preset: str = DEFAULT_PRESET
) -> Obj:
    """kube-dns as `preset` ships it (default: TKE's three containers), with `cluster_domain`
    where the manifest has `cluster.local` (--domain, dnsmasq --server, sidecar probes)."""
    return PRESETS[preset].kube_dns_deployment(replicas, cluster_domain)


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
    proxy_image = PRESETS[options.preset].nodes.kube_proxy_image.format(version=options.k8s_version)
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
                    "image": proxy_image,
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


def _autoscaler(min_replicas: int, preset: str = DEFAULT_PRESET) -> tuple[Obj, Obj]:
    """The cluster-proportional-autoscaler as `preset` ships it (TKE's own when it ships none and
    the `autoscaler` fault asks for one); its ConfigMap's `min` keeps the seeded kube-dns size, so
    scaling kube-dns below it is undone at the next poll, as operators see in real clusters."""
    params = {"coresPerReplica": 256, "nodesPerReplica": 16, "min": min_replicas,
              "preventSinglePointFailure": True}
    shape = PRESETS[preset].autoscaler
    if shape is not None:
        return shape.deployment(), {"metadata": _meta("kube-dns-autoscaler", "kube-system"),
                                    "data": {"linear": json.dumps(params)}}
    labels = {"k8s-app": "kube-dns-autoscaler"}
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
    store.create("deployments.apps",
                 kube_dns_deployment(options.kube_dns_replicas, options.cluster_domain, options.preset))
    daemonset, proxy_config = _kube_proxy(options)
    store.create("configmaps", proxy_config)
    store.create("daemonsets.apps", daemonset)
    if options.autoscaler or PRESETS[options.preset].autoscaler is not None:
        deployment, configmap = _autoscaler(options.kube_dns_replicas, options.preset)
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
