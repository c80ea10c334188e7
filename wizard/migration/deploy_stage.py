"""Run only the plan's steps up to and including "deploy" (apply switch2coredns.yaml).

Why: the TUI applies the manifests in its own stage, after the operator has read them and the
server-side dry-run, and starts the replica rounds later. Running those first steps through the
Switcher keeps one code path for applying, journaling and annotating, so a later full switch
(TUI or `coredns-wizard switch`) resumes after "deploy" instead of repeating it.
"""

from __future__ import annotations

import dataclasses
import threading

from wizard.i18n import msg
from wizard.k8s.gateway import Gateway
from wizard.migration.journal import Journal
from wizard.migration.plan import Plan
from wizard.migration.progress import EventSink
from wizard.migration.switch import Switcher, SwitchOutcome
from wizard.options import SwitchOptions

DEPLOY_STEP = "deploy"


def steps_through_deploy(plan: Plan) -> Plan:
    """The plan cut after its "deploy" step (a paused autoscaler comes before it)."""
    ids = plan.ids()
    if DEPLOY_STEP not in ids:
        raise ValueError(f"the plan has no {DEPLOY_STEP!r} step; its steps are {', '.join(ids)}")
    return dataclasses.replace(plan, steps=plan.steps[: ids.index(DEPLOY_STEP) + 1])


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
    steps_through_deploy(plan)  # a plan without a deploy step is a caller's mistake: say so
    switcher = Switcher(gateway, plan, journal, options, on_event, None, cancel)
    outcome = switcher.run(stop_after=DEPLOY_STEP)
    if not outcome.completed:
        return outcome
    ran = ", ".join(outcome.steps_run) or msg("switch.steps-run-none", "none (already done)")
    if outcome.dry_run:
        summary = msg(
            "switch.deploy-checked", "CoreDNS objects checked with dryRun=All; steps run: {ran}", ran=ran
        )
    else:
        summary = msg("switch.deploy-applied", "CoreDNS objects applied; steps run: {ran}", ran=ran)
    return dataclasses.replace(outcome, reason=summary)
