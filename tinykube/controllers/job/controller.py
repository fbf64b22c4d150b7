"""The Job controller's shell: gather a Job and its pods, apply core's and decide's plan.

Writes, in order, only when something changed: the status with newly finished pods in
uncountedTerminatedPods; the job-tracking finalizer off those pods; the status with
them counted; then pod creates and deletes (under Expectations, so a stale cache never
doubles them), the final status, and events. Pods that lost their Job keep no
finalizer: a pod event whose owner Job is gone queues the Job's key, and a sync of a
missing Job removes the finalizer from its leftover pods.
"""

from __future__ import annotations

import logging

from tinykube.api import errors
from tinykube.client import NORMAL, owner_uid_index, split_key
from tinykube.controllers import owned
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.expectations import Expectations
from tinykube.controllers.job import core
from tinykube.controllers.job.decide import decide
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

JOBS, PODS = ("batch/v1", "Job"), ("v1", "Pod")
OWNER_INDEX = "owner-uid"
JOB_CONTROLLER = "kubernetes.io/job-controller"


class JobController(Controller):
    name = "job"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.jobs = ctx.informers.informer(JOBS)
        self.pods = ctx.informers.informer(PODS, indexers={OWNER_INDEX: owner_uid_index})
        self.expectations = Expectations(ctx.clock)
        self.finalizers_removed: dict[str, set[str]] = {}  # job key -> pod uids in flight
        self.jobs.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                    on_delete=self._job_deleted)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    # --- handlers ------------------------------------------------------------------------

    def _job_key(self, pod: dict) -> str | None:
        ref = owned.controller_of(pod)
        if ref is None or ref.get("kind") != "Job" or not ref.get("apiVersion", "").startswith("batch/"):
            return None
        return f"{pod['metadata'].get('namespace')}/{ref['name']}"

    def _pod_added(self, pod: dict) -> None:
        key = self._job_key(pod)
        if key:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        key = self._job_key(new)
        if key:
            if not core.has_finalizer(new):
                self.finalizers_removed.get(key, set()).discard(new["metadata"]["uid"])
            if owned.is_terminating(new) and not owned.is_terminating(old):
                self.expectations.deletion_observed(key)
            self.queue.add(key)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._job_key(pod)
        if key:
            self.finalizers_removed.get(key, set()).discard(pod["metadata"]["uid"])
            if not owned.is_terminating(pod):
                self.expectations.deletion_observed(key)
            self.queue.add(key)

    def _job_deleted(self, job: dict) -> None:
        key = f"{job['metadata'].get('namespace')}/{job['metadata']['name']}"
        self.expectations.delete(key)
        self.queue.add(key)

    # --- sync ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        try:
            await self._sync(key)
        except errors.Conflict:
            # our cache is behind: the newer Job's watch event queues the key again
            log.debug("job %s: conflict, waiting for the newer version", key)

    async def _sync(self, key: str) -> None:
        namespace, name = split_key(key)
        job = self.jobs.store.get(key)
        if job is None:
            await self._release_orphans(namespace, name)
            self.finalizers_removed.pop(key, None)
            return
        if job["spec"].get("managedBy", JOB_CONTROLLER) != JOB_CONTROLLER:
            return  # another controller manages this Job's pods and status (spec.managedBy)
        job = jsonutil.deep_copy(job)
        pods = [p for p in self.pods.store.by_index(OWNER_INDEX, job["metadata"]["uid"]) if owned.owned_by(p, job)]
        job = await self._track(key, job, pods)
        if job["metadata"].get("deletionTimestamp"):
            return
        if not self.expectations.satisfied(key):
            return  # a stale cache: wait for the pods we created or deleted to show
        plan = decide(job, pods, self.clock.now())
        await self._apply(key, job, plan)

    async def _track(self, key: str, job: dict, pods: list[dict]) -> dict:
        """Steps 1 and 2 of core: record finished pods, drop their finalizers, count them."""
        in_flight = self.finalizers_removed.setdefault(key, set())
        recorded = core.record_finished(job, pods, skip_uids=frozenset(in_flight))
        if recorded is not None:
            job = await self._write_status(job, recorded)
        cleared = set()
        for pod in core.finalizers_to_remove(job, pods):
            if await self._remove_finalizer(pod):
                cleared.add(pod["metadata"]["uid"])
                in_flight.add(pod["metadata"]["uid"])
        counted = core.count_uncounted(job.get("status") or {}, pods, cleared)
        if counted != (job.get("status") or {}):
            job = await self._write_status(job, counted)
        return job

    async def _apply(self, key: str, job: dict, plan: core.JobPlan) -> None:
        self.expectations.expect(key, adds=len(plan.create), deletes=len(plan.delete))
        for i, pod in enumerate(plan.create):
            try:
                await self._create(key, job, pod)
            except Exception:
                for _ in plan.create[i:]:  # none of these will be seen: do not wait for them
                    self.expectations.creation_observed(key)
                raise
        for i, pod in enumerate(plan.delete):
            try:
                await self._delete(key, job, pod)
            except Exception:
                for _ in plan.delete[i:]:
                    self.expectations.deletion_observed(key)
                raise
        if plan.status != (job.get("status") or {}):
            await self._write_status(job, plan.status)
        for type_, reason, message in plan.events:
            self.recorder.record(job, type_, reason, message)
        if plan.requeue_after is not None:
            self.queue.add_after(key, max(plan.requeue_after, 0.05))

    # --- writes --------------------------------------------------------------------------

    async def _write_status(self, job: dict, status: dict) -> dict:
        return await self.client.update_status(JOBS, dict(job, status=status))

    async def _create(self, key: str, job: dict, pod: dict) -> None:
        created = await self.client.create(PODS, pod, namespace=job["metadata"]["namespace"])
        self.recorder.record(job, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete(self, key: str, job: dict, pod: dict) -> None:
        md = pod["metadata"]
        try:
            await self.client.delete(PODS, md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
        except errors.NotFound:
            self.expectations.deletion_observed(key)
            return
        self.recorder.record(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")

    async def _remove_finalizer(self, pod: dict) -> bool:
        """Patch the job-tracking finalizer off pod; False if the pod is gone already."""
        md = pod["metadata"]
        kept = [f for f in md.get("finalizers") or () if f != core.FINALIZER]
        # a JSON patch with a test on the uid and the list: never drops another's finalizer
        patch = [{"op": "test", "path": "/metadata/uid", "value": md["uid"]},
                 {"op": "test", "path": "/metadata/finalizers", "value": md.get("finalizers")},
                 {"op": "replace", "path": "/metadata/finalizers", "value": kept}]
        try:
            await self.client.patch(PODS, md["name"], patch, namespace=md["namespace"], patch_type="json")
        except errors.NotFound:
            pass  # gone already: untracked all the same
        return True

    async def _release_orphans(self, namespace: str, name: str) -> None:
        """A deleted Job's pods must not keep its finalizer forever."""
        for pod in self.pods.store.by_index("namespace", namespace):
            ref = owned.controller_of(pod)
            if ref and ref.get("kind") == "Job" and ref.get("name") == name and core.has_finalizer(pod):
                job = self.jobs.store.get(f"{namespace}/{name}")
                if job is None or job["metadata"]["uid"] != ref.get("uid"):  # gone, or a new Job of that name
                    await self._remove_finalizer(pod)
