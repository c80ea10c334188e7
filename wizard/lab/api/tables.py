"""Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for (Accept: ...as=Table).

Real servers send kubectl ready-made columns; without them kubectl's default output would show
no READY or STATUS, which is what an operator looks at during a switch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from wizard.lab.api.store import Obj, Resource

Column = tuple[str, str, Callable[[Obj], Any], int]  # name, type, cell, priority


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _age(obj: Obj) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _pod_ready(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(pod: Obj) -> str:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _service_ports(service: Obj) -> str:
    ports = (service.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _node_status(node: Obj) -> str:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(k[len(prefix):] for k in labels if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _endpoints(endpoints: Obj) -> str:
    pairs = [f"{a.get('ip')}:{p.get('port')}"
             for subset in endpoints.get("subsets") or []
             for a in subset.get("addresses") or []
             for p in subset.get("ports") or []]
    if not pairs:
        return "<none>"
    shown = ",".join(pairs[:3])
    return shown if len(pairs) <= 3 else f"{shown} + {len(pairs) - 3} more..."


def _node_info(field: str) -> Callable[[Obj], Any]:
    return lambda o: ((o.get("status") or {}).get("nodeInfo") or {}).get(field, "")


def _internal_ip(node: Obj) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"), "<none>")


def _status(field: str, default: Any = 0) -> Callable[[Obj], Any]:
    return lambda o: (o.get("status") or {}).get(field, default)


_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        ("Ready", "string", _pod_ready, 0),
        ("Status", "string", _pod_status, 0),
        ("Restarts", "integer", _restarts, 0),
        ("Age", "string", _age, 0),
        ("IP", "string", lambda o: (o.get("status") or {}).get("podIP") or "<none>", 1),
        ("Node", "string", lambda o: (o.get("spec") or {}).get("nodeName") or "<none>", 1),
    ],
    "Deployment": [
        ("Ready", "string", lambda o: f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                                      f"{(o.get('spec') or {}).get('replicas', 0)}", 0),
        ("Up-to-date", "integer", lambda o: (o.get("status") or {}).get("updatedReplicas", 0), 0),
        ("Available", "integer", lambda o: (o.get("status") or {}).get("availableReplicas", 0), 0),
        ("Age", "string", _age, 0),
    ],
    "Service": [
        ("Type", "string", lambda o: (o.get("spec") or {}).get("type", "ClusterIP"), 0),
        ("Cluster-IP", "string", lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>", 0),
        ("External-IP", "string", lambda o: "<none>", 0),
        ("Port(s)", "string", _service_ports, 0),
        ("Age", "string", _age, 0),
    ],
    "ConfigMap": [
        ("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), 0),
        ("Age", "string", _age, 0),
    ],
    "Event": [
        ("Type", "string", lambda o: o.get("type", ""), 0),
        ("Reason", "string", lambda o: o.get("reason", ""), 0),
        ("Object", "string", lambda o: f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                                       f"{(o.get('involvedObject') or {}).get('name', '')}", 0),
        ("Message", "string", lambda o: o.get("message", ""), 0),
    ],
}
_COLUMNS.update({
    "ReplicaSet": [
        ("Desired", "integer", lambda o: (o.get("spec") or {}).get("replicas", 0), 0),
        ("Current", "integer", _status("replicas"), 0),
        ("Ready", "integer", _status("readyReplicas"), 0),
        ("Age", "string", _age, 0),
    ],
    "DaemonSet": [
        ("Desired", "integer", _status("desiredNumberScheduled"), 0),
        ("Current", "integer", _status("currentNumberScheduled"), 0),
        ("Ready", "integer", _status("numberReady"), 0),
        ("Up-to-date", "integer", _status("updatedNumberScheduled"), 0),
        ("Available", "integer", _status("numberAvailable"), 0),
        ("Age", "string", _age, 0),
    ],
    "Node": [
        ("Status", "string", _node_status, 0),
        ("Roles", "string", _node_roles, 0),
        ("Age", "string", _age, 0),
        ("Version", "string", _node_info("kubeletVersion"), 0),
        ("Internal-IP", "string", _internal_ip, 1),
        ("Kernel-Version", "string", _node_info("kernelVersion"), 1),
    ],
    "Namespace": [("Status", "string", _status("phase", ""), 0), ("Age", "string", _age, 0)],
    "Endpoints": [("Endpoints", "string", _endpoints, 0), ("Age", "string", _age, 0)],
})
_DEFAULT_COLUMNS: list[Column] = [("Age", "string", _age, 0)]


def to_table(res: Resource, items: list[Obj], resource_version: str, include_object: str | None) -> Obj:
    columns = _COLUMNS.get(res.kind, _DEFAULT_COLUMNS)
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [
        {"name": n, "type": t, "format": "", "description": n, "priority": p} for n, t, _, p in columns
    ]
    rows = []
    for item in items:
        if include_object == "Object":
            embedded: Obj = item
        elif include_object == "None":
            embedded = {}
        else:
            embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": item.get("metadata", {})}
        row: Obj = {"cells": [item["metadata"]["name"], *(cell(item) for _, _, cell, _ in columns)]}
        if embedded:
            row["object"] = embedded
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
