"""The one module that talks to the Kubernetes API server.

Why one module: every write the wizard can make to a production cluster exists only as a method
here, so the read-only and dry-run modes cannot be bypassed, retries follow one policy, and every
failure becomes one GatewayError that names the verb, the object, the context and what to do.

Responses are plain JSON dicts exactly as the API server sent them (requests go out through
urllib3 in `wizard.k8s.transport`, json-decoded here), so no client model ever rejects an odd
cluster's objects. The official `kubernetes` client is imported only when needed: port-forward's
WebSocket, and users whose credentials come from an exec plugin or an auth-provider.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from wizard.durations import human_duration
from wizard.errors import InputError, WizardError
from wizard.i18n import msg
from wizard.k8s.connection import Connection
from wizard.k8s.objects import Obj
from wizard.safe_load import load_json

if TYPE_CHECKING:
    import urllib3

    from wizard.k8s.transport import Transport

Mode = Literal["live", "dry-run", "read-only"]
MODES: tuple[Mode, ...] = ("live", "dry-run", "read-only")
FIELD_MANAGER = "coredns-wizard"


class GatewayError(WizardError):
    """An API request failed for good; the message names verb, object, context and advice."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        api_message: str = "",
        causes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.api_message = api_message
        self.causes = causes


class ReadOnlyError(WizardError):
    """A write was refused before any request because the gateway runs read-only."""


# ---- resource addressing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """Where one resource lives in the REST API (a small table: only what the wizard touches)."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


_KIND_LIST = (
    Kind("Namespace", "", "v1", "namespaces", False),
    Kind("Node", "", "v1", "nodes", False),
    Kind("Pod", "", "v1", "pods", True),
    Kind("Service", "", "v1", "services", True),
    Kind("Endpoints", "", "v1", "endpoints", True),
    Kind("ConfigMap", "", "v1", "configmaps", True),
    Kind("ServiceAccount", "", "v1", "serviceaccounts", True),
    Kind("Event", "", "v1", "events", True),
    Kind("Deployment", "apps", "v1", "deployments", True),
    Kind("ReplicaSet", "apps", "v1", "replicasets", True),
    Kind("DaemonSet", "apps", "v1", "daemonsets", True),
    Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True),
    Kind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", False),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles", True),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", True),
    Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", True),
    Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", True),
)
KINDS: dict[str, Kind] = {k.kind: k for k in _KIND_LIST}


def kind_of(kind: str) -> Kind:
    """The REST location of a kind the wizard knows; InputError names the unknown one."""
    found = KINDS.get(kind)
    if found is None:
        known = ", ".join(sorted(KINDS))
        raise InputError(msg("cli.unknown-kind",
                             "kind {kind} is not one the wizard manages; known kinds: {known}",
                             kind=repr(kind), known=known))
    return found


def describe(kind: str, namespace: str | None, name: str | None) -> str:
    """`Deployment kube-system/coredns`, `ClusterRole system:coredns`, `Pods in kube-system`."""
    if name:
        return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    if namespace:
        return msg("cli.objects-in-namespace", "{kind}s in {namespace}", kind=kind, namespace=namespace)
    return msg("cli.objects-all-namespaces", "{kind}s (all namespaces)", kind=kind)


# ---- values handed to callers ----------------------------------------------------------------


@dataclass(frozen=True)
class RequestEvent:
    """One attempt of one API request, reported to `on_request` (the UI's connection light)."""

    method: str
    path: str
    attempt: int
    status: int | None  # HTTP status, None when no response arrived
    error: str | None  # transport error text, None when a response arrived
    elapsed_s: float
    will_retry: bool


@dataclass(frozen=True)
class WriteResult:
    """What a write returned; `dry_run` True means the API server validated it but stored nothing."""

    object: Obj
    dry_run: bool
    action: str  # e.g. "scale Deployment kube-system/coredns to 2"


@dataclass(frozen=True)
class AccessReview:
    """The API server's answer to "may I VERB this?" (a SelfSubjectAccessReview)."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    allowed: bool
    reason: str

    @property
    def resource_label(self) -> str:
        """`deployments/scale` or `deployments.apps/scale` style, as RBAC rules name it."""
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{res}/{self.subresource}" if self.subresource else res


@dataclass(frozen=True)
class _Op:
    """One API operation, described well enough to explain its failure."""

    verb: str  # RBAC verb: get, list, watch, patch, delete, create
    kind: str
    namespace: str | None
    name: str | None
    method: str
    path: str
    subresource: str = ""
    group: str = ""
    resource: str = ""
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str | None = None
    accept: str = "application/json"
    write: bool = False
    idempotent: bool = True
    action: str = ""
    validate_only: bool = False
    """Always sent with dryRun=All, so even a read-only gateway may send it (validate_apply)."""

    @property
    def target(self) -> str:
        text = describe(self.kind, self.namespace, self.name)
        return f"{text} ({self.subresource})" if self.subresource else text


_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


FIRST_CONTACT_ATTEMPTS = 3
"""Attempts before a never-reached API server is reported unreachable."""


@dataclass
class _Budget:
    retries: int
    total_s: float
    base_s: float
    max_s: float
    started: float = field(default_factory=time.monotonic)

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent."""
        if attempt > self.retries:
            return None
        backoff = min(self.max_s, self.base_s * (2 ** (attempt - 1)))
        wait = random.uniform(backoff / 2, backoff)  # jitter: many wizards must not retry in step
        if retry_after is not None:
            wait = max(wait, retry_after)
        remaining = self.total_s - (time.monotonic() - self.started)
        if wait > remaining:
            return None
        return wait


