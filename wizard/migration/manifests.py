"""switch2coredns.yaml: the five objects of the guide's stage 3, fitted to one cluster.

Pure: the switch engine calls this with objects read from a live cluster and the `render` command
with files, so nothing here talks to the API server or writes files; the only I/O is reading the
template (wizard/assets/switch2coredns.yaml). The template stays a YAML file an operator can read, with
its comments carried into the output; this module changes only the version-dependent places.
Never a Service: the existing kube-dns Service must keep its ClusterIP and selector.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from wizard.dns.images import coredns_image
from wizard.dns.kubedns_config import KubeDNSConfig, normalize_cluster_domain
from wizard.dns.translate import READY_SINCE, translate
from wizard.dns.versions import (
    MIN_KUBERNETES,
    Recommendation,
    Version,
    min_kubernetes_for,
    parse_kubernetes_version,
    recommend,
)
from wizard.errors import InputError
from wizard.i18n import msg

TEMPLATE_NAME = "switch2coredns.yaml"
EXPECTED_KINDS = ("ClusterRole", "ServiceAccount", "ClusterRoleBinding", "ConfigMap", "Deployment")
SERVER_LABEL = "dns.coredns-wizard.io/server"
"""On CoreDNS pods only: kube-dns and CoreDNS pods share `k8s-app: kube-dns`, this tells them apart."""

ENDPOINTSLICE_RBAC_SINCE = Version(1, 19)
"""CoreDNS watches EndpointSlices on Kubernetes 1.19+ and never becomes ready without the rule."""
SECCOMP_FIELD_SINCE = Version(1, 19)
"""securityContext.seccompProfile is GA in 1.19; the annotation stopped working in 1.25."""
SECCOMP_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
MIN_MEMORY_LIMIT_MB = 170


@dataclass(frozen=True)
class RenderOptions:
    k8s_version: str
    coredns_version: str | None = None
    """None: the recommended version for `k8s_version` (and the kube-dns image's registry)."""
    kube_dns: KubeDNSConfig | None = None
    image_host: str | None = None
    image: str | None = None
    cluster_domain: str | None = None
    """Overrides the kube-dns Deployment's `--domain=`."""
    drop_federations: bool = False
    pod_count: int | None = None
    service_count: int | None = None


@dataclass(frozen=True)
class RenderResult:
    objects: list[dict[str, Any]]
    yaml_text: str
    corefile_text: str
    coredns_version: str
    recommendation: Recommendation | None
    warnings: list[str]
    image: str = ""
    image_reason: str = ""
    memory_limit: str = ""
    notes: list[str] = field(default_factory=list)
    """How each choice was made (image, memory), for the operator; not problems."""


def _kube_dns_config(options: RenderOptions) -> KubeDNSConfig:
    """The kube-dns configuration to translate, with --cluster-domain applied when given."""
    cfg = options.kube_dns or KubeDNSConfig()
    if options.cluster_domain is not None:
        cfg = dataclasses.replace(
            cfg, cluster_domain=normalize_cluster_domain(options.cluster_domain, "--cluster-domain")
        )
    return cfg


def _coredns_version(
    options: RenderOptions, cfg: KubeDNSConfig, k8s: Version
) -> tuple[str, Version, Recommendation | None]:
    """The CoreDNS version asked for or recommended; InputError when the cluster is too old for it."""
    recommendation: Recommendation | None = None
    if options.coredns_version is not None:
        version_text = options.coredns_version.strip()
    else:
        recommendation = recommend(options.k8s_version, cfg.image)
        version_text = recommendation.version
    version = Version.parse(version_text)
    needed = min_kubernetes_for(version)
    if k8s < needed:
        raise InputError(
            msg(
                "preflight.render.kubernetes-too-old-for-coredns",
                "CoreDNS {version} needs Kubernetes {needed} or newer (EndpointSlice v1) "
                "but the cluster runs {k8s}; choose an older CoreDNS version",
                version=str(version), needed=f"{needed.major}.{needed.minor}", k8s=options.k8s_version,
            )
        )
    return version_text, version, recommendation


def render_manifests(options: RenderOptions) -> RenderResult:
    """Translate, pick image and limits, and fill the template; InputError on anything unusable."""
    k8s = parse_kubernetes_version(options.k8s_version).release
    if k8s < MIN_KUBERNETES:
        raise InputError(
            msg(
                "preflight.render.kubernetes-too-old",
                "Kubernetes version {version} is older than 1.12, which the switch procedure "
                "needs; upgrade the cluster first",
                version=repr(options.k8s_version),
            )
        )
    cfg = _kube_dns_config(options)
    version_text, version, recommendation = _coredns_version(options, cfg, k8s)

    translation = translate(cfg, version, drop_federations=options.drop_federations)
    image = coredns_image(
        version_text, kube_dns_image=cfg.image, image_host=options.image_host, image=options.image
    )
    memory = memory_limit(options.pod_count, options.service_count)

    docs = _load_template()
    by_kind = {doc["kind"]: doc for doc in docs}
    _fit_cluster_role(by_kind["ClusterRole"], k8s)
    by_kind["ConfigMap"]["data"]["Corefile"] = _literal(translation.text)
    _fit_deployment(by_kind["Deployment"], k8s, version.release, image.image, memory)

    header = (
        f"# Rendered by coredns-wizard for Kubernetes {options.k8s_version}, CoreDNS {version_text}, "
        f"image {image.image}.\n"
    )
    notes: list[str] = [msg("preflight.render.image-note", "image {image}: {reason}", image=image.image,
                            reason=image.reason)]
    if options.pod_count is not None or options.service_count is not None:
        notes.append(
            msg(
                "preflight.render.memory-note",
                "memory limit {memory} for {pods} pods and {services} "
                "services (coredns/deployment's sizing formula, never below 170M)",
                memory=memory, pods=options.pod_count or 0, services=options.service_count or 0,
            )
        )
    return RenderResult(
        objects=[_plain(doc) for doc in docs],
        yaml_text=header + _dump(docs),
        corefile_text=translation.text,
        coredns_version=version_text,
        recommendation=recommendation,
        warnings=list(translation.warnings),
        image=image.image,
        image_reason=image.reason,
        memory_limit=memory,
        notes=notes,
    )


def memory_limit(pod_count: int | None, service_count: int | None) -> str:
    """coredns/deployment's sizing: MB ≈ (pods + services)/1000 + 54, never below the guide's 170M."""
    for name, value in (("pod count", pod_count), ("service count", service_count)):
        if value is not None and value < 0:
            raise InputError(
                msg("preflight.render.negative-pods",
                    "pod count {value} is negative; give the number of pods and services", value=value)
                if name == "pod count"
                else msg("preflight.render.negative-services", "service count {value} is negative; give the "
                         "number of pods and services", value=value)
            )
    total = (pod_count or 0) + (service_count or 0)
    return f"{max(MIN_MEMORY_LIMIT_MB, math.ceil(total / 1000 + 54))}M"


def template_text() -> str:
    """The template, read from package data (wizard/assets/) both in a checkout and installed."""
    return resources.files("wizard.assets").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.width = 4096  # never fold a long line (an image reference, an annotation) in two
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.preserve_quotes = True
    yaml.explicit_start = False
    return yaml


def _load_template() -> list[Any]:
    docs = list(_yaml().load_all(template_text()))
    kinds = tuple(doc.get("kind") for doc in docs)
    if kinds != EXPECTED_KINDS:  # the template is ours: a mismatch is a packaging bug
        raise RuntimeError(f"{TEMPLATE_NAME} holds {kinds}, expected {EXPECTED_KINDS}")
    return docs


def _dump(docs: list[Any]) -> str:
    out = io.StringIO()
    _yaml().dump_all(docs, out)
    return out.getvalue()


def _literal(text: str) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text if text.endswith("\n") else text + "\n")


def _plain(doc: Any) -> dict[str, Any]:
    """The object as plain dicts, lists and scalars (what the API client and tests want)."""
    result: dict[str, Any] = json.loads(json.dumps(doc))
    return result


def _fit_cluster_role(role: Any, k8s: Version) -> None:
    if k8s < ENDPOINTSLICE_RBAC_SINCE:
        rules = role["rules"]
        for i in reversed(range(len(rules))):
            if "discovery.k8s.io" in rules[i]["apiGroups"]:
                del rules[i]


def _fit_deployment(deployment: Any, k8s: Version, coredns: Version, image: str, memory: str) -> None:
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    container["image"] = image
    container["resources"]["limits"]["memory"] = memory
    if coredns < READY_SINCE:  # no ready plugin: /health is the only readiness signal there is
        probe = container["readinessProbe"]["httpGet"]
        probe["path"] = "/health"
        probe["port"] = 8080
    if k8s < SECCOMP_FIELD_SINCE:
        del pod["spec"]["securityContext"]
        from ruamel.yaml.comments import CommentedMap

        annotations = CommentedMap()
        annotations[SECCOMP_ANNOTATION] = "docker/default"
        pod["metadata"].insert(0, "annotations", annotations)
