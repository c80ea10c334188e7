"""Lists and watch events built from the Store's cached JSON are byte-for-byte what encoding the
whole response at once gave, and never serve a stale version of an object."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from lab_api_harness import LabAPI, running_lab_api

from wizard.lab.api.store import Obj

NS = "kube-system"


@pytest.fixture(scope="module")
def lab_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabAPI]:
    with running_lab_api(tmp_path_factory.mktemp("lab-perf-api")) as running:
        for i in range(7):
            running.store.create("configmaps", {
                "metadata": {"name": f"cm-{i}", "namespace": NS if i % 2 else "default",
                             "labels": {"parity": "odd" if i % 2 else "even"}},
                "data": {"index": str(i), "text": "naïve ünïcode"},
            })
        yield running


@pytest.fixture(scope="module")
def core(lab_api: LabAPI) -> client.CoreV1Api:
    return client.CoreV1Api(lab_api.api_client())


def _raw(response: Any) -> bytes:
    try:
        data: bytes = response.data
        return data
    finally:
        response.release_conn()


def _expected_list(items: list[Obj], rv: int, **extra: Any) -> bytes:
    body = {"kind": "ConfigMapList", "apiVersion": "v1",
            "metadata": {"resourceVersion": str(rv), **extra}, "items": items}
    return json.dumps(body).encode()


def test_list_bytes_equal_one_whole_encoding(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    everything, rv = lab_api.store.list("configmaps")
    assert _raw(core.list_config_map_for_all_namespaces(_preload_content=False)) == _expected_list(
        everything, rv)
    in_ns, rv = lab_api.store.list("configmaps", NS)
    assert _raw(core.list_namespaced_config_map(NS, _preload_content=False)) == _expected_list(in_ns, rv)
    odd = [i for i in everything if i["metadata"]["labels"]["parity"] == "odd"]
    assert _raw(core.list_config_map_for_all_namespaces(
        label_selector="parity=odd", _preload_content=False)) == _expected_list(odd, rv)


def test_paged_lists_keep_their_metadata(core: client.CoreV1Api) -> None:
    first = json.loads(_raw(core.list_config_map_for_all_namespaces(limit=3, _preload_content=False)))
    assert [i["metadata"]["name"] for i in first["items"]] == ["cm-0", "cm-2", "cm-4"]
    assert first["metadata"]["remainingItemCount"] == 4 and first["metadata"]["continue"]
    rest = core.list_config_map_for_all_namespaces(_continue=first["metadata"]["continue"])
    assert [i.metadata.name for i in rest.items] == ["cm-6", "cm-1", "cm-3", "cm-5"]


def test_empty_lists_are_valid_json(core: client.CoreV1Api) -> None:
    assert json.loads(_raw(core.list_namespaced_config_map("nowhere", _preload_content=False)))[
        "items"] == []


def test_a_changed_object_is_listed_and_read_in_its_new_version(
    lab_api: LabAPI, core: client.CoreV1Api
) -> None:
    core.list_namespaced_config_map(NS)  # fills the cache with the current versions
    core.read_namespaced_config_map("cm-1", NS)
    lab_api.store.mutate("configmaps", NS, "cm-1", lambda o: o["data"].update(index="changed"))
    listed = {i.metadata.name: i.data["index"] for i in core.list_namespaced_config_map(NS).items}
    assert listed["cm-1"] == "changed"
    assert core.read_namespaced_config_map("cm-1", NS).data["index"] == "changed"
    lab_api.store.delete("configmaps", NS, "cm-3")
    assert "cm-3" not in {i.metadata.name for i in core.list_namespaced_config_map(NS).items}


def test_watch_lines_equal_one_whole_encoding_per_event(lab_api: LabAPI, core: client.CoreV1Api) -> None:
    store = lab_api.store
    start_rv = store.resource_version
    response = core.list_namespaced_config_map(
        NS, watch=True, resource_version=str(start_rv), timeout_seconds=30, _preload_content=False)
    try:
        # the watch is registered before the response headers arrive: these events are queued
        added = store.create("configmaps", {"metadata": {"name": "watched", "namespace": NS},
                                            "data": {"v": "1"}})
        store.list("configmaps", NS)  # a list between the events must not disturb the stream
        modified = store.mutate("configmaps", NS, "watched", lambda o: o["data"].update(v="2"))
        deleted = store.delete("configmaps", NS, "watched")
        got: list[bytes] = []
        buffer = b""
        for chunk in response.stream(1024, decode_content=False):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                got.append(line)
            if len(got) >= 3:
                break
    finally:
        response.close()
    assert got == [
        json.dumps({"type": "ADDED", "object": added}).encode(),
        json.dumps({"type": "MODIFIED", "object": modified}).encode(),
        json.dumps({"type": "DELETED", "object": deleted}).encode(),
    ]
