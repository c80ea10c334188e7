"""Which CoreDNS image the new Deployment runs, and whether an image reference is well formed.

The node pools must be able to pull it: a vendor cluster pulls from the same regional registry as
its kube-dns image, an upstream one from registry.k8s.io (whose path and tag scheme changed at
CoreDNS 1.8.0), a private mirror from wherever the operator says. A malformed reference would
only surface as ImagePullBackOff mid-switch, so it is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wizard.dns.versions import Version, is_tke_registry, registry_host
from wizard.errors import InputError
from wizard.i18n import msg

UPSTREAM_HOST = "registry.k8s.io"
LEGACY_UPSTREAM_HOST = "k8s.gcr.io"

# The distribution reference grammar, written from its published description.
_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(rf"^{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class ImageReference:
    """`host[:port]/path:tag@digest`, split. `host` is None for a Docker Hub short name."""

    host: str | None
    path: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.host}/{self.path}" if self.host else self.path
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ImageChoice:
    image: str
    reason: str
    """Why this image, for the operator: which rule picked it."""


def parse_image(reference: str, where: str = "image") -> ImageReference:
    """Split and validate an image reference; InputError names `where` and the bad part."""
    ref = reference.strip()
    if not ref or ref != reference or any(c.isspace() for c in ref):
        raise InputError(msg(
            "dns.image-blank", "{where} {reference} is empty or contains white space; give e.g. "
                               "registry/path:tag",
            where=where, reference=repr(reference),
        ))
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise InputError(msg(
            "dns.image-digest", "{where} {reference}: digest {digest} is not algorithm:hex (e.g. sha256:...)",
            where=where, reference=repr(reference), digest=repr(digest),
        ))
    host: str | None = None
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.match(first):
            raise InputError(msg(
                "dns.image-host", "{where} {reference}: registry host {host} is not a host[:port]",
                where=where, reference=repr(reference), host=repr(first),
            ))
        host, name = first, rest
    path, tag = name, None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        path, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InputError(msg(
                "dns.image-tag",
                "{where} {reference}: tag {tag} is not valid (letters, digits, '_', '.', '-', at most 128)",
                where=where, reference=repr(reference), tag=repr(tag),
            ))
    for component in path.split("/"):
        if not _PATH_COMPONENT_RE.match(component):
            raise InputError(msg(
                "dns.image-path",
                "{where} {reference}: path part {component} is not valid "
                "(lower-case letters and digits separated by '.', '_' or '-')",
                where=where, reference=repr(reference), component=repr(component),
            ))
    if tag is None and not digest:
        raise InputError(msg(
            "dns.image-unpinned", "{where} {reference} has no tag or digest; pin one, e.g. {path}:1.8.4",
            where=where, reference=repr(reference), path=path,
        ))
    return ImageReference(host, path, tag, digest or None)


def validate_image_host(host: str, where: str = "--image-host") -> str:
    """A registry host[:port] without scheme or path (the operator gives just where to pull from)."""
    value = host.strip().removesuffix("/")
    if "://" in value:
        raise InputError(msg(
            "dns.image-host-scheme", "{where} {host}: give the host without a scheme, e.g. "
                                     "registry.example.com:5000",
            where=where, host=repr(host),
        ))
    if not _HOST_RE.match(value):
        raise InputError(msg(
            "dns.image-host-invalid", "{where} {host} is not a registry host[:port], e.g. "
                                      "registry.example.com",
            where=where, host=repr(host),
        ))
    return value


def coredns_image(
    version: str,
    *,
    kube_dns_image: str | None = None,
    image_host: str | None = None,
    image: str | None = None,
) -> ImageChoice:
    """The CoreDNS image for `version` (the text as chosen, e.g. "1.8.4" or "v1.11.1-tke.1").

    `image` wins outright; otherwise the path scheme follows the kube-dns image's registry (vendor
    or upstream) and `image_host` only replaces the host.
    """
    if image is not None:
        return ImageChoice(str(parse_image(image, "--image")), msg("dns.image-given", "given with --image"))
    kube_dns_host = None
    if kube_dns_image:
        kube_dns_host = registry_host(kube_dns_image)
    host = validate_image_host(image_host) if image_host is not None else None
    parsed = Version.parse(version)
    if is_tke_registry(kube_dns_host):
        chosen_host = host or kube_dns_host
        tag = version.strip()
        reason: str = msg("dns.image-vendor", "the kube-dns image is on the vendor registry {registry}",
                     registry=kube_dns_host)
        if host:
            reason = _host_replaced(reason, host)
        vendor = parse_image(f"{chosen_host}/tkeimages/coredns:{tag}", "CoreDNS image")
        return ImageChoice(str(vendor), reason)
    if parsed.suffix:
        raise InputError(msg(
            "dns.image-vendor-build",
            "CoreDNS version {version} is a vendor build that the upstream registry does not publish; "
            "give a plain X.Y.Z version, or the whole image with --image",
            version=repr(version),
        ))
    plain = str(parsed)
    if parsed >= Version(1, 8, 0):
        text = f"{host or UPSTREAM_HOST}/coredns/coredns:v{plain}"
        reason = msg("dns.image-upstream-new",
                     "upstream registry scheme for CoreDNS 1.8.0 and newer (coredns/coredns:vX.Y.Z)")
    else:
        text = f"{host or LEGACY_UPSTREAM_HOST}/coredns:{plain}"
        reason = msg("dns.image-upstream-legacy",
                     "upstream registry scheme for CoreDNS before 1.8.0 (coredns:X.Y.Z)")
    if host:
        reason = _host_replaced(reason, host)
    return ImageChoice(str(parse_image(text, "CoreDNS image")), reason)


def _host_replaced(reason: str, host: str) -> str:
    return msg("dns.image-host-replaced", "{reason}, host replaced by --image-host "
                                          "{host}", reason=reason, host=host)
