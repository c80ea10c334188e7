"""The API server's pure helpers: selectors, patches, validation, discovery, kubeconfig, protobuf.

These pin the semantics the wizard relies on when it filters pods by `k8s-app=kube-dns`, patches
one container of a Deployment, or reads the lab's DNS port from its kubeconfig.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wizard.lab.api import discovery
from wizard.lab.api.kubeconfig import lab_extension, write_kubeconfig
from wizard.lab.api.patching import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    field_set,
    remove_dropped_fields,
)
from wizard.lab.api.protobuf import access_review_from_protobuf
from wizard.lab.api.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_object_matches,
    selector_to_string,
)
from wizard.lab.api.store import ApiError, resource
from wizard.lab.api.validation import apply_defaults, validate

# ---- label selectors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("k8s-app=kube-dns", {"k8s-app": "kube-dns"}, True),
        ("k8s-app==kube-dns", {"k8s-app": "kube-dns"}, True),
        ("k8s-app=kube-dns", {"k8s-app": "coredns"}, False),
        ("k8s-app!=kube-dns", {"k8s-app": "coredns"}, True),
        ("k8s-app!=kube-dns", {}, True),
        ("k8s-app in (kube-dns, coredns)", {"k8s-app": "coredns"}, True),
        ("k8s-app in (kube-dns,coredns),tier=dns", {"k8s-app": "coredns"}, False),
        ("k8s-app notin (kube-dns)", {"k8s-app": "coredns"}, True),
        ("k8s-app notin (kube-dns)", {"k8s-app": "kube-dns"}, False),
        ("app.kubernetes.io/name", {"app.kubernetes.io/name": "x"}, True),
        ("!app.kubernetes.io/name", {"app.kubernetes.io/name": "x"}, False),
        ("!version", {}, True),
        ("a=1,b", {"a": "1"}, False),
        ("", {"anything": "x"}, True),
        ("gen>3", {"gen": "4"}, True),
        ("gen<3", {"gen": "4"}, False),
    ],
)
def test_label_selector_matches_like_the_api_server(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["a b", "=x", "a in x", "a,,b", "a=b c", "k in (a b)"])
def test_malformed_label_selector_is_a_400(bad: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_label_selector(bad)
    assert caught.value.code == 400


def test_selector_object_round_trips_to_a_string() -> None:
    selector = {
        "matchLabels": {"k8s-app": "kube-dns"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    text = selector_to_string(selector)
    assert text == "k8s-app=kube-dns,tier in (a,b),!legacy"
    assert selector_object_matches(selector, {"k8s-app": "kube-dns", "tier": "a"})
    assert not selector_object_matches(selector, {"k8s-app": "kube-dns", "tier": "a", "legacy": "1"})


@given(st.dictionaries(st.sampled_from(["a", "b", "k8s-app"]), st.sampled_from(["x", "y", ""]), max_size=3))
def test_equality_and_inequality_are_complements(labels: dict[str, str]) -> None:
    equal = parse_label_selector("a=x").matches(labels)
    not_equal = parse_label_selector("a!=x").matches(labels)
    assert equal != not_equal


# ---- field selectors -----------------------------------------------------------------------


def test_field_selector_on_pod_fields() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"nodeName": "node-1"},
        "status": {"phase": "Running"},
    }
    assert parse_field_selector("spec.nodeName=node-1,status.phase!=Pending", "Pod").matches(pod)
    assert not parse_field_selector("metadata.namespace==default", "Pod").matches(pod)
    with pytest.raises(ApiError, match=r"field label not supported: spec\.hostname"):
        parse_field_selector("spec.hostname=x", "Pod")
    with pytest.raises(ApiError):
        parse_field_selector("spec.nodeName=node-1", "ConfigMap")


# ---- patches -------------------------------------------------------------------------------


def _pod_spec() -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {
                    "name": "kubedns",
                    "image": "kube-dns:1.14",
                    "ports": [{"containerPort": 10053}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                },
                {"name": "sidecar", "image": "sidecar:1.14"},
            ],
            "volumes": [{"name": "config", "configMap": {"name": "kube-dns"}}],
            "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        }
    }


def test_strategic_merge_patches_one_container_and_keeps_the_others() -> None:
    patch = {
        "spec": {
            "containers": [
                {"name": "kubedns", "image": "kube-dns:1.15", "env": [{"name": "B", "value": "3"}]}
            ],
            "volumes": [{"name": "extra", "emptyDir": {}}],
            "tolerations": [{"key": "only", "operator": "Exists"}],
        }
    }
    merged = apply_strategic_merge_patch(_pod_spec(), patch)
    containers = {c["name"]: c for c in merged["spec"]["containers"]}
    assert containers["kubedns"]["image"] == "kube-dns:1.15"
    assert containers["kubedns"]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert containers["kubedns"]["ports"] == [{"containerPort": 10053}]
    assert containers["sidecar"]["image"] == "sidecar:1.14"
    assert [v["name"] for v in merged["spec"]["volumes"]] == ["config", "extra"]
    assert merged["spec"]["tolerations"] == [{"key": "only", "operator": "Exists"}]  # atomic list


def test_strategic_merge_directives_delete_and_replace() -> None:
    deleted = apply_strategic_merge_patch(
        _pod_spec(), {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    )
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["kubedns"]
    replaced = apply_strategic_merge_patch(
        _pod_spec(), {"spec": {"volumes": [{"name": "only", "emptyDir": {}}, {"$patch": "replace"}]}}
    )
    assert replaced["spec"]["volumes"] == [{"name": "only", "emptyDir": {}}]
    ordered = apply_strategic_merge_patch(
        _pod_spec(), {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": []}}
    )
    assert "$setElementOrder/containers" not in ordered["spec"]


def test_service_ports_merge_by_port() -> None:
    service = {
        "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "metrics", "port": 9153}]}
    }
    merged = apply_strategic_merge_patch(service, {"spec": {"ports": [{"port": 9153, "name": "prom"}]}})
    assert merged["spec"]["ports"] == [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "prom", "port": 9153},
    ]


def test_merge_patch_replaces_lists_and_null_deletes() -> None:
    merged = apply_merge_patch(_pod_spec(), {"spec": {"volumes": None, "containers": [{"name": "x"}]}})
    assert "volumes" not in merged["spec"]
    assert merged["spec"]["containers"] == [{"name": "x"}]


def test_json_patch_operations_and_test_failure() -> None:
    doc = {"spec": {"replicas": 2, "list": [1, 2]}}
    patched = apply_json_patch(
        doc,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 0},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "add", "path": "/metadata", "value": {"labels": {"a/b": "x"}}},
            {"op": "copy", "from": "/metadata/labels/a~1b", "path": "/spec/copied"},
        ],
    )
    assert patched == {
        "spec": {"replicas": 0, "list": [2, 3], "copied": "x"},
        "metadata": {"labels": {"a/b": "x"}},
    }
    assert doc == {"spec": {"replicas": 2, "list": [1, 2]}}  # the input is not mutated
    with pytest.raises(ApiError) as caught:
        apply_json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 5}])
    assert caught.value.code == 422
    with pytest.raises(ApiError):
        apply_json_patch(doc, [{"op": "remove", "path": "/spec/missing"}])


# ---- validation and defaults ---------------------------------------------------------------


def _deployment(labels: dict[str, str], selector: dict[str, str], replicas: Any = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "coredns"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "coredns", "image": "coredns:1.7.0"}]},
            },
        },
    }


def test_deployment_selector_must_match_template_labels() -> None:
    validate(resource("Deployment"), _deployment({"k8s-app": "kube-dns"}, {"k8s-app": "kube-dns"}))
    with pytest.raises(ApiError) as caught:
        validate(resource("Deployment"), _deployment({"k8s-app": "coredns"}, {"k8s-app": "kube-dns"}))
    error = caught.value
    assert error.code == 422 and error.reason == "Invalid"
    assert error.details["causes"][0]["field"] == "spec.template.metadata.labels"
    assert "`selector` does not match template `labels`" in error.message
    assert error.message.startswith('Deployment.apps "coredns" is invalid:')


def test_negative_replicas_and_bad_names_are_invalid() -> None:
    with pytest.raises(ApiError, match=r"spec\.replicas"):
        validate(resource("Deployment"), _deployment({"a": "b"}, {"a": "b"}, replicas=-1))
    bad_name = _deployment({"a": "b"}, {"a": "b"})
    bad_name["metadata"]["name"] = "CoreDNS_1"
    with pytest.raises(ApiError, match="RFC 1123 subdomain"):
        validate(resource("Deployment"), bad_name)
    validate(resource("ClusterRole"), {"metadata": {"name": "system:coredns"}})


def test_service_ports_and_configmap_values_are_checked() -> None:
    with pytest.raises(ApiError) as caught:
        validate(
            resource("Service"),
            {
                "metadata": {"name": "dns"},
                "spec": {"ports": [{"name": "dns", "port": 70000}, {"port": 53, "protocol": "ICMP"}]},
            },
        )
    fields = {c["field"] for c in caught.value.details["causes"]}
    assert fields == {"spec.ports[0].port", "spec.ports[1].protocol", "spec.ports[1].name"}
    with pytest.raises(ApiError, match=r"data\[Corefile\]"):
        validate(resource("ConfigMap"), {"metadata": {"name": "coredns"}, "data": {"Corefile": 5}})


def test_defaults_fill_what_the_real_server_fills() -> None:
    obj = _deployment({"a": "b"}, {"a": "b"})
    del obj["spec"]["replicas"]
    apply_defaults(resource("Deployment"), obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30


# ---- discovery -----------------------------------------------------------------------------


def test_discovery_lists_subresources_with_their_kinds() -> None:
    apps = discovery.resource_list("apps", "v1")
    assert apps is not None
    by_name = {r["name"]: r for r in apps["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments/scale"]["group"] == "autoscaling"
    assert by_name["deployments/scale"]["kind"] == "Scale"
    core = discovery.resource_list("", "v1")
    assert core is not None
    names = {r["name"] for r in core["resources"]}
    assert {"pods/log", "pods/exec", "pods/portforward", "pods/proxy", "pods/status"} <= names
    assert discovery.resource_list("apps", "v2") is None
    version = discovery.version_document("1.20.15")
    assert len(version) == 9 and version["minor"] == "20" and version["gitVersion"] == "v1.20.15"


# ---- kubeconfig ----------------------------------------------------------------------------


def test_kubeconfig_is_private_and_carries_the_dns_port(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kube" / "config", "https://127.0.0.1:6443", b"PEM", "t0ken", extensions={"dnsPort": 1053}
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = yaml.safe_load(path.read_text())
    assert document["users"][0]["user"]["token"] == "t0ken"
    assert lab_extension(document) == {"dnsPort": 1053}
    assert lab_extension(document, "other") == {}
    write_kubeconfig(path, "https://127.0.0.1:7443", b"PEM", "t0ken")
    assert lab_extension(yaml.safe_load(path.read_text())) == {}
    assert [p.name for p in path.parent.iterdir()] == ["config"]  # no temporary file left behind


# ---- protobuf ------------------------------------------------------------------------------


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_access_review_decoded_from_kubectl_protobuf() -> None:
    attributes = (
        _field(1, b"kube-system")
        + _field(2, b"update")
        + _field(3, b"apps")
        + _field(5, b"deployments")
        + _field(6, b"scale")
    )
    review = _field(1, b"") + _field(2, _field(1, attributes))
    body = b"k8s\x00" + _field(1, _field(1, b"authorization.k8s.io/v1")) + _field(2, review)
    decoded = access_review_from_protobuf(body)
    assert decoded["spec"]["resourceAttributes"] == {
        "namespace": "kube-system",
        "verb": "update",
        "group": "apps",
        "resource": "deployments",
        "subresource": "scale",
    }
    with pytest.raises(ApiError):
        access_review_from_protobuf(b"not protobuf")


def test_openapi_v3_documents_advertise_server_side_field_validation() -> None:
    root = discovery.openapi_v3_root()
    assert root["paths"]["apis/apps/v1"]["serverRelativeURL"] == "/openapi/v3/apis/apps/v1"
    assert "api/v1" in root["paths"]
    document = discovery.openapi_v3_group_version("apps", "v1")
    assert document is not None
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert discovery.openapi_v3_group_version("apps", "v9") is None


def test_apply_field_sets_remove_what_a_manager_stopped_applying() -> None:
    first = {
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "args": ["-conf", "/etc/coredns/Corefile"],
                            "env": [{"name": "X", "value": "1"}],
                        },
                        {"name": "sidecar", "image": "s:1"},
                    ]
                }
            }
        },
    }
    second = {
        "metadata": {"labels": {"a": "1"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "coredns", "args": ["-conf", "/etc/coredns/Corefile"]},
                    ]
                }
            }
        },
    }
    before, after = field_set(first), field_set(second)
    containers = before["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers) == {'k:{"name":"coredns"}', 'k:{"name":"sidecar"}'}
    assert containers['k:{"name":"coredns"}']["f:args"] == {}  # an atomic list is owned whole
    live = apply_strategic_merge_patch({"metadata": {"labels": {"other": "kept"}}, "status": {"x": 1}}, first)
    pruned = remove_dropped_fields(live, before, after)
    result = apply_strategic_merge_patch(pruned, second)
    assert result["metadata"]["labels"] == {"other": "kept", "a": "1"}
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "coredns", "args": ["-conf", "/etc/coredns/Corefile"]}
    ]
    assert result["status"] == {"x": 1}
    assert live["metadata"]["labels"] == {"other": "kept", "a": "1", "b": "2"}  # inputs untouched
