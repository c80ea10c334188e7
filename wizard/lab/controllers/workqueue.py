"""A de-duplicating work queue and its worker: how each lab controller turns events into reconciles.

As in client-go, events only name the object that needs attention; a key queued many times
before the worker reaches it is reconciled once, against the latest cached state. Reconcilers are
level-based and idempotent, so a failed one is simply retried with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from wizard.lab.api.store import ApiError

K = TypeVar("K", bound=Hashable)
Reconcile = Callable[[K], "float | None"]
"""Returns None, or a delay in (real, already speed-scaled) seconds after which to look again."""

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(self, name: str, reconcile: Reconcile[K], max_backoff: float = 5.0) -> None:
        self.name = name
        self._reconcile = reconcile
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._pending: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._max_backoff = max_backoff
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, key: K) -> None:
        if key in self._pending:
            return
        self._pending.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Look at `key` again after `delay` seconds; an earlier pending timer wins."""
        if self._loop is None:
            self.add(key)
            return
        when = self._loop.time() + max(delay, 0.0)
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = self._loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"lab-{self.name}")

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def idle(self) -> bool:
        return not self._pending

    async def _run(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            delay: float | None
            try:
                delay = self._reconcile(key)
                self._failures.pop(key, None)
            except ApiError as err:
                delay = self._backoff(key)
                if err.code != 409:  # conflicts are routine: someone wrote first; retry
                    log.warning("lab %s: %s: %s (retrying)", self.name, key, err.message)
            except Exception:
                delay = self._backoff(key)
                log.exception("lab %s: reconciling %s failed (retrying)", self.name, key)
            if delay is not None:
                self.add_after(key, delay)
            await asyncio.sleep(0)  # let the API server and DNS pods run between reconciles

    def _backoff(self, key: K) -> float:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        return float(min(0.02 * 2 ** min(count, 10), self._max_backoff))
