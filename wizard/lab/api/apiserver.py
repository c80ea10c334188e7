"""The lab's Kubernetes API server: HTTPS + bearer token on aiohttp, over the lab Store.

The official Python client and kubectl talk to it unmodified, so everything the wizard does
against the lab (discovery, CRUD, patches, watches, scale, logs, exec, port-forward, permission
checks) goes through the same wire protocol as against a real cluster. It runs on the lab loop;
store callbacks only enqueue onto it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hmac
import json
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from wizard.lab.addresses import AddressExhausted, AddressPlan
from wizard.lab.api import discovery, streams, watches
from wizard.lab.api.certs import ServerCertificates, generate_server_certificates
from wizard.lab.api.patching import (
    APPLY_PATCH,
    PATCH_TYPES,
    apply_patch,
    apply_strategic_merge_patch,
    field_set,
    remove_dropped_fields,
)
from wizard.lab.api.protobuf import PROTOBUF, access_review_from_protobuf, rules_review_from_protobuf
from wizard.lab.api.selectors import (
    object_filter,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)
from wizard.lab.api.store import RESOURCES, ApiError, Obj, Resource, Store, not_found, now_rfc3339
from wizard.lab.api.tables import to_table, wants_table
from wizard.lab.api.validation import (
    apply_defaults,
    check_immutable,
    status_on_create,
    validate,
)
from wizard.lab.faults import Faults
from wizard.lab.node.runtime import PodRuntime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TargetHandler = Callable[[web.Request, "Target"], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)

_UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_PROXY_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}
# Kinds whose DELETE answers with the deleted object rather than a Status, as the real server's
# registries do (the generated clients deserialise these into the kind's model).
_OBJECT_ON_DELETE = frozenset({"Pod", "Service", "ServiceAccount"})


@dataclass(kw_only=True)
class APIServerConfig:
    """How the lab API server runs. `deny` holds (verb, resource[/subresource]) pairs the
    operator's token may not do, e.g. ("update", "deployments/scale")."""

    token: str
    cert_dir: Path
    k8s_version: str = "1.20.15"
    host: str = "127.0.0.1"
    port: int = 0
    deny: set[tuple[str, str]] = field(default_factory=set)
    addresses: AddressPlan | None = None
    username: str = "lab-operator"
    # flaky-api fault: share of requests that fail, seed for reproducible tests, how long a
    # "hung" request hangs before its 504, and after how many events a watch is dropped.
    flaky_rate: float = 0.2
    flaky_seed: int | None = None
    flaky_hang_seconds: float = 3.0
    flaky_watch_events: int = 3
    bookmark_interval: float = 60.0
    log_poll_interval: float = 0.2


RBAC_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
"""The verbs an RBAC rule names for resources (a rules review lists those still allowed)."""


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    res: Resource
    namespace: str | None  # None: cluster-scoped kind, or a namespaced kind across all namespaces
    name: str | None
    subresource: str | None = None
    proxy_port: str | None = None
    proxy_path: str = ""

    @property
    def store_namespace(self) -> str:
        return self.namespace or ""


