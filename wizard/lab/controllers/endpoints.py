"""Endpoints and EndpointSlices for every Service with a selector, from the pods it selects.

This is where the switch is felt: the kube-dns Service's endpoints are what kube-proxy (the lab's
ServiceProxy) forwards to and what the wizard checks before scaling kube-dns down. As the real
controllers do: ready pods are `addresses`, not-ready ones `notReadyAddresses`, and a pod being
deleted leaves the Endpoints at once; EndpointSlices keep a terminating pod with
ready=false / terminating=true so consumers can see it drain.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Hashable
from typing import Any

from wizard.lab.api.objects import (
    is_deleting,
    is_ready,
    is_terminal,
    labels_of,
    map_selector_matches,
    name_of,
    namespace_of,
    node_name_of,
    owner_reference,
    random_suffix,
    uid_of,
)
from wizard.lab.api.store import ApiError, Obj
from wizard.lab.controllers.informers import (
    ClusterCache,
    Informer,
    Key,
    add_standard_indexes,
    select_candidates,
)
from wizard.lab.controllers.workqueue import WorkQueue

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
BY_SELECTOR = "selector"
BY_SERVICE = "service"


def _selector_pairs(service: Obj) -> list[Hashable]:
    namespace = namespace_of(service)
    selector = (service.get("spec") or {}).get("selector") or {}
    return [(namespace, k, v) for k, v in selector.items()]


def _slice_owner(slice_: Obj) -> list[Hashable]:
    labels = labels_of(slice_)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or SERVICE_NAME_LABEL not in labels:
        return []
    return [(namespace_of(slice_), labels[SERVICE_NAME_LABEL])]


def _endpoint_view(pod: Obj) -> tuple[Any, ...]:
    """The parts of a pod its endpoints depend on: other changes need no reconcile."""
    status = pod.get("status") or {}
    ports = [
        (p.get("name"), p.get("containerPort"), p.get("protocol"))
        for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []
    ]
    return (tuple(sorted(labels_of(pod).items())), status.get("podIP"), is_ready(pod),
            is_deleting(pod), node_name_of(pod), is_terminal(pod), tuple(ports), uid_of(pod))


def resolve_ports(service: Obj, pod: Obj) -> tuple[tuple[str, int, str], ...]:
    """(name, port, protocol) per Service port for this pod (a named port it lacks is left out)."""
    resolved = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for sp in (service.get("spec") or {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        protocol = sp.get("protocol", "TCP")
        if isinstance(target, str) and not target.isdigit():
            number = next((p.get("containerPort") for c in containers for p in c.get("ports") or []
                           if p.get("name") == target and p.get("protocol", "TCP") == protocol), None)
            if number is None:
                continue  # the real controller drops this port for this pod
            target = number
        resolved.append((str(sp.get("name", "")), int(target), str(protocol)))
    return tuple(sorted(resolved))


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        return 0, int(ipaddress.ip_address(ip))
    except ValueError:
        return 1, 0


def _target_ref(pod: Obj) -> Obj:
    return {"kind": "Pod", "namespace": namespace_of(pod), "name": name_of(pod), "uid": uid_of(pod)}


def _ports_json(ports: tuple[tuple[str, int, str], ...]) -> list[Obj]:
    out = []
    for name, port, protocol in ports:
        entry: Obj = {"port": port, "protocol": protocol}
        if name:
            entry["name"] = name
        out.append(entry)
    return out


def build_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Endpoints subsets grouped by port set, addresses sorted by IP."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or is_terminal(pod) or is_deleting(pod):
            continue
        ports = resolve_ports(service, pod)
        address: Obj = {"ip": ip, "targetRef": _target_ref(pod)}
        if node_name_of(pod):
            address["nodeName"] = node_name_of(pod)
        ready, not_ready = groups.setdefault(ports, ([], []))
        (ready if publish_not_ready or is_ready(pod) else not_ready).append(address)
    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items()):
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: _ip_key(a["ip"]))
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: _ip_key(a["ip"]))
        if ports:
            subset["ports"] = _ports_json(ports)
        subsets.append(subset)
    return subsets


def build_slice_groups(service: Obj, pods: list[Obj], nodes: Informer) -> list[tuple[list[Obj], list[Obj]]]:
    """(ports, endpoints) per slice: grouped by port set, at most 100 endpoints each."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or is_terminal(pod):
            continue
        terminating = is_deleting(pod)
        serving = publish_not_ready or is_ready(pod)
        endpoint: Obj = {
            "addresses": [ip],
            "conditions": {"ready": serving and not terminating, "serving": serving,
                           "terminating": terminating},
            "targetRef": _target_ref(pod),
        }
        node_name = node_name_of(pod)
        if node_name:
            endpoint["nodeName"] = node_name
            node = nodes.get("", node_name)
            zone = labels_of(node).get("topology.kubernetes.io/zone") if node is not None else None
            if zone:
                endpoint["zone"] = zone
        groups.setdefault(resolve_ports(service, pod), []).append(endpoint)
    result = []
    for ports, endpoints in sorted(groups.items()):
        endpoints.sort(key=lambda e: _ip_key(e["addresses"][0]))
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            result.append((_ports_json(ports), endpoints[start:start + MAX_ENDPOINTS_PER_SLICE]))
    return result