class Gateway:
    """Typed, named operations against one cluster, with the safety mode enforced here.

    mode "live" writes; "dry-run" sends every write with dryRun=All (the API server validates and
    admission runs, nothing is stored) and marks results dry_run; "read-only" refuses every write
    with ReadOnlyError before sending anything.
    """

    def __init__(
        self,
        connection: Connection,
        mode: Mode = "live",
        request_timeout: float | None = None,
        # ten retries with back-off capped at 8 s ride out ~25-50 s of 5xx (an API server restart,
        # an etcd leader election); five gave up after as little as 4 s. retry_budget_s still caps it.
        retries: int = 10,
        *,
        retry_budget_s: float = 60.0,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 8.0,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> None:
        if mode not in MODES:
            raise InputError(msg("cli.unknown-gateway-mode", "gateway mode {mode} is not one of {modes}",
                                 mode=repr(mode), modes=", ".join(MODES)))
        self.connection = connection
        self.mode: Mode = mode
        self.request_timeout = request_timeout if request_timeout is not None else connection.request_timeout
        self.retries = retries
        self.retry_budget_s = retry_budget_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.on_request = on_request
        self._reached = False
        """Whether the API server has answered at least once (any HTTP status)."""
        self._transport_lock = threading.Lock()
        self._transport_built: Transport | None = None
        self._pf_lock = threading.Lock()
        self._pf_api: Any = None

    def close(self) -> None:
        with self._transport_lock:
            if self._transport_built is not None:
                self._transport_built.close()
        if self._pf_api is not None:
            self._pf_api.close()

    def _transport(self) -> Transport:
        """The HTTP pool and credentials, built by the first request: urllib3 (and, for exec /
        auth-provider users, the kubernetes client and the plugin run) cost nothing until the
        cluster is really asked something, so the wizard paints its first frame before."""
        with self._transport_lock:
            if self._transport_built is None:
                from wizard.k8s.transport import Transport, uses_credential_helper

                users = self.connection.kubeconfig.get("users") or [{}]
                user = users[0].get("user") or {}
                helper = _HelperCredentials(self.connection) if uses_credential_helper(user) else None
                self._transport_built = Transport(self.connection, helper)
            return self._transport_built

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    # ---- reads --------------------------------------------------------------------------
    def server_version(self) -> Obj:
        """`/version`: gitVersion, major, minor, ... as the server sent them."""
        return self._json(_Op("get", "version", None, None, "GET", "/version", resource="version"))

    def get(self, kind: str, namespace: str | None, name: str) -> Obj:
        """One object by kind, namespace (None for cluster-scoped kinds) and name."""
        k = kind_of(kind)
        ns = namespace if k.namespaced else None
        op = _Op("get", kind, ns, name, "GET", k.path(ns, name), group=k.group, resource=k.plural)
        return self._json(op)

    def try_get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        """Like `get`, but None when the object does not exist (404)."""
        try:
            return self.get(kind, namespace, name)
        except GatewayError as err:
            if err.status == 404:
                return None
            raise

    def get_list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
    ) -> Obj:
        """The whole List object (items plus metadata.resourceVersion for a following watch);
        with `limit`, only the first page (metadata.continue / remainingItemCount tell the rest)."""
        k = kind_of(kind)
        ns = namespace if k.namespaced else None
        query = _selectors(label_selector, field_selector)
        if limit is not None:
            query += (("limit", str(limit)),)
        op = _Op("list", kind, ns, None, "GET", k.path(ns), group=k.group, resource=k.plural, query=query)
        return self._json(op)

    def items(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Just the objects of `get_list`."""
        items = self.get_list(kind, namespace, label_selector, field_selector).get("items") or []
        return list(items)

    def count(self, kind: str, namespace: str | None = None) -> int:
        """How many objects exist, from a one-item page and metadata.remainingItemCount, so a
        big cluster's pods are counted without downloading them (a full list only when the server
        does not report the remainder)."""
        page = self.get_list(kind, namespace, limit=1)
        items = page.get("items") or []
        meta = page.get("metadata") or {}
        remaining = meta.get("remainingItemCount")
        if isinstance(remaining, int):
            return len(items) + remaining
        if not meta.get("continue"):
            return len(items)
        return len(self.items(kind, namespace))

    def get_namespace(self, name: str) -> Obj:
        return self.get("Namespace", None, name)

    def get_deployment(self, namespace: str, name: str) -> Obj:
        return self.get("Deployment", namespace, name)

    def list_deployments(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self.items("Deployment", namespace, label_selector)

    def list_replicasets(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self.items("ReplicaSet", namespace, label_selector)

    def list_pods(
        self, namespace: str, label_selector: str | None = None, field_selector: str | None = None
    ) -> list[Obj]:
        return self.items("Pod", namespace, label_selector, field_selector)

    def get_service(self, namespace: str, name: str) -> Obj:
        return self.get("Service", namespace, name)

    def list_services(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self.items("Service", namespace, label_selector)

    def get_endpoints(self, namespace: str, name: str) -> Obj:
        return self.get("Endpoints", namespace, name)

    def list_endpointslices(self, namespace: str, service_name: str | None = None) -> list[Obj]:
        """EndpointSlices, optionally of one Service (by the `kubernetes.io/service-name` label)."""
        selector = f"kubernetes.io/service-name={service_name}" if service_name else None
        return self.items("EndpointSlice", namespace, selector)

    def get_configmap(self, namespace: str, name: str) -> Obj:
        return self.get("ConfigMap", namespace, name)

    def list_configmaps(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        return self.items("ConfigMap", namespace, label_selector)

    def list_nodes(self, label_selector: str | None = None) -> list[Obj]:
        return self.items("Node", None, label_selector)

    def list_daemonsets(self, namespace: str | None, label_selector: str | None = None) -> list[Obj]:
        return self.items("DaemonSet", namespace, label_selector)

    def list_hpas(self, namespace: str) -> list[Obj]:
        return self.items("HorizontalPodAutoscaler", namespace)

    def list_pdbs(self, namespace: str) -> list[Obj]:
        return self.items("PodDisruptionBudget", namespace)

    def events_for(self, kind: str, namespace: str, name: str) -> list[Obj]:
        """Events about one object, oldest first.

        Asks the server to filter by involvedObject (real API servers support it) and filters
        again here, because not every server honours those field selectors."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        try:
            events = self.items("Event", namespace, field_selector=selector)
        except GatewayError as err:
            if err.status != 400:
                raise
            events = self.items("Event", namespace)
        mine = [
            e for e in events
            if (e.get("involvedObject") or {}).get("name") == name
            and (e.get("involvedObject") or {}).get("kind") == kind
        ]
        return sorted(mine, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def pod_logs(
        self,
        namespace: str,
        name: str,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
    ) -> str:
        """A pod's log text (the previous container instance's with previous=True)."""
        query: list[tuple[str, str]] = []
        if container:
            query.append(("container", container))
        if tail_lines is not None:
            query.append(("tailLines", str(tail_lines)))
        if previous:
            query.append(("previous", "true"))
        op = _Op(
            "get", "Pod", namespace, name, "GET", KINDS["Pod"].path(namespace, name, "log"),
            subresource="log", resource="pods", query=tuple(query), accept="text/plain",
        )
        raw: bytes = self._execute(op)
        return raw.decode("utf-8", errors="replace")

    def can_i(
        self,
        verb: str,
        group: str,
        resource: str,
        subresource: str = "",
        namespace: str = "",
        name: str = "",
    ) -> AccessReview:
        """Ask the API server whether the operator may do something (SelfSubjectAccessReview).

        A create, but one that changes nothing: allowed in every mode and safe to retry."""
        attrs = {"verb": verb, "group": group, "resource": resource}
        for key, value in (("subresource", subresource), ("namespace", namespace), ("name", name)):
            if value:
                attrs[key] = value
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        op = _Op(
            "create", "SelfSubjectAccessReview", None, None, "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            group="authorization.k8s.io", resource="selfsubjectaccessreviews", body=body,
        )
        status = self._json(op).get("status") or {}
        reason = str(status.get("reason") or status.get("evaluationError") or "")
        return AccessReview(
            verb, group, resource, subresource, namespace, name, bool(status.get("allowed")), reason
        )

    def rules_review(self, namespace: str) -> Obj | None:
        """What the operator may do in `namespace` (SelfSubjectRulesReview): the `status` with
        resourceRules and `incomplete`, or None when the server does not serve the API (404).

        One request instead of one access review per verb. A create that changes nothing, like
        can_i. Kubernetes documents it as a listing for UIs, not an authorization decision: the
        caller trusts only what it allows, and asks access reviews for the rest."""
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace},
        }
        op = _Op(
            "create", "SelfSubjectRulesReview", None, None, "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            group="authorization.k8s.io", resource="selfsubjectrulesreviews", body=body,
        )
        try:
            status = self._json(op).get("status")
        except GatewayError as err:
            if err.status == 404:
                return None
            raise
        return status if isinstance(status, dict) else {}

    # ---- writes (gated by mode) ---------------------------------------------------------
    def scale_deployment(self, namespace: str, name: str, replicas: int) -> WriteResult:
        """Set a Deployment's replicas through the scale subresource (an absolute value: safe
        to repeat after a timeout)."""
        if replicas < 0:
            raise InputError(msg("cli.negative-replicas",
                                 "replicas for Deployment {namespace}/{name} must be >= 0, got {replicas}",
                                 namespace=namespace, name=name, replicas=replicas))
        k = KINDS["Deployment"]
        op = _Op(
            "patch", "Deployment", namespace, name, "PATCH", k.path(namespace, name, "scale"),
            subresource="scale", group="apps", resource="deployments",
            body={"spec": {"replicas": replicas}}, content_type="application/merge-patch+json",
            write=True, action=f"scale Deployment {namespace}/{name} to {replicas}",
        )
        return self._write(op)

    def patch_deployment(
        self, namespace: str, name: str, patch: Mapping[str, Any], why: str = ""
    ) -> WriteResult:
        """Strategic-merge-patch a Deployment (containers merge by name, as kubectl patch does)."""
        k = KINDS["Deployment"]
        op = _Op(
            "patch", "Deployment", namespace, name, "PATCH", k.path(namespace, name),
            group="apps", resource="deployments", body=dict(patch),
            content_type="application/strategic-merge-patch+json", write=True,
            action=why or f"patch Deployment {namespace}/{name}",
        )
        return self._write(op)

    def annotate_deployment(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> WriteResult:
        """Set (or with None remove) annotations on a Deployment."""
        keys = ", ".join(sorted(annotations))
        return self.patch_deployment(
            namespace, name, {"metadata": {"annotations": dict(annotations)}},
            why=f"annotate Deployment {namespace}/{name} ({keys})",
        )

    def apply(self, manifests: Sequence[Mapping[str, Any]], force: bool = False) -> list[WriteResult]:
        """Server-side apply each manifest (fieldManager coredns-wizard), in order.

        Apply creates missing objects and updates existing ones to the same result, so a retry
        after a lost response cannot create a duplicate. `force` takes over fields another
        manager (e.g. kubectl) owns, as `kubectl apply --server-side --force-conflicts` does."""
        results: list[WriteResult] = []
        for i, manifest in enumerate(manifests):
            k, namespace, name = self._locate(manifest, i)
            query: list[tuple[str, str]] = [("fieldManager", FIELD_MANAGER)]
            if force:
                query.append(("force", "true"))
            body = copy.deepcopy(dict(manifest))
            op = _Op(
                "patch", k.kind, namespace, name, "PATCH", k.path(namespace, name),
                group=k.group, resource=k.plural, query=tuple(query), body=body,
                content_type="application/apply-patch+yaml", write=True,
                action=f"apply {describe(k.kind, namespace, name)}",
            )
            results.append(self._write(op))
        return results

    def validate_apply(self, manifests: Sequence[Mapping[str, Any]], workers: int = 1) -> list[WriteResult]:
        """Server-side apply with dryRun=All in EVERY mode, read-only included: the API server
        validates and runs admission, stores nothing. The only request a read-only gateway sends
        that is not a read (besides access reviews); the flag on _Op cannot be set by callers.

        With `workers` > 1 the objects are sent that many at once (a dry-run stores nothing, so
        no object depends on another's); results and the first error come in manifest order."""
        ops: list[_Op] = []
        for i, manifest in enumerate(manifests):
            k, namespace, name = self._locate(manifest, i)
            ops.append(_Op(
                "patch", k.kind, namespace, name, "PATCH", k.path(namespace, name),
                group=k.group, resource=k.plural, query=(("fieldManager", FIELD_MANAGER),),
                body=copy.deepcopy(dict(manifest)), content_type="application/apply-patch+yaml",
                write=True, validate_only=True,
                action=f"validate (server-side dry-run) {describe(k.kind, namespace, name)}",
            ))
        if workers <= 1 or len(ops) <= 1:
            return [self._write(op) for op in ops]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(workers, len(ops)), thread_name_prefix="dry-run") as pool:
            futures = [pool.submit(self._write, op) for op in ops]
            return [future.result() for future in futures]

    def delete(self, kind: str, namespace: str | None, name: str) -> WriteResult:
        """Delete one object (background propagation, like kubectl). A retry that finds it gone
        counts as done, since the earlier attempt must have deleted it."""
        k = kind_of(kind)
        ns = namespace if k.namespaced else None
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        op = _Op(
            "delete", kind, ns, name, "DELETE", k.path(ns, name), group=k.group, resource=k.plural,
            body=body, write=True, action=f"delete {describe(kind, ns, name)}",
        )
        return self._write(op)

    # ---- streams ------------------------------------------------------------------------
    def open_watch(
        self,
        kind: str,
        namespace: str | None,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int = 60,
    ) -> WatchStream:
        """Open one watch request; iterate the stream for event dicts, `close()` it from any
        thread. Opening is retried like any read; a dropped stream is the caller's to reopen."""
        k = kind_of(kind)
        ns = namespace if k.namespaced else None
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_s)),
            *_selectors(label_selector, field_selector),
        ]
        op = _Op(
            "watch", kind, ns, None, "GET", k.path(ns), group=k.group, resource=k.plural,
            query=tuple(query),
        )
        # the read timeout must outlast the server's own end of the stream
        response = self._execute(op, stream=True, read_timeout=timeout_s + 15.0)
        return WatchStream(response, op.target)

    def port_forward(self, namespace: str, pod: str, port: int) -> PortForwardSocket:
        """A connected stream socket to `port` of a pod, tunnelled through the API server
        (kubectl port-forward); how DNS-over-TCP probes reach pods the host cannot route to."""
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        op = _Op(
            "create", "Pod", namespace, pod, "GET", KINDS["Pod"].path(namespace, pod, "portforward"),
            subresource="portforward", resource="pods",
        )
        started = time.monotonic()
        # kubernetes.stream swaps call_api on the ApiClient it is given while it connects: a
        # client of its own keeps that from racing with other threads' requests.
        with self._pf_lock:
            if self._pf_api is None:
                self._pf_api = _make_api_client(self.connection)
            api = CoreV1Api(self._pf_api)
            before = set(threading.enumerate())
            try:
                forward = portforward(
                    api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port),
                    _request_timeout=self.request_timeout,
                )
            except ApiException as err:  # the client wraps every WebSocket failure this way
                self._report(op, 1, None, str(err.reason), started, False)
                raise self._tunnel_failure(op, port, str(err.reason)) from None
            except (OSError, ValueError) as err:
                self._report(op, 1, None, str(err), started, False)
                raise self._unreachable(op, err) from None
            # the client starts one proxy thread per tunnel and keeps no handle on it: find it
            # (port_forward runs one at a time under this lock) so close() can wait for its end
            proxies = [
                t for t in threading.enumerate()
                if t not in before and t.name.startswith(_PORT_FORWARD_THREAD)
            ]
        self._report(op, 1, 101, None, started, False)
        return PortForwardSocket(forward, port, proxies[0] if len(proxies) == 1 else None)

    # ---- machinery ----------------------------------------------------------------------
    def _locate(self, manifest: Mapping[str, Any], index: int) -> tuple[Kind, str | None, str]:
        kind_name = manifest.get("kind")
        meta = manifest.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(kind_name, str) or not isinstance(name, str) or not name:
            raise InputError(msg("cli.manifest-no-kind-or-name",
                                 "manifest #{number} has no kind or metadata.name; every object needs both",
                                 number=index + 1))
        k = kind_of(kind_name)
        if manifest.get("apiVersion") != k.api_version:
            raise InputError(msg(
                "cli.manifest-wrong-api-version",
                "manifest #{number} ({kind} {name}): apiVersion {found} is not {expected_repr}; "
                "use {expected}",
                number=index + 1, kind=kind_name, name=name, found=repr(manifest.get("apiVersion")),
                expected_repr=repr(k.api_version), expected=k.api_version,
            ))
        namespace = meta.get("namespace") if k.namespaced else None
        if k.namespaced and not namespace:
            raise InputError(msg("cli.manifest-no-namespace",
                                 "manifest #{number} ({kind} {name}) has no metadata.namespace; set it",
                                 number=index + 1, kind=kind_name, name=name))
        return k, namespace, name

    def _write(self, op: _Op) -> WriteResult:
        if self.mode == "read-only" and not op.validate_only:
            raise ReadOnlyError(msg(
                "cli.read-only-refused",
                "refusing to {action} in context {context}: the wizard runs read-only; run it without "
                "--read-only to change the cluster",
                action=op.action or op.verb + " " + op.target, context=repr(self.connection.context),
            ))
        dry = self.mode == "dry-run" or op.validate_only
        if dry:
            op = _with_query(op, ("dryRun", "All"))
        try:
            data = self._json(op)
        except GatewayError as err:
            if op.verb == "delete" and err.status == 404 and err.reason == "retried-gone":
                data = {}
            else:
                raise
        return WriteResult(data, dry, op.action)

    def _json(self, op: _Op) -> Obj:
        raw = self._execute(op)
        if not raw:
            return {}
        try:
            decoded = load_json(raw, "response", max_bytes=None, check_depth=False)
        except InputError:
            raise GatewayError(msg(
                "cli.response-not-json",
                "{prefix}: the API server at {server} answered with something that is not JSON "
                "({start}); is the kubeconfig server address an API server?",
                prefix=self._prefix(op), server=self.connection.server, start=repr(raw[:80]),
            )) from None
        if not isinstance(decoded, dict):
            raise GatewayError(msg(
                "cli.response-not-object",
                "{verb} {target}: expected a JSON object from {server}, got {type}",
                verb=op.verb, target=op.target, server=self.connection.server, type=type(decoded).__name__,
            ))
        return decoded

    def _execute(self, op: _Op, *, stream: bool = False, read_timeout: float | None = None) -> Any:
        """Send with retries; return the body bytes (or the open response when streaming)."""
        import urllib3

        budget = _Budget(self.retries, self.retry_budget_s, self.backoff_base_s, self.backoff_max_s)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._send(op, read_timeout)
                status = response.status
                self._reached = True
                if stream and 200 <= status < 300:
                    self._report(op, attempt, status, None, started, False)
                    return response
                body: bytes = response.data
                response.release_conn()
            except urllib3.exceptions.SSLError as err:
                text = f"{type(err).__name__}\n{err}"
                self._report(op, attempt, None, text, started, False)
                raise self._tls_failure(op, text) from None
            except (urllib3.exceptions.HTTPError, OSError) as err:
                never_sent = isinstance(
                    err, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
                )
                retryable = op.idempotent or never_sent
                # Until the server has answered once, a transport error most likely means a wrong
                # address or a missing VPN: say so after a couple of tries instead of retrying for
                # the whole budget. Once it has answered, ride out restarts as usual.
                if not self._reached and attempt >= FIRST_CONTACT_ATTEMPTS:
                    retryable = False
                wait = budget.delay(attempt, None) if retryable else None
                self._report(op, attempt, None, _transport_text(err), started, wait is not None)
                if wait is None:
                    raise self._unreachable(op, err, attempt) from None
                time.sleep(wait)
                continue
            self._reached = True
            if 200 <= status < 300:
                self._report(op, attempt, status, None, started, False)
                return body
            text = body.decode("utf-8", errors="replace")
            transient = status in _TRANSIENT_STATUS and (op.idempotent or status == 429)
            retry_after = _retry_after(response.headers.get("Retry-After"))
            wait = budget.delay(attempt, retry_after) if transient else None
            self._report(op, attempt, status, None, started, wait is not None)
            if wait is not None:
                time.sleep(wait)
                continue
            if status == 404 and op.verb == "delete" and attempt > 1:
                raise GatewayError("already deleted", status=404, reason="retried-gone")
            raise self._failure(op, status, text, attempts=attempt)

    def _send(self, op: _Op, read_timeout: float | None) -> urllib3.BaseHTTPResponse:
        headers: dict[str, str] = {"Accept": op.accept}
        body: bytes | None = None
        if op.body is not None:
            headers["Content-Type"] = op.content_type or "application/json"
            body = json.dumps(op.body).encode("utf-8")  # JSON is YAML too (apply-patch+yaml)
        timeout: float | tuple[float, float] | None = self.request_timeout
        if read_timeout is not None:
            connect = self.request_timeout or 30.0
            timeout = (connect, read_timeout)
        return self._transport().request(op.method, op.path, op.query, headers, body, timeout)

    def _report(
        self, op: _Op, attempt: int, status: int | None, error: str | None, started: float, will_retry: bool
    ) -> None:
        if self.on_request is None:
            return
        event = RequestEvent(
            op.method, op.path, attempt, status, error, time.monotonic() - started, will_retry
        )
        with contextlib.suppress(Exception):  # a broken UI hook must not break a cluster change
            self.on_request(event)

    def _prefix(self, op: _Op) -> str:
        return msg("cli.request-in-context", "{verb} {target} in context {context}",
                   verb=op.verb, target=op.target, context=repr(self.connection.context))

    def _failure(
        self, op: _Op, status: int | None, text: str, reason: str = "", attempts: int = 1
    ) -> GatewayError:
        api_message, api_reason, causes = _parse_status(text)
        api_message = api_message or reason or text.strip()[:300] or msg("cli.no-api-message", "(no message)")
        advice = self._advice(op, status, causes)
        message = msg("cli.request-failed-http", "{prefix} failed{tries}: HTTP {status} {reason}: {message}",
                      prefix=self._prefix(op), tries=_tries(attempts), status=status, reason=api_reason,
                      message=api_message)
        if causes:
            message = msg("cli.request-failed-causes", "{failure} ({causes})", failure=message,
                          causes="; ".join(causes))
        if advice:
            message = msg("cli.request-failed-advice", "{failure}. {advice}", failure=message, advice=advice)
        return GatewayError(message, status=status, reason=api_reason, api_message=api_message, causes=causes)

    def _advice(self, op: _Op, status: int | None, causes: tuple[str, ...]) -> str:
        c = self.connection
        if status == 401:
            return msg(
                "cli.advice-401",
                "The API server rejected the credentials of user {user} from {source} "
                "(expired or revoked?): refresh the kubeconfig (e.g. your provider's get-credentials "
                "command) and try again",
                user=repr(c.user), source=c.source_label,
            )
        if status == 403:
            res = f"{op.resource}/{op.subresource}" if op.subresource else op.resource
            group = (msg("cli.advice-403-group", " (API group {group})", group=repr(op.group)) if op.group
                     else msg("cli.advice-403-core-group", " (core API group)"))
            where = (msg("cli.advice-403-namespace",
                         " in namespace {namespace}", namespace=repr(op.namespace))
                     if op.namespace else msg("cli.advice-403-cluster-wide", " (cluster-wide)"))
            verbs = (msg("cli.advice-403-apply-verbs", "patch and create")
                     if op.content_type == "application/apply-patch+yaml" else op.verb)
            check = f"kubectl auth can-i {op.verb} {op.resource}" + (f".{op.group}" if op.group else "")
            if op.subresource:
                check += f" --subresource={op.subresource}"
            if op.namespace:
                check += f" -n {op.namespace}"
            return msg(
                "cli.advice-403",
                "Missing permission: grant {verbs} on {resource}{group}{where} to user {user} "
                "(check with: {check})",
                verbs=verbs, resource=res, group=group, where=where, user=repr(c.user), check=check,
            )
        if status == 404:
            return msg("cli.advice-404",
                       "It does not exist: check the name and namespace (context {context})",
                       context=repr(c.context))
        if status == 409:
            return msg("cli.advice-409", "It changed meanwhile or already exists: re-read it and try again")
        if status == 422:
            return msg("cli.advice-422",
                       "The API server rejected the object as invalid: fix the fields named above")
        if status == 429 or (status is not None and status >= 500):
            return msg(
                "cli.advice-5xx",
                "The API server at {server} kept failing; retried for up to {budget}: "
                "check the control plane's health and try again",
                server=c.server, budget=human_duration(self.retry_budget_s),
            )
        return ""

    def _unreachable(self, op: _Op, err: BaseException, attempts: int = 1) -> GatewayError:
        c = self.connection
        return GatewayError(msg(
            "cli.unreachable",
            "{prefix} failed{tries}: cannot reach the API server at {server} ({error}); check the VPN / "
            "kubeconfig server address (cluster {cluster} in {source})",
            prefix=self._prefix(op), tries=_tries(attempts), server=c.server, error=_transport_text(err),
            cluster=repr(c.cluster), source=c.source_label,
        ))

    def _tunnel_failure(self, op: _Op, port: int, text: str) -> GatewayError:
        found = re.search(r"Handshake status (\d{3})", text)
        status = int(found.group(1)) if found else None
        lines = text.strip().splitlines()
        first = lines[0][:200] if lines else msg("cli.no-reason-given", "no reason given")
        return GatewayError(
            msg(
                "cli.port-forward-refused",
                "{prefix} failed: the API server did not open a port-forward to port {port} ({reason}). "
                "Check that the pod is Running and that user {user} may create pods/portforward "
                "(kubectl auth can-i create pods --subresource=portforward -n {namespace})",
                prefix=self._prefix(op), port=port, reason=first, user=repr(self.connection.user),
                namespace=op.namespace,
            ),
            status=status,
            api_message=first,
        )

    def _tls_failure(self, op: _Op, text: str) -> GatewayError:
        c = self.connection
        first = text.strip().splitlines()[-1] if text.strip() else msg("cli.tls-error", "TLS error")
        return GatewayError(msg(
            "cli.tls-failed",
            "{prefix} failed: TLS with the API server at {server} failed ({error}); "
            "check certificate-authority of cluster {cluster} in {source}",
            prefix=self._prefix(op), server=c.server, error=first, cluster=repr(c.cluster),
            source=c.source_label,
        ))


