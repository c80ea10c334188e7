"""Everything the pre-flight and the plan need from the cluster, read once, as plain data.

Why one read: an operator runs pre-flight against production, often over a slow VPN; a dozen
list calls and the permission reviews are all it costs, never one request per node or per pod.
Every check and the plan then work on this frozen value, so they are pure, testable without a
cluster, and a finding can always show the evidence it was based on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard.errors import InputError
from wizard.i18n import msg
from wizard.k8s.objects import (
    DeploymentView,
    Obj,
    PodView,
    ServiceView,
    annotations_of,
    by_name,
    condition_status,
    labels_of,
    mapping_at,
    name_of,
    namespace_of,
    owners_of,
)
from wizard.migration.autoscaler import recorded_on, target_flag_of, targets
from wizard.migration.journal import ANNOTATION_AUTOSCALER, ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS
from wizard.safe_load import load_json

if TYPE_CHECKING:
    from wizard.k8s.gateway import AccessReview, Gateway
    from wizard.options import SwitchOptions

DNS_LABEL = "k8s-app=kube-dns"
WIZARD_ANNOTATION_PREFIX = "coredns-wizard.io/"
ADDON_MANAGER_NAMES = ("kube-addon-manager",)
ADDON_MANAGER_SELECTOR = f"component in ({','.join(ADDON_MANAGER_NAMES)})"
"""The label its manifest (cluster/addons' kube-addon-manager.yaml) gives the static pod: the
pods are listed by it, never all of kube-system (megabytes on a big cluster)."""
READ_WORKERS = 8
"""Pre-flight reads in flight at once: enough to hide round trips, few enough for any server."""
NODE_LOCAL_DNS_NAMES = ("node-local-dns", "nodelocaldns")


@dataclass(frozen=True)
class AutoscalerInfo:
    """A cluster-proportional-autoscaler Deployment that targets kube-dns."""

    name: str
    namespace: str
    replicas: int
    """Its replicas before the switch paused it (from the wizard's annotation once paused)."""
    target: str
    """The value of its --target= flag as written, e.g. "Deployment/kube-dns"."""
    configmap: str | None
    """Its --configmap= (the scaling parameters), None when not given."""
    container: str = ""
    """The container whose args carry --target (what a retarget patches)."""
    args: tuple[str, ...] = ()
    """The words of the field that holds --target (see `args_field`), as they are now, so a
    retarget can rewrite them and a restore can put them back."""
    args_field: str = "args"
    """"command" or "args": the container field that carries --target."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    unschedulable: bool
    taints: tuple[Mapping[str, Any], ...]
    labels: Mapping[str, str]
    kernel_version: str
    os_image: str


@dataclass(frozen=True)
class DnsPodInfo:
    """A pod labelled k8s-app=kube-dns: a kube-dns or a CoreDNS pod (told apart by owner)."""

    name: str
    node: str | None
    owner_deployment: str | None
    ready: bool
    terminating: bool


@dataclass(frozen=True)
class AccessCheck:
    """One permission the switch needs and whether the operator has it."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    allowed: bool
    required: bool
    """False for clean-up only permissions (a missing one warns instead of blocking)."""
    error: str = ""
    source: str = "access-review"
    """What decided: "access-review" (SelfSubjectAccessReview) or "rules" (SelfSubjectRulesReview)."""

    @property
    def label(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        res = f"{res}/{self.subresource}" if self.subresource else res
        return f"{self.verb} {res}"


@dataclass(frozen=True)
class ClusterFacts:
    """The cluster as the switch sees it. Raw objects are the API server's dicts, unmodified."""

    server: str
    context: str
    k8s_version: str
    namespace: str
    kube_dns_deployment: Obj | None
    kube_dns_configmap: Obj | None
    dns_service: Obj | None
    coredns_deployment: Obj | None
    coredns_configmap: Obj | None
    kube_proxy_configmap: Obj | None
    kube_proxy_daemonset: Obj | None
    nodes: tuple[NodeInfo, ...]
    dns_pods: tuple[DnsPodInfo, ...]
    autoscalers: tuple[AutoscalerInfo, ...]
    hpas: tuple[Obj, ...] | None
    """None when they could not be listed (see `unreadable`)."""
    pdbs: tuple[Obj, ...] | None
    addon_manager_pods: tuple[str, ...]
    node_local_dns: tuple[str, ...]
    """namespace/name of NodeLocal DNSCache DaemonSets."""
    kubeadm_config_present: bool
    pod_count: int
    service_count: int
    sample_services: tuple[str, ...]
    """A few NAME.NAMESPACE application Services, for the probes when the operator named none."""
    access: tuple[AccessCheck, ...]
    unreadable: tuple[str, ...] = ()
    """Reads that failed with 403/404 and what they were for: the checks that need them warn."""
    kubernetes_service_ip: str | None = None
    """ClusterIP of Service default/kubernetes (the reverse-lookup probe), None when unreadable."""

    @property
    def switch_in_progress(self) -> bool:
        """The CoreDNS Deployment carries the wizard's annotations: a switch started earlier."""
        return bool(wizard_annotations(self.coredns_deployment))

    @property
    def kube_dns_replicas(self) -> int | None:
        return _replicas(self.kube_dns_deployment)

    @property
    def original_kube_dns_replicas(self) -> int | None:
        """kube-dns's size before the switch: the wizard's annotation when a switch is in
        progress (kube-dns has been shrunk since), else its current replicas."""
        annotations = wizard_annotations(self.coredns_deployment)
        recorded = annotations.get(ANNOTATION_ORIGINAL_KUBE_DNS_REPLICAS)
        if recorded is not None and recorded.strip().isdigit():
            return int(recorded)
        return self.kube_dns_replicas

    @property
    def autoscaler(self) -> AutoscalerInfo | None:
        """The kube-dns autoscaler, with the replicas it had before the wizard paused it."""
        found = self.autoscalers[0] if self.autoscalers else None
        paused = _paused_autoscaler(self.coredns_deployment)
        if found is None or paused is None or paused.get("name") != found.name:
            return found
        replicas = paused.get("replicas")
        if isinstance(replicas, int) and replicas >= 0:
            return AutoscalerInfo(
                found.name,
                found.namespace,
                replicas,
                found.target,
                found.configmap,
                found.container,
                found.args,
                found.args_field,
            )
        return found


@dataclass(frozen=True)
class ClusterDomain:
    """The cluster domain the switch probes and the Corefile serves, and how it was learnt."""

    domain: str | None
    """Without the trailing dot; None when it cannot be determined (`why` says so)."""
    why: str


def cluster_domain(facts: ClusterFacts, override: str | None = None) -> ClusterDomain:
    """The cluster domain from the kube-dns Deployment's `--domain` (`--domain=x.` and
    `--domain x.` alike, trailing dot dropped), or the operator's `--cluster-domain`."""
    from wizard.dns.kubedns_config import DEFAULT_CLUSTER_DOMAIN, deployment_domain, normalize_cluster_domain
    from wizard.errors import InputError

    ns = facts.namespace
    if override is not None:
        try:
            given = normalize_cluster_domain(override, "--cluster-domain")
            return ClusterDomain(given, msg("preflight.domain.from-flag", "from --cluster-domain"))
        except InputError as err:
            return ClusterDomain(None, str(err))
    deployment = facts.kube_dns_deployment
    if deployment is None:
        return ClusterDomain(
            None,
            msg("preflight.domain.no-deployment",
                "the kube-dns Deployment in {namespace} is not there to read its --domain from; "
                "give the cluster domain with --cluster-domain", namespace=ns),
        )
    source = f"Deployment {ns}/{name_of(deployment) or 'kube-dns'}"
    try:
        domain = deployment_domain(deployment, source)
    except InputError as err:
        return ClusterDomain(None, msg("preflight.domain.unreadable", "{error}; give the cluster domain with "
                                       "--cluster-domain", error=str(err)))
    if domain is None:
        return ClusterDomain(
            DEFAULT_CLUSTER_DOMAIN,
            msg("preflight.domain.default",
                "{source}: the kubedns container has no --domain flag, so it serves kube-dns's built-in "
                "{domain}", source=source, domain=DEFAULT_CLUSTER_DOMAIN),
        )
    return ClusterDomain(domain, f"{source}: kubedns --domain")


def wizard_annotations(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """The coredns-wizard.io/ annotations of an object (empty for None)."""
    return {k: v for k, v in annotations_of(obj).items() if k.startswith(WIZARD_ANNOTATION_PREFIX)}


def _paused_autoscaler(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The wizard's record of a paused autoscaler (JSON with name and replicas), kept on the
    autoscaler Deployment itself or on the CoreDNS Deployment."""
    text = wizard_annotations(obj).get(ANNOTATION_AUTOSCALER)
    if not text:
        return None
    try:
        value = load_json(text, ANNOTATION_AUTOSCALER)
    except InputError:
        return None
    return value if isinstance(value, dict) else None


def _replicas(deployment: Mapping[str, Any] | None) -> int | None:
    """spec.replicas, 1 (the API server's default) when absent, None when there is no Deployment
    or the field is not a number."""
    if deployment is None:
        return None
    if "replicas" not in mapping_at(deployment, "spec"):
        return 1
    return DeploymentView.from_obj(deployment).replicas


def container_commands(deployment: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(container name, field, words) for the command and the args of each container."""
    return [
        (container.name, field_name, list(words))
        for container in DeploymentView.from_obj(deployment).containers
        for field_name in ("command", "args")
        if (words := container.words(field_name))
    ]


def flag_value(words: Sequence[str], flag: str) -> str | None:
    """The value of `--flag=value` or `--flag value` (also `-flag`), None when absent."""
    names = (f"--{flag}", f"-{flag}")
    for i, word in enumerate(words):
        for name in names:
            if word.startswith(name + "="):
                return word[len(name) + 1 :]
            if word == name and i + 1 < len(words):
                return words[i + 1]
    return None


def find_autoscaler(
    deployment: Mapping[str, Any], namespace: str, kube_dns: str, coredns: str | None = None
) -> AutoscalerInfo | None:
    """An autoscaler whose --target (either form, command or args) is Deployment/<kube-dns>; or,
    given `coredns`, one a switch already retargeted to Deployment/<coredns> and recorded (its
    record says what it was, so a resumed switch plans the same steps and a rollback restores it)."""
    flag = target_flag_of(deployment)
    if flag is None:
        return None
    name = name_of(deployment)
    words, field_name, container, target = flag.words, flag.field, flag.container, flag.value
    if not targets(target, kube_dns):
        record = recorded_on(deployment)
        if (
            coredns is None
            or not targets(target, coredns)
            or record is None
            or record.name != name
            or not targets(record.target, kube_dns)
        ):
            return None
        words, field_name, container, target = record.values, record.field, record.container, record.target
    return AutoscalerInfo(
        name=name,
        namespace=namespace_of(deployment) or namespace,
        replicas=_replicas_before_pause(deployment),
        target=target,
        configmap=flag_value(words, "configmap"),
        container=container,
        args=tuple(words),
        args_field=field_name,
    )


def _replicas_before_pause(deployment: Mapping[str, Any]) -> int:
    """The autoscaler's own replicas, or the count the wizard recorded on it before pausing it."""
    recorded = _paused_autoscaler(deployment)
    if recorded is not None and isinstance(recorded.get("replicas"), int) and recorded["replicas"] >= 0:
        return int(recorded["replicas"])
    return _replicas(deployment) or 0


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    """A Node object as the scheduling decisions read it."""
    spec = mapping_at(node, "spec")
    info = mapping_at(node, "status", "nodeInfo")
    return NodeInfo(
        name=name_of(node),
        ready=condition_status(node, "Ready") == "True",
        unschedulable=bool(spec.get("unschedulable")),
        taints=tuple(spec.get("taints") or ()),
        labels=labels_of(node),
        kernel_version=str(info.get("kernelVersion", "")),
        os_image=str(info.get("osImage", "")),
    )


def _dns_pod(pod: Mapping[str, Any], rs_owner: Mapping[str, str]) -> DnsPodInfo:
    view = PodView.from_obj(pod)
    owner: str | None = None
    for ref in owners_of(pod, "ReplicaSet"):
        owner = rs_owner.get(ref.name)
    return DnsPodInfo(
        name=view.name,
        node=view.node or None,
        owner_deployment=owner,
        ready=condition_status(pod, "Ready") == "True",
        terminating=view.terminating,
    )


def _replicaset_owners(replicasets: list[Obj]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for rs in replicasets:
        for ref in owners_of(rs, "Deployment"):
            owners[name_of(rs)] = ref.name
    return owners


# (verb, group, resource, subresource, cluster-scoped, required)
_NEEDED: tuple[tuple[str, str, str, str, bool, bool], ...] = (
    *(
        (verb, group, resource, "", cluster, True)
        for resource, group, cluster in (
            ("pods", "", False),
            ("deployments", "apps", False),
            ("endpoints", "", False),
            ("endpointslices", "discovery.k8s.io", False),
            ("configmaps", "", False),
            ("services", "", False),
            ("nodes", "", True),
            ("events", "", False),
        )
        for verb in ("get", "list", "watch")
    ),
    *(
        (verb, group, resource, "", cluster, True)
        for resource, group, cluster in (
            ("clusterroles", "rbac.authorization.k8s.io", True),
            ("clusterrolebindings", "rbac.authorization.k8s.io", True),
            ("serviceaccounts", "", False),
            ("configmaps", "", False),
            ("deployments", "apps", False),
        )
        for verb in ("create", "patch")
    ),
    ("update", "apps", "deployments", "scale", False, True),
    ("patch", "apps", "deployments", "scale", False, True),
    ("get", "", "pods", "log", False, True),
    ("create", "", "pods", "portforward", False, True),
    ("delete", "apps", "deployments", "", False, False),
    ("delete", "", "configmaps", "", False, False),
    ("delete", "", "serviceaccounts", "", False, False),
)


def check_access(
    gateway: Gateway, namespace: str, pool: Executor | None = None
) -> tuple[AccessCheck, ...]:
    """Ask the API server about every verb the switch, rollback and clean-up use, in `_NEEDED`'s
    order.

    One SelfSubjectRulesReview for `namespace` first, where the server serves it: a namespaced
    permission its rules grant is taken as allowed. Everything else gets its own
    SelfSubjectAccessReview: cluster-scoped resources (a rules review mixes in the namespace's
    RoleBindings, which grant nothing at the cluster scope), what the rules do not grant (another
    authorizer may allow it; only an access review says no with authority), and every permission
    when the rules review is missing or fails. The reviews run in `pool` when given."""
    def review(entry: tuple[str, str, str, str, bool, bool]) -> AccessCheck:
        verb, group, resource, sub, cluster, required = entry
        return _access_review(gateway, verb, group, resource, sub, "" if cluster else namespace, required)

    def one(entry: tuple[str, str, str, str, bool, bool]) -> AccessCheck:
        verb, group, resource, sub, _cluster, required = entry
        if rules is not None and rules_allow(rules, verb, group, resource, sub):
            return AccessCheck(verb, group, resource, sub, namespace, True, required, "", "rules")
        return review(entry)

    if pool is None:
        rules = _namespace_rules(gateway, namespace)
        return tuple(review(entry) if entry[4] else one(entry) for entry in _NEEDED)
    # the cluster-scoped reviews do not wait for the rules: they go out at once
    early = {i: pool.submit(review, entry) for i, entry in enumerate(_NEEDED) if entry[4]}
    rules = _namespace_rules(gateway, namespace)
    later = {i: pool.submit(one, entry) for i, entry in enumerate(_NEEDED) if not entry[4]}
    futures = {**early, **later}
    return tuple(futures[i].result() for i in range(len(_NEEDED)))


def _access_review(
    gateway: Gateway, verb: str, group: str, resource: str, sub: str, ns: str, required: bool
) -> AccessCheck:
    from wizard.k8s.gateway import GatewayError

    try:
        review: AccessReview = gateway.can_i(verb, group, resource, sub, ns)
    except GatewayError as err:
        return AccessCheck(verb, group, resource, sub, ns, False, required, str(err))
    return AccessCheck(verb, group, resource, sub, ns, review.allowed, required, review.reason)


def _namespace_rules(gateway: Gateway, namespace: str) -> list[Mapping[str, Any]] | None:
    """The resource rules of a SelfSubjectRulesReview, or None to fall back to access reviews
    (not served, refused, unreadable)."""
    from wizard.k8s.gateway import GatewayError

    try:
        status = gateway.rules_review(namespace)
    except GatewayError:
        return None
    if status is None:
        return None
    rules = status.get("resourceRules")
    if not isinstance(rules, list):
        return None
    return [r for r in rules if isinstance(r, Mapping)]


def rules_allow(
    rules: Sequence[Mapping[str, Any]], verb: str, group: str, resource: str, subresource: str = ""
) -> bool:
    """Whether an RBAC rule of a rules review grants `verb` on every object of the resource, as
    Kubernetes' RBAC matches them: `*` for any verb, group or resource, `*/SUB` for a subresource
    of any resource; a rule limited to resourceNames grants no request without a name."""
    wanted = f"{resource}/{subresource}" if subresource else resource
    for rule in rules:
        if rule.get("resourceNames"):
            continue
        verbs = rule.get("verbs") or []
        groups = rule.get("apiGroups") or []
        resources = rule.get("resources") or []
        if not ("*" in verbs or verb in verbs):
            continue
        if not ("*" in groups or group in groups):
            continue
        if "*" in resources or wanted in resources or (subresource and f"*/{subresource}" in resources):
            return True
    return False


def collect_facts(
    gateway: Gateway,
    options: SwitchOptions,
    on_progress: Callable[[str], None] | None = None,
) -> ClusterFacts:
    """Read the cluster with a handful of list calls, at most READ_WORKERS at once.

    GatewayError when the cluster cannot be reached; CheckFailed naming the missing permissions
    when a read the switch itself needs is forbidden. Reads only pre-flight needs (HPAs, PDBs,
    DaemonSets, counts) degrade to a note in `unreadable`, so one old API version or one missing
    permission does not hide every other finding."""
    say = on_progress or (lambda _text: None)
    ns = options.namespace
    unreadable: list[str] = []

    say(msg("preflight.progress.version", "reading the server version"))
    version = gateway.server_version()  # alone: an unreachable server is reported once, clearly
    # Everything else in parallel, on a few connections: each read is a round trip to the API
    # server, and one after another they add up over a VPN. Results are taken in the order the
    # reads were written, so errors, unreadable notes and every fact come out as before.
    pool = ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="preflight-read")
    try:
        say(msg("preflight.progress.permissions", "checking permissions"))
        access_future = pool.submit(check_access, gateway, ns, pool)
        say(msg("preflight.progress.listing",
                "listing Deployments, ConfigMaps, Services and the DNS and addon-manager pods in {namespace}",
                namespace=ns))
        required = _submit_required_reads(pool, gateway, ns)
        later = _submit_optional_reads(pool, gateway, ns)
        lists = _required_results(required, access_future)
        access = access_future.result()
        optional = _optional_results(later, ns, say, unreadable)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _facts_from_reads(gateway, options, version, access, lists, optional, unreadable)


def _submit_required_reads(pool: ThreadPoolExecutor, gateway: Gateway, ns: str) -> list[Future[Any]]:
    """Start the reads the switch itself needs, first, so a forbidden one fails the run early."""
    return [
        pool.submit(gateway.list_deployments, ns),
        pool.submit(gateway.list_configmaps, ns),
        pool.submit(gateway.list_services, ns),
        pool.submit(gateway.list_pods, ns, DNS_LABEL),
        pool.submit(gateway.list_pods, ns, ADDON_MANAGER_SELECTOR),
        pool.submit(gateway.list_nodes),
    ]


def _submit_optional_reads(pool: ThreadPoolExecutor, gateway: Gateway, ns: str) -> dict[str, Future[Any]]:
    """Start the reads only pre-flight needs, whose failure degrades to an `unreadable` note."""
    return {
        "replicasets": pool.submit(gateway.list_replicasets, ns, DNS_LABEL),
        "daemonsets": pool.submit(gateway.list_daemonsets, None),
        "hpas": pool.submit(gateway.list_hpas, ns),
        "pdbs": pool.submit(gateway.list_pdbs, ns),
        "pod_count": pool.submit(gateway.count, "Pod"),
        "service_count": pool.submit(gateway.count, "Service"),
        "some_services": pool.submit(lambda: gateway.get_list("Service", limit=50).get("items") or []),
        "kubernetes": pool.submit(gateway.try_get, "Service", "default", "kubernetes"),
    }


def _required_results(required: list[Future[Any]], access_future: Future[Any]) -> list[Any]:
    """Wait for the required reads; a forbidden one becomes CheckFailed naming the missing permissions."""
    from wizard.errors import CheckFailed
    from wizard.k8s.gateway import GatewayError

    try:
        return [future.result() for future in required]
    except GatewayError as err:
        if err.status != 403:
            raise
        access = access_future.result()
        missing = [a.label for a in access if a.required and not a.allowed]
        if not missing:
            raise CheckFailed(str(err)) from None
        raise CheckFailed(msg("preflight.read-forbidden", "{error}; missing permissions: {missing}",
                              error=str(err), missing=", ".join(missing))) from None


def _optional_results(
    later: dict[str, Future[Any]], ns: str, say: Callable[[str], None], unreadable: list[str]
) -> dict[str, Any]:
    """Wait for the optional reads in their written order, noting each forbidden or unserved one."""
    from wizard.k8s.gateway import GatewayError

    def optional(what: str, key: str, default: Any) -> Any:
        try:
            return later[key].result()
        except GatewayError as err:
            if err.status not in (403, 404):
                raise
            why = (
                msg("preflight.unreadable.forbidden", "forbidden")
                if err.status == 403
                else msg("preflight.unreadable.not-served", "this API version is not served here")
            )
            unreadable.append(msg("preflight.unreadable", "{what}: {why} (HTTP {status})",
                                  what=what, why=why, status=err.status))
            return default

    def in_ns(kind: str) -> str:
        return msg("preflight.unreadable.in-namespace", "{kind} in {namespace}", kind=kind, namespace=ns)

    def everywhere(kind: str) -> str:
        return msg("preflight.unreadable.all-namespaces", "{kind} (all namespaces)", kind=kind)

    got: dict[str, Any] = {}
    got["replicasets"] = optional(in_ns("ReplicaSets"), "replicasets", [])
    say(msg("preflight.progress.controllers", "listing DaemonSets, HPAs and PodDisruptionBudgets"))
    got["daemonsets"] = optional(everywhere("DaemonSets"), "daemonsets", [])
    got["hpas"] = optional(in_ns("HorizontalPodAutoscalers"), "hpas", None)
    got["pdbs"] = optional(in_ns("PodDisruptionBudgets"), "pdbs", None)
    say(msg("preflight.progress.counting", "counting pods and Services (for the memory sizing)"))
    got["pod_count"] = optional(everywhere("pods"), "pod_count", 0)
    got["service_count"] = optional(everywhere("Services"), "service_count", 0)
    got["some_services"] = optional(everywhere("Services"), "some_services", [])
    got["kubernetes"] = optional("Service default/kubernetes", "kubernetes", None)
    return got


def _facts_from_reads(
    gateway: Gateway,
    options: SwitchOptions,
    version: dict[str, Any],
    access: tuple[AccessCheck, ...],
    lists: list[Any],
    optional: dict[str, Any],
    unreadable: list[str],
) -> ClusterFacts:
    """Turn the raw read results into ClusterFacts, without any further API call."""
    ns = options.namespace
    deployments, configmaps, services_here = (by_name(items) for items in lists[:3])
    dns_pod_objs, addon_pod_objs, nodes = lists[3], lists[4], lists[5]
    daemonsets = optional["daemonsets"]
    hpas, pdbs = optional["hpas"], optional["pdbs"]
    kubernetes_ip = ServiceView.from_obj(optional["kubernetes"]).cluster_ip
    rs_owner = _replicaset_owners(optional["replicasets"])
    return ClusterFacts(
        server=gateway.connection.server,
        context=gateway.connection.context,
        k8s_version=str(version.get("gitVersion") or f"{version.get('major')}.{version.get('minor')}"),
        namespace=ns,
        kube_dns_deployment=deployments.get(options.kube_dns_deployment),
        kube_dns_configmap=configmaps.get(options.kube_dns_configmap),
        dns_service=services_here.get(options.dns_service),
        coredns_deployment=deployments.get(options.coredns_deployment),
        coredns_configmap=configmaps.get("coredns"),
        kube_proxy_configmap=configmaps.get("kube-proxy"),
        kube_proxy_daemonset=_kube_proxy_daemonset(daemonsets, ns),
        nodes=tuple(node_info(n) for n in nodes),
        dns_pods=tuple(
            _dns_pod(p, rs_owner) for p in dns_pod_objs if labels_of(p).get("k8s-app") == "kube-dns"
        ),
        autoscalers=_autoscalers(deployments, options),
        hpas=None if hpas is None else tuple(hpas),
        pdbs=None if pdbs is None else tuple(pdbs),
        addon_manager_pods=_addon_manager_pods(addon_pod_objs),
        node_local_dns=_node_local_dns(daemonsets),
        kubeadm_config_present="kubeadm-config" in configmaps,
        pod_count=optional["pod_count"],
        service_count=optional["service_count"],
        sample_services=_sample_services(optional["some_services"]),
        access=access,
        unreadable=tuple(dict.fromkeys(unreadable)),
        kubernetes_service_ip=kubernetes_ip if kubernetes_ip not in ("", "None") else None,
    )


def _autoscalers(deployments: dict[str, Obj], options: SwitchOptions) -> tuple[AutoscalerInfo, ...]:
    """The cluster-proportional autoscalers that scale the kube-dns or CoreDNS Deployment."""
    ns = options.namespace
    return tuple(
        found
        for d in deployments.values()
        if (found := find_autoscaler(d, ns, options.kube_dns_deployment, options.coredns_deployment))
        is not None
    )


def _addon_manager_pods(addon_pod_objs: list[Obj]) -> tuple[str, ...]:
    """Names of the addon-manager pods, which may put kube-dns back after the switch."""
    return tuple(
        name_of(p)
        for p in addon_pod_objs
        if any(name_of(p).startswith(n) for n in ADDON_MANAGER_NAMES)
        or labels_of(p).get("component") in ADDON_MANAGER_NAMES
    )


def _node_local_dns(daemonsets: list[Obj]) -> tuple[str, ...]:
    """namespace/name of each NodeLocal DNSCache DaemonSet, which sits in front of the DNS Service."""
    return tuple(
        f"{namespace_of(d)}/{name_of(d)}"
        for d in daemonsets
        if name_of(d) in NODE_LOCAL_DNS_NAMES or labels_of(d).get("k8s-app") in NODE_LOCAL_DNS_NAMES
    )


def _kube_proxy_daemonset(daemonsets: list[Obj], ns: str) -> Obj | None:
    """The kube-proxy DaemonSet in the DNS namespace, if there is one."""
    return next(
        (d for d in daemonsets if namespace_of(d) == ns and name_of(d) == "kube-proxy"),
        None,
    )


def _sample_services(services: list[Obj], limit: int = 2) -> tuple[str, ...]:
    """Application Services with a selector and a ClusterIP (the probes compare the answer with
    it), outside the system namespaces."""
    picked: list[str] = []
    for svc in map(ServiceView.from_obj, services):
        if svc.namespace.startswith("kube-") or (svc.namespace == "default" and svc.name == "kubernetes"):
            continue
        if not svc.selector or not svc.has_cluster_ip:
            continue
        picked.append(f"{svc.name}.{svc.namespace}")
        if len(picked) >= limit:
            break
    return tuple(picked)
