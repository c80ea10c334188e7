"""switch2coredns.yaml: the five objects, their version rules, the image choice and the sizing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wizard.dns.checker import check_corefile
from wizard.dns.corefile import parse
from wizard.dns.images import coredns_image, parse_image, validate_image_host
from wizard.dns.kubedns_config import KubeDNSConfig, read_kube_dns_files
from wizard.dns.versions import KNOWN_COREDNS_VERSIONS, Version, min_kubernetes_for
from wizard.errors import InputError
from wizard.migration.manifests import RenderOptions, RenderResult, memory_limit, render_manifests

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGMAP = FIXTURES / "kube-dns-configmap.yaml"
DEPLOYMENT = FIXTURES / "kube-dns-deployment.yaml"
KINDS = ["ClusterRole", "ServiceAccount", "ClusterRoleBinding", "ConfigMap", "Deployment"]


def render(**kwargs: Any) -> RenderResult:
    kwargs.setdefault("k8s_version", "1.22.3")
    return render_manifests(RenderOptions(**kwargs))


def loaded(result: RenderResult) -> dict[str, dict[str, Any]]:
    """The YAML text as kubectl would read it, by kind (PyYAML, not the renderer's own library)."""
    docs = [d for d in yaml.safe_load_all(result.yaml_text) if d is not None]
    assert [d["kind"] for d in docs] == KINDS
    assert docs == result.objects
    return {d["kind"]: d for d in docs}


def pod_spec(objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objs["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = pod_spec(objs)["containers"][0]
    return result


# ---------------------------------------------------------------- the five objects


def test_exactly_five_objects_never_a_service() -> None:
    objs = loaded(render(coredns_version="1.8.4"))
    assert "Service" not in objs
    assert objs["ServiceAccount"]["metadata"] == {
        "labels": {"kubernetes.io/cluster-service": "true"},
        "name": "coredns",
        "namespace": "kube-system",
    }
    binding = objs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == objs["ClusterRole"]["metadata"]["name"] == "system:coredns"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]


def test_deployment_starts_at_zero_with_the_kube_dns_selector() -> None:
    dep = loaded(render(coredns_version="1.8.4"))["Deployment"]
    assert dep["metadata"]["name"] == "coredns"
    assert dep["metadata"]["namespace"] == "kube-system"
    assert dep["spec"]["replicas"] == 0
    assert dep["spec"]["selector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels == {"k8s-app": "kube-dns", "dns.coredns-wizard.io/server": "coredns"}
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "coredns"


def test_no_addon_manager_labels_that_would_prune_coredns() -> None:
    for obj in render(coredns_version="1.8.4").objects:
        labels = obj["metadata"].get("labels", {})
        assert "addonmanager.kubernetes.io/mode" not in labels, obj["kind"]


def test_corefile_is_a_literal_block_and_equals_the_translation() -> None:
    result = render(coredns_version="1.6.7", kube_dns=read_kube_dns_files(CONFIGMAP, written=True))
    assert "  Corefile: |\n    .:53 {\n" in result.yaml_text
    assert loaded(result)["ConfigMap"]["data"]["Corefile"] == result.corefile_text
    assert "federation cluster.local {" in result.corefile_text


def test_termination_grace_exceeds_lameduck() -> None:
    assert pod_spec(loaded(render(coredns_version="1.8.4")))["terminationGracePeriodSeconds"] > 30


# ---------------------------------------------------------------- version rules


def rbac_groups(objs: dict[str, dict[str, Any]]) -> list[str]:
    return [g for rule in objs["ClusterRole"]["rules"] for g in rule["apiGroups"]]


@pytest.mark.parametrize(("k8s", "has_slices"), [("1.18.20", False), ("1.19.0", True), ("v1.28.3", True)])
def test_endpointslice_rbac_from_kubernetes_1_19(k8s: str, has_slices: bool) -> None:
    objs = loaded(render(k8s_version=k8s, coredns_version="1.8.4"))
    assert ("discovery.k8s.io" in rbac_groups(objs)) is has_slices
    assert objs["ClusterRole"]["rules"][0] == {
        "apiGroups": ["*"],
        "resources": ["endpoints", "services", "pods", "namespaces"],
        "verbs": ["list", "watch"],
    }
    if has_slices:
        assert objs["ClusterRole"]["rules"][1] == {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        }


def test_seccomp_annotation_below_1_19() -> None:
    objs = loaded(render(k8s_version="1.18.3", coredns_version="1.6.7"))
    template = objs["Deployment"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "seccomp.security.alpha.kubernetes.io/pod": "docker/default"
    }
    assert "securityContext" not in template["spec"]


def test_seccomp_profile_field_from_1_19() -> None:
    objs = loaded(render(k8s_version="1.19.16", coredns_version="1.7.0"))
    template = objs["Deployment"]["spec"]["template"]
    assert "annotations" not in template["metadata"]
    assert template["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize(("version", "path", "port"), [("1.4.0", "/health", 8080), ("1.5.0", "/ready", 8181)])
def test_readiness_probe_without_ready_plugin(version: str, path: str, port: int) -> None:
    probe = container(loaded(render(k8s_version="1.14.1", coredns_version=version)))["readinessProbe"]
    assert probe["httpGet"] == {"path": path, "port": port, "scheme": "HTTP"}


def test_container_security_keeps_net_bind_service() -> None:
    ctx = container(loaded(render(coredns_version="1.11.1", k8s_version="1.29.0")))["securityContext"]
    assert ctx["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    assert ctx["readOnlyRootFilesystem"] is True


def test_coredns_too_new_for_the_cluster_refused() -> None:
    with pytest.raises(InputError, match=r"CoreDNS 1\.11\.1 needs Kubernetes 1\.21 or newer"):
        render(k8s_version="1.20.4", coredns_version="1.11.1")


def test_kubernetes_older_than_1_12_refused() -> None:
    with pytest.raises(InputError, match=r"older than 1\.12"):
        render(k8s_version="1.11.10", coredns_version="1.2.2")


@pytest.mark.parametrize("bad", ["one.two", "1.x", ""])
def test_bad_versions_refused(bad: str) -> None:
    with pytest.raises(InputError):
        render(k8s_version=bad, coredns_version="1.8.4")
    with pytest.raises(InputError):
        render(coredns_version=bad)


# ---------------------------------------------------------------- recommendation


def test_recommended_version_used_and_reported() -> None:
    result = render(k8s_version="1.22.3", coredns_version=None)
    assert result.recommendation is not None
    assert result.coredns_version == result.recommendation.version == "1.8.4"
    assert container(loaded(result))["image"] == "registry.k8s.io/coredns/coredns:v1.8.4"


def test_recommendation_follows_the_vendor_registry() -> None:
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT)
    result = render(k8s_version="1.16.9", kube_dns=cfg, coredns_version=None)
    assert result.recommendation is not None
    assert "TKE" in result.recommendation.source
    assert container(loaded(result))["image"] == "ccr.ccs.tencentyun.com/tkeimages/coredns:1.6.2"


# ---------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("version", "kwargs", "image"),
    [
        ("1.8.4", {}, "registry.k8s.io/coredns/coredns:v1.8.4"),
        ("v1.8.0", {}, "registry.k8s.io/coredns/coredns:v1.8.0"),
        ("1.7.0", {}, "k8s.gcr.io/coredns:1.7.0"),
        ("1.6.7", {"image_host": "mirror.example.com:5000"}, "mirror.example.com:5000/coredns:1.6.7"),
        ("1.9.3", {"image_host": "mirror.example.com"}, "mirror.example.com/coredns/coredns:v1.9.3"),
        (
            "1.8.4",
            {"kube_dns_image": "hkccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13"},
            "hkccr.ccs.tencentyun.com/tkeimages/coredns:1.8.4",
        ),
        (
            "v1.11.1-tke.1",
            {"kube_dns_image": "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13"},
            "ccr.ccs.tencentyun.com/tkeimages/coredns:v1.11.1-tke.1",
        ),
        (
            "1.8.4",
            {
                "kube_dns_image": "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13",
                "image_host": "mirror.example.com",
            },
            "mirror.example.com/tkeimages/coredns:1.8.4",
        ),
        (
            "1.8.4",
            {"kube_dns_image": "k8s.gcr.io/k8s-dns-kube-dns-amd64:1.14.13"},
            "registry.k8s.io/coredns/coredns:v1.8.4",
        ),
        ("1.8.4", {"image": "registry.local/dns/coredns:custom-1"}, "registry.local/dns/coredns:custom-1"),
        ("1.8.4", {"image": "coredns/coredns:1.8.4"}, "coredns/coredns:1.8.4"),
    ],
)
def test_coredns_image(version: str, kwargs: dict[str, str], image: str) -> None:
    assert coredns_image(version, **kwargs).image == image


def test_rendered_deployment_uses_given_image() -> None:
    digest = "sha256:" + "ab" * 32
    result = render(coredns_version="1.8.4", image=f"mirror.local:5000/coredns@{digest}")
    assert container(loaded(result))["image"] == f"mirror.local:5000/coredns@{digest}"


@pytest.mark.parametrize(
    ("image", "match"),
    [
        ("", "empty or contains white space"),
        ("coredns/coredns:1.8.4 ", "white space"),
        ("Registry.example.com/CoreDNS:1.8.4", "path part 'CoreDNS' is not valid"),
        ("registry.example.com/coredns", "has no tag or digest"),
        ("registry.example.com/coredns:", "tag '' is not valid"),
        ("registry.example.com/coredns:-bad", "tag '-bad' is not valid"),
        ("registry.example.com/coredns@sha256:xyz", "digest 'sha256:xyz'"),
        ("-bad.example.com/coredns:1", "registry host '-bad.example.com'"),
        ("registry.example.com//coredns:1", "path part ''"),
    ],
)
def test_bad_image_references_refused(image: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_image(image, "--image")


@pytest.mark.parametrize(
    "host", ["https://registry.example.com", "registry.example.com/path", "bad host", ""]
)
def test_bad_image_hosts_refused(host: str) -> None:
    with pytest.raises(InputError, match="--image-host"):
        validate_image_host(host)


def test_vendor_version_on_upstream_registry_refused() -> None:
    with pytest.raises(InputError, match="vendor build"):
        coredns_image("1.11.1-tke.1")


# ---------------------------------------------------------------- sizing


@pytest.mark.parametrize(
    ("pods", "services", "limit"),
    [
        (None, None, "170M"),
        (100, 20, "170M"),
        (100_000, 16_000, "170M"),
        (150_000, 20_000, "224M"),
        (0, 0, "170M"),
    ],
)
def test_memory_limit(pods: int | None, services: int | None, limit: str) -> None:
    assert memory_limit(pods, services) == limit


def test_memory_limit_in_the_deployment() -> None:
    objs = loaded(render(coredns_version="1.8.4", pod_count=300_000, service_count=1_000))
    assert container(objs)["resources"]["limits"] == {"memory": "355M"}
    assert container(objs)["resources"]["requests"] == {"cpu": "100m", "memory": "30M"}


def test_negative_counts_refused() -> None:
    with pytest.raises(InputError, match="negative"):
        memory_limit(-1, 0)


# ---------------------------------------------------------------- every CoreDNS version


@pytest.mark.parametrize("version", KNOWN_COREDNS_VERSIONS)
def test_rendered_corefile_passes_the_checker_for_every_version(version: str) -> None:
    k8s = max(min_kubernetes_for(version), Version(1, 19))
    cfg = read_kube_dns_files(CONFIGMAP, DEPLOYMENT)
    if Version.parse(version) < Version(1, 2, 0):  # the guide's template needs forward's prefer_udp
        with pytest.raises(InputError, match=r"older than 1\.2\.0"):
            render(k8s_version=f"{k8s.major}.{k8s.minor}", coredns_version=version, kube_dns=cfg)
        return
    result = render(
        k8s_version=f"{k8s.major}.{k8s.minor}", coredns_version=version, kube_dns=cfg, drop_federations=True
    )
    corefile = loaded(result)["ConfigMap"]["data"]["Corefile"]
    assert [f.message for f in check_corefile(parse(corefile), version) if f.severity == "error"] == []


def test_cluster_domain_override() -> None:
    result = render(coredns_version="1.8.4", kube_dns=KubeDNSConfig(), cluster_domain="corp.example.")
    assert "kubernetes corp.example. in-addr.arpa ip6.arpa {" in result.corefile_text
