"""A switch or rollback in a child process that SIGKILLs itself right after its K-th commit: a
journal entry written, or a write the API server accepted. Counting both gives every point at
which a real kill can leave the journal and the cluster out of step.

    python tests/kill_support.py switch|rollback KUBECONFIG JOURNAL KILL_AT

KILL_AT 0 runs to the end and prints `COMMITS <n>`: how many kill points the run has.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from switch_support import fast_options, make_test_plan

    from wizard.k8s.connection import resolve_connection
    from wizard.k8s.gateway import Gateway
    from wizard.migration.journal import Journal
    from wizard.migration.rollback import rollback
    from wizard.migration.switch import Switcher

    what, kubeconfig, journal_path, kill_at = argv[0], argv[1], Path(argv[2]), int(argv[3])
    commits = 0

    def commit() -> None:
        nonlocal commits
        commits += 1
        if commits == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    real_append, real_write = Journal._append, Gateway._write

    def append(self: Journal, *args: Any) -> Any:
        entry = real_append(self, *args)
        commit()
        return entry

    def write(self: Gateway, op: Any) -> Any:
        result = real_write(self, op)
        commit()
        return result

    Journal._append = append  # type: ignore[method-assign]
    Gateway._write = write  # type: ignore[method-assign]
    connection = resolve_connection(kubeconfig=kubeconfig, context=None, request_timeout="10s")
    gateway = Gateway(connection, "live", retry_budget_s=30.0)
    journal = Journal(journal_path, operator="test@host")
    options = fast_options(observe_seconds=1.0, dns_port=connection.dns_port)
    if what == "switch":
        completed = Switcher(gateway, make_test_plan(gateway, n=3), journal, options).run().completed
    else:
        completed = rollback(gateway, journal, options).completed
    sys.stdout.write(f"COMPLETED {completed}\nCOMMITS {commits}\n")
    return 0


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent)]
    raise SystemExit(main(sys.argv[1:]))
