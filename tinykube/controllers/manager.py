"""ControllerManager: every controller in one process, acting only while it leads.

`CONTROLLERS` names each controller's class by import path; a controller is enabled
unless `disabled` names it (kube-controller-manager's --controllers=-name). The manager
waits for the `kube-controller-manager` Lease in kube-system, then starts the shared
informers, the event recorder and every controller; losing the lease stops them all
(and `run` then campaigns again), so two managers never act at once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import uuid

from tinykube.client import ApiClient, EventRecorder, InformerFactory, LeaderElector
from tinykube.controllers.base import Controller, ControllerContext, ControllerOptions

log = logging.getLogger(__name__)

# name -> "module:Class"; each controller adds itself here
CONTROLLERS: dict[str, str] = {
    "endpointslice": "tinykube.controllers.endpointslice:EndpointSliceController",
    "endpoints": "tinykube.controllers.endpoints:EndpointsController",
    "servicelb": "tinykube.controllers.servicelb:ServiceLBController",
    "namespace": "tinykube.controllers.namespace:NamespaceController",
    "serviceaccount": "tinykube.controllers.serviceaccount:ServiceAccountController",
    "garbagecollector": "tinykube.controllers.garbagecollector:GarbageCollector",
    "nodelifecycle": "tinykube.controllers.nodelifecycle:NodeLifecycleController",
    "podgc": "tinykube.controllers.podgc:PodGC",
    "job": "tinykube.controllers.job.controller:JobController",
    "ttl-after-finished": "tinykube.controllers.job.ttl:TTLAfterFinishedController",
    "statefulset": "tinykube.controllers.statefulset:StatefulSetController",
    "daemonset": "tinykube.controllers.daemonset:DaemonSetController",
    "cronjob": "tinykube.controllers.cronjob:CronJobController",
    "replicaset": "tinykube.controllers.replicaset:ReplicaSetController",
    "deployment": "tinykube.controllers.deployment.controller:DeploymentController",
    "disruption": "tinykube.controllers.disruption:DisruptionController",
}


def controller_class(name: str) -> type[Controller]:
    module, _, cls = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class ControllerManager:
    def __init__(self, client: ApiClient, *, options: ControllerOptions | None = None,
                 disabled: frozenset[str] = frozenset(), leader_elect: bool = True,
                 identity: str = ""):
        self.client = client
        self.options = options or ControllerOptions()
        self.disabled = disabled
        self.leader_elect = leader_elect
        self.identity = identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.controllers: dict[str, Controller] = {}

    async def run(self) -> None:
        """Lead, run every controller, and campaign again if the lease is lost."""
        if not self.leader_elect:
            await self._run_controllers()
            return
        elector = LeaderElector(self.client, name="kube-controller-manager", identity=self.identity,
                                release_on_cancel=True)
        while True:
            try:
                await elector.run(self._run_controllers)
            except asyncio.CancelledError:
                raise
            except Exception:  # logged by _until_one_fails or the elector; campaign again
                log.exception("controller manager: restarting the controllers")
                await asyncio.sleep(1.0)

    async def _run_controllers(self) -> None:
        informers = InformerFactory(self.client)
        recorder = EventRecorder(self.client, component="controller-manager")
        ctx = ControllerContext(client=self.client, informers=informers, recorder=recorder,
                                options=self.options)
        self.controllers = {name: controller_class(name)(ctx)
                            for name in CONTROLLERS if name not in self.disabled}
        log.info("controller manager: running %s", ", ".join(sorted(self.controllers)))
        tasks = [asyncio.create_task(informers.run(), name="informers"),
                 asyncio.create_task(recorder.run(), name="event recorder")]
        tasks += [asyncio.create_task(c.run(), name=f"controller {name}") for name, c in self.controllers.items()]
        try:
            await _until_one_fails(tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _until_one_fails(tasks: list[asyncio.Task]) -> None:
    """Wait for all; a task that raises is logged and stops the whole set (the caller
    restarts it), since a controller that stopped silently would be worse."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if task.exception() is not None:
            log.error("controller manager: %s failed", task.get_name(), exc_info=task.exception())
            raise task.exception()
