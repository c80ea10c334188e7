"""The one step protocol (wizard.migration.step_runner) without a cluster: confirm, journal
intent, action, journal done or failed, event; declines, failures and dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.errors import WizardError
from wizard.migration.journal import Journal
from wizard.migration.plan import Step
from wizard.migration.progress import Event, Outcome, StepFinished, StepStarted
from wizard.migration.step_runner import StepRunner, SwitchStop

STEP = Step(
    "r1.scale-coredns", "scale-coredns", 1, "Scale CoreDNS kube-system/coredns 0 → 1",
    ("kubectl scale deployment coredns -n kube-system --replicas=1",), "deployment kube-system/coredns", 1,
    True,
)


def _runner(tmp_path: Path, **kwargs: object) -> tuple[StepRunner, list[Event], Journal]:
    events: list[Event] = []
    journal = Journal(tmp_path / "journal.jsonl", operator="test@host")
    defaults: dict[str, object] = {"dry_run": False, "confirm": None, "context": "lab"}
    defaults.update(kwargs)
    runner = StepRunner(journal, emit=events.append, **defaults)  # type: ignore[arg-type]
    return runner, events, journal


def _statuses(journal: Journal) -> list[tuple[str, str]]:
    return [(e.step, e.status) for e in journal.read().entries]


def test_a_step_is_journaled_before_and_after_its_action_and_reported(tmp_path: Path) -> None:
    seen: list[list[tuple[str, str]]] = []
    recorded: list[str] = []
    runner, events, journal = _runner(tmp_path, after_done=lambda s: recorded.append(s.id))

    def action() -> tuple[Outcome, str]:
        seen.append(_statuses(journal))
        return "done", "0 → 1"

    assert runner.run(STEP, action) == "done"
    assert seen == [[("r1.scale-coredns", "intent")]]  # the intent is written before the change
    assert _statuses(journal) == [("r1.scale-coredns", "intent"), ("r1.scale-coredns", "done")]
    assert journal.read().entries[-1].detail == "0 → 1"
    assert journal.read().entries[-1].to_value == 1
    assert recorded == ["r1.scale-coredns"]
    assert events == [StepStarted(STEP), StepFinished(STEP, "done", "0 → 1")]


@pytest.mark.parametrize("error", [SwitchStop("not ready"), WizardError("not ready")])
def test_a_failed_action_is_journaled_reported_and_raised_again(tmp_path: Path, error: Exception) -> None:
    recorded: list[str] = []
    runner, events, journal = _runner(tmp_path, after_done=lambda s: recorded.append(s.id))

    def action() -> tuple[Outcome, str]:
        raise error

    with pytest.raises(type(error)) as raised:
        runner.run(STEP, action)
    assert _statuses(journal) == [("r1.scale-coredns", "intent"), ("r1.scale-coredns", "failed")]
    assert journal.read().entries[-1].detail == "not ready"
    assert events == [StepStarted(STEP), StepFinished(STEP, "failed", "not ready")]
    assert recorded == []
    if isinstance(raised.value, SwitchStop):
        assert raised.value.failed_step == STEP


def test_a_declined_step_changes_nothing_and_stops_or_is_skipped(tmp_path: Path) -> None:
    asked: list[str] = []

    def no(step: Step, what: str) -> bool:
        asked.append(what)
        return False

    acted: list[str] = []

    def action() -> tuple[Outcome, str]:
        acted.append("acted")
        return "done", ""

    skipping, events, journal = _runner(tmp_path, confirm=no)
    assert skipping.run(STEP, action) == "declined"
    assert asked == [
        "Scale CoreDNS kube-system/coredns 0 → 1: deployment kube-system/coredns in context 'lab' "
        "(kubectl scale deployment coredns -n kube-system --replicas=1)"
    ]
    assert events[-1] == StepFinished(STEP, "declined", "the operator declined")
    assert _statuses(journal) == []
    stopping, _events, journal = _runner(
        tmp_path / "stop",
        confirm=no,
        declined=lambda s: SwitchStop(f"declined {s.id}"),
        journal_declined=True,
    )
    with pytest.raises(SwitchStop, match=r"declined r1\.scale-coredns"):
        stopping.run(STEP, action, question="scale it?")
    assert asked[-1] == "scale it?"
    assert _statuses(journal) == [("r1.scale-coredns", "failed")]
    assert acted == []


def test_a_dry_run_asks_nothing_journals_nothing_and_says_dry_run(tmp_path: Path) -> None:
    recorded: list[str] = []
    runner, events, journal = _runner(
        tmp_path, dry_run=True, confirm=lambda s, w: False, after_done=lambda s: recorded.append(s.id)
    )
    assert runner.run(STEP, lambda: ("done", "would scale")) == "dry-run"
    assert runner.run(STEP, lambda: ("skipped", "nothing to do")) == "skipped"
    assert _statuses(journal) == [] and recorded == []
    assert events[1] == StepFinished(STEP, "dry-run", "would scale")


def test_a_settled_step_is_reported_and_not_journaled(tmp_path: Path) -> None:
    runner, events, journal = _runner(tmp_path)
    runner.settled(STEP, "already gone")
    assert events == [StepStarted(STEP), StepFinished(STEP, "already-done", "already gone")]
    assert _statuses(journal) == []
