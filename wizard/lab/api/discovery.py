"""Discovery documents (/version, /api, /apis, resource lists) built from the store's RESOURCES.

kubectl resolves every resource name, short name and subresource through these documents before
it sends a request, so they must list verbs, kinds, short names and subresources accurately.
"""

from __future__ import annotations

from wizard.lab.api.store import RESOURCES, Obj, Resource

_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "log": ("get",),
    "exec": ("create", "get"),
    "portforward": ("create", "get"),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "eviction": ("create",),
}
_SUBRESOURCE_KINDS: dict[str, tuple[str, str, str]] = {  # subresource -> (group, version, kind)
    "scale": ("autoscaling", "v1", "Scale"),
    "log": ("", "v1", "Pod"),
    "exec": ("", "v1", "PodExecOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
    "proxy": ("", "v1", "PodProxyOptions"),
    "eviction": ("policy", "v1", "Eviction"),
}

# Kinds in the "all" category, so `kubectl get all` lists them as on a real cluster.
_CATEGORY_ALL = frozenset(
    {"Pod", "Service", "Deployment", "ReplicaSet", "DaemonSet", "HorizontalPodAutoscaler"}
)

AUTHORIZATION_GROUP = "authorization.k8s.io"
SSAR_PLURAL = "selfsubjectaccessreviews"
SSRR_PLURAL = "selfsubjectrulesreviews"


def version_document(k8s_version: str) -> Obj:
    """/version with all nine fields the Python client's model requires."""
    major, minor, *_ = [*k8s_version.lstrip("v").split("."), "0", "0"]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{k8s_version.lstrip('v')}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.21.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def group_versions() -> dict[str, dict[str, list[Resource]]]:
    """group -> version -> resources, in RESOURCES order (the core group is "")."""
    groups: dict[str, dict[str, list[Resource]]] = {}
    for res in RESOURCES:
        groups.setdefault(res.group, {}).setdefault(res.version, []).append(res)
    return groups


def core_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(name: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list() -> Obj:
    groups = [
        _group_entry(name, list(versions)) for name, versions in group_versions().items() if name
    ]
    groups.append(_group_entry(AUTHORIZATION_GROUP, ["v1"]))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group_document(group: str) -> Obj | None:
    if group == AUTHORIZATION_GROUP:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, ["v1"])}
    versions = group_versions().get(group)
    if not group or versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, list(versions))}


def _singular(res: Resource) -> str:
    return res.kind.lower()


def resource_list(group: str, version: str) -> Obj | None:
    """The APIResourceList of one group version, or None when the lab does not serve it."""
    group_version = version if not group else f"{group}/{version}"
    if group == AUTHORIZATION_GROUP and version == "v1":
        return {
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [
                {
                    "name": SSAR_PLURAL, "singularName": "selfsubjectaccessreview", "namespaced": False,
                    "kind": "SelfSubjectAccessReview", "verbs": ["create"],
                },
                {
                    "name": SSRR_PLURAL, "singularName": "selfsubjectrulesreview", "namespaced": False,
                    "kind": "SelfSubjectRulesReview", "verbs": ["create"],
                },
            ],
        }
    resources = group_versions().get(group, {}).get(version)
    if resources is None:
        return None
    entries: list[Obj] = []
    for res in resources:
        entry: Obj = {
            "name": res.plural,
            "singularName": _singular(res),
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": list(res.verbs),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.kind in _CATEGORY_ALL:
            entry["categories"] = ["all"]
        entries.append(entry)
        for sub in res.subresources:
            sub_group, sub_version, sub_kind = _SUBRESOURCE_KINDS.get(sub, (res.group, res.version, res.kind))
            sub_entry: Obj = {
                "name": f"{res.plural}/{sub}",
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": sub_kind,
                "verbs": list(_SUBRESOURCE_VERBS.get(sub, ("get",))),
            }
            if (sub_group, sub_version) != (res.group, res.version):
                sub_entry["group"] = sub_group
                sub_entry["version"] = sub_version
            entries.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": entries}


# ---- OpenAPI v3 (just enough for kubectl's field-validation check) -----------------------------
#
# kubectl apply validates manifests by default. It first asks the OpenAPI v3 document whether
# the server supports the `fieldValidation` query parameter for the kind's PATCH operation; when
# it does, kubectl leaves validation to the server instead of downloading full schemas. These
# documents describe only that: one PATCH operation per kind, with no schemas.

def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_v3_root() -> Obj:
    paths = {
        _gv_path(group, version): {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}"}
        for group, versions in group_versions().items()
        for version in versions
    }
    return {"paths": paths}


def openapi_v3_group_version(group: str, version: str) -> Obj | None:
    resources = group_versions().get(group, {}).get(version)
    if resources is None:
        return None
    paths: Obj = {}
    for res in resources:
        scope = f"/{_gv_path(group, version)}/"
        if res.namespaced:
            scope += "namespaces/{namespace}/"
        paths[f"{scope}{res.plural}/{{name}}"] = {"patch": {
            "operationId": f"patch{res.kind}",
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                           {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                           {"name": "dryRun", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": res.kind},
        }}
    info = {"title": "Kubernetes (coredns-wizard lab)", "version": "unversioned"}
    return {"openapi": "3.0.0", "info": info, "paths": paths, "components": {"schemas": {}}}
