"""The Deployment controller's shell: informers, claims, and the writes the plans ask for.

One sync, as upstream's syncDeployment: claim the ReplicaSets the selector matches
(adopt orphans, release strays), then, in order: status only while being deleted;
the paused/resumed Progressing condition; a paused Deployment or a pure scale
(replicas changed) only resizes ReplicaSets proportionally; otherwise one step of the
Recreate or RollingUpdate strategy, clean-up of old ReplicaSets beyond
revisionHistoryLimit once complete, and the rollout status. Every write is the
minimum: ReplicaSets are updated only when their size or annotations change, status
only when it differs. ReplicaSet writes carry the cached resourceVersion: a stale
cache gets a Conflict and the sync is retried.
"""

from __future__ import annotations

import logging

from tinykube.api import errors
from tinykube.client import NORMAL, WARNING, split_key
from tinykube.controllers import podutil
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.deployment import progress, recreate, revisions, rolling, scaling
from tinykube.controllers.deployment.revisions import replicas
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

DEPLOYMENTS = ("apps/v1", "Deployment")
REPLICASETS = ("apps/v1", "ReplicaSet")
PODS = ("v1", "Pod")


class DeploymentController(Controller):
    name = "deployment"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.d_informer = ctx.informers.informer(DEPLOYMENTS)
        self.rs_informer = ctx.informers.informer(REPLICASETS)
        self.pod_informer = ctx.informers.informer(PODS)
        self.d_informer.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.rs_informer.add_event_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_event_handler(on_delete=self._pod_deleted)

    # --- event handlers ----------------------------------------------------------------------

    def _deployment_of(self, obj: dict, ref: dict | None) -> dict | None:
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.d_informer.store.get_by_name(podutil.meta(obj).get("namespace", ""), ref.get("name", ""))
        return d if d is not None and podutil.meta(d).get("uid") == ref.get("uid") else None

    def _enqueue_matching(self, rs: dict) -> None:
        labels = podutil.meta(rs).get("labels") or {}
        for d in self.d_informer.store.by_index("namespace", podutil.meta(rs).get("namespace", "")):
            if podutil.selector_of(d).matches(labels):
                self.enqueue(d)

    def _rs_added(self, rs: dict) -> None:
        d = self._deployment_of(rs, podutil.controller_of(rs))
        if d is not None:
            self.enqueue(d)
        elif podutil.controller_of(rs) is None:
            self._enqueue_matching(rs)

    def _rs_updated(self, old: dict, new: dict) -> None:
        old_ref, new_ref = podutil.controller_of(old), podutil.controller_of(new)
        if old_ref != new_ref:
            d = self._deployment_of(old, old_ref)
            if d is not None:
                self.enqueue(d)
        if new_ref is not None:
            d = self._deployment_of(new, new_ref)
            if d is not None:
                self.enqueue(d)
        elif old_ref != new_ref or podutil.meta(old).get("labels") != podutil.meta(new).get("labels"):
            self._enqueue_matching(new)

    def _rs_deleted(self, rs: dict) -> None:
        d = self._deployment_of(rs, podutil.controller_of(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: dict) -> None:
        """Recreate waits for old pods to be gone: look again when one goes."""
        ref = podutil.controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.store.get_by_name(podutil.meta(pod).get("namespace", ""), ref.get("name", ""))
        d = self._deployment_of(rs, podutil.controller_of(rs)) if rs else None
        if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # --- sync ----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self.d_informer.store.get(key)
        if cached is None:
            return
        d = jsonutil.deep_copy(cached)
        if (d.get("spec") or {}).get("selector") == {}:
            await self._selecting_all(d)
            return
        rss = await self._claim_replica_sets(d)
        if podutil.meta(d).get("deletionTimestamp"):
            await self._sync_status_only(d, rss)
            return
        await self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused") or scaling.is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
        elif ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            await self._rollout_recreate(key, d, rss)
        else:
            await self._rollout_rolling(key, d, rss)

    async def _selecting_all(self, d: dict) -> None:
        self.recorder.record(d, WARNING, "SelectingAll",
                             "This deployment is selecting all pods. A non-empty selector is required.")
        status = d.setdefault("status", {})
        generation = podutil.meta(d).get("generation") or 0
        if (status.get("observedGeneration") or 0) < generation:
            status["observedGeneration"] = generation
            await self._write_status(d)

    async def _claim_replica_sets(self, d: dict) -> list[dict]:
        namespace = podutil.meta(d).get("namespace", "")
        selector = podutil.selector_of(d)

        async def can_adopt() -> None:
            fresh = await self.client.get(DEPLOYMENTS, podutil.meta(d)["name"], namespace=namespace)
            podutil.recheck_owner(fresh, d)

        candidates = self.rs_informer.store.by_index("namespace", namespace)
        return await podutil.claim(self.client, REPLICASETS, d, candidates,
                                   lambda rs: selector.matches(podutil.meta(rs).get("labels") or {}), can_adopt)

    # --- strategies -------------------------------------------------------------------------------

    async def _rollout_rolling(self, key: str, d: dict, rss: list[dict]) -> None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=True)
        all_rss = [*old_rss, new_rs] if new_rs else list(old_rss)
        if await self._reconcile_new_rs(d, all_rss, new_rs) or \
                await self._reconcile_old_rss(d, all_rss, [rs for rs in old_rss if replicas(rs)], new_rs):
            await self._sync_rollout_status(key, d, all_rss, new_rs)
            return
        if progress.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(key, d, all_rss, new_rs)

    async def _reconcile_new_rs(self, d: dict, all_rss: list[dict], new_rs: dict | None) -> bool:
        if new_rs is None or replicas(new_rs) == rolling.desired(d):
            return False
        if replicas(new_rs) > rolling.desired(d):
            target = rolling.desired(d)
        else:
            target = rolling.new_rs_new_replicas(d, all_rss, new_rs)
        scaled, _ = await self._scale_and_record(d, new_rs, target)
        return scaled

    async def _reconcile_old_rss(self, d: dict, all_rss: list[dict], old_rss: list[dict],
                                 new_rs: dict | None) -> bool:
        if rolling.total_replicas(old_rss) == 0:
            return False
        budget = rolling.max_scaled_down(d, all_rss, new_rs)
        if budget <= 0:
            return False
        total = 0
        for rs, count in rolling.cleanup_unhealthy_plan(old_rss, budget):
            await self._scale_and_record(d, rs, count)
            total += replicas(rs) - count
            old_rss = [rolling.with_replicas(r, count) if r is rs else r for r in old_rss]
        all_rss = [*old_rss, new_rs] if new_rs else old_rss
        for rs, count in rolling.scale_down_old_plan(d, all_rss, old_rss):
            await self._scale_and_record(d, rs, count)
            total += replicas(rs) - count
        return total > 0

    async def _rollout_recreate(self, key: str, d: dict, rss: list[dict]) -> None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        all_rss = [*old_rss, new_rs] if new_rs else list(old_rss)
        plan = recreate.scale_down_plan(old_rss)
        for rs, count in plan:
            await self._scale_and_record(d, rs, count)
        if plan or recreate.old_pods_running(new_rs, old_rss, self._pods_by_rs(d, rss)):
            await self._sync_rollout_status(key, d, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = await self._new_and_old(d, rss, create=True)
            all_rss = [*old_rss, new_rs]
        await self._scale_and_record(d, new_rs, rolling.desired(d))
        if progress.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(key, d, all_rss, new_rs)

    def _pods_by_rs(self, d: dict, rss: list[dict]) -> dict[str, list[dict]]:
        """getPodMapForDeployment: the selector's pods by the uid of their ReplicaSet."""
        by_uid: dict[str, list[dict]] = {podutil.meta(rs).get("uid"): [] for rs in rss}
        selector = podutil.selector_of(d)
        for pod in self.pod_informer.store.by_index("namespace", podutil.meta(d).get("namespace", "")):
            ref = podutil.controller_of(pod)
            if ref and ref.get("uid") in by_uid and selector.matches(podutil.meta(pod).get("labels") or {}):
                by_uid[ref["uid"]].append(pod)
        return by_uid

    async def _sync_scale(self, d: dict, rss: list[dict]) -> None:
        """dc.sync: resize only (a paused Deployment, or replicas changed), then status."""
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        for rs, count in scaling.scale_plan(d, new_rs, old_rss):
            await self._scale(d, rs, count, "up" if count > replicas(rs) else "down")
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old_rss)
        all_rss = [*old_rss, new_rs] if new_rs else list(old_rss)
        await self._sync_status_only(d, all_rss, new_rs=new_rs, split=False)

    async def _sync_status_only(self, d: dict, rss: list[dict], *, new_rs: dict | None = None,
                                split: bool = True) -> None:
        if split:
            new_rs = revisions.find_new_rs(d, rss)
        status = progress.calculate_status(rss, new_rs, d, self.clock.now())
        if not progress.same_status(d.get("status") or {}, status):
            d["status"] = status
            await self._write_status(d)

    async def _sync_rollout_status(self, key: str, d: dict, all_rss: list[dict], new_rs: dict | None) -> None:
        now = self.clock.now()
        status = progress.rollout_status(d, all_rss, new_rs, now)
        if progress.same_status(d.get("status") or {}, status):
            after = progress.requeue_after(d, status, now)
            if after is not None:
                self.queue.add_after(key, after)
            return
        d["status"] = status
        await self._write_status(d)

    async def _check_paused_conditions(self, d: dict) -> None:
        status = progress.paused_condition_status(d, self.clock.now())
        if status is not None:
            d["status"] = status
            await self._write_status(d)

    # --- the new ReplicaSet ---------------------------------------------------------------------

    async def _new_and_old(self, d: dict, rss: list[dict], *, create: bool) -> tuple[dict | None, list[dict]]:
        """getAllReplicaSetsAndSyncRevision."""
        existing = revisions.find_new_rs(d, rss)
        old_rss = [rs for rs in rss if rs is not existing]
        new_revision = revisions.max_revision(old_rss) + 1
        if existing is not None:
            return await self._sync_new_rs(d, existing, new_revision), old_rss
        if not create:
            return None, old_rss
        return await self._create_new_rs(d, old_rss, new_revision), old_rss

    def _replica_annotations(self, d: dict) -> tuple[int, int]:
        return rolling.desired(d), rolling.desired(d) + rolling.max_surge(d)

    async def _sync_new_rs(self, d: dict, existing: dict, new_revision: int) -> dict:
        rs = jsonutil.deep_copy(existing)
        want, most = self._replica_annotations(d)
        changed = revisions.set_new_rs_annotations(d, rs, new_revision, exists=True, desired=want, max_replicas=most)
        min_ready = (d.get("spec") or {}).get("minReadySeconds") or 0
        if changed or ((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            return await self.client.update(REPLICASETS, rs)
        needs_update = self._set_revision(d, (podutil.meta(rs).get("annotations") or {}).get(revisions.REVISION, ""))
        status = d.setdefault("status", {})
        if progress.has_progress_deadline(d) and progress.get_condition(status, progress.PROGRESSING) is None:
            progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "True", progress.FOUND_NEW_RS_REASON,
                f'Found new replica set "{podutil.meta(rs)["name"]}"', self.clock.now()))
            needs_update = True
        if needs_update:
            await self._write_status(d)
        return rs

    async def _create_new_rs(self, d: dict, old_rss: list[dict], new_revision: int) -> dict:
        status = d.setdefault("status", {})
        template_hash = revisions.compute_hash(d["spec"].get("template") or {}, status.get("collisionCount"))
        new_rs = revisions.new_rs_object(d, template_hash, 0)
        new_rs["spec"]["replicas"] = rolling.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        want, most = self._replica_annotations(d)
        revisions.set_new_rs_annotations(d, new_rs, new_revision, exists=False, desired=want, max_replicas=most)
        name = new_rs["metadata"]["name"]
        already = False
        try:
            created = await self.client.create(REPLICASETS, new_rs)
        except errors.AlreadyExists:
            created = await self._existing_new_rs(d, new_rs)
            already = True
        except errors.ApiError as e:
            await self._report_create_failure(d, name, e)
            raise
        count = replicas(created)
        if not already and count > 0:
            self.recorder.record(d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = self._set_revision(d, str(new_revision))
        if not already and progress.has_progress_deadline(d):
            progress.set_condition(status, progress.new_condition(
                progress.PROGRESSING, "True", progress.NEW_RS_REASON, f'Created new replica set "{name}"',
                self.clock.now()))
            needs_update = True
        if needs_update:
            await self._write_status(d)
        return created

    async def _existing_new_rs(self, d: dict, new_rs: dict) -> dict:
        """The name is taken: ours (a slow cache), or a hash collision — then bump
        collisionCount so the next sync picks another name, and fail this one."""
        md = new_rs["metadata"]
        rs = self.rs_informer.store.get_by_name(md["namespace"], md["name"]) or \
            await self.client.get(REPLICASETS, md["name"], namespace=md["namespace"])
        ref = podutil.controller_of(rs)
        if ref and ref.get("uid") == podutil.meta(d).get("uid") and revisions.equal_ignore_hash(
                d["spec"].get("template") or {}, (rs.get("spec") or {}).get("template") or {}):
            return rs
        status = d.setdefault("status", {})
        status["collisionCount"] = (status.get("collisionCount") or 0) + 1
        await self._write_status(d)
        raise errors.already_exists("replicasets", md["name"], "apps")

    async def _report_create_failure(self, d: dict, name: str, e: errors.ApiError) -> None:
        causes = (e.details or {}).get("causes") or ()
        if any(c.get("reason") == "NamespaceTerminating" for c in causes):
            return
        msg = f'Failed to create new replica set "{name}": {e}'
        if progress.has_progress_deadline(d):
            progress.set_condition(d.setdefault("status", {}), progress.new_condition(
                progress.PROGRESSING, "False", progress.FAILED_RS_CREATE_REASON, msg, self.clock.now()))
            try:
                await self._write_status(d)
            except errors.ApiError:
                pass  # the create failure is the error to report
        self.recorder.record(d, WARNING, progress.FAILED_RS_CREATE_REASON, msg)

    @staticmethod
    def _set_revision(d: dict, revision: str) -> bool:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(revisions.REVISION) == revision:
            return False
        annotations[revisions.REVISION] = revision
        return True

    # --- writes -------------------------------------------------------------------------------------

    async def _scale_and_record(self, d: dict, rs: dict, count: int) -> tuple[bool, dict]:
        if replicas(rs) == count:
            return False, rs
        return await self._scale(d, rs, count, "up" if replicas(rs) < count else "down")

    async def _scale(self, d: dict, rs: dict, count: int, operation: str) -> tuple[bool, dict]:
        """scaleReplicaSet: write when the size or the replicas annotations change."""
        want, most = self._replica_annotations(d)
        resize = replicas(rs) != count
        if not resize and not revisions.replicas_annotations_need_update(rs, want, most):
            return False, rs
        new = jsonutil.deep_copy(rs)
        new["spec"]["replicas"] = count
        revisions.set_replicas_annotations(new, want, most)
        updated = await self.client.update(REPLICASETS, new)
        if resize:
            self.recorder.record(d, NORMAL, "ScalingReplicaSet",
                                 f"Scaled {operation} replica set {podutil.meta(rs)['name']} "
                                 f"from {replicas(rs)} to {count}")
        return resize, updated

    async def _cleanup(self, d: dict, old_rss: list[dict]) -> None:
        for rs in revisions.rss_to_clean_up(d, old_rss):
            md = podutil.meta(rs)
            try:
                await self.client.delete(REPLICASETS, md["name"], namespace=md.get("namespace", ""),
                                         preconditions={"uid": md.get("uid")})
            except errors.NotFound:
                pass

    async def _write_status(self, d: dict) -> None:
        """UpdateStatus with the annotations too (a status write keeps metadata, as the
        revision annotation needs), keeping d current for the rest of the sync."""
        written = await self.client.update_status(DEPLOYMENTS, d)
        d["metadata"] = written["metadata"]
        d["status"] = written.get("status") or {}


def deployment_key(d: dict) -> str:
    namespace, name = podutil.meta(d).get("namespace", ""), podutil.meta(d).get("name", "")
    return f"{namespace}/{name}" if namespace else name


__all__ = ["DeploymentController", "deployment_key", "split_key"]
