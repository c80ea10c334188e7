"""Kubernetes objects as the engine reads them: the one `Obj` alias and typed, read-only views.

Why views: an API object is a nested dict in which the server leaves out every empty field (no
`status` on a new Deployment, no `readyReplicas` at 0, no `containerStatuses` before a pod is
scheduled). Each reader used to walk it with its own `.get("spec") or {}` chain and its own guess
at the defaults; here each field is read once, with the default the API server means by leaving
it out. The views copy what they read (frozen dataclasses of str, int and tuples), so a view never
changes under its reader and never writes back into the object it came from.

`from_obj` accepts any mapping (also None where the object may be missing) and never raises on a
missing or mistyped field: it reads what is there and defaults the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object (or list, or watch event) as the API server sends it, decoded from JSON."""

# ---- small readers: tolerant of missing and mistyped fields ------------------------------------


def mapping_at(obj: Mapping[str, Any] | None, *path: str) -> Mapping[str, Any]:
    """The mapping at `path` (e.g. "spec", "template", "spec"), {} where any step is missing or
    is not a mapping."""
    here: Any = obj or {}
    for key in path:
        here = here.get(key) if isinstance(here, Mapping) else None
    return here if isinstance(here, Mapping) else {}


def list_at(obj: Mapping[str, Any] | None, *path: str) -> tuple[Mapping[str, Any], ...]:
    """The mappings of the list at `path` (e.g. "spec", "containers"); () where it is missing."""
    if not path:
        return ()
    value = mapping_at(obj, *path[:-1]).get(path[-1])
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, Mapping))


def _words(value: Any) -> tuple[str, ...]:
    return tuple(str(w) for w in value) if isinstance(value, list) else ()


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The object's metadata ({} when absent)."""
    return mapping_at(obj, "metadata")


def name_of(obj: Mapping[str, Any] | None) -> str:
    return _text(meta(obj).get("name"))


def namespace_of(obj: Mapping[str, Any] | None) -> str:
    return _text(meta(obj).get("namespace"))


def uid_of(obj: Mapping[str, Any] | None) -> str:
    return _text(meta(obj).get("uid"))


def resource_version_of(obj: Mapping[str, Any] | None) -> str:
    """metadata.resourceVersion (of an object or a list), "" when absent."""
    return _text(meta(obj).get("resourceVersion"))


