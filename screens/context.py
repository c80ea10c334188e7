"""What every stage screen shares: the connection, the gateway, the operator's options and what
earlier stages produced (the pre-flight report, the reviewed Corefile, the plan).

Why one mutable object: stages run in order and each adds what it learned; the App hands the
same context to every screen, so a stage never re-reads what an earlier one already decided.
Contract with the switch screens (tui-switch): constructor `Screen(context: WizardContext)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wizard.k8s.connection import Connection
    from wizard.k8s.gateway import Gateway
    from wizard.lab.cluster import Lab
    from wizard.migration.change_record import ObservationSample
    from wizard.migration.journal import Journal
    from wizard.migration.plan import Plan
    from wizard.migration.preflight.run import PreflightReport
    from wizard.options import SwitchOptions


@dataclass
class WizardContext:
    connection: Connection
    gateway: Gateway
    options: SwitchOptions
    journal: Journal | None = None
    report: PreflightReport | None = None
    plan: Plan | None = None
    lab: Lab | None = None
    """The demo's lab (None on a real cluster)."""
    corefile_text: str | None = None
    """The Corefile the operator reviewed/edited in the migration stage."""
    clock: Callable[[], float] = time.monotonic
    """Injectable so snapshots and countdowns are deterministic in tests."""
    wait_note: str = ""
    """Said on screen when the waits are not the guide's (the demo's short ones)."""
    report_path: str | None = None
    """--report FILE: where the Done stage writes the HTML change record (None: `w` picks a name)."""
    observations: list[ObservationSample] = field(default_factory=list)
    """The switch's observation ticks with wall-clock times, for the change record's charts."""
    notes: list[str] = field(default_factory=list)
    """Things the operator decided that the Done screen repeats (e.g. a skipped IPVS wait)."""

    @property
    def read_only(self) -> bool:
        return self.options.mode == "read-only"

    @property
    def dry_run(self) -> bool:
        return self.options.mode == "dry-run"

    def journal_or_open(self) -> Journal:
        """The cluster's journal, opened on first use and kept for every later stage. Call it from a
        worker: opening reads the kube-system namespace."""
        if self.journal is None:
            from wizard.migration.journal import journal_for

            self.journal = journal_for(self.gateway)
        return self.journal
