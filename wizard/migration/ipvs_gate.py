"""The IPVS gate: may kube-dns be scaled down yet without clients pinned to a removed pod?

Why a gate tied to kube-proxy's pods, not to the ConfigMap: kube-proxy reads its IPVS UDP timeout
once, when its container starts. Editing the `kube-proxy` ConfigMap changes nothing on a node until
that node's kube-proxy restarts (or someone runs `ipvsadm --set` there). Sessions opened under the
old timeout then live up to the OLD timeout, so the wait starts when the new value is in effect on
every node and lasts the old timeout. Both faces use this module: the TUI's IPVS stage shows it, and
the switch refuses a kube-dns scale-down while it is closed unless the operator acknowledged the
risk with a reason, which is journaled.

How "in effect" is decided (documented in the README):
- the ConfigMap's last change is the latest `time` of its `metadata.managedFields` (the API server
  renews a manager's time whenever its request changed a field: `kubectl edit`, `patch`, `apply`);
  without managedFields, the first time this wizard saw the current resourceVersion (an upper bound);
- a node runs the new value when its kube-proxy container's current run (`state.running.startedAt`)
  started strictly after that change (both times have whole-second precision, so a restart in the
  same second counts as before: the gate errs on the side of waiting);
- every kube-proxy pod the DaemonSet wants must run, none may be older than the change;
- or the operator states when they ran `ipvsadm --set … UDP` on every node (`--ipvsadm-set-at`); a
  kube-proxy that started later with a long configured timeout set it back and is reported.
The old timeout is the longest pre-change value this wizard read (pre-flight reads it first), else
`ipvs_wait_seconds` (default 300 s, the kernel's default and the guide's five minutes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from wizard.errors import InputError
from wizard.i18n import msg, tr
from wizard.k8s.objects import Obj
from wizard.migration.facts import NodeInfo, node_info
from wizard.migration.preflight.proxy import (
    KERNEL_DEFAULT_UDP_TIMEOUT_S,
    SHORT_ENOUGH_UDP_TIMEOUT_S,
    ProxySetup,
    kernel_flushes_quickly,
    proxy_setup,
    read_proxy_setup,
)

if TYPE_CHECKING:
    from wizard.k8s.gateway import Gateway
    from wizard.migration.facts import ClusterFacts
    from wizard.migration.journal import Journal
    from wizard.options import SwitchOptions

GateStatus = Literal["no-risk", "timeout-long", "not-in-effect", "waiting", "open"]
ACK_STEP_ID = "ipvs-ack"
"""The journal step of an operator's reason to go on before the gate opened."""
MIN_REASON_CHARS = 10
log = logging.getLogger("coredns_wizard.ipvs")


def restart_command(namespace: str) -> str:
    return f"kubectl -n {namespace} rollout restart daemonset kube-proxy"


@dataclass(frozen=True)
class KubeProxyPod:
    name: str
    node: str
    started_at: float | None
    """When the kube-proxy container's current run started (epoch s); None: not running."""
    terminating: bool = False


@dataclass(frozen=True)
class IpvsReading:
    """What the cluster says about kube-proxy, read at one moment."""

    setup: ProxySetup
    kernels_flush: bool
    """Every node's kernel expires flows to removed backends quickly (no risk at all)."""
    config_changed_at: float | None
    config_change_source: str
    resource_version: str
    pods: tuple[KubeProxyPod, ...]
    desired_pods: int | None
    namespace: str = "kube-system"


@dataclass(frozen=True)
class IpvsGate:
    """The verdict, with the times it rests on, one line to show and what to do."""

    status: GateStatus
    summary: str
    action: str = ""
    configured_timeout_s: float | None = None
    old_timeout_s: float = KERNEL_DEFAULT_UDP_TIMEOUT_S
    in_effect_since: float | None = None
    wait_until: float | None = None
    stale_pods: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        """A kube-dns scale-down now may leave clients pinned to the removed pod."""
        return self.status in ("timeout-long", "not-in-effect", "waiting")

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.wait_until - now) if self.wait_until is not None else 0.0


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 API timestamp (`2026-12-03T22:36:27Z`, fractions and offsets allowed) → epoch s."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_ipvsadm_set_at(text: str, flag: str = "--ipvsadm-set-at", now: float | None = None) -> float:
    """The operator's `ipvsadm --set` time: `now` or an RFC 3339 time with its zone."""
    if text.strip().lower() == "now":
        return time.time() if now is None else now
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(msg(
            "verify.ipvsadm-set-at-invalid",
            "{flag} {text}: expected `now` or a time with its zone, e.g. 2026-12-03T22:40:00Z",
            flag=flag, text=repr(text),
        ))
    return moment.timestamp()


