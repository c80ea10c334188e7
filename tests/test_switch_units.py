"""Pure parts of the switch (verdicts: test_verdicts.py): durations, the text progress printer, records."""

from __future__ import annotations

import io

import pytest

from wizard.commands._progress import TextProgress, parse_duration, terminal_confirm
from wizard.errors import InputError
from wizard.migration.autoscaler import AutoscalerRecord, record_of
from wizard.migration.plan import Step
from wizard.migration.progress import ObservationTick, StepFinished, StepStarted, Waiting

STEP = Step(
    "r1.scale-coredns",
    "scale-coredns",
    1,
    "Scale CoreDNS kube-system/coredns 0 → 1",
    (),
    "deployment",
    1,
    True,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300.0), ("30s", 30.0), ("2s", 2.0), ("1h30m", 5400.0), ("45", 45.0)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "--observe") == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "-1s", "1d"])
def test_parse_duration_rejects_with_the_flag_named(text: str) -> None:
    with pytest.raises(InputError, match="--observe"):
        parse_duration(text, "--observe")


def test_text_progress_plain_lines_without_a_tty() -> None:
    out = io.StringIO()
    printer = TextProgress(out, tty=False)
    printer(StepStarted(STEP))
    for second in range(0, 25):
        printer(Waiting("1 Ready pod", float(second), 300.0))
    printer(StepFinished(STEP, "done", "0 → 1"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "→ Scale CoreDNS kube-system/coredns 0 → 1"
    waits = [line for line in lines if "1 Ready pod" in line]
    assert len(waits) == 3  # at 0 s, 10 s and 20 s: visible, not flooding a log file
    assert "\r" not in out.getvalue()
    assert lines[-1].endswith("r1.scale-coredns: done — 0 → 1")


def test_text_progress_updates_one_line_in_place_on_a_tty() -> None:
    out = io.StringIO()
    printer = TextProgress(out, tty=True)
    printer(ObservationTick(1.0, 5.0, 0, 10, 0.5, 0.9))
    printer(ObservationTick(2.0, 5.0, 0, 20, 0.5, 0.9))
    printer(StepFinished(STEP, "done", ""))
    text = out.getvalue()
    assert text.count("\n") == 1 and text.count("\r\x1b[2K") == 3
    assert "20 queries, 0 errors" in text


def test_autoscaler_record_round_trip_and_retarget() -> None:
    deployment = {
        "metadata": {"name": "kube-dns-autoscaler", "namespace": "kube-system"},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "autoscaler", "command": ["/cpa", "--target=Deployment/kube-dns", "--v=2"]}
                    ]
                }
            },
        },
    }
    record = record_of(deployment)
    assert (record.replicas, record.target, record.field, record.container) == (
        1,
        "Deployment/kube-dns",
        "command",
        "autoscaler",
    )
    assert AutoscalerRecord.from_json(record.to_json()) == record
    assert record.retargeted_words("Deployment/coredns") == ["/cpa", "--target=Deployment/coredns", "--v=2"]
    assert AutoscalerRecord.from_json("{not json") is None
    # the two-word form, in args rather than command: found, and rewritten in the same form
    deployment["spec"]["template"]["spec"]["containers"][0] = {
        "name": "autoscaler", "command": ["/cpa"], "args": ["--v=2", "--target", "Deployment/kube-dns"]
    }
    spaced = record_of(deployment)
    assert (spaced.target, spaced.field) == ("Deployment/kube-dns", "args")
    assert spaced.retargeted_words("Deployment/coredns") == ["--v=2", "--target", "Deployment/coredns"]
    assert spaced.restore_patch() == {
        "spec": {"template": {"spec": {"containers": [
            {"name": "autoscaler", "args": ["--v=2", "--target", "Deployment/kube-dns"]}
        ]}}}
    }


@pytest.mark.parametrize(
    ("answer", "expected"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False), ("", False)]
)
def test_terminal_confirm_names_the_change_and_the_context(answer: str, expected: bool) -> None:
    out = io.StringIO()
    confirm = terminal_confirm("prod-eu", io.StringIO(answer), out)
    assert (
        confirm(STEP, "Scale CoreDNS kube-system/coredns 0 → 1: deployment kube-system/coredns") is expected
    )
    assert "deployment kube-system/coredns" in out.getvalue() and "'prod-eu'" in out.getvalue()
    assert "[y/N]" in out.getvalue()