class WatchStream:
    """One open watch response: iterate for event dicts; `close()` from any thread ends it."""

    def __init__(self, response: urllib3.BaseHTTPResponse, target: str) -> None:
        self._response = response
        self.target = target
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Obj]:
        import urllib3

        buffer = b""
        try:
            for chunk in self._response.stream(amt=None, decode_content=True):
                if self._closed.is_set():
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = _decode_event(line)
                    if event is not None:
                        yield event
            tail = _decode_event(buffer)
            if tail is not None and not self._closed.is_set():
                yield tail
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            if self._closed.is_set():
                return
            raise WatchDropped(msg("cli.watch-stream-dropped", "watch of {target} dropped",
                                   target=self.target)) from None
        finally:
            self._response.release_conn()

    def close(self) -> None:
        """Interrupt a blocked read; safe to call more than once and from other threads."""
        self._closed.set()
        with contextlib.suppress(Exception):  # closing twice or after EOF is fine
            self._response.shutdown()


class WatchDropped(Exception):
    """The stream broke mid-way (network or server); the watcher reconnects."""


_PORT_FORWARD_THREAD = "Kubernetes port forward proxy"
"""The name kubernetes.stream gives the thread that pumps a tunnel's bytes."""
_PORT_FORWARD_CLOSE_S = 2.0


