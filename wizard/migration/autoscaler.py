"""The kube-dns autoscaler (cluster-proportional-autoscaler): its --target flag read and rewritten
in one place, its record kept for a faithful restore, and the check that a retarget took.

Why one home: the autoscaler undoes a switch (it scales its target back up every poll), and it
is written both as `--target=Deployment/kube-dns` and `--target Deployment/kube-dns`, in the
container's `command` or its `args`. Every reader (facts, plan, switch, rollback, status) must
agree on where the flag is and what it says, so they all go through the functions here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard.errors import CheckFailed, InputError
from wizard.i18n import error_text, msg
from wizard.k8s.objects import (
    annotations_of,
    containers_of,
    name_of,
    named,
    namespace_of,
    ready_replicas,
    spec_replicas,
)
from wizard.migration.journal import ANNOTATION_AUTOSCALER
from wizard.safe_load import load_json

if TYPE_CHECKING:
    from wizard.k8s.gateway import Gateway
    from wizard.k8s.watch import WaitProgress

TARGET_FLAG_NAMES = ("--target", "-target")
"""How CPA's flag parser (Go's `flag` package) accepts the flag: one or two dashes."""


@dataclass(frozen=True)
class TargetFlag:
    """Where --target sits in a container's command or args, and what it says."""

    container: str
    field: str
    """"command" or "args"."""
    words: tuple[str, ...]
    """The whole field as it is, so it can be rewritten word for word."""
    index: int
    """The word that holds the value (the flag itself when written `--target=X`)."""
    inline: bool
    """True for `--target=X`, False for `--target X`."""
    value: str


def find_target_flag(words: Sequence[str]) -> tuple[int, bool, str] | None:
    """(index of the value's word, written inline, value) of --target in `words`, or None."""
    for i, word in enumerate(words):
        for name in TARGET_FLAG_NAMES:
            if word.startswith(name + "="):
                return i, True, word[len(name) + 1 :]
            if word == name and i + 1 < len(words):
                return i + 1, False, words[i + 1]
    return None


def target_flag_of(deployment: Mapping[str, Any]) -> TargetFlag | None:
    """The first --target flag among the Deployment's containers' command and args."""
    for container in containers_of(deployment):
        for field_name in ("command", "args"):
            words = container.words(field_name)
            found = find_target_flag(words)
            if found is not None:
                index, inline, value = found
                return TargetFlag(container.name, field_name, words, index, inline, value)
    return None


def with_target(words: Sequence[str], new_target: str) -> list[str] | None:
    """`words` with the --target value replaced, in the form it was written; None without one."""
    found = find_target_flag(words)
    if found is None:
        return None
    index, inline, _ = found
    out = list(words)
    if inline:
        out[index] = out[index].split("=", 1)[0] + "=" + new_target
    else:
        out[index] = new_target
    return out


def targets(value: str, deployment: str) -> bool:
    """Whether a --target value names this Deployment (compared as CPA does, without case)."""
    return value.strip().lower() == f"deployment/{deployment}".lower()


def container_patch(container: str, field: str, words: Sequence[str]) -> dict[str, Any]:
    """A strategic-merge patch replacing one container's command or args (merged by name)."""
    return {"spec": {"template": {"spec": {"containers": [{"name": container, field: list(words)}]}}}}