def _json_response(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


def _list_response(store: Store, res: Resource, metadata: Obj, items: list[Obj]) -> web.Response:
    """The List as `_json_response` would encode it, from each item's cached JSON: at 10,000 pods,
    encoding every pod on every list was most of a list's time on the server."""
    head = json.dumps({"kind": res.list_kind, "apiVersion": res.api_version, "metadata": metadata})
    body = b"".join((
        head[:-1].encode(), b', "items": [',
        b", ".join([store.encoded(res.key, item) for item in items]),
        b"]}",
    ))
    return web.Response(status=200, body=body, content_type="application/json")


def _status_response(error: ApiError) -> web.Response:
    return _json_response(error.code, error.status())


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _resource_label(res: Resource) -> str:
    """`pods`, `deployments.apps`: how the real server names a resource in messages."""
    return res.key


_BY_GROUP_VERSION: dict[tuple[str, str], dict[str, Resource]] = {}
for _res in RESOURCES:
    _BY_GROUP_VERSION.setdefault((_res.group, _res.version), {})[_res.plural] = _res


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class APIServer:
    """Serves the Kubernetes REST API for `store`. Start and stop it on the lab loop."""

    def __init__(self, store: Store, config: APIServerConfig, runtime: PodRuntime, faults: Faults) -> None:
        self.store = store
        self.config = config
        self.runtime = runtime
        self.faults = faults
        self.port = 0
        self.url = ""
        self.certificates: ServerCertificates | None = None
        self._runner: web.AppRunner | None = None
        self._rng = random.Random(config.flaky_seed)
        self._long_running: set[asyncio.Task[Any]] = set()

    @property
    def ca_pem(self) -> bytes:
        if self.certificates is None:
            raise RuntimeError("the API server has not been started")
        return self.certificates.ca_pem

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self.certificates = await asyncio.to_thread(
            generate_server_certificates, Path(self.config.cert_dir), (self.config.host,)
        )
        self._reserve_existing_cluster_ips()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert_path, self.certificates.key_path)
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"https://{self.config.host}:{self.port}"

    async def stop(self) -> None:
        for task in list(self._long_running):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _reserve_existing_cluster_ips(self) -> None:
        """Services seeded straight into the store keep their ClusterIPs out of the pool."""
        plan = self.config.addresses
        if plan is None:
            return
        for service in self.store.list("services")[0]:
            ip = (service.get("spec") or {}).get("clusterIP")
            if ip and ip != "None" and ip in plan.services:
                with contextlib.suppress(AddressExhausted):
                    plan.services.take(ip)

    # ---- middleware: auth, faults, errors ----------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path not in _UNAUTHENTICATED_PATHS and not self._authenticated(request):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if self.faults.is_on("flaky-api") and self._is_resource_request(request.path):
                await self._maybe_fail()
            return await handler(request)
        except ApiError as error:
            return _status_response(error)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except web.HTTPException:
            raise
        except Exception as error:  # the Status keeps the client informed; the log keeps the trace
            log.exception("lab API server failed on %s %s", request.method, request.path_qs)
            return _status_response(
                ApiError(500, "InternalError", f"Internal error occurred: {type(error).__name__}: {error}")
            )

    def _authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self.config.token.encode())

    @staticmethod
    def _is_resource_request(path: str) -> bool:
        parts = [p for p in path.split("/") if p]
        return (parts[:1] == ["api"] and len(parts) > 2) or (parts[:1] == ["apis"] and len(parts) > 3)

    async def _maybe_fail(self) -> None:
        if self._rng.random() >= self.config.flaky_rate:
            return
        outcome = self._rng.choice(("500", "503", "hang"))
        if outcome == "500":
            raise ApiError(500, "InternalError", "Internal error occurred: etcdserver: request timed out")
        if outcome == "503":
            raise ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        await asyncio.sleep(self.config.flaky_hang_seconds)
        raise ApiError(
            504, "Timeout",
            "the server was unable to return a response in the time allotted, but may still be "
            "processing the request",
        )

    # ---- routing -----------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.path in _UNAUTHENTICATED_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        if parts == ["version"]:
            return _json_response(200, discovery.version_document(self.config.k8s_version))
        if parts == ["api"]:
            return _json_response(200, discovery.core_versions(f"{self.config.host}:{self.port}"))
        if parts == ["apis"]:
            return _json_response(200, discovery.group_list())
        if parts == ["openapi", "v3"]:
            return _json_response(200, discovery.openapi_v3_root())
        if parts[:2] == ["openapi", "v3"]:
            group, version = (parts[3], parts[4]) if parts[2:3] == ["apis"] and len(parts) == 5 else (
                ("", parts[3]) if parts[2:3] == ["api"] and len(parts) == 4 else ("-", "-"))
            document = discovery.openapi_v3_group_version(group, version)
            if document is None:
                raise _not_found_path()
            return _json_response(200, document)
        if parts[:1] == ["openapi"]:  # no v2 document: kubectl then relies on v3 (above)
            raise _not_found_path()
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) == 2:
            document = discovery.group_document(parts[1])
            if document is None:
                raise _not_found_path()
            return _json_response(200, document)
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found_path()
        if not rest:
            resource_list = discovery.resource_list(group, version)
            if resource_list is None:
                raise _not_found_path()
            return _json_response(200, resource_list)
        if group == discovery.AUTHORIZATION_GROUP and rest == [discovery.SSAR_PLURAL]:
            if request.method != "POST":
                raise _method_not_allowed()
            return await self._access_review(request)
        if group == discovery.AUTHORIZATION_GROUP and rest == [discovery.SSRR_PLURAL]:
            if request.method != "POST":
                raise _method_not_allowed()
            return await self._rules_review(request)
        watch_prefix = rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        target = self._parse_target(group, version, rest)
        return await self._handle(request, target, watch_prefix)

    def _parse_target(self, group: str, version: str, rest: list[str]) -> Target:
        served = _BY_GROUP_VERSION.get((group, version))
        if served is None:
            raise _not_found_path()
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served and served[rest[2]].namespaced:
            namespace, rest = rest[1], rest[2:]
        res = served.get(rest[0])
        if res is None or (namespace is None and res.namespaced and len(rest) > 1):
            raise _not_found_path()
        if len(rest) == 1:
            return Target(res, namespace, None)
        name = rest[1]
        if len(rest) == 2:
            return Target(res, namespace, name)
        sub = rest[2]
        if sub not in res.subresources:
            raise _not_found_path()
        if sub == "proxy":
            pod_name, port, _scheme = streams.split_proxy_name(name)
            return Target(res, namespace, pod_name, sub, port, "/".join(rest[3:]))
        if len(rest) > 3:
            raise _not_found_path()
        return Target(res, namespace, name, sub)

    async def _handle(self, request: web.Request, target: Target, watch_prefix: bool) -> web.StreamResponse:
        method = request.method
        watching = method == "GET" and (watch_prefix or _is_true(request.query.get("watch")))
        if target.name is None:
            return await self._handle_collection(request, target, watching)
        sub = target.subresource
        if sub is None:
            handlers: dict[str, tuple[str, TargetHandler]] = {
                "GET": ("get", self._get),
                "PUT": ("update", self._replace),
                "PATCH": ("patch", self._patch),
                "DELETE": ("delete", self._delete),
            }
            if watching:
                self._authorize("watch", target)
                return await self._track(self._watch(request, target))
            if method not in handlers:
                raise _method_not_allowed()
            verb, handler = handlers[method]
            self._authorize(verb, target)
            return await handler(request, target)
        if sub in ("status", "scale"):
            return await self._handle_status_or_scale(request, target, sub)
        return await self._handle_pod_subresource(request, target, sub, target.name)

    async def _handle_collection(
        self, request: web.Request, target: Target, watching: bool
    ) -> web.StreamResponse:
        """list, watch, create and deletecollection on a resource (no object name)."""
        method = request.method
        if method == "GET":
            verb = "watch" if watching else "list"
            self._authorize(verb, target)
            if verb == "watch":
                return await self._track(self._watch(request, target))
            return self._list(request, target)
        if method == "POST":
            self._authorize("create", target)
            return await self._create(request, target)
        if method == "DELETE":
            self._authorize("deletecollection", target)
            return await self._delete_collection(request, target)
        raise _method_not_allowed()

    async def _handle_status_or_scale(
        self, request: web.Request, target: Target, sub: str
    ) -> web.StreamResponse:
        """The status and scale subresources: get, update and patch."""
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch"}.get(request.method)
        if verb is None:
            raise _method_not_allowed()
        self._authorize(verb, target)
        if sub == "scale" and target.res.kind in ("Deployment", "ReplicaSet"):
            return await self._scale(request, target, verb)
        if verb == "get":
            return await self._get(request, target)
        if verb == "update":
            return await self._replace(request, target)
        return await self._patch(request, target)

    async def _handle_pod_subresource(
        self, request: web.Request, target: Target, sub: str, name: str
    ) -> web.StreamResponse:
        """A pod's log, exec, portforward, proxy and eviction, with the verbs RBAC checks for each."""
        method = request.method
        allowed_methods = {"log": ("GET",), "exec": ("GET", "POST"), "portforward": ("GET", "POST"),
                           "eviction": ("POST",), "proxy": tuple(_PROXY_VERBS)}
        if target.res.kind != "Pod" or method not in allowed_methods.get(sub, ()):
            raise _method_not_allowed()
        verb = _PROXY_VERBS[method] if sub in ("proxy", "log") else "create"
        self._authorize(verb, target)
        pod = self.store.get(target.res.key, target.store_namespace, name)
        if sub == "log":
            uid = pod["metadata"].get("uid")
            namespace = target.store_namespace

            def still_there() -> bool:
                current = self.store.try_get("pods", namespace, name)
                return current is not None and current["metadata"].get("uid") == uid

            return await self._track(streams.serve_logs(
                request, self.runtime, pod, still_there, self.config.log_poll_interval))
        if sub == "exec":
            return await self._track(streams.serve_exec(request, self.runtime, pod))
        if sub == "portforward":
            return await self._track(streams.serve_portforward(request, self.runtime, pod))
        if sub == "proxy":
            return await streams.serve_proxy(request, self.runtime, pod, target.proxy_port, target.proxy_path)
        await self._delete_object(target, None, dry_run=False, propagation=None)  # eviction
        return _json_response(201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Success", "code": 201})

    async def _track(self, work: Awaitable[web.StreamResponse]) -> web.StreamResponse:
        """Run a long-lived handler so `stop()` can end it instead of waiting for the client."""
        task = asyncio.current_task()
        if task is not None:
            self._long_running.add(task)
        try:
            return await work
        finally:
            if task is not None:
                self._long_running.discard(task)

    # ---- authorization -----------------------------------------------------------------
    def _denied(self, verb: str, resource: str) -> bool:
        if (verb, resource) in self.config.deny:
            return True
        return (
            self.faults.is_on("deny-scale")
            and verb in ("update", "patch")
            and resource == "deployments/scale"
        )

    def _authorize(self, verb: str, target: Target) -> None:
        res = target.res
        resource = res.plural if target.subresource is None else f"{res.plural}/{target.subresource}"
        if not self._denied(verb, resource):
            return
        subject = f'{_resource_label(res)} "{target.name}"' if target.name else _resource_label(res)
        scope = (f'in the namespace "{target.namespace}"' if target.namespace
                 else "at the cluster scope")
        raise ApiError(
            403, "Forbidden",
            f'{subject} is forbidden: User "{self.config.username}" cannot {verb} resource '
            f'"{resource}" in API group "{res.group}" {scope}',
            {"name": target.name or "", "group": res.group, "kind": res.plural},
        )

    async def _access_review(self, request: web.Request) -> web.Response:
        if request.headers.get("Content-Type", "").startswith(PROTOBUF):
            review = access_review_from_protobuf(await request.read())
        else:
            review = await _read_body(request)
        spec = review.get("spec") or {}
        attributes = spec.get("resourceAttributes")
        allowed = True
        if isinstance(attributes, dict):
            resource = str(attributes.get("resource", ""))
            if attributes.get("subresource"):
                resource = f"{resource}/{attributes['subresource']}"
            allowed = not self._denied(str(attributes.get("verb", "")), resource)
        review = copy.deepcopy(review)
        review.setdefault("apiVersion", "authorization.k8s.io/v1")
        review.setdefault("kind", "SelfSubjectAccessReview")
        review.setdefault("metadata", {})
        review["status"] = {"allowed": allowed}  # RBAC gives no reason for a plain "no"
        return _json_response(201, review)

    async def _rules_review(self, request: web.Request) -> web.Response:
        """SelfSubjectRulesReview: the rules the operator holds in one namespace, as RBAC lists
        them. The lab's authorizer allows all but `deny`; with nothing denied that is
        cluster-admin's `*` rule, otherwise one rule per resource with the verbs still allowed
        (RBAC rules only add, so a denial is the verb left out)."""
        if request.headers.get("Content-Type", "").startswith(PROTOBUF):
            review = rules_review_from_protobuf(await request.read())
        else:
            review = await _read_body(request)
        spec = review.get("spec") if isinstance(review, dict) else None
        namespace = str((spec or {}).get("namespace") or "") if isinstance(spec, dict) else ""
        if not namespace:
            raise _bad_request("no namespace on request")
        review = copy.deepcopy(review)
        review.setdefault("apiVersion", "authorization.k8s.io/v1")
        review.setdefault("kind", "SelfSubjectRulesReview")
        review.setdefault("metadata", {})
        review["status"] = {
            "resourceRules": self._resource_rules(),
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
        return _json_response(201, review)

    def _resource_rules(self) -> list[Obj]:
        everything = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        rules: list[Obj] = []
        for res in RESOURCES:
            for name in (res.plural, *(f"{res.plural}/{sub}" for sub in res.subresources)):
                verbs = [v for v in RBAC_VERBS if not self._denied(v, name)]
                if len(verbs) < len(RBAC_VERBS):
                    rules.append({"verbs": verbs, "apiGroups": [res.group], "resources": [name]})
                else:
                    rules.append({"verbs": ["*"], "apiGroups": [res.group], "resources": [name]})
        if all(rule["verbs"] == ["*"] for rule in rules):
            return everything
        return [rule for rule in rules if rule["verbs"]]

    # ---- reads -------------------------------------------------------------------------
    async def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = self.store.get(target.res.key, target.store_namespace, target.name or "")
        if wants_table(request):
            return _json_response(200, to_table(target.res, [obj], str(self.store.resource_version),
                                                request.query.get("includeObject")))
        return web.Response(status=200, body=self.store.encoded(target.res.key, obj),
                            content_type="application/json")

    def _list(self, request: web.Request, target: Target) -> web.Response:
        res = target.res
        label = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), res.kind)
        items, rv = self.store.list(res.key, target.namespace, object_filter(label, fields))
        metadata: Obj = {"resourceVersion": str(rv)}
        token = request.query.get("continue")
        if token:
            start = _decode_continue(token)
            items = [i for i in items if _sort_key(i) > start]
        limit_raw = request.query.get("limit")
        if limit_raw:
            try:
                limit = int(limit_raw)
            except ValueError:
                raise _bad_request(f"invalid limit {limit_raw!r}") from None
            if 0 < limit < len(items):
                metadata["remainingItemCount"] = len(items) - limit
                items = items[:limit]
                metadata["continue"] = _encode_continue(_sort_key(items[-1]), rv)
        if wants_table(request):
            table = to_table(res, items, str(rv), request.query.get("includeObject"))
            table["metadata"].update({k: v for k, v in metadata.items() if k != "resourceVersion"})
            return _json_response(200, table)
        return _list_response(self.store, res, metadata, items)

    # ---- watch -------------------------------------------------------------------------
    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        options = watches.parse_watch_options(request, target.res, target.name)

        def drop_after() -> int | None:
            return self.config.flaky_watch_events if self.faults.is_on("flaky-api") else None

        return await watches.serve_watch(
            request, self.store, target.res, target.namespace, options,
            bookmark_interval=self.config.bookmark_interval, drop_after=drop_after,
        )

    # ---- writes ------------------------------------------------------------------------
    async def _create(self, request: web.Request, target: Target) -> web.Response:
        body = await _read_body(request)
        dry_run = _dry_run(request)
        obj = self._prepare_create(target, body)
        return _json_response(201, self._store_new(target, obj, dry_run))

    def _prepare_create(self, target: Target, body: Obj) -> Obj:
        res = target.res
        _check_kind(res, body)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise _bad_request("metadata must be an object")
        if res.namespaced:
            given = meta.get("namespace")
            namespace = target.namespace or given or "default"
            if given and target.namespace and given != target.namespace:
                raise _bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if self.store.try_get("namespaces", "", namespace) is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
            meta["namespace"] = namespace
        if meta.get("resourceVersion"):
            raise _bad_request("resourceVersion should not be set on objects to be created")
        for server_owned in ("uid", "creationTimestamp", "deletionTimestamp",
                             "deletionGracePeriodSeconds", "generation", "selfLink"):
            meta.pop(server_owned, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        apply_defaults(res, obj)
        status_on_create(res, obj)
        validate(res, obj)
        return obj

    def _store_new(self, target: Target, obj: Obj, dry_run: bool) -> Obj:
        res = target.res
        meta = obj["metadata"]
        if dry_run:
            if self.store.try_get(res.key, meta.get("namespace", ""), meta["name"]) is not None:
                raise ApiError(409, "AlreadyExists", f'{res.key} "{meta["name"]}" already exists',
                               {"name": meta["name"], "group": res.group, "kind": res.plural})
            meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339()})
            if "spec" in obj:
                meta["generation"] = 1
            return obj
        allocated = self._allocate_cluster_ip(res, obj)
        try:
            return self.store.create(res.key, obj)
        except ApiError:
            if allocated and self.config.addresses is not None:
                self.config.addresses.services.release(allocated)
            raise

    def _allocate_cluster_ip(self, res: Resource, obj: Obj) -> str | None:
        plan = self.config.addresses
        spec = obj.get("spec")
        if res.kind != "Service" or plan is None or not isinstance(spec, dict):
            return None
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return None
        wanted = spec.get("clusterIP") or None
        try:
            ip = plan.services.take(wanted)
        except (AddressExhausted, ValueError):
            name = obj["metadata"]["name"]
            in_range = wanted is None or _in_pool(plan, wanted)
            detail = ("provided IP is already allocated" if in_range
                      else "provided IP is not in the valid range. The range of valid IPs is "
                      f"{plan.service_cidr}")
            raise ApiError(
                422, "Invalid", f'Service "{name}" is invalid: spec.clusterIPs: Invalid value: '
                f'["{wanted}"]: failed to allocate IP {wanted}: {detail}',
                {"name": name, "group": "", "kind": "Service", "causes": [{
                    "reason": "FieldValueInvalid", "field": "spec.clusterIPs",
                    "message": f'Invalid value: ["{wanted}"]: {detail}'}]},
            ) from None
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        return ip

    async def _replace(self, request: web.Request, target: Target) -> web.Response:
        body = await _read_body(request)
        _check_kind(target.res, body)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != target.name:
            raise _bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        with self.store.lock:
            old = self.store.get(target.res.key, target.store_namespace, target.name or "")
            expect_rv = meta.get("resourceVersion") or None
            if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
                raise _conflict(target)
            body = _with_update_entry(request, target, old, body)
            return _json_response(200, self._write_over(target, old, body, _dry_run(request)))

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media types "
                           f"include: {', '.join(PATCH_TYPES)}")
        raw = await request.read()
        try:
            patch = yaml.safe_load(raw) if content_type == APPLY_PATCH else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as error:
            raise _bad_request(f"error decoding patch: {error}") from None
        dry_run = _dry_run(request)
        if content_type == APPLY_PATCH:
            return self._apply(request, target, patch, dry_run)
        with self.store.lock:
            old = self.store.get(target.res.key, target.store_namespace, target.name or "")
            patched = apply_patch(content_type, old, patch)
            if not isinstance(patched, dict):
                raise _bad_request("the patch did not produce an object")
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise _conflict(target)
            patched = _with_update_entry(request, target, old, patched)
            return _json_response(200, self._write_over(target, old, patched, dry_run))

    def _apply(self, request: web.Request, target: Target, patch: Any, dry_run: bool) -> web.Response:
        """Server-side apply, approximated: creates the object when missing; otherwise removes
        the fields this field manager applied last time but no longer applies, then merges the
        applied configuration into the live object strategically (lists by merge key). Each
        manager's field set is kept in managedFields. Conflicts between managers are not
        detected (every apply behaves as if forced)."""
        manager = request.query.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                           "Required value: is required for apply patch",
                           {"group": "meta.k8s.io", "kind": "PatchOptions",
                            "causes": [{"reason": "FieldValueRequired", "field": "fieldManager",
                                        "message": "Required value: is required for apply patch"}]})
        if not isinstance(patch, dict):
            raise _bad_request("an apply patch must be an object")
        _check_kind(target.res, patch)
        meta = patch.get("metadata") or {}
        if meta.get("name") and meta["name"] != target.name:
            raise _bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        applied_fields = field_set({k: v for k, v in patch.items() if k not in ("apiVersion", "kind")})
        entry: Obj = {"manager": manager, "operation": "Apply", "apiVersion": target.res.api_version,
                      "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": applied_fields}
        if target.subresource:
            entry["subresource"] = target.subresource
        with self.store.lock:
            old = self.store.try_get(target.res.key, target.store_namespace, target.name or "")
            if old is None:
                if target.subresource:
                    raise not_found(target.res.plural, target.name or "", target.res.group)
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {})["name"] = target.name
                obj = self._prepare_create(target, body)
                obj["metadata"]["managedFields"] = [entry]
                return _json_response(201, self._store_new(target, obj, dry_run))
            managers = old["metadata"].get("managedFields") or []
            previous = next((m for m in managers if m.get("manager") == manager
                             and m.get("operation") == "Apply"
                             and m.get("subresource") == target.subresource), None)
            live = old
            if previous and isinstance(previous.get("fieldsV1"), dict):
                live = remove_dropped_fields(old, previous["fieldsV1"], applied_fields)
            merged = apply_strategic_merge_patch(live, patch)
            others = [m for m in managers if m is not previous]
            merged["metadata"]["managedFields"] = [*others, entry]
            return _json_response(200, self._write_over(target, old, merged, dry_run))

    def _write_over(self, target: Target, old: Obj, new: Obj, dry_run: bool) -> Obj:
        """The shared tail of PUT, PATCH and apply: subresource rules, defaults, validation,
        finalizer-driven removal, then the store write (unless dry run)."""
        res = target.res
        new = copy.deepcopy(new)
        if target.subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif "status" in res.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        meta["name"] = old["metadata"]["name"]
        if res.namespaced:
            meta["namespace"] = old["metadata"]["namespace"]
        if res.kind == "Service":
            old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
            for kept in ("clusterIP", "clusterIPs"):
                if not new_spec.get(kept) and old_spec.get(kept):
                    new_spec[kept] = old_spec[kept]
        apply_defaults(res, new)
        validate(res, new)
        check_immutable(res, old, new)
        if (old["metadata"].get("deletionTimestamp") and not meta.get("finalizers")
                and res.kind != "Pod" and old["metadata"].get("finalizers")):
            if dry_run:
                return new
            return self._remove(res, old)
        if dry_run:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            for kept in ("uid", "creationTimestamp", "generation"):
                if kept in old["metadata"]:
                    meta[kept] = old["metadata"][kept]
            return new
        return self.store.update(res.key, new, old["metadata"]["resourceVersion"])

    async def _scale(self, request: web.Request, target: Target, verb: str) -> web.Response:
        res = target.res
        dry_run = _dry_run(request)
        body: Any = None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if verb != "get":
            raw = await request.read()
            try:
                body = (yaml.safe_load(raw) if content_type == APPLY_PATCH else json.loads(raw or b"null"))
            except (ValueError, yaml.YAMLError) as error:
                raise _bad_request(f"error decoding body: {error}") from None
        with self.store.lock:
            obj = self.store.get(res.key, target.store_namespace, target.name or "")
            scale = _scale_of(obj)
            if verb == "get":
                return _json_response(200, scale)
            if verb == "update":
                if not isinstance(body, dict):
                    raise _bad_request("a Scale object is required")
                new_scale = body
                rv = (body.get("metadata") or {}).get("resourceVersion")
                if rv and rv != obj["metadata"]["resourceVersion"]:
                    raise _conflict(target)
            else:
                if content_type not in PATCH_TYPES:
                    raise ApiError(415, "UnsupportedMediaType", "unsupported patch type")
                new_scale = apply_patch(content_type, scale, body)
            replicas = ((new_scale.get("spec") or {}).get("replicas", 0)
                        if isinstance(new_scale, dict) else None)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                why = f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0"
                raise ApiError(
                    422, "Invalid", f'Scale.autoscaling "{target.name}" is invalid: spec.replicas: {why}',
                    {"name": target.name or "", "group": "autoscaling", "kind": "Scale", "causes": [{
                        "reason": "FieldValueInvalid", "field": "spec.replicas", "message": why}]},
                )
            updated = copy.deepcopy(obj)
            updated["spec"]["replicas"] = replicas
            if dry_run:
                return _json_response(200, {**_scale_of(updated), "metadata": scale["metadata"]})
            stored = self.store.update(res.key, updated, obj["metadata"]["resourceVersion"])
            return _json_response(200, _scale_of(stored))

    # ---- deletes -----------------------------------------------------------------------
    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await _read_body(request, optional=True)
        grace = request.query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        propagation = request.query.get("propagationPolicy", options.get("propagationPolicy"))
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            raise _bad_request(f"invalid propagationPolicy {propagation!r}")
        preconditions = options.get("preconditions") or {}
        obj = self.store.get(target.res.key, target.store_namespace, target.name or "")
        if preconditions.get("uid") and preconditions["uid"] != obj["metadata"].get("uid"):
            raise _conflict(target, "Precondition failed: UID in precondition: "
                            f"{preconditions['uid']}, UID in object meta: {obj['metadata'].get('uid')}")
        if (preconditions.get("resourceVersion")
                and preconditions["resourceVersion"] != obj["metadata"].get("resourceVersion")):
            raise _conflict(target)
        grace_seconds = None if grace is None else int(grace)
        return _json_response(200, await self._delete_object(
            target, grace_seconds, _dry_run(request), propagation))

    async def _delete_object(
        self, target: Target, grace: int | None, dry_run: bool, propagation: str | None
    ) -> Obj:
        res = target.res
        namespace, name = target.store_namespace, target.name or ""
        with self.store.lock:
            obj = self.store.get(res.key, namespace, name)
            meta = obj["metadata"]
            graceful_pod = res.kind == "Pod" and (obj.get("spec") or {}).get("nodeName")
            if graceful_pod:
                if grace is None:
                    grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                if grace > 0:
                    current = meta.get("deletionGracePeriodSeconds")
                    if meta.get("deletionTimestamp") and current is not None and current <= grace:
                        return obj
                    if dry_run:
                        return obj
                    deadline = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")

                    def mark(pod: Obj) -> None:
                        pod["metadata"]["deletionTimestamp"] = deadline
                        pod["metadata"]["deletionGracePeriodSeconds"] = grace

                    return self._mark_deleting(res, namespace, name, mark)
            if meta.get("finalizers"):
                if dry_run or meta.get("deletionTimestamp"):
                    return obj

                def mark_finalizing(item: Obj) -> None:
                    item["metadata"]["deletionTimestamp"] = now_rfc3339()
                    item["metadata"]["deletionGracePeriodSeconds"] = 0

                return self._mark_deleting(res, namespace, name, mark_finalizing)
            if dry_run:
                return obj if res.kind in _OBJECT_ON_DELETE else _success(res, obj)
            if propagation == "Orphan":
                self._orphan_dependents(obj)
            gone = self._remove(res, obj)
            return gone if res.kind in _OBJECT_ON_DELETE else _success(res, gone)

    def _mark_deleting(self, res: Resource, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        """Set deletionTimestamp on a private copy and store it (the kubelet or the finalizer's
        owner removes the object later)."""
        with self.store.lock:
            current = copy.deepcopy(self.store.get(res.key, namespace, name))
            change(current)
            return self.store.update(res.key, current)

    def _remove(self, res: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        gone = self.store.delete(res.key, meta.get("namespace", ""), meta["name"])
        plan = self.config.addresses
        if res.kind == "Service" and plan is not None:
            ip = (obj.get("spec") or {}).get("clusterIP")
            if ip and ip != "None" and _in_pool(plan, ip):
                plan.services.release(ip)
        if res.kind == "Namespace":
            self._empty_namespace(meta["name"])
        return gone

    def _empty_namespace(self, namespace: str) -> None:
        """Namespace deletion, simplified: everything in it goes at once."""
        for res in RESOURCES:
            if not res.namespaced:
                continue
            for item in self.store.list(res.key, namespace)[0]:
                self._remove(res, item)

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid")
        namespace = owner["metadata"].get("namespace")
        for res in RESOURCES:
            if not res.namespaced and namespace:
                continue
            for item in self.store.list(res.key, namespace if res.namespaced else None)[0]:
                refs = item["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    def drop(dependent: Obj) -> None:
                        dependent["metadata"]["ownerReferences"] = [
                            r for r in dependent["metadata"].get("ownerReferences") or []
                            if r.get("uid") != uid
                        ]
                    self.store.mutate(res.key, item["metadata"].get("namespace", ""),
                                      item["metadata"]["name"], drop)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        res = target.res
        label = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), res.kind)
        items, _ = self.store.list(res.key, target.namespace, object_filter(label, fields))
        dry_run = _dry_run(request)
        deleted: list[Obj] = []
        for item in items:
            one = Target(res, item["metadata"].get("namespace"), item["metadata"]["name"])
            try:
                result = await self._delete_object(one, None, dry_run, request.query.get("propagationPolicy"))
            except ApiError as error:
                if error.code == 404:
                    continue
                raise
            deleted.append(result if result.get("kind") == res.kind else item)
        return _json_response(200, {"kind": res.list_kind, "apiVersion": res.api_version,
                                    "metadata": {"resourceVersion": str(self.store.resource_version)},
                                    "items": deleted})


# ---- helpers ---------------------------------------------------------------------------------

def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def _conflict(target: Target, message: str | None = None) -> ApiError:
    res = target.res
    return ApiError(
        409, "Conflict",
        message or (f'Operation cannot be fulfilled on {res.key} "{target.name}": the object has been '
                    "modified; please apply your changes to the latest version and try again"),
        {"name": target.name or "", "group": res.group, "kind": res.plural},
    )


def _success(res: Resource, obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": meta["name"], "group": res.group, "kind": res.plural, "uid": meta.get("uid", "")},
    }


def _check_kind(res: Resource, body: Obj) -> None:
    kind = body.get("kind")
    api_version = body.get("apiVersion")
    if (kind and kind != res.kind) or (api_version and api_version != res.api_version):
        raise _bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({res.api_version})" if api_version != res.api_version
            else f"{kind} is not the kind {res.kind} this endpoint serves"
        )


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise _bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