def effective_seconds(timeout_s: float | None) -> float:
    """0 or unset keeps the kernel's 300 s."""
    return timeout_s if timeout_s else KERNEL_DEFAULT_UDP_TIMEOUT_S


def last_change(configmap: Mapping[str, Any] | None) -> float | None:
    """The latest managedFields time of an object: when some manager last changed a field."""
    entries = ((configmap or {}).get("metadata") or {}).get("managedFields") or []
    times = [parse_time(e.get("time")) for e in entries if isinstance(e, dict)]
    return max((t for t in times if t is not None), default=None)


def _kube_proxy_pod(pod: Obj) -> KubeProxyPod:
    meta = pod.get("metadata") or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status = next((s for s in statuses if s.get("name") == "kube-proxy"), statuses[0] if statuses else {})
    running = (status.get("state") or {}).get("running")
    started = parse_time(running.get("startedAt")) if isinstance(running, dict) else None
    return KubeProxyPod(str(meta.get("name", "")), str((pod.get("spec") or {}).get("nodeName") or ""),
                        started, bool(meta.get("deletionTimestamp")))


def _selector(daemonset: Mapping[str, Any] | None) -> str:
    labels = (((daemonset or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "k8s-app=kube-proxy"


def read_ipvs(gateway: Gateway, namespace: str, nodes: tuple[NodeInfo, ...]) -> IpvsReading:
    """Re-read the kube-proxy ConfigMap, DaemonSet and pods; `nodes` give the kernels."""
    configmap = gateway.try_get("ConfigMap", namespace, "kube-proxy")
    daemonset = gateway.try_get("DaemonSet", namespace, "kube-proxy")
    pods = gateway.list_pods(namespace, _selector(daemonset))
    if daemonset is not None:
        uid = (daemonset.get("metadata") or {}).get("uid")
        pods = [p for p in pods if any(ref.get("uid") == uid for ref in
                                       (p.get("metadata") or {}).get("ownerReferences") or [])] or pods
    desired = ((daemonset or {}).get("status") or {}).get("desiredNumberScheduled")
    changed = last_change(configmap)
    return IpvsReading(
        setup=proxy_setup(namespace, configmap, daemonset),
        kernels_flush=bool(nodes) and all(kernel_flushes_quickly(n) for n in nodes),
        config_changed_at=changed,
        config_change_source="managedFields" if changed is not None else "",
        resource_version=str(((configmap or {}).get("metadata") or {}).get("resourceVersion") or ""),
        pods=tuple(sorted((_kube_proxy_pod(p) for p in pods), key=lambda p: (p.node, p.name))),
        desired_pods=desired if isinstance(desired, int) else None,
        namespace=namespace,
    )


def evaluate(
    reading: IpvsReading, *, old_timeout_s: float, now: float, ipvsadm_set_at: float | None = None
) -> IpvsGate:
    """The gate from one reading. Pure: the times come from the reading and `now`."""
    setup = reading.setup
    if setup.mode != "ipvs":
        why = (
            msg("verify.ipvs-proxy-mode", "kube-proxy runs in {mode} mode", mode=setup.mode) if setup.mode
            else msg("verify.ipvs-no-proxy-config", "no kube-proxy configuration found")
        )
        return IpvsGate("no-risk", msg("verify.ipvs-no-risk", "no IPVS session risk: {why}", why=why))
    if reading.kernels_flush:
        return IpvsGate("no-risk", msg(
            "verify.ipvs-no-risk-kernels",
                "no IPVS session risk: every node's kernel expires flows to removed "
            "backends quickly (expire_nodest_conn)"))
    configured = effective_seconds(setup.udp_timeout_s)
    old = max(old_timeout_s, configured)
    restart = restart_command(reading.namespace)
    evidence: list[str] = [
        msg("verify.ipvs-evidence-timeout", "kube-proxy ConfigMap ipvs.udpTimeout: {value} → {seconds:g} s",
            value=setup.udp_timeout_text or msg("verify.ipvs-unset", "(unset)"), seconds=configured)
    ]
    if ipvsadm_set_at is not None:
        return _after_ipvsadm(reading, configured, old, ipvsadm_set_at, now, evidence)
    if configured > SHORT_ENOUGH_UDP_TIMEOUT_S:
        return IpvsGate(
            "timeout-long",
            msg("verify.ipvs-timeout-long",
                "the IPVS UDP timeout is {seconds:g} s: a client pinned to a removed kube-dns pod keeps "
                "failing for up to {seconds:g} s", seconds=configured),
            msg("verify.ipvs-timeout-long-action",
                "set `ipvs.udpTimeout: {short:g}s` in the kube-proxy ConfigMap "
                "(`kubectl -n {namespace} edit configmap kube-proxy`), then restart kube-proxy: "
                "`{restart}`; or run `ipvsadm --set 900 120 {short:g}` on every node",
                short=SHORT_ENOUGH_UDP_TIMEOUT_S, namespace=reading.namespace, restart=restart),
            configured, old, evidence=tuple(evidence),
        )
    changed = reading.config_changed_at
    if changed is not None:
        evidence.append(msg("verify.ipvs-evidence-changed", "ConfigMap last changed {time} ({source})",
                            time=utc_text(changed), source=reading.config_change_source))
    stale = tuple(p.name for p in reading.pods
                  if p.started_at is None or p.terminating or changed is None or p.started_at <= changed)
    fresh = [p for p in reading.pods if p.name not in stale]
    missing = max((reading.desired_pods or 0) - len(fresh), 0) if not stale else 0
    evidence += [
        msg("verify.ipvs-evidence-pod-started", "kube-proxy {pod} on {node}: started {time}",
            pod=p.name, node=p.node or "?", time=utc_text(p.started_at)) if p.started_at is not None
        else msg("verify.ipvs-evidence-pod-not-running", "kube-proxy {pod} on {node}: not running",
                 pod=p.name, node=p.node or "?")
        for p in reading.pods
    ]
    if stale or missing or not fresh:
        what = (msg("verify.ipvs-stale-pods",
                    "{stale} of {total} kube-proxy pod(s) started before that change and "
                    "still use the old timeout: {pods}", stale=len(stale), total=len(reading.pods),
                    pods=", ".join(stale[:5]) + (" …" if len(stale) > 5 else ""))
                if stale else msg("verify.ipvs-missing-pods",
                                  "{missing} kube-proxy pod(s) the DaemonSet wants are not running yet",
                                  missing=missing)
                if missing else msg("verify.ipvs-no-pod", "no kube-proxy pod runs"))
        return IpvsGate(
            "not-in-effect",
            msg("verify.ipvs-not-in-effect",
                "not in effect yet: the ConfigMap says {seconds:g} s, but {what}",
                seconds=configured, what=what),
            msg("verify.ipvs-not-in-effect-action",
                "restart kube-proxy so it reads the new value: `{restart}` (then `kubectl -n "
                "{namespace} rollout status daemonset kube-proxy`); the {old:g} s wait starts when "
                "every kube-proxy runs it", restart=restart, namespace=reading.namespace, old=old),
            configured, old, stale_pods=stale, evidence=tuple(evidence),
        )
    since = max(p.started_at for p in fresh if p.started_at is not None)
    how = msg("verify.ipvs-how-restarted", "every kube-proxy restarted with it")
    return _waiting_or_open(configured, old, since, now, how, evidence)


def _after_ipvsadm(reading: IpvsReading, configured: float, old: float, set_at: float, now: float,
                   evidence: list[str]) -> IpvsGate:
    evidence.append(msg("verify.ipvs-evidence-ipvsadm",
        "the operator ran `ipvsadm --set` on every node at {time}",
                        time=utc_text(set_at)))
    reverted = tuple(p.name for p in reading.pods if configured > SHORT_ENOUGH_UDP_TIMEOUT_S
                     and p.started_at is not None and p.started_at > set_at)
    if reverted:
        return IpvsGate(
            "not-in-effect",
            msg("verify.ipvs-reverted",
                "not in effect: kube-proxy {pods} started after the `ipvsadm --set` and "
                "set the ConfigMap's {seconds:g} s again", pods=", ".join(reverted[:5]), seconds=configured),
            msg("verify.ipvs-reverted-action",
                "run `ipvsadm --set 900 120 {short:g}` again on those nodes and give "
                "the new time, or shorten ipvs.udpTimeout in the ConfigMap and restart kube-proxy",
                short=SHORT_ENOUGH_UDP_TIMEOUT_S),
            configured, old, stale_pods=reverted, evidence=tuple(evidence),
        )
    how = msg("verify.ipvs-how-ipvsadm", "set by ipvsadm")
    return _waiting_or_open(SHORT_ENOUGH_UDP_TIMEOUT_S, old, set_at, now, how, evidence)


def _waiting_or_open(new: float, old: float, since: float, now: float, how: str,
                     evidence: list[str]) -> IpvsGate:
    until = since + old
    if now < until:
        left = until - now
        return IpvsGate(
            "waiting",
            msg("verify.ipvs-waiting",
                "the {new:g} s timeout is in effect since {since} ({how}); sessions opened under the "
                "old {old:g} s timeout may live until {until}: {left:.0f} s left",
                new=new, since=utc_text(since), how=how, old=old, until=utc_text(until), left=left),
            msg("verify.ipvs-waiting-action", "wait, or go on with a stated reason"),
            new, old, since, until, evidence=tuple(evidence))
    return IpvsGate(
        "open",
        msg("verify.ipvs-open",
            "the {new:g} s timeout is in effect since {since} ({how}) and the old {old:g} s "
            "have passed: sessions opened before expired", new=new, since=utc_text(since), how=how, old=old),
        "", new, old, since, until, evidence=tuple(evidence))


@dataclass
class IpvsGateTracker:
    """Reads and evaluates the gate again and again, remembering what it saw in between: the
    timeout before the change (the wait's length) and when each ConfigMap version first showed up
    (the change time where the ConfigMap has no managedFields). Prime it with what pre-flight read
    (`remember`) so an edit made while the wizard runs is measured against the value before it."""

    gateway: Gateway
    namespace: str = "kube-system"
    default_old_timeout_s: float = KERNEL_DEFAULT_UDP_TIMEOUT_S
    ipvsadm_set_at: float | None = None
    clock: Callable[[], float] = time.time
    nodes: tuple[NodeInfo, ...] | None = None
    """The nodes' kernels; read once on the first check when not given."""
    seen_timeouts: list[float] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)
    last: IpvsGate | None = None

    @classmethod
    def from_facts(cls, gateway: Gateway, facts: ClusterFacts, options: SwitchOptions) -> IpvsGateTracker:
        tracker = cls(gateway, facts.namespace, options.ipvs_wait_seconds, options.ipvsadm_set_at,
                      nodes=facts.nodes)
        tracker.remember(read_proxy_setup(facts))
        return tracker

    def remember(self, setup: ProxySetup) -> None:
        if setup.mode == "ipvs":
            self.seen_timeouts.append(effective_seconds(setup.udp_timeout_s))

    def old_timeout_s(self, configured: float) -> float:
        """The longest value read before the current one, else the operator's default."""
        before = [t for t in self.seen_timeouts if t > configured]
        return max(before) if before else self.default_old_timeout_s

    def check(self) -> IpvsGate:
        if self.nodes is None:
            self.nodes = tuple(node_info(n) for n in self.gateway.list_nodes())
        reading = read_ipvs(self.gateway, self.namespace, self.nodes)
        now = self.clock()
        if reading.config_changed_at is None and reading.resource_version:
            seen = self.first_seen.setdefault(reading.resource_version, now)
            reading = _replace_change(reading, seen, msg(
                "verify.ipvs-first-seen", "first seen by this wizard; no managedFields"))
        configured = effective_seconds(reading.setup.udp_timeout_s)
        old = self.old_timeout_s(configured)
        self.remember(reading.setup)
        self.last = evaluate(reading, old_timeout_s=old, now=now, ipvsadm_set_at=self.ipvsadm_set_at)
        return self.last


def _replace_change(reading: IpvsReading, at: float, source: str) -> IpvsReading:
    import dataclasses

    return dataclasses.replace(reading, config_changed_at=at, config_change_source=source)


def check_reason(reason: str, flag: str = "--ipvs-ack") -> str:
    cleaned = " ".join(reason.split())
    if len(cleaned) < MIN_REASON_CHARS:
        raise InputError(msg(
            "verify.ipvs-reason-too-short",
            "{flag} {reason}: give the reason in at least {min} characters (it is written to the journal)",
            flag=flag, reason=repr(reason), min=MIN_REASON_CHARS,
        ))
    return cleaned


def acknowledge(reason: str, gate: IpvsGate, journal: Journal | None) -> str:
    """Record the operator's reason to go on while the gate is closed: in the journal when there
    is one (not in read-only mode), and always in the session log. Returns the note to show."""
    reason = check_reason(reason)
    note = msg("verify.ipvs-ack-note", "IPVS wait skipped ({status}: {summary}); reason: {reason}",
               status=gate.status, summary=gate.summary, reason=reason)
    if journal is not None:  # the journal stays English: code and other wizards read it back
        journal.done(ACK_STEP_ID, f"go on before the IPVS gate opened ({tr(gate.summary, 'en')})",
            "kube-proxy",
                     gate.status, None, reason)
    log.warning("%s", tr(note, "en"))
    return note
