"""Creating and deleting pods the way controllers do through a real API server.

The controllers write to the Store directly, not through the lab's API server, so the defaults
and admission the API server would apply to a controller's POST (restartPolicy, dnsPolicy,
default tolerations, container defaults, status.phase Pending, qosClass) are applied here; the
official client's models and kubectl then see the same pods a real cluster would show.
"""

from __future__ import annotations

import copy
import time

from wizard.lab.api.objects import meta, node_name_of, random_suffix, rfc3339
from wizard.lab.api.store import ApiError, Obj
from wizard.lab.controllers.informers import ClusterCache

_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
)


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _qos_class(containers: list[Obj]) -> str:
    requests_or_limits = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in requests_or_limits):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res) and (r.get("requests") or r.get("limits") or {}).get(res)
        == (r.get("limits") or {}).get(res)
        for r in requests_or_limits
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod_spec(spec: Obj) -> None:
    """Apply the API server's defaults to a pod spec, in place (only where a field is missing)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for default in _DEFAULT_TOLERATIONS:
        if not any(t.get("key") == default["key"] and t.get("effect") == "NoExecute" for t in tolerations):
            tolerations.append(dict(default))
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", _image_pull_policy(str(container.get("image", ""))))
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def pod_from_template(template: Obj, namespace: str, generate_name: str, owner_ref: Obj,
                      extra_labels: dict[str, str] | None = None) -> Obj:
    """A new Pending, unscheduled pod from a pod template, owned by `owner_ref`."""
    template = copy.deepcopy(template)
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
    spec: Obj = template.get("spec") or {}
    default_pod_spec(spec)
    pod_meta: Obj = {
        "name": generate_name + random_suffix(),
        "generateName": generate_name,
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": [owner_ref],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": _qos_class(spec.get("containers") or [])},
    }


def create_pod(cache: ClusterCache, pod: Obj) -> Obj:
    """Create with a fresh random suffix on a name clash, as generateName does."""
    for attempt in range(5):
        try:
            return cache.create("pods", pod)
        except ApiError as err:
            if err.code != 409 or attempt == 4:
                raise
            pod["metadata"]["name"] = pod["metadata"]["generateName"] + random_suffix()
    raise AssertionError("unreachable")


def delete_pod(cache: ClusterCache, pod: Obj, grace_seconds: int | None = None) -> None:
    """Delete as the API server does: an unscheduled pod goes at once; a scheduled one gets a
    deletionTimestamp and grace period, and the kubelet removes it when its containers stop."""
    m = meta(pod)
    namespace, name = str(m.get("namespace", "")), str(m.get("name", ""))
    if not node_name_of(pod):
        cache.delete("pods", namespace, name)
        return
    if m.get("deletionTimestamp"):
        return
    grace = grace_seconds
    if grace is None:
        grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def mark(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = rfc3339(time.time() + grace)
        obj["metadata"]["deletionGracePeriodSeconds"] = grace

    try:
        cache.mutate("pods", namespace, name, mark)
    except ApiError as err:
        if err.code != 404:
            raise
