"""Pausing a running switch (or rollback) between two steps, without changing the engine.

Why here and this way: the operator must be able to say "hold on" while a switch runs (to read a
pod's logs, to ask a colleague) and be sure nothing changes until they continue. The engine
reports every finished step through its `on_event` callback *after* the step is journaled and
before the next one starts, so holding that callback on `StepFinished` holds the engine exactly
between two steps. A cancel event releases the hold so a paused switch can still be stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from wizard.i18n import msg
from wizard.migration.progress import Event, EventSink, Note, StepFinished

PAUSE_POLL_S = 0.2


class StepGate:
    """A pause switch for the engine's event stream; `wrap(sink)` gives the gated sink.

    `pause()`/`resume()` may be called from any thread. While paused, the engine thread that
    reports a StepFinished waits (reporting a Note once) until resumed or `cancel` is set."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel or threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._held = threading.Event()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def holding(self) -> bool:
        """True while the engine is actually waiting at the gate (not merely asked to)."""
        return self._held.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def toggle(self) -> bool:
        """Pause when running, resume when paused; returns the new paused state."""
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    def wrap(self, sink: EventSink | None) -> EventSink:
        def gated(event: Event) -> None:
            if sink is not None:
                sink(event)
            if isinstance(event, StepFinished) and event.outcome != "failed":
                self._hold(event, sink)

        return gated

    def _hold(self, event: StepFinished, sink: Callable[[Event], None] | None) -> None:
        if self._running.is_set() or self.cancel.is_set():
            return
        self._held.set()
        try:
            if sink is not None:
                sink(Note(msg("verify.paused", "paused after step {step}: nothing changes until you continue",
                              step=event.step.id)))
            while not self._running.wait(PAUSE_POLL_S):
                if self.cancel.is_set():
                    return
            if sink is not None:
                sink(Note(msg("verify.continuing", "continuing")))
        finally:
            self._held.clear()
