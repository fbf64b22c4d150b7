"""The TTL-after-finished controller: a finished Job with ttlSecondsAfterFinished is
deleted (propagationPolicy Background, so the garbage collector removes its pods) that
many seconds after it finished.

`expires_at(job)` is the pure part: when a Job is due, or None when it never is (not
finished, or no TTL). The shell requeues a Job for the moment it expires, re-reads it
from the API server first (its TTL may have been changed or removed) and deletes it
with a resourceVersion precondition, as upstream does.
"""

from __future__ import annotations

import datetime

from tinykube.api import errors
from tinykube.client import split_key
from tinykube.controllers import owned
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.job import core

JOBS = ("batch/v1", "Job")


def finish_time(job: dict) -> datetime.datetime | None:
    kind = core.finished_condition(job)
    if kind is None:
        return None
    cond = owned.condition(job, kind) or {}
    return owned.parse_time(cond.get("lastTransitionTime")) or owned.parse_time(job["status"].get("completionTime"))


def expires_at(job: dict) -> datetime.datetime | None:
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or job["metadata"].get("deletionTimestamp"):
        return None
    finished = finish_time(job)
    return finished + datetime.timedelta(seconds=ttl) if finished else None


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.jobs = ctx.informers.informer(JOBS)
        self.jobs.add_event_handler(on_add=self._maybe_enqueue, on_update=lambda old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, job: dict) -> None:
        if expires_at(job) is not None:
            self.enqueue(job)

    async def sync(self, key: str) -> None:
        cached = self.jobs.store.get(key)
        if cached is None or not self._due(cached):
            return
        namespace, name = split_key(key)
        try:  # the cache may be stale: decide on the current object
            job = await self.client.get(JOBS, name, namespace=namespace)
        except errors.NotFound:
            return
        if not self._due(job):
            return
        try:
            await self.client.delete(JOBS, name, namespace=namespace, propagation_policy="Background",
                                     preconditions={"resourceVersion": job["metadata"]["resourceVersion"]})
        except errors.NotFound:
            pass

    def _due(self, job: dict) -> bool:
        """True when job's TTL is over; else it is requeued for when it will be."""
        at = expires_at(job)
        if at is None:
            return False
        left = (at - self.clock.now()).total_seconds()
        if left > 0:
            self.queue.add_after(f"{job['metadata']['namespace']}/{job['metadata']['name']}", left)
            return False
        return True