@dataclass(frozen=True)
class AutoscalerRecord:
    """The autoscaler as it was before the wizard touched it, to put it back exactly."""

    name: str
    namespace: str
    replicas: int
    target: str
    container: str
    field: str  # "command" or "args": the list that holds --target
    values: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "namespace": self.namespace,
                "replicas": self.replicas,
                "target": self.target,
                "container": self.container,
                "field": self.field,
                "values": list(self.values),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AutoscalerRecord | None:
        try:
            data = load_json(text, "autoscaler record")
            return cls(
                str(data["name"]),
                str(data["namespace"]),
                int(data["replicas"]),
                str(data["target"]),
                str(data.get("container") or ""),
                str(data.get("field") or "command"),
                tuple(str(v) for v in data.get("values") or ()),
            )
        except (InputError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def retargeted_words(self, new_target: str) -> list[str] | None:
        """The recorded command/args with --target pointing at `new_target` (form kept)."""
        return with_target(self.values, new_target)

    def retarget_patch(self, new_target: str) -> dict[str, Any] | None:
        words = self.retargeted_words(new_target)
        return None if words is None else container_patch(self.container, self.field, words)

    def restore_patch(self) -> dict[str, Any] | None:
        if not self.container or not self.values:
            return None
        return container_patch(self.container, self.field, self.values)


def record_of(deployment: Mapping[str, Any]) -> AutoscalerRecord:
    """The autoscaler Deployment as it is now (before the wizard pauses it)."""
    name, namespace, replicas = name_of(deployment), namespace_of(deployment), replicas_of(deployment)
    flag = target_flag_of(deployment)
    if flag is not None:
        return AutoscalerRecord(name, namespace, replicas, flag.value, flag.container, flag.field, flag.words)
    return AutoscalerRecord(name, namespace, replicas, "", "", "command", ())


def recorded_on(deployment: Mapping[str, Any] | None) -> AutoscalerRecord | None:
    """The wizard's record in ANNOTATION_AUTOSCALER of this Deployment (the autoscaler's own or
    the CoreDNS Deployment's), None when absent or unreadable."""
    text = annotations_of(deployment).get(ANNOTATION_AUTOSCALER)
    return AutoscalerRecord.from_json(text) if text else None


def replicas_of(deployment: Mapping[str, Any] | None) -> int:
    """spec.replicas, 0 when the Deployment is missing."""
    return spec_replicas(deployment)


def describe_now(deployment: Mapping[str, Any] | None) -> str:
    """"2 replica(s), --target=Deployment/coredns" (for status and messages)."""
    if deployment is None:
        return msg("verify.autoscaler-gone", "gone")
    flag = target_flag_of(deployment)
    return msg(
        "verify.autoscaler-now", "{replicas} replica(s), --target={target}",
        replicas=replicas_of(deployment), target=flag.value if flag else "?",
    )


# ---- changes (through the gateway, so dry-run and read-only hold) ---------------------------


def ensure_recorded(gateway: Gateway, deployment: Mapping[str, Any]) -> AutoscalerRecord:
    """The record on the autoscaler itself, written now from its current state when missing.
    Written before the first change to it, so a kill right after the change still finds it."""
    record = recorded_on(deployment)
    if record is not None:
        return record
    record = record_of(deployment)
    gateway.annotate_deployment(record.namespace, record.name, {ANNOTATION_AUTOSCALER: record.to_json()})
    return record


def pause(gateway: Gateway, deployment: Mapping[str, Any]) -> tuple[AutoscalerRecord, bool]:
    """Record the autoscaler, then scale it to 0 (it only acts while it has a ready pod).
    Returns the record and whether anything had to be scaled."""
    record = ensure_recorded(gateway, deployment)
    if replicas_of(deployment) == 0:
        return record, False
    gateway.scale_deployment(record.namespace, record.name, 0)
    return record, True


def retarget(gateway: Gateway, record: AutoscalerRecord, deployment_name: str) -> str:
    """Point the autoscaler's --target at Deployment/<deployment_name> (its paused replicas kept)."""
    new_target = f"Deployment/{deployment_name}"
    patch = record.retarget_patch(new_target)
    if patch is None:
        raise CheckFailed(msg(
            "verify.autoscaler-no-target-flag",
            "Deployment {deployment}: container {container} has no --target "
            "flag to retarget; use --autoscaler-policy restore or leave-paused",
            deployment=f"{record.namespace}/{record.name}", container=repr(record.container),
        ))
    gateway.patch_deployment(
        record.namespace, record.name, patch,
        why=f"retarget autoscaler {record.namespace}/{record.name} to {new_target}",
    )
    return new_target


def restore(gateway: Gateway, record: AutoscalerRecord) -> str:
    """Put the autoscaler back exactly as recorded: its --target words, then its replicas; the
    record is removed last, so a kill in between leaves it for the next run."""
    patch = record.restore_patch()
    if patch is not None:
        gateway.patch_deployment(
            record.namespace, record.name, patch,
            why=f"restore the --target of autoscaler {record.namespace}/{record.name}",
        )
    gateway.scale_deployment(record.namespace, record.name, record.replicas)
    gateway.annotate_deployment(record.namespace, record.name, {ANNOTATION_AUTOSCALER: None})
    return msg(
        "verify.autoscaler-restored",
            "autoscaler {autoscaler} back to {replicas} replica(s), --target={target}",
        autoscaler=f"{record.namespace}/{record.name}", replicas=record.replicas, target=record.target,
    )


def _wait_reporter(
    on_wait: Callable[[str, float, float], None] | None, timeout: float
) -> Callable[[WaitProgress], None]:
    """Pass a wait's progress on to `on_wait` (if any) with the wait's own timeout."""

    def report(p: WaitProgress) -> None:
        if on_wait is not None:
            on_wait(p.waiting_for, p.elapsed_s, timeout)

    return report


def _wait_autoscaler_running(
    gateway: Gateway, ns: str, name: str, timeout: float, on_wait: Callable[[str, float, float], None] | None
) -> None:
    """Wait for a Ready autoscaler pod after the retarget; CheckFailed when it does not come back."""
    from wizard.k8s.watch import WaitTimeout, wait_for

    def running(objs: list[Any]) -> bool | None:
        return True if ready_replicas(named(objs, name)) >= 1 else None

    try:
        wait_for(
            gateway, "Deployment", ns, running, timeout,
            msg("verify.autoscaler-wait-running", "autoscaler {autoscaler} running again (a Ready pod)",
                autoscaler=f"{ns}/{name}"),
            field_selector=f"metadata.name={name}", on_progress=_wait_reporter(on_wait, timeout),
        )
    except WaitTimeout as err:
        raise CheckFailed(msg(
            "verify.autoscaler-not-back", "autoscaler {autoscaler} did not come back: {error}",
            autoscaler=f"{ns}/{name}", error=error_text(err),
        )) from None


def verify_retargeted(
    gateway: Gateway,
    record: AutoscalerRecord,
    coredns: str,
    kube_dns: str,
    observe_seconds: float,
    ready_timeout_seconds: float,
    on_wait: Callable[[str, float, float], None] | None = None,
) -> str:
    """After a retarget: the autoscaler's --target names the CoreDNS Deployment, it runs with its
    replicas again, and through one observation window kube-dns stays at 0 replicas (the lab's
    and the real autoscaler poll every 10 s: the window must be longer than one poll to mean it).
    Raises CheckFailed saying what was seen."""
    from wizard.k8s.watch import WaitTimeout, wait_for

    ns, name = record.namespace, record.name
    live = gateway.try_get("Deployment", ns, name)
    flag = target_flag_of(live) if live is not None else None
    if flag is None or not targets(flag.value, coredns):
        raise CheckFailed(msg(
            "verify.autoscaler-not-retargeted",
            "autoscaler {autoscaler} does not target Deployment/{coredns} after the retarget (now "
            "{now}): patch its --target by hand or scale it to 0",
            autoscaler=f"{ns}/{name}", coredns=coredns, now=describe_now(live),
        ))

    if record.replicas > 0:
        _wait_autoscaler_running(gateway, ns, name, ready_timeout_seconds, on_wait)

    def kube_dns_grew(objs: list[Any]) -> int | None:
        replicas = replicas_of(named(objs, kube_dns))
        return replicas if replicas > 0 else None

    try:
        grew = wait_for(
            gateway, "Deployment", ns, kube_dns_grew, observe_seconds,
            msg("verify.autoscaler-wait-kube-dns-zero",
                "kube-dns {kube_dns} staying at 0 replicas while autoscaler {autoscaler} runs",
                kube_dns=f"{ns}/{kube_dns}", autoscaler=f"{ns}/{name}"),
            field_selector=f"metadata.name={kube_dns}", on_progress=_wait_reporter(on_wait, observe_seconds),
        )
    except WaitTimeout:
        return msg(
            "verify.autoscaler-retargeted",
            "autoscaler {autoscaler} targets Deployment/{coredns}; kube-dns stayed at 0 replicas "
            "for {seconds:g} s",
            autoscaler=f"{ns}/{name}", coredns=coredns, seconds=observe_seconds,
        )
    raise CheckFailed(msg(
        "verify.autoscaler-kube-dns-grew",
        "kube-dns {kube_dns} was scaled back to {replicas} replica(s) after the autoscaler {autoscaler} "
        "was retargeted (now {now}): something else "
        "still targets kube-dns; scale kube-dns to 0 and find it (`kubectl get deploy,hpa -A`)",
        kube_dns=f"{ns}/{kube_dns}", replicas=grew, autoscaler=f"{ns}/{name}",
        now=describe_now(gateway.try_get("Deployment", ns, name)),
    ))

