"""Run only the plan's steps up to and including "deploy" (apply switch2coredns.yaml).

Why: the TUI applies the manifests in its own stage, after the operator has read them and the
server-side dry-run, and starts the replica rounds later. Running those first steps through the
Switcher keeps one code path for applying, journaling and annotating, so a later full switch
(TUI or `coredns-wizard switch`) resumes after "deploy" instead of repeating it.
"""

from __future__ import annotations

import dataclasses
import threading

from wizard.events import EventSink
from wizard.gateway import Gateway
from wizard.journal import Journal
from wizard.options import SwitchOptions
from wizard.plan import Plan
from wizard.switch import Switcher, SwitchOutcome

DEPLOY_STEP = "deploy"


def steps_through_deploy(plan: Plan) -> Plan:
    """The plan cut after its "deploy" step (a paused autoscaler comes before it)."""
    ids = plan.ids()
    if DEPLOY_STEP not in ids:
        raise ValueError(f"the plan has no {DEPLOY_STEP!r} step; its steps are {', '.join(ids)}")
    return dataclasses.replace(plan, steps=plan.steps[: ids.index(DEPLOY_STEP) + 1])


class _ThroughDeploy(Switcher):
    """A Switcher whose end is the deploy step: reaching it is success, not a short switch."""

    def _finish(self) -> SwitchOutcome:
        what = "checked with dryRun=All" if self.dry_run else "applied"
        summary = f"CoreDNS objects {what}; steps run: {', '.join(self._ran) or 'none (already done)'}"
        return SwitchOutcome(True, summary, "", tuple(self._ran), self.dry_run)


def run_deploy(
    gateway: Gateway,
    plan: Plan,
    journal: Journal | None,
    options: SwitchOptions,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
) -> SwitchOutcome:
    """Apply the manifests (and pause the autoscaler first, when the plan does) exactly as the
    switch would; the caller has already asked the operator, so no per-step confirmation."""
    return _ThroughDeploy(gateway, steps_through_deploy(plan), journal, options, on_event, None, cancel).run()
