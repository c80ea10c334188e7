"""What the lab API server refuses (422 Invalid) and fills in (defaults) on writes.

Real API servers reject a Deployment whose selector does not match its template, a negative
replica count or a Service port out of range before anything is stored; the wizard's error
handling is only exercised if the lab refuses the same things with the same Status shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wizard.lab.api.selectors import selector_object_matches
from wizard.lab.api.store import ApiError, Obj, Resource

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kinds whose names must be DNS-1123 labels (they become DNS names or hostnames themselves).
_LABEL_NAMED = frozenset({"Namespace", "Service"})
# RBAC names may contain ':' (system:coredns); they are only checked for path-safety.
_PATH_SEGMENT_NAMED = frozenset({"ClusterRole", "ClusterRoleBinding"})


class Causes:
    """Collects field errors, then raises one 422 Invalid Status like the real server."""

    def __init__(self, res: Resource, name: str) -> None:
        self.res = res
        self.name = name
        self.items: list[Obj] = []

    def add(self, reason: str, field: str, message: str) -> None:
        self.items.append({"reason": reason, "message": message, "field": field})

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self.add("FieldValueInvalid", field, f"Invalid value: {json.dumps(value)}: {detail}")

    def required(self, field: str) -> None:
        self.add("FieldValueRequired", field, "Required value")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        kind = self.res.kind if not self.res.group else f"{self.res.kind}.{self.res.group}"
        summary = ", ".join(f"{c['field']}: {c['message']}" for c in self.items)
        if len(self.items) > 1:
            summary = f"[{summary}]"
        raise ApiError(
            422, "Invalid", f'{kind} "{self.name}" is invalid: {summary}',
            {"name": self.name, "group": self.res.group, "kind": self.res.kind, "causes": self.items},
        )


def check_name(res: Resource, name: str, causes: Causes) -> None:
    if not name:
        causes.required("metadata.name")
        return
    if res.kind in _PATH_SEGMENT_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            causes.invalid("metadata.name", name, 'may not contain "/" or "%"')
        return
    if len(name) > (63 if res.kind in _LABEL_NAMED else 253):
        causes.invalid("metadata.name", name, "must be no more than 63 characters"
                       if res.kind in _LABEL_NAMED else "must be no more than 253 characters")
    pattern = _DNS1123_LABEL if res.kind in _LABEL_NAMED else _DNS1123_SUBDOMAIN
    if not pattern.match(name):
        what = "RFC 1123 label" if res.kind in _LABEL_NAMED else "RFC 1123 subdomain"
        causes.invalid(
            "metadata.name", name,
            f"a lowercase {what} must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character",
        )


def _check_pod_spec(spec: Any, field: str, causes: Causes) -> None:
    if not isinstance(spec, dict):
        causes.required(field)
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.required(f"{field}.containers")
        return
    seen: set[str] = set()
    for n, container in enumerate(containers):
        where = f"{field}.containers[{n}]"
        if not isinstance(container, dict):
            causes.invalid(where, container, "must be an object")
            continue
        name = container.get("name")
        if not name:
            causes.required(f"{where}.name")
        elif name in seen:
            causes.add("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"')
        else:
            seen.add(str(name))
        if not container.get("image"):
            causes.required(f"{where}.image")
        for p, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 1 <= number <= 65535:
                causes.invalid(f"{where}.ports[{p}].containerPort", number,
                               "must be between 1 and 65535, inclusive")


def _check_workload(obj: Obj, causes: Causes, needs_replicas: bool) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return
    if needs_replicas:
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    selector = spec.get("selector")
    raw_template = spec.get("template")
    template: Obj = raw_template if isinstance(raw_template, dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    terms = isinstance(selector, dict) and (selector.get("matchLabels") or selector.get("matchExpressions"))
    if not terms or not isinstance(selector, dict):
        causes.required("spec.selector")
    elif not selector_object_matches(selector, labels):
        causes.invalid("spec.template.metadata.labels", labels,
                       "`selector` does not match template `labels`")
    _check_pod_spec(template.get("spec"), "spec.template.spec", causes)


def _check_service(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.add("FieldValueNotSupported", "spec.type",
                   f'Unsupported value: "{kind}": supported values: "ClusterIP", "ExternalName", '
                   '"LoadBalancer", "NodePort"')
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        causes.required("spec.ports")
    names: set[str] = set()
    for n, port in enumerate(ports):
        where = f"spec.ports[{n}]"
        if not isinstance(port, dict):
            causes.invalid(where, port, "must be an object")
            continue
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.invalid(f"{where}.port", number, "must be between 1 and 65535, inclusive")
        protocol = port.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP"):
            causes.add("FieldValueNotSupported", f"{where}.protocol",
                       f'Unsupported value: "{protocol}": supported values: "SCTP", "TCP", "UDP"')
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.required(f"{where}.name")
        if name and name in names:
            causes.add("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"')
        names.add(name)
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            causes.invalid(f"{where}.targetPort", target, "must be between 1 and 65535, inclusive")


def _check_configmap(obj: Obj, causes: Causes) -> None:
    data = obj.get("data")
    if data is None:
        return
    if not isinstance(data, dict):
        causes.invalid("data", data, "must be a map of string keys to string values")
        return
    for key, value in data.items():
        if not isinstance(value, str):
            causes.invalid(f"data[{key}]", value, "must be a string")


def validate(res: Resource, obj: Obj) -> None:
    """Raise 422 Invalid (with causes) for the checks this lab makes; otherwise return."""
    meta = obj.get("metadata") or {}
    causes = Causes(res, str(meta.get("name", "")))
    check_name(res, str(meta.get("name", "")), causes)
    if res.kind == "Deployment" or res.kind == "ReplicaSet":
        _check_workload(obj, causes, needs_replicas=True)
    elif res.kind == "DaemonSet":
        _check_workload(obj, causes, needs_replicas=False)
    elif res.kind == "Pod":
        _check_pod_spec(obj.get("spec"), "spec", causes)
    elif res.kind == "Service":
        _check_service(obj, causes)
    elif res.kind == "ConfigMap":
        _check_configmap(obj, causes)
    causes.raise_if_any()


def check_immutable(res: Resource, old: Obj, new: Obj) -> None:
    """Fields the real server refuses to change on update."""
    causes = Causes(res, str(old["metadata"].get("name", "")))
    if res.kind in ("Deployment", "ReplicaSet", "DaemonSet"):
        before = (old.get("spec") or {}).get("selector")
        after = (new.get("spec") or {}).get("selector")
        if before != after:
            causes.invalid("spec.selector", after, "field is immutable")
    if res.kind == "Service":
        before = (old.get("spec") or {}).get("clusterIP")
        after = (new.get("spec") or {}).get("clusterIP")
        if before and after and before != after:
            causes.invalid("spec.clusterIP", after, "field is immutable")
    causes.raise_if_any()


# ---- defaults ------------------------------------------------------------------------------

def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = ":" not in tag or tag.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def apply_defaults(res: Resource, obj: Obj) -> None:
    """Fill the defaults real servers fill, so controllers and clients see complete objects."""
    spec = obj.get("spec")
    if res.kind in ("Deployment", "ReplicaSet", "DaemonSet") and isinstance(spec, dict):
        if res.kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if res.kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy["type"] = "RollingUpdate"
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
        if res.kind == "DaemonSet":
            strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if strategy.get("type") == "RollingUpdate":
                strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            _default_pod_spec(template["spec"])
    elif res.kind == "Pod" and isinstance(spec, dict):
        _default_pod_spec(spec)
    elif res.kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])


def status_on_create(res: Resource, obj: Obj) -> None:
    """The status a freshly created object has: clients cannot set it through the main resource."""
    if "status" not in res.subresources:
        return
    if res.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif res.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif res.kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    elif res.kind == "Node":
        obj.setdefault("status", {})
    else:
        obj["status"] = {}