class EndpointsController:
    def __init__(self, cache: ClusterCache) -> None:
        self.cache = cache
        self.services: Informer = cache["services"]
        self.pods: Informer = cache["pods"]
        self.nodes: Informer = cache["nodes"]
        self.endpoints: Informer = cache["endpoints"]
        self.slices: Informer = cache["endpointslices.discovery.k8s.io"]
        add_standard_indexes(self.pods)
        self.services.add_index(BY_SELECTOR, _selector_pairs)
        self.slices.add_index(BY_SERVICE, _slice_owner)
        self.queue: WorkQueue[Key] = WorkQueue("endpoints-controller", self.reconcile)
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.endpoints.add_handler(self._on_endpoints)
        self.slices.add_handler(self._on_slice)

    # ---- event routing -------------------------------------------------------------------------
    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add((namespace_of(obj), name_of(obj)))

    def _on_endpoints(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None and self.services.get(namespace_of(obj), name_of(obj)) is not None:
            self.queue.add((namespace_of(obj), name_of(obj)))  # repair edits by others

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        for obj in (old, new):
            if obj is not None:
                labels = labels_of(obj)
                if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and SERVICE_NAME_LABEL in labels:
                    self.queue.add((namespace_of(obj), labels[SERVICE_NAME_LABEL]))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and _endpoint_view(old) == _endpoint_view(new):
            return
        for pod in (old, new):
            if pod is None:
                continue
            labels = labels_of(pod)
            namespace = namespace_of(pod)
            seen: set[Key] = set()
            for key, value in labels.items():
                for ident in self.services.keys_by(BY_SELECTOR, (namespace, key, value)):
                    if ident in seen:
                        continue
                    seen.add(ident)
                    service = self.services.get(*ident)
                    selector = (service.get("spec") or {}).get("selector") if service else None
                    if selector and map_selector_matches(selector, labels):
                        self.queue.add(ident)

    # ---- reconcile -----------------------------------------------------------------------------
    def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.services.get(namespace, name)
        if service is None:
            self._delete_for(namespace, name)
            return None
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return None  # a Service without selector has hand-made endpoints: not ours
        pods = [
            p for p in select_candidates(self.pods, namespace, sorted(selector.items()))
            if map_selector_matches(selector, labels_of(p))
        ]
        self._sync_endpoints(service, build_subsets(service, pods))
        self._sync_slices(service, build_slice_groups(service, pods, self.nodes))
        return None

    def _delete_for(self, namespace: str, name: str) -> None:
        if self.endpoints.get(namespace, name) is not None:
            self.cache.delete("endpoints", namespace, name)
        for slice_ in self.slices.by(BY_SERVICE, (namespace, name)):
            self.cache.delete("endpointslices.discovery.k8s.io", namespace, name_of(slice_))

    def _labels_for(self, service: Obj) -> dict[str, str]:
        labels = dict(labels_of(service))
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        return labels

    def _sync_endpoints(self, service: Obj, subsets: list[Obj]) -> None:
        namespace, name = namespace_of(service), name_of(service)
        current = self.endpoints.get(namespace, name)
        labels = self._labels_for(service)
        if current is None:
            body: Obj = {"metadata": {"name": name, "namespace": namespace, "labels": labels}}
            if subsets:
                body["subsets"] = subsets
            try:
                self.cache.create("endpoints", body)
            except ApiError as err:
                if err.code != 409:
                    raise
            return
        if (current.get("subsets") or []) == subsets and (labels_of(current) == labels):
            return

        def change(obj: Obj) -> None:
            obj["metadata"]["labels"] = labels
            if subsets:
                obj["subsets"] = subsets
            else:
                obj.pop("subsets", None)

        self.cache.mutate("endpoints", namespace, name, change)

    def _sync_slices(self, service: Obj, groups: list[tuple[list[Obj], list[Obj]]]) -> None:
        namespace, name = namespace_of(service), name_of(service)
        existing = sorted(self.slices.by(BY_SERVICE, (namespace, name)), key=name_of)
        labels = {**labels_of(service), SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        if not groups:
            groups = [([], [])]  # the real controller keeps one empty slice per Service
        for index, (ports, endpoints) in enumerate(groups):
            if index < len(existing):
                current = existing[index]
                if (current.get("endpoints") or []) == endpoints and (
                    current.get("ports") or []) == ports and labels_of(current) == labels:
                    continue

                def change(obj: Obj, ports: list[Obj] = ports, endpoints: list[Obj] = endpoints) -> None:
                    obj["metadata"]["labels"] = labels
                    obj["endpoints"] = copy.deepcopy(endpoints)
                    obj["ports"] = copy.deepcopy(ports)

                self.cache.mutate("endpointslices.discovery.k8s.io", namespace, name_of(current), change)
                continue
            body: Obj = {
                "metadata": {
                    "name": f"{name}-{random_suffix()}",
                    "generateName": f"{name}-",
                    "namespace": namespace,
                    "labels": labels,
                    "ownerReferences": [owner_reference(service)],
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": ports,
            }
            self.cache.create("endpointslices.discovery.k8s.io", body)
        for surplus in existing[len(groups):]:
            self.cache.delete("endpointslices.discovery.k8s.io", namespace, name_of(surplus))
