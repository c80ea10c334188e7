"""The journal survives restarts and torn writes, and says where to resume."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from wizard.migration.journal import (
    Journal,
    cluster_id,
    cluster_state_dir,
    save_backup,
)

PLAN = ["pre/annotate", "round-1/scale-coredns", "round-1/scale-kube-dns", "round-2/scale-coredns"]


def test_round_trip_and_next_step(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl", operator="op@host")
    with journal.record("pre/annotate", "annotate", "Deployment kube-system/coredns", None, "1"):
        pass
    journal.intent("round-1/scale-coredns", "scale", "Deployment kube-system/coredns", 0, 1)
    journal.done("round-1/scale-coredns", "scale", "Deployment kube-system/coredns", 0, 1)

    again = Journal(tmp_path / "journal.jsonl").read()  # a fresh reader, as after a restart
    assert again.done_steps == ["pre/annotate", "round-1/scale-coredns"]
    assert again.values["Deployment kube-system/coredns"] == 1
    assert again.in_flight is None
    assert again.last is not None and again.last.operator == "op@host"
    assert again.last.version and again.last.time.endswith("Z")
    resume = again.next_step(PLAN)
    assert resume.step == "round-1/scale-kube-dns" and not resume.in_flight


def test_intent_without_outcome_is_in_flight(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.intent("round-1/scale-kube-dns", "scale", "Deployment kube-system/kube-dns", 2, 1)
    resume = journal.read().next_step(PLAN)
    assert resume.step == "round-1/scale-kube-dns"
    assert resume.in_flight and "never finished" in resume.reason


def test_failed_change_is_recorded_and_reraised(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    with pytest.raises(RuntimeError), journal.record("pre/annotate", "annotate", "Deployment x/y"):
        raise RuntimeError("HTTP 403")
    state = journal.read()
    assert state.failed_steps == ["pre/annotate"]
    assert state.entries[-1].status == "failed" and state.entries[-1].detail == "HTTP 403"
    assert state.next_step(PLAN).reason == "step pre/annotate: failed last time"


def test_torn_last_line_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.done("pre/annotate", "annotate", "Deployment x/y")
    with open(path, "ab") as f:
        f.write(b'{"status": "intent", "step": "round-1/sc')  # the process died mid-write
    with caplog.at_level(logging.WARNING):
        state = journal.read()
    assert state.done_steps == ["pre/annotate"]
    assert len(state.warnings) == 1 and "torn last line 2" in state.warnings[0]
    assert "torn last line" in caplog.text
    # appending afterwards keeps the new entry readable
    journal.done("round-1/scale-coredns", "scale", "Deployment x/y", 0, 1)
    state = journal.read()
    assert state.done_steps == ["pre/annotate", "round-1/scale-coredns"]
    assert "corrupt line 2" in state.warnings[0]


def test_entries_are_json_lines(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", operator="a@b", dry_run=True)
    journal.intent("s", "scale", "Deployment x/y", 1, 2)
    (line,) = (tmp_path / "j.jsonl").read_text().splitlines()
    data = json.loads(line)
    assert data["status"] == "intent" and data["from_value"] == 1 and data["to_value"] == 2
    assert data["dry_run"] is True and data["operator"] == "a@b"


def test_dry_run_changes_do_not_count_as_cluster_values(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", dry_run=True)
    journal.done("s", "scale", "Deployment x/y", 1, 2)
    assert journal.read().values == {}


def test_state_dir_layout(tmp_path: Path) -> None:
    cid = cluster_id("https://10.0.0.1:6443", "1234-uid")
    assert cid.startswith("10.0.0.1-6443-")
    assert cid != cluster_id("https://10.0.0.1:6443", "other-uid")
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert cluster_state_dir(cid, environ=env) == tmp_path / "coredns-wizard" / cid
    assert cluster_state_dir(cid, state_dir=tmp_path / "x") == tmp_path / "x"
    journal = Journal.for_cluster(cid, environ=env)
    journal.intent("s", "a", "o")
    assert (tmp_path / "coredns-wizard" / cid / "journal.jsonl").exists()


def test_backup_before_delete(tmp_path: Path) -> None:
    obj = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "managedFields": [{"manager": "x"}]},
        "data": {"stubDomains": '{"abc.com": ["1.2.3.4"]}'},
    }
    path = save_backup(obj, tmp_path)
    assert path.parent == tmp_path / "backups"
    assert "ConfigMap-kube-system-kube-dns" in path.name
    loaded = yaml.safe_load(path.read_text())
    assert loaded["data"] == obj["data"]
    assert "managedFields" not in loaded["metadata"]