class PortForwardSocket:
    """A connected, non-blocking stream socket to a pod port through the API server."""

    def __init__(self, forward: Any, port: int, proxy: threading.Thread | None = None) -> None:
        self._forward = forward
        self._proxy = proxy
        self.port = port
        self.socket: socket.socket = forward.socket(port)
        self.socket.setblocking(False)

    def error(self) -> str | None:
        """Text the API server sent on the port's error channel, if any."""
        err = self._forward.error(self.port)
        return str(err) if err else None

    def close(self) -> None:
        """Close the local end; the proxy thread then closes the WebSocket and ends (waited for,
        briefly, so a run leaves no thread or socket behind)."""
        self._forward.close()
        if self._proxy is not None and self._proxy is not threading.current_thread():
            self._proxy.join(_PORT_FORWARD_CLOSE_S)

    def __enter__(self) -> PortForwardSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- helpers ---------------------------------------------------------------------------------


def _make_api_client(connection: Connection) -> Any:
    """The official client's ApiClient for one connection (port-forward's WebSocket needs it)."""
    from kubernetes.client import ApiClient

    return ApiClient(_client_configuration(connection))


def _client_configuration(connection: Connection) -> Any:
    """The official client's Configuration for one connection, its kubeconfig loader run (exec
    plugins, auth-providers); the only place that loader runs. Imports `kubernetes` (~0.4 s):
    only port-forward and users with credential helpers get here."""
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    from wizard.k8s.credentials import without_inline_data

    config = Configuration()
    try:
        loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
            config_dict=without_inline_data(connection.kubeconfig),
            active_context=connection.context,
            config_base_path="",
        )
        loader.load_and_set(config)  # type: ignore[no-untyped-call]
    except (ConfigException, KeyError, ValueError, OSError) as err:
        raise InputError(msg(
            "cli.context-unusable", "kubeconfig {source}: context {context} cannot be used ({error}); "
            "fix the kubeconfig",
            source=connection.source_label, context=repr(connection.context), error=err,
        )) from None
    config.retries = False  # the gateway retries, with its own policy and reporting
    return config


