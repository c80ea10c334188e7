"""Telling a Pending pod that is about to start from one the scheduler has refused for good.

Why: a wait for Ready pods that ignores the scheduler sits out its whole timeout (minutes, on a
production cluster) while the answer is already on the pod: PodScheduled=False with the
scheduler's message ("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules").
That refusal is only final when nothing is about to free a node: while a DNS pod is terminating
(whose anti-affinity or slot still counts until it is gone) the scheduler retries once it leaves,
so such a refusal is not reported until it has outlived every terminating DNS pod by a grace
period covering the scheduler's retry back-off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from wizard.i18n import msg
from wizard.k8s.objects import Obj, PodView, is_terminating, list_at

UNSCHEDULABLE_GRACE_S = 20.0
"""How long a refusal must stand with no DNS pod terminating; the real scheduler retries an
unschedulable pod within its back-off (at most 10 s) after a pod it conflicted with leaves."""


def scheduler_refusal(pod: Obj) -> str | None:
    """The scheduler's message when it could not place this pod (PodScheduled=False,
    Unschedulable) and the pod is neither bound to a node nor being deleted; else None."""
    view = PodView.from_obj(pod)
    if view.terminating or view.node:
        return None
    for cond in list_at(pod, "status", "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            if cond.get("reason") not in (None, "", "Unschedulable"):
                return None
            message = cond.get("message")
            return str(message) if message else msg("verify.scheduler-no-node",
                "the scheduler found no node for it")
    return None


def _terminating(pods: Sequence[Obj]) -> bool:
    return any(is_terminating(p) for p in pods)


class StuckScheduling:
    """Fed every view of the DNS pods during one wait, says when a pod being waited for is
    refused by the scheduler for good (see the module's docstring for what "for good" means)."""

    def __init__(self, grace_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = UNSCHEDULABLE_GRACE_S if grace_s is None else grace_s
        self._clock = clock
        self._since: float | None = None

    def check(self, waited_for: Sequence[Obj], all_dns_pods: Sequence[Obj]) -> str | None:
        """`waited_for`: the pods the wait needs (e.g. the kube-dns pods); `all_dns_pods`: every
        pod labelled k8s-app=kube-dns. Returns "pod NAMESPACE/NAME: MESSAGE" once stuck."""
        refused = [(p, why) for p in waited_for if (why := scheduler_refusal(p)) is not None]
        if not refused or _terminating(all_dns_pods):
            self._since = None
            return None
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._since < self.grace_s:
            return None
        pod, message = refused[0]
        view = PodView.from_obj(pod)
        return msg("verify.pod-unschedulable", "pod {pod} cannot be scheduled: {message}",
                   pod=f"{view.namespace}/{view.name}", message=message)
