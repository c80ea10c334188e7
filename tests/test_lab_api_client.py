"""The lab_api API server against the official Python client (kubernetes 37, pydantic models).

Every test goes over real HTTPS with the CA and token from the kubeconfig the server wrote, so
what passes here is what the wizard's gateway will see against the lab_api.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from lab_api_harness import LabAPI, deployment, pod, running_lab_api

NS = "kube-system"


@pytest.fixture(scope="module")
def lab_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabAPI]:
    with running_lab_api(tmp_path_factory.mktemp("lab-api")) as running:
        yield running


@pytest.fixture(scope="module")
def api(lab_api: LabAPI) -> client.ApiClient:
    return lab_api.api_client()


@pytest.fixture(scope="module")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as caught:
        call(*args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)


def _raw(lab_api: LabAPI, path: str, token: str | None) -> tuple[int, dict[str, Any]]:
    import ssl

    certificates = lab_api.server.certificates
    assert certificates is not None
    context = ssl.create_default_context(cafile=str(certificates.ca_path))
    request = urllib.request.Request(f"{lab_api.server.url}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---- discovery and auth --------------------------------------------------------------------


def test_version_and_discovery_with_trailing_slashes(lab_api: LabAPI, api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "20", "v1.20.15")
    for path in ("/version/", "/api/", "/apis/", "/api/v1/", "/apis/apps/v1/", "/apis/apps/v1", "/apis/apps"):
        status, body = _raw(lab_api, path, "lab-test-token")
        assert status == 200, path
        assert body, path
    groups = client.ApisApi(api).get_api_versions()
    assert "apps" in {g.name for g in groups.groups}
    assert "authorization.k8s.io" in {g.name for g in groups.groups}


def test_missing_or_wrong_token_gets_401_status(lab_api: LabAPI) -> None:
    for token in (None, "wrong"):
        status, body = _raw(lab_api, "/api/v1/pods", token)
        assert status == 401
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_unknown_paths_are_404(lab_api: LabAPI) -> None:
    for path in (
        "/api/v1/widgets",
        "/apis/apps/v9/deployments",
        "/apis/nope/v1",
        "/api/v1/namespaces/x/pods/y/wrongsub",
    ):
        status, body = _raw(lab_api, path, "lab-test-token")
        assert status == 404, path
        assert body["reason"] == "NotFound"


# ---- CRUD ----------------------------------------------------------------------------------


def test_create_get_and_duplicate(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment("crud-a"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.generation == 1
    assert created.status is None or created.status.replicas is None  # status is not client-settable
    fetched = apps.read_namespaced_deployment("crud-a", NS)
    assert fetched.metadata.uid == created.metadata.uid
    status, body = _error(apps.create_namespaced_deployment, NS, deployment("crud-a"))
    assert status == 409 and body["reason"] == "AlreadyExists"
    status, body = _error(apps.read_namespaced_deployment, "nope", NS)
    assert status == 404 and body["message"] == 'deployments.apps "nope" not found'


def test_create_in_missing_namespace_is_404(apps: client.AppsV1Api) -> None:
    status, body = _error(apps.create_namespaced_deployment, "ghost", deployment("x", namespace="ghost"))
    assert status == 404 and body["message"] == 'namespaces "ghost" not found'


def test_invalid_objects_get_422_with_causes(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    bad = deployment("bad-selector")
    bad["spec"]["selector"] = {"matchLabels": {"k8s-app": "other"}}
    status, body = _error(apps.create_namespaced_deployment, NS, bad)
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    status, body = _error(
        core.create_namespaced_config_map, NS, {"metadata": {"name": "Bad_Name"}, "data": {"a": "b"}}
    )
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


def test_list_with_label_and_field_selectors(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create(
        "pods", pod("sel-kube-dns", labels={"k8s-app": "kube-dns", "sel": "yes"}, node="node-a")
    )
    lab_api.store.create(
        "pods", pod("sel-coredns", labels={"k8s-app": "coredns", "sel": "yes"}, node="node-b")
    )
    lab_api.store.create("pods", pod("sel-pending", labels={"sel": "yes"}, node=None, phase="Pending"))

    def names(**kwargs: Any) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items]

    assert names(label_selector="sel=yes,k8s-app in (kube-dns,coredns)") == ["sel-coredns", "sel-kube-dns"]
    assert names(label_selector="sel=yes,k8s-app notin (kube-dns)") == ["sel-coredns", "sel-pending"]
    assert names(label_selector="sel=yes,!k8s-app") == ["sel-pending"]
    assert names(label_selector="sel,k8s-app!=coredns") == ["sel-kube-dns", "sel-pending"]
    assert names(label_selector="sel", field_selector="spec.nodeName=node-b") == ["sel-coredns"]
    assert names(label_selector="sel", field_selector="status.phase!=Running") == ["sel-pending"]
    assert names(field_selector="metadata.name=sel-kube-dns,metadata.namespace=kube-system") == [
        "sel-kube-dns"
    ]
    everywhere = core.list_pod_for_all_namespaces(label_selector="sel=yes")
    assert len(everywhere.items) == 3
    status, body = _error(core.list_namespaced_pod, NS, field_selector="spec.bogus=1")
    assert status == 400 and "field label not supported" in body["message"]


def test_list_pages_with_limit_and_continue(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    for index in range(7):
        lab_api.store.create(
            "configmaps", {"metadata": {"name": f"page-{index}", "namespace": NS, "labels": {"page": "1"}}}
        )
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(NS, label_selector="page=1", limit=3, _continue=token)
        seen += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3
    assert seen == [f"page-{i}" for i in range(7)]


def test_replace_with_stale_resource_version_is_409(apps: client.AppsV1Api) -> None:
    first = apps.create_namespaced_deployment(NS, deployment("replace-a"))
    fresh = apps.read_namespaced_deployment("replace-a", NS)
    fresh.spec.replicas = 5
    replaced = apps.replace_namespaced_deployment("replace-a", NS, fresh)
    assert replaced.spec.replicas == 5 and replaced.metadata.generation == 2
    first.spec.replicas = 1
    status, body = _error(apps.replace_namespaced_deployment, "replace-a", NS, first)
    assert status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]


def test_main_resource_writes_ignore_status_and_status_writes_ignore_spec(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment("status-a", replicas=2))
    apps.patch_namespaced_deployment_status(
        "status-a", NS, {"status": {"replicas": 2, "readyReplicas": 1}, "spec": {"replicas": 9}}
    )
    after = apps.read_namespaced_deployment("status-a", NS)
    assert after.status.ready_replicas == 1 and after.spec.replicas == 2
    apps.patch_namespaced_deployment(
        "status-a", NS, {"status": {"readyReplicas": 7}, "spec": {"replicas": 3}}
    )
    after = apps.read_namespaced_deployment("status-a", NS)
    assert after.status.ready_replicas == 1 and after.spec.replicas == 3


def test_patch_flavours(apps: client.AppsV1Api, api: client.ApiClient) -> None:
    apps.create_namespaced_deployment(NS, deployment("patch-a"))
    # strategic merge (the client's default for dict bodies): one container changes, env merges by name
    apps.patch_namespaced_deployment(
        "patch-a",
        NS,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "coredns",
                                "image": "registry.k8s.io/coredns/coredns:v1.8.0",
                                "env": [{"name": "B", "value": "2"}],
                            }
                        ]
                    }
                }
            }
        },
    )
    container = apps.read_namespaced_deployment("patch-a", NS).spec.template.spec.containers[0]
    assert container.image.endswith("v1.8.0")
    assert [e.name for e in container.env] == ["A", "B"]
    assert len(container.ports) == 2
    # JSON patch (a list body)
    apps.patch_namespaced_deployment("patch-a", NS, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    assert apps.read_namespaced_deployment("patch-a", NS).spec.replicas == 4
    # merge patch: lists replace
    apps.patch_namespaced_deployment(
        "patch-a", NS, {"metadata": {"labels": {"extra": "1"}}}, _content_type="application/merge-patch+json"
    )
    labels = apps.read_namespaced_deployment("patch-a", NS).metadata.labels
    assert labels == {"k8s-app": "kube-dns", "extra": "1"}
    status, body = _error(
        apps.patch_namespaced_deployment,
        "patch-a",
        NS,
        [{"op": "test", "path": "/spec/replicas", "value": 99}],
    )
    assert status == 422 and body["reason"] == "Invalid"


def test_server_side_apply_creates_then_merges(apps: client.AppsV1Api) -> None:
    body = deployment("ssa-a", replicas=1)
    status, error = _error(
        apps.patch_namespaced_deployment, "ssa-a", NS, body, _content_type="application/apply-patch+yaml"
    )
    assert status == 422 and "fieldManager" in error["message"]
    created = apps.patch_namespaced_deployment(
        "ssa-a", NS, body, field_manager="wizard", _content_type="application/apply-patch+yaml"
    )
    assert created.spec.replicas == 1
    assert [m.manager for m in created.metadata.managed_fields] == ["wizard"]
    body["spec"]["replicas"] = 3
    applied = apps.patch_namespaced_deployment(
        "ssa-a", NS, body, field_manager="wizard", _content_type="application/apply-patch+yaml"
    )
    assert applied.spec.replicas == 3 and applied.metadata.uid == created.metadata.uid
    # another manager adds a label; the first one then stops applying its env var
    apps.patch_namespaced_deployment(
        "ssa-a",
        NS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "ssa-a", "labels": {"owner": "other"}},
        },
        field_manager="other",
        _content_type="application/apply-patch+yaml",
    )
    del body["spec"]["template"]["spec"]["containers"][0]["env"]
    again = apps.patch_namespaced_deployment(
        "ssa-a", NS, body, field_manager="wizard", _content_type="application/apply-patch+yaml"
    )
    assert again.spec.template.spec.containers[0].env is None
    assert again.metadata.labels == {"k8s-app": "kube-dns", "owner": "other"}
    assert sorted(m.manager for m in again.metadata.managed_fields) == ["other", "wizard"]


def test_dry_run_validates_without_storing(lab_api: LabAPI, apps: client.AppsV1Api) -> None:
    before = lab_api.store.resource_version
    would_be = apps.create_namespaced_deployment(NS, deployment("dry-a"), dry_run="All")
    assert would_be.metadata.uid and would_be.metadata.name == "dry-a"
    assert lab_api.store.try_get("deployments.apps", NS, "dry-a") is None
    bad = deployment("dry-bad", replicas=-1)
    status, _ = _error(apps.create_namespaced_deployment, NS, bad, dry_run="All")
    assert status == 422
    apps.create_namespaced_deployment(NS, deployment("dry-b"))
    before = lab_api.store.resource_version
    patched = apps.patch_namespaced_deployment("dry-b", NS, {"spec": {"replicas": 7}}, dry_run="All")
    assert patched.spec.replicas == 7
    apps.delete_namespaced_deployment("dry-b", NS, dry_run="All")
    assert lab_api.store.resource_version == before
    assert lab_api.store.get("deployments.apps", NS, "dry-b")["spec"]["replicas"] == 2


def test_scale_subresource(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment("scale-a", replicas=2))
    scale = apps.read_namespaced_deployment_scale("scale-a", NS)
    assert scale.spec.replicas == 2 and scale.status.selector == "k8s-app=kube-dns"
    apps.patch_namespaced_deployment_scale("scale-a", NS, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_deployment("scale-a", NS).spec.replicas == 0
    scale = apps.read_namespaced_deployment_scale("scale-a", NS)
    scale.spec.replicas = 3
    apps.replace_namespaced_deployment_scale("scale-a", NS, scale)
    assert apps.read_namespaced_deployment("scale-a", NS).spec.replicas == 3
    status, body = _error(apps.patch_namespaced_deployment_scale, "scale-a", NS, {"spec": {"replicas": -1}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.replicas"
    scale.spec.replicas = 1  # scale still carries the old resourceVersion
    status, _ = _error(apps.replace_namespaced_deployment_scale, "scale-a", NS, scale)
    assert status == 409


def test_pod_delete_is_graceful_other_kinds_go_at_once(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("pods", pod("grace-a"))
    result = core.delete_namespaced_pod("grace-a", NS)
    assert result.metadata.deletion_timestamp is not None
    assert result.metadata.deletion_grace_period_seconds == 30
    still = core.read_namespaced_pod("grace-a", NS)
    assert still.metadata.deletion_timestamp is not None
    lab_api.store.create("pods", pod("grace-b"))
    core.delete_namespaced_pod("grace-b", NS, grace_period_seconds=5)
    assert lab_api.store.get("pods", NS, "grace-b")["metadata"]["deletionGracePeriodSeconds"] == 5
    lab_api.store.create("pods", pod("grace-c"))
    core.delete_namespaced_pod("grace-c", NS, grace_period_seconds=0)
    assert lab_api.store.try_get("pods", NS, "grace-c") is None
    core.create_namespaced_config_map(NS, {"metadata": {"name": "gone-at-once"}, "data": {"a": "b"}})
    status = core.delete_namespaced_config_map(
        "gone-at-once", NS, propagation_policy="Background", _preload_content=False
    )
    body = json.loads(status.data)
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "gone-at-once"
    assert lab_api.store.try_get("configmaps", NS, "gone-at-once") is None


def test_orphan_propagation_strips_owner_references(lab_api: LabAPI, apps: client.AppsV1Api) -> None:
    owner = apps.create_namespaced_deployment(NS, deployment("orphan-owner"))
    lab_api.store.create(
        "replicasets.apps",
        {
            "metadata": {
                "name": "orphan-rs",
                "namespace": NS,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "orphan-owner",
                        "uid": owner.metadata.uid,
                        "controller": True,
                    }
                ],
            }
        },
    )
    apps.delete_namespaced_deployment("orphan-owner", NS, propagation_policy="Orphan")
    assert lab_api.store.get("replicasets.apps", NS, "orphan-rs")["metadata"]["ownerReferences"] == []


def test_service_cluster_ip_allocation(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    port = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    wanted = "127.250.0.10"
    first = core.create_namespaced_service(
        NS, {"metadata": {"name": "svc-dns"}, "spec": {"clusterIP": wanted, "ports": port}}
    )
    assert first.spec.cluster_ip == wanted and first.spec.cluster_ips == [wanted]
    status, body = _error(
        core.create_namespaced_service,
        NS,
        {"metadata": {"name": "svc-dup"}, "spec": {"clusterIP": wanted, "ports": port}},
    )
    assert status == 422 and "already allocated" in body["message"]
    other = core.create_namespaced_service(NS, {"metadata": {"name": "svc-any"}, "spec": {"ports": port}})
    assert other.spec.cluster_ip.startswith("127.250.") and other.spec.cluster_ip != wanted
    core.delete_namespaced_service("svc-dns", NS)
    again = core.create_namespaced_service(
        NS, {"metadata": {"name": "svc-dns2"}, "spec": {"clusterIP": wanted, "ports": port}}
    )
    assert again.spec.cluster_ip == wanted


def test_events_are_stored_as_given(core: client.CoreV1Api) -> None:
    event = core.create_namespaced_event(
        NS,
        {
            "metadata": {"name": "coredns.1234"},
            "involvedObject": {"kind": "Deployment", "name": "coredns", "namespace": NS},
            "reason": "ScalingReplicaSet",
            "message": "Scaled up",
            "type": "Normal",
        },
    )
    assert event.involved_object.name == "coredns"
    found = core.list_namespaced_event(NS, field_selector="involvedObject.name=coredns")
    assert [e.reason for e in found.items] == ["ScalingReplicaSet"]


def test_list_of_ten_thousand_pods(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "big"}})
    for index in range(10_000):
        lab_api.store.create("pods", pod(f"p-{index:05d}", namespace="big", labels={"app": "load"}))
    listed = core.list_namespaced_pod("big", _preload_content=False)
    body = json.loads(listed.data)
    assert len(body["items"]) == 10_000
    assert body["items"][0]["metadata"]["name"] == "p-00000"


# ---- watch ---------------------------------------------------------------------------------


def test_watch_sends_existing_then_live_events(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "watch-a"}})
    core.create_namespaced_config_map("watch-a", {"metadata": {"name": "one"}, "data": {}})
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def change_later() -> None:
        core.create_namespaced_config_map("watch-a", {"metadata": {"name": "two"}, "data": {}})
        core.patch_namespaced_config_map("two", "watch-a", {"data": {"x": "y"}})
        core.delete_namespaced_config_map("one", "watch-a")

    for event in w.stream(core.list_namespaced_config_map, "watch-a", timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            threading.Thread(target=change_later).start()
        if len(events) == 4:
            w.stop()
    assert events == [("ADDED", "one"), ("ADDED", "two"), ("MODIFIED", "two"), ("DELETED", "one")]


def test_watch_resumes_from_a_resource_version_and_410_when_too_old(
    lab_api: LabAPI, core: client.CoreV1Api
) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "watch-b"}})
    listed = core.list_namespaced_config_map("watch-b")
    core.create_namespaced_config_map("watch-b", {"metadata": {"name": "after"}, "data": {}})
    response = core.list_namespaced_config_map(
        "watch-b",
        watch=True,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=1,
        _preload_content=False,
    )
    lines = [json.loads(line) for line in response.read().decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "after")]

    lab_api.store.compact()
    core.create_namespaced_config_map("watch-b", {"metadata": {"name": "later"}, "data": {}})
    response = core.list_namespaced_config_map(
        "watch-b", watch=True, resource_version="1", timeout_seconds=1, _preload_content=False
    )
    lines = [json.loads(line) for line in response.read().decode().splitlines()]
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 410 and lines[0]["object"]["reason"] == "Expired"


def test_watch_timeout_ends_the_stream_without_blank_lines(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "watch-c"}})
    response = core.list_namespaced_config_map(
        "watch-c", watch=True, timeout_seconds=1, allow_watch_bookmarks=True, _preload_content=False
    )
    assert response.read() == b""  # nothing happened; no keep-alive lines either


def test_bookmarks_carry_the_resource_version(tmp_path: Path) -> None:
    with running_lab_api(tmp_path, bookmark_interval=0.2) as lab_api:
        core = client.CoreV1Api(lab_api.api_client())
        response = core.list_namespaced_config_map(
            "default", watch=True, timeout_seconds=1, allow_watch_bookmarks=True, _preload_content=False
        )
        lines = response.read().decode().splitlines()
        assert lines and all(line.strip() for line in lines)
        events = [json.loads(line) for line in lines]
        assert {e["type"] for e in events} == {"BOOKMARK"}
        assert events[0]["object"]["metadata"]["resourceVersion"] == str(lab_api.store.resource_version)


def test_watch_selector_turns_unmatching_modification_into_deleted(
    lab_api: LabAPI, core: client.CoreV1Api
) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "watch-d"}})
    core.create_namespaced_config_map("watch-d", {"metadata": {"name": "m", "labels": {"role": "dns"}}})
    core.create_namespaced_config_map("watch-d", {"metadata": {"name": "other"}})
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def relabel() -> None:
        core.patch_namespaced_config_map("m", "watch-d", {"metadata": {"labels": {"role": "none"}}})
        core.patch_namespaced_config_map("other", "watch-d", {"metadata": {"labels": {"role": "dns"}}})

    for event in w.stream(
        core.list_namespaced_config_map, "watch-d", label_selector="role=dns", timeout_seconds=10
    ):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            threading.Thread(target=relabel).start()
        if len(events) == 3:
            w.stop()
    assert events == [("ADDED", "m"), ("DELETED", "m"), ("ADDED", "other")]


def test_send_initial_events_ends_with_the_initial_events_bookmark(
    lab_api: LabAPI, core: client.CoreV1Api
) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "watch-e"}})
    core.create_namespaced_config_map("watch-e", {"metadata": {"name": "a"}})
    response = core.list_namespaced_config_map(
        "watch-e",
        watch=True,
        send_initial_events=True,
        allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan",
        timeout_seconds=1,
        _preload_content=False,
    )
    events = [json.loads(line) for line in response.read().decode().splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


# ---- permissions and faults ----------------------------------------------------------------


def _can(api: client.ApiClient, verb: str, resource: str, subresource: str = "", group: str = "apps") -> bool:
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": NS,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": subresource,
                }
            },
        }
    )
    return bool(review.status.allowed)


def test_access_review_and_forbidden_writes(
    lab_api: LabAPI, api: client.ApiClient, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment("deny-a"))
    assert _can(api, "update", "deployments", "scale")
    lab_api.config.deny.add(("patch", "deployments/scale"))
    try:
        assert not _can(api, "patch", "deployments", "scale")
        assert _can(api, "patch", "deployments")
        status, body = _error(apps.patch_namespaced_deployment_scale, "deny-a", NS, {"spec": {"replicas": 0}})
        assert status == 403 and body["reason"] == "Forbidden"
        assert body["message"] == (
            'deployments.apps "deny-a" is forbidden: User "lab-operator" cannot patch resource '
            '"deployments/scale" in API group "apps" in the namespace "kube-system"'
        )
    finally:
        lab_api.config.deny.discard(("patch", "deployments/scale"))
    apps.patch_namespaced_deployment_scale("deny-a", NS, {"spec": {"replicas": 0}})


def test_deny_scale_fault_is_switchable_at_run_time(
    lab_api: LabAPI, api: client.ApiClient, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment("deny-b"))
    lab_api.faults.on("deny-scale")
    try:
        assert not _can(api, "update", "deployments", "scale")
        status, _ = _error(apps.patch_namespaced_deployment_scale, "deny-b", NS, {"spec": {"replicas": 1}})
        assert status == 403
    finally:
        lab_api.faults.off("deny-scale")
    assert _can(api, "update", "deployments", "scale")


def test_flaky_api_fails_a_share_of_requests_and_drops_watches(tmp_path: Path) -> None:
    with running_lab_api(tmp_path, flaky_seed=7, flaky_rate=0.5, flaky_hang_seconds=0.05) as lab_api:
        raw = client.CoreV1Api(lab_api.api_client())
        lab_api.faults.on("flaky-api")
        codes: list[int] = []
        for _ in range(40):
            try:
                raw.list_namespaced_config_map("default")
                codes.append(200)
            except client.ApiException as error:
                codes.append(error.status)
        assert 200 in codes and set(codes) <= {200, 500, 503, 504}
        assert {500, 503, 504} & set(codes)
        lab_api.config.flaky_rate = 0.0
        for index in range(6):
            lab_api.store.create("configmaps", {"metadata": {"name": f"w{index}", "namespace": "default"}})
        response = raw.list_namespaced_config_map(
            "default", watch=True, timeout_seconds=30, _preload_content=False
        )
        events = response.read().decode().splitlines()
        assert len(events) == lab_api.config.flaky_watch_events  # dropped before all six were sent
        lab_api.faults.off("flaky-api")
        assert len(raw.list_namespaced_config_map("default").items) == 6


def test_delete_collection_by_label(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "collect"}})
    for name, labels in (("c1", {"batch": "x"}), ("c2", {"batch": "x"}), ("c3", {})):
        core.create_namespaced_config_map("collect", {"metadata": {"name": name, "labels": labels}})
    response = core.delete_collection_namespaced_config_map(
        "collect", label_selector="batch=x", _preload_content=False
    )
    deleted = json.loads(response.data)
    assert deleted["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["c1", "c2"]
    assert [c.metadata.name for c in core.list_namespaced_config_map("collect").items] == ["c3"]


def _watch_names(lab_api: LabAPI, path: str) -> list[tuple[str, str]]:
    import ssl

    certificates = lab_api.server.certificates
    assert certificates is not None
    context = ssl.create_default_context(cafile=str(certificates.ca_path))
    request = urllib.request.Request(f"{lab_api.server.url}{path}")
    request.add_header("Authorization", "Bearer lab-test-token")
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        lines = response.read().decode().splitlines()
    return [(json.loads(line)["type"], json.loads(line)["object"]["metadata"]["name"]) for line in lines]


def test_legacy_watch_path_and_single_object_watch(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    lab_api.store.create("namespaces", {"metadata": {"name": "legacy"}})
    for name in ("one", "two"):
        core.create_namespaced_config_map("legacy", {"metadata": {"name": name}})
    assert _watch_names(lab_api, "/api/v1/watch/namespaces/legacy/configmaps?timeoutSeconds=1") == [
        ("ADDED", "one"),
        ("ADDED", "two"),
    ]
    assert _watch_names(lab_api, "/api/v1/namespaces/legacy/configmaps/two?watch=true&timeoutSeconds=1") == [
        ("ADDED", "two")
    ]


def test_namespace_delete_takes_its_objects_and_finalizers_hold_objects(
    lab_api: LabAPI, core: client.CoreV1Api
) -> None:
    core.create_namespace({"metadata": {"name": "doomed-ns"}})
    core.create_namespaced_config_map("doomed-ns", {"metadata": {"name": "inside"}})
    core.delete_namespace("doomed-ns")
    assert lab_api.store.try_get("namespaces", "", "doomed-ns") is None
    assert lab_api.store.try_get("configmaps", "doomed-ns", "inside") is None

    core.create_namespaced_config_map(NS, {"metadata": {"name": "held", "finalizers": ["lab/hold"]}})
    core.delete_namespaced_config_map("held", NS)
    held = core.read_namespaced_config_map("held", NS)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", NS, {"metadata": {"finalizers": None}})
    assert lab_api.store.try_get("configmaps", NS, "held") is None
