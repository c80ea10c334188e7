"""The lab's controller manager and scheduler: starts and stops every control loop on the lab loop.

All controllers share one ClusterCache (so pods are indexed once, not once per controller) and
each has its own work queue and worker, as in kube-controller-manager. A periodic resync re-queues
everything, so a missed event can delay a reconcile but never lose one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from wizard.lab.addresses import AddressPlan
from wizard.lab.api.objects import name_of, namespace_of
from wizard.lab.api.store import RESOURCES, Store
from wizard.lab.controllers.autoscaler import KubeDnsAutoscaler
from wizard.lab.controllers.daemonsets import DaemonSetController
from wizard.lab.controllers.deployments import DeploymentController
from wizard.lab.controllers.endpoints import EndpointsController
from wizard.lab.controllers.events import EventRecorder
from wizard.lab.controllers.gc import GarbageCollector
from wizard.lab.controllers.informers import ClusterCache
from wizard.lab.controllers.replicasets import ReplicaSetController
from wizard.lab.controllers.scheduler import Scheduler
from wizard.lab.controllers.workqueue import WorkQueue
from wizard.lab.faults import Faults

RESYNC_SECONDS = 30.0  # the scheduler's flush of unschedulable pods, scaled by the lab's speed
FULL_RESYNC_MIN_SECONDS = 10.0  # re-queueing 10,000 objects at speed 100 every 0.3 s would swamp the loop
log = logging.getLogger(__name__)


class Controllers:
    def __init__(self, store: Store, faults: Faults, speed: float, addresses: AddressPlan) -> None:
        if speed < 0.01:
            raise ValueError(f"lab speed must be at least 0.01, got {speed}")
        self.store = store
        self.faults = faults
        self.speed = speed
        self.addresses = addresses
        self.cache: ClusterCache | None = None
        self.deployments: DeploymentController | None = None
        self.replicasets: ReplicaSetController | None = None
        self.daemonsets: DaemonSetController | None = None
        self.scheduler: Scheduler | None = None
        self.endpoints: EndpointsController | None = None
        self.gc: GarbageCollector | None = None
        self.autoscaler: KubeDnsAutoscaler | None = None
        self._queues: list[WorkQueue[Any]] = []
        self._resync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build the caches and loops (must run on the lab loop), then start every worker."""
        cache = ClusterCache(self.store, [r.key for r in RESOURCES if r.key != "events"])
        self.cache = cache
        self.deployments = DeploymentController(cache, EventRecorder(self.store, "deployment-controller"),
                                                self.speed)
        self.replicasets = ReplicaSetController(cache, EventRecorder(self.store, "replicaset-controller"),
                                                self.speed)
        self.daemonsets = DaemonSetController(cache, EventRecorder(self.store, "daemonset-controller"),
                                              self.speed)
        self.scheduler = Scheduler(cache, EventRecorder(self.store, "default-scheduler"), self.faults,
                                   self.speed)
        self.endpoints = EndpointsController(cache)
        self.gc = GarbageCollector(cache)
        self.autoscaler = KubeDnsAutoscaler(cache, self.speed)
        self._queues = [
            q.queue for q in (self.deployments, self.replicasets, self.daemonsets, self.scheduler,
                              self.endpoints, self.gc)
        ]
        await cache.start()
        for queue in self._queues:
            queue.start()
        self.autoscaler.start()
        self._resync = asyncio.get_running_loop().create_task(self._resync_loop(), name="lab-resync")

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
            self._resync = None
        if self.autoscaler is not None:
            await self.autoscaler.stop()
        for queue in self._queues:
            await queue.stop()
        if self.cache is not None:
            self.cache.stop()

    @property
    def idle(self) -> bool:
        """No reconcile is waiting (timers aside): what tests wait for between steps."""
        return all(q.idle for q in self._queues)

    def resync(self, full: bool = True) -> None:
        """Retry unschedulable pods and collect orphans; with `full`, also re-queue every object
        each controller owns (a safety net for missed events, so it need not run often)."""
        assert self.cache is not None and self.deployments is not None and self.replicasets is not None
        assert self.daemonsets is not None and self.endpoints is not None
        assert self.scheduler is not None and self.gc is not None
        self.scheduler.resync()
        self.gc.resync()
        if not full:
            return
        for key, queue in (
            ("deployments.apps", self.deployments.queue),
            ("replicasets.apps", self.replicasets.queue),
            ("daemonsets.apps", self.daemonsets.queue),
            ("services", self.endpoints.queue),
        ):
            for obj in self.cache[key].all():
                queue.add((namespace_of(obj), name_of(obj)))

    async def _resync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + max(RESYNC_SECONDS / self.speed, FULL_RESYNC_MIN_SECONDS)
        while True:
            await asyncio.sleep(RESYNC_SECONDS / self.speed)
            full = loop.time() >= next_full
            if full:
                next_full = loop.time() + max(RESYNC_SECONDS / self.speed, FULL_RESYNC_MIN_SECONDS)
            try:
                self.resync(full)
            except Exception:
                log.exception("lab controllers: resync failed")