def labels_of(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return _strings(meta(obj).get("labels"))


def annotations_of(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return _strings(meta(obj).get("annotations"))


def is_terminating(obj: Mapping[str, Any] | None) -> bool:
    """A deletion timestamp is set: the object is going away."""
    return bool(meta(obj).get("deletionTimestamp"))


@dataclass(frozen=True)
class OwnerRef:
    kind: str
    name: str
    uid: str


def owners_of(obj: Mapping[str, Any] | None, kind: str | None = None) -> tuple[OwnerRef, ...]:
    """The ownerReferences (of `kind` only, when given)."""
    refs = (
        OwnerRef(_text(ref.get("kind")), _text(ref.get("name")), _text(ref.get("uid")))
        for ref in list_at(obj, "metadata", "ownerReferences")
    )
    return tuple(ref for ref in refs if kind is None or ref.kind == kind)


def owner_uids(obj: Mapping[str, Any] | None, kind: str) -> set[str]:
    """The uids of the owners of `kind` (ownership by ownerReferences, never by labels)."""
    return {ref.uid for ref in owners_of(obj, kind)}


def by_name(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The objects keyed by metadata.name (a later one wins)."""
    return {name_of(o): o for o in objects}


def named(objects: Iterable[Mapping[str, Any]], name: str) -> Any:
    """The first object called `name`, None when there is none."""
    return next((o for o in objects if name_of(o) == name), None)


def condition_status(obj: Mapping[str, Any] | None, kind: str) -> str | None:
    """The status ("True", "False", "Unknown") of the first status condition of type `kind`,
    None when there is none."""
    for cond in list_at(obj, "status", "conditions"):
        if cond.get("type") == kind:
            return _text(cond.get("status"))
    return None


# ---- workloads: Deployments (and the pod template of DaemonSets) -------------------------------


def pod_template_spec(workload: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """spec.template.spec of a Deployment or DaemonSet ({} when absent)."""
    return mapping_at(workload, "spec", "template", "spec")


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]

    @classmethod
    def from_obj(cls, container: Mapping[str, Any] | None) -> ContainerView:
        c = container or {}
        return cls(
            _text(c.get("name")), _text(c.get("image")), _words(c.get("command")), _words(c.get("args"))
        )

    def words(self, field_name: str) -> tuple[str, ...]:
        """The words of "command" or "args"."""
        return self.command if field_name == "command" else self.args


def containers_of(workload: Mapping[str, Any] | None) -> tuple[ContainerView, ...]:
    """The containers of a Deployment's or DaemonSet's pod template."""
    return tuple(ContainerView.from_obj(c) for c in list_at(pod_template_spec(workload), "containers"))


def spec_replicas(deployment: Mapping[str, Any] | None, default: int = 0) -> int:
    """spec.replicas; `default` when the object is missing or the field is absent or not a
    number (the API server defaults it to 1, so a real object always has it)."""
    return _int(mapping_at(deployment, "spec").get("replicas"), default)


def ready_replicas(deployment: Mapping[str, Any] | None) -> int:
    """status.readyReplicas (0 when absent: the server omits it at 0)."""
    return _int(mapping_at(deployment, "status").get("readyReplicas"))


@dataclass(frozen=True)
class DeploymentView:
    name: str
    namespace: str
    uid: str
    replicas: int | None
    """spec.replicas as written, None when absent (the API server fills in 1) or not a number."""
    ready_replicas: int
    available_replicas: int
    updated_replicas: int
    containers: tuple[ContainerView, ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    selector: Mapping[str, str]
    """spec.selector.matchLabels."""
    template_labels: Mapping[str, str]

    @classmethod
    def from_obj(cls, deployment: Mapping[str, Any] | None) -> DeploymentView:
        spec = mapping_at(deployment, "spec")
        status = mapping_at(deployment, "status")
        replicas = spec.get("replicas")
        return cls(
            name=name_of(deployment),
            namespace=namespace_of(deployment),
            uid=uid_of(deployment),
            replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None,
            ready_replicas=_int(status.get("readyReplicas")),
            available_replicas=_int(status.get("availableReplicas")),
            updated_replicas=_int(status.get("updatedReplicas")),
            containers=containers_of(deployment),
            labels=labels_of(deployment),
            annotations=annotations_of(deployment),
            selector=_strings(mapping_at(spec, "selector").get("matchLabels")),
            template_labels=_strings(mapping_at(spec, "template", "metadata").get("labels")),
        )

    def container(self, name: str) -> ContainerView | None:
        """The container called `name`, None when there is none."""
        return next((c for c in self.containers if c.name == name), None)

    @property
    def selector_text(self) -> str | None:
        """matchLabels as a label selector ("a=b,c=d"), None when there are none."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items())) or None


# ---- pods --------------------------------------------------------------------------------------


def pod_is_ready(pod: Mapping[str, Any] | None) -> bool:
    """Ready condition True and not terminating."""
    return not is_terminating(pod) and condition_status(pod, "Ready") == "True"


@dataclass(frozen=True)
class ContainerStatusView:
    name: str
    ready: bool
    restart_count: int
    waiting_reason: str
    """state.waiting.reason ("CrashLoopBackOff", "ContainerCreating"...), "" when not waiting."""

    @classmethod
    def from_obj(cls, status: Mapping[str, Any] | None) -> ContainerStatusView:
        s = status or {}
        return cls(
            name=_text(s.get("name")),
            ready=s.get("ready") is True,
            restart_count=_int(s.get("restartCount")),
            waiting_reason=_text(mapping_at(s, "state", "waiting").get("reason")),
        )


@dataclass(frozen=True)
class PodView:
    """A pod's identity and state (not the same as `wizard.migration.progress.PodView`, the row
    the panes show, which is built from this)."""

    name: str
    namespace: str
    node: str
    """spec.nodeName, "" while unscheduled."""
    phase: str
    """status.phase, "Pending" when absent."""
    ready: bool
    """As `pod_is_ready`: Ready condition True and not terminating."""
    terminating: bool
    deletion_timestamp: str
    labels: Mapping[str, str]
    ip: str
    created: str
    """metadata.creationTimestamp (RFC 3339), "" when absent."""
    start_time: str
    container_statuses: tuple[ContainerStatusView, ...]
    owners: tuple[OwnerRef, ...]

    @classmethod
    def from_obj(cls, pod: Mapping[str, Any] | None) -> PodView:
        m = meta(pod)
        status = mapping_at(pod, "status")
        return cls(
            name=_text(m.get("name")),
            namespace=_text(m.get("namespace")),
            node=_text(mapping_at(pod, "spec").get("nodeName")),
            phase=_text(status.get("phase")) or "Pending",
            ready=pod_is_ready(pod),
            terminating=bool(m.get("deletionTimestamp")),
            deletion_timestamp=_text(m.get("deletionTimestamp")),
            labels=labels_of(pod),
            ip=_text(status.get("podIP")),
            created=_text(m.get("creationTimestamp")),
            start_time=_text(status.get("startTime")),
            container_statuses=tuple(
                ContainerStatusView.from_obj(s) for s in list_at(status, "containerStatuses")
            ),
            owners=owners_of(pod),
        )

    @property
    def restarts(self) -> int:
        """Restarts summed over the containers."""
        return sum(s.restart_count for s in self.container_statuses)

    @property
    def waiting_reason(self) -> str:
        """The first waiting container's reason ("CrashLoopBackOff"...), "" when none waits."""
        return next((s.waiting_reason for s in self.container_statuses if s.waiting_reason), "")

    def owner_uids(self, kind: str) -> set[str]:
        return {ref.uid for ref in self.owners if ref.kind == kind}


# ---- Services, Endpoints, EndpointSlices, ConfigMaps -------------------------------------------


@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: str
    port: int
    target_port: str


@dataclass(frozen=True)
class ServiceView:
    name: str
    namespace: str
    type: str
    """spec.type, "ClusterIP" when absent."""
    cluster_ip: str
    """spec.clusterIP as written: "" when absent, "None" for a headless Service."""
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str]
    labels: Mapping[str, str]

    @classmethod
    def from_obj(cls, service: Mapping[str, Any] | None) -> ServiceView:
        spec = mapping_at(service, "spec")
        return cls(
            name=name_of(service),
            namespace=namespace_of(service),
            type=_text(spec.get("type")) or "ClusterIP",
            cluster_ip=_text(spec.get("clusterIP")),
            cluster_ips=_words(spec.get("clusterIPs")),
            external_name=_text(spec.get("externalName")),
            ports=tuple(
                ServicePort(
                    _text(p.get("name")),
                    _text(p.get("protocol")) or "TCP",
                    _int(p.get("port")),
                    _text(p.get("targetPort")),
                )
                for p in list_at(spec, "ports")
            ),
            selector=_strings(spec.get("selector")),
            labels=labels_of(service),
        )

    @property
    def has_cluster_ip(self) -> bool:
        """A ClusterIP to answer with: set and not headless ("None")."""
        return self.cluster_ip not in ("", "None")


def endpoint_ips(endpoints: Mapping[str, Any] | None, ready: bool = True) -> set[str]:
    """IPs of an Endpoints object: `addresses` (ready) or `notReadyAddresses`."""
    key = "addresses" if ready else "notReadyAddresses"
    return {
        _text(address.get("ip"))
        for subset in list_at(endpoints, "subsets")
        for address in list_at(subset, key)
        if address.get("ip")
    }


@dataclass(frozen=True)
class EndpointsView:
    name: str
    namespace: str
    ready: frozenset[str]
    not_ready: frozenset[str]

    @classmethod
    def from_obj(cls, endpoints: Mapping[str, Any] | None) -> EndpointsView:
        return cls(
            name_of(endpoints),
            namespace_of(endpoints),
            frozenset(endpoint_ips(endpoints, True)),
            frozenset(endpoint_ips(endpoints, False)),
        )


def slice_ready_ips(slices: Iterable[Mapping[str, Any]]) -> set[str]:
    """Ready addresses across EndpointSlices (an endpoint without `ready` counts as ready, as
    kube-proxy takes it)."""
    ips: set[str] = set()
    for eps in slices:
        for endpoint in list_at(eps, "endpoints"):
            ready = mapping_at(endpoint, "conditions").get("ready")
            if ready is None or ready:
                ips.update(_words(endpoint.get("addresses")))
    return ips


@dataclass(frozen=True)
class ConfigMapView:
    name: str
    namespace: str
    data: Mapping[str, str]

    @classmethod
    def from_obj(cls, configmap: Mapping[str, Any] | None) -> ConfigMapView:
        return cls(name_of(configmap), namespace_of(configmap), _strings(mapping_at(configmap, "data")))


def label_selector(labels: Mapping[str, str]) -> str | None:
    """"a=b,c=d" (sorted), None for no labels."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None