async def _read_body(request: web.Request, optional: bool = False) -> Obj:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise _bad_request("the request body is empty; an object is required")
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith(PROTOBUF):
        raise ApiError(415, "UnsupportedMediaType",
                       f"the lab API server reads JSON or YAML request bodies, not {PROTOBUF}")
    try:
        body = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise _bad_request(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a JSON object")
    return body


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (str(meta.get("namespace", "")), str(meta["name"]))


def _encode_continue(last: tuple[str, str], rv: int) -> str:
    raw = json.dumps({"rv": rv, "start": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        namespace, name = data["start"]
        return str(namespace), str(name)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _bad_request(f"invalid continue token {token!r}") from None


def _in_pool(plan: AddressPlan, ip: str) -> bool:
    try:
        return ip in plan.services
    except ValueError:
        return False


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": selector_to_string((obj.get("spec") or {}).get("selector")),
        },
    }


_NOT_FIELDS = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink")


def _user_fields(obj: Obj) -> Obj:
    """The parts of an object a client sets: what a managedFields entry can own."""
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _NOT_FIELDS}
    return {**fields, "metadata": meta} if meta else fields


def _with_update_entry(request: web.Request, target: Target, old: Obj, new: Obj) -> Obj:
    """`new` with the `Update` managedFields entry the real API server keeps for PUT and PATCH:
    one per manager (the fieldManager parameter, else the User-Agent up to its first `/`), its
    `time` renewed whenever the request changed a field. The field set is the changed top-level
    fields (the real one is per leaf); readers such as the wizard use the time."""
    before, after = _user_fields(old), _user_fields(new)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    changed.update({k: None for k in before if k not in after})
    managers = [m for m in (old.get("metadata") or {}).get("managedFields") or [] if isinstance(m, dict)]
    result = copy.deepcopy(new)
    meta = result.setdefault("metadata", {})
    if not changed or target.subresource:
        if managers:
            meta["managedFields"] = managers
        else:
            meta.pop("managedFields", None)
        return result
    manager = request.query.get("fieldManager") or request.headers.get("User-Agent", "unknown").split("/")[0]
    previous = next((m for m in managers if m.get("manager") == manager and m.get("operation") == "Update"
                     and not m.get("subresource")), None)
    owned = dict((previous or {}).get("fieldsV1") or {})
    owned.update(field_set({k: v for k, v in changed.items() if v is not None}))
    entry: Obj = {"manager": manager, "operation": "Update", "apiVersion": target.res.api_version,
                  "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": owned}
    meta["managedFields"] = [*(m for m in managers if m is not previous), entry]
    return result