class _HelperCredentials:
    """Credentials of an exec plugin or auth-provider user, through the official client's
    helpers (it runs the plugin, caches the token and re-runs it once the token expires)."""

    def __init__(self, connection: Connection) -> None:
        self._config = _client_configuration(connection)
        self._lock = threading.Lock()

    def authorization(self) -> str | None:
        with self._lock:  # the refresh hook may run the plugin: once at a time
            value = self._config.get_api_key_with_prefix("BearerToken")
        return str(value) if value else None

    @property
    def cert_file(self) -> str | None:
        return self._config.cert_file  # type: ignore[no-any-return]

    @property
    def key_file(self) -> str | None:
        return self._config.key_file  # type: ignore[no-any-return]


def _selectors(label_selector: str | None, field_selector: str | None) -> tuple[tuple[str, str], ...]:
    query: list[tuple[str, str]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return tuple(query)


def _with_query(op: _Op, item: tuple[str, str]) -> _Op:
    from dataclasses import replace

    return replace(op, query=(*op.query, item))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _transport_text(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    text = str(reason or err)
    if "Connection refused" in text:
        return msg("cli.connection-refused", "connection refused")
    if "timed out" in text.lower():
        return msg("cli.timed-out", "timed out")
    if "reset" in text.lower():
        return msg("cli.connection-reset", "connection reset")
    return text[:200]


def _tries(attempts: int) -> str:
    """The " after N attempts" of a request that was retried, else nothing."""
    if attempts > 1:
        return msg("cli.after-attempts", " after {attempts} attempts", attempts=attempts)
    return ""


def _parse_status(text: str) -> tuple[str, str, tuple[str, ...]]:
    """message, reason and `field: message` causes of a Status body (empty when not one)."""
    try:
        status = load_json(text, "status", max_bytes=None, check_depth=False)
    except InputError:
        return "", "", ()
    if not isinstance(status, dict):
        return "", "", ()
    details = status.get("details") or {}
    causes = []
    for cause in details.get("causes") or [] if isinstance(details, dict) else []:
        if isinstance(cause, dict):
            where = cause.get("field") or cause.get("reason") or ""
            causes.append(f"{where}: {cause.get('message', '')}".strip(": "))
    return str(status.get("message") or ""), str(status.get("reason") or ""), tuple(causes)


def _decode_event(line: bytes) -> Obj | None:
    line = line.strip()
    if not line:
        return None
    try:
        event = load_json(line, "watch event", max_bytes=None, check_depth=False)
    except InputError as err:
        raise ValueError(str(err)) from None  # the watch reports itself dropped
    return event if isinstance(event, dict) else None
