"""State files hold cluster names and objects: created 0600 in 0700 directories, never through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wizard.errors import InputError
from wizard.migration.journal import Journal, save_backup


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_journal_and_backups_are_private(tmp_path: Path) -> None:
    os.umask(0o022)
    state = tmp_path / "state" / "cluster-1"
    journal = Journal(state / "journal.jsonl")
    journal.done("s1", "scale", "deployment/coredns", 0, 1)
    backup = save_backup({"kind": "ConfigMap", "metadata": {"name": "kube-dns"}}, state)
    assert _mode(state / "journal.jsonl") == 0o600
    assert _mode(backup) == 0o600
    assert _mode(backup.parent) == 0o700
    assert _mode(state) == 0o700 and _mode(state.parent) == 0o700


def test_a_symbolic_link_in_place_of_the_journal_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.jsonl").symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        Journal(state / "journal.jsonl").done("s1", "scale", "deployment/coredns", 0, 1)
    assert victim.read_text() == "untouched\n"


def test_a_symbolic_link_in_place_of_the_backup_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "backups").symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link"):
        save_backup({"kind": "ConfigMap", "metadata": {"name": "kube-dns"}}, state)
    assert list(elsewhere.iterdir()) == []


def test_the_tui_log_is_private(tmp_path: Path) -> None:
    from screens.entry import _setup_logging

    path = _setup_logging(str(tmp_path / "logs" / "tui.log"))
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    link = tmp_path / "link.log"
    link.symlink_to(tmp_path / "target.log")
    with pytest.raises(InputError):
        _setup_logging(str(link))
    assert not (tmp_path / "target.log").exists()


def test_reading_a_journal_refuses_links_and_fifos(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    Journal(real).done("s1", "scale", "deployment/coredns", 0, 1)
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    with pytest.raises(InputError, match="symbolic link"):
        Journal(link).read()
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        Journal(fifo).read()  # returns at once: a FIFO without a writer would block a plain read
