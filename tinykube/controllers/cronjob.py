"""The CronJob controller: a Job at each scheduled time, upstream's cronjob v2 controller.

Pure core: `most_recent_unmet(...)` (the latest schedule time not yet started, counting
the misses; startingDeadlineSeconds bounds how far back it looks), `job_for(cj, t)`
(the Job named `<cronjob>-<minutes since the epoch of t>`), `reconcile_active(...)`
(status.active and lastSuccessfulTime from the Jobs seen) and `history_to_delete(...)`
(finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit). The shell
writes, then requeues the CronJob for its next schedule time: no polling.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from tinykube.api import cron, errors
from tinykube.client import NORMAL, WARNING, owner_uid_index
from tinykube.controllers import owned
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

CRONJOBS, JOBS = ("batch/v1", "CronJob"), ("batch/v1", "Job")
OWNER_INDEX = "owner-uid"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
NEXT_SYNC_SLACK = 0.1  # upstream's nextScheduleDelta


@dataclass(frozen=True)
class Unmet:
    time: datetime.datetime | None  # the most recent schedule time not yet started
    missed: int


# --- pure core -------------------------------------------------------------------------------


def schedule_of(cj: dict) -> cron.Schedule:
    return cron.parse(cj["spec"].get("schedule", ""), cj["spec"].get("timeZone"))


def most_recent_unmet(cj: dict, schedule: cron.Schedule, now: datetime.datetime) -> Unmet:
    status, spec = cj.get("status") or {}, cj["spec"]
    earliest = owned.parse_time(status.get("lastScheduleTime")) or owned.parse_time(cj["metadata"].get("creationTimestamp"))
    earliest = earliest or now
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - datetime.timedelta(seconds=deadline))
    first = schedule.next(earliest)
    if first is None or first > now:
        return Unmet(None, 0)
    latest, missed, t = None, 0, first
    while t is not None and t <= now and missed <= TOO_MANY_MISSED:
        latest, missed, t = t, missed + 1, schedule.next(t)
    if t is None or t > now:
        return Unmet(latest, missed)
    # more than 100 missed: estimate the count as upstream does, find the latest from near now
    period = max((schedule.next(first) or now) - first, datetime.timedelta(minutes=1))
    return Unmet(_latest_before(schedule, first, now), int((now - first) / period) + 1)


def _latest_before(schedule: cron.Schedule, start: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """The last activation at or before now, walking only a short window back from now."""
    for window in (3600, 86400, 32 * 86400, 366 * 86400, 6 * 366 * 86400):
        t = schedule.next(max(start, now - datetime.timedelta(seconds=window)))
        if t is not None and t <= now:
            latest = t
            while (t := schedule.next(t)) is not None and t <= now:
                latest = t
            return latest
    return start


def job_name(cj: dict, scheduled: datetime.datetime) -> str:
    return f"{cj['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def job_for(cj: dict, scheduled: datetime.datetime, schedule: cron.Schedule) -> dict:
    template = jsonutil.deep_copy(cj["spec"].get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = scheduled.astimezone(schedule.zone).isoformat().replace("+00:00", "Z")
    md = {"name": job_name(cj, scheduled), "namespace": cj["metadata"]["namespace"],
          "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
          "ownerReferences": [owned.controller_ref(cj)]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md, "spec": template.get("spec") or {}}


def job_finished(job: dict) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


def job_ref(job: dict) -> dict:
    md = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"], "namespace": md["namespace"],
            "uid": md["uid"], "resourceVersion": md.get("resourceVersion", "")}


def reconcile_active(status: dict, jobs: list[dict]) -> tuple[dict, list[tuple[str, str, str]]]:
    """status.active = the unfinished Jobs; lastSuccessfulTime from finished ones; events
    for Jobs seen finishing."""
    status = jsonutil.deep_copy(status)
    was_active = {ref.get("uid") for ref in status.get("active") or ()}
    events = []
    active = []
    for job in sorted(jobs, key=lambda j: j["metadata"]["name"]):
        outcome = job_finished(job)
        if outcome is None:
            active.append(job_ref(job))
            continue
        if job["metadata"]["uid"] in was_active:
            events.append((NORMAL, "SawCompletedJob", f"Saw completed job: {job['metadata']['name']}, condition: {outcome}"))
        completed = (job.get("status") or {}).get("completionTime")
        if outcome == "Complete" and completed and completed > (status.get("lastSuccessfulTime") or ""):
            status["lastSuccessfulTime"] = completed
    if active:
        status["active"] = active
    else:
        status.pop("active", None)
    return status, events


def history_to_delete(cj: dict, jobs: list[dict]) -> list[dict]:
    spec = cj["spec"]
    out = []
    for outcome, limit in (("Complete", spec.get("successfulJobsHistoryLimit")), ("Failed", spec.get("failedJobsHistoryLimit"))):
        if limit is None:
            continue
        done = sorted((j for j in jobs if job_finished(j) == outcome and not j["metadata"].get("deletionTimestamp")),
                      key=lambda j: ((j.get("status") or {}).get("startTime") or j["metadata"].get("creationTimestamp") or ""))
        out += done[:max(0, len(done) - limit)]
    return out


# --- shell -----------------------------------------------------------------------------------


class CronJobController(Controller):
    name = "cronjob"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.cronjobs = ctx.informers.informer(CRONJOBS)
        self.jobs = ctx.informers.informer(JOBS, indexers={OWNER_INDEX: owner_uid_index})
        self.cronjobs.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.jobs.add_event_handler(on_add=self._job_event, on_update=lambda old, new: self._job_event(new),
                                    on_delete=self._job_event)

    def _job_event(self, job: dict) -> None:
        ref = owned.controller_of(job)
        if ref and ref.get("kind") == "CronJob":
            self.queue.add(f"{job['metadata']['namespace']}/{ref['name']}")

    async def sync(self, key: str) -> None:
        cj = self.cronjobs.store.get(key)
        if cj is None:
            return
        cj = jsonutil.deep_copy(cj)
        jobs = [j for j in self.jobs.store.by_index(OWNER_INDEX, cj["metadata"]["uid"]) if owned.owned_by(j, cj)]
        status, events = reconcile_active(cj.get("status") or {}, jobs)
        for event in events:
            self.recorder.record(cj, *event)
        if cj["metadata"].get("deletionTimestamp"):
            return
        try:
            schedule = schedule_of(cj)
        except cron.CronError as exc:
            reason = "UnknownTimeZone" if "time zone" in str(exc) else "InvalidSchedule"
            self.recorder.record(cj, WARNING, reason, f"invalid schedule: {cj['spec'].get('schedule')} : {exc}")
            await self._write_status(cj, status)
            return
        status = await self._maybe_start(cj, dict(cj, status=status), jobs, schedule)
        await self._clean_history(cj, jobs)
        await self._write_status(cj, status)
        self._requeue(key, cj, schedule)

    async def _maybe_start(self, cj: dict, current: dict, jobs: list[dict], schedule: cron.Schedule) -> dict:
        status = current["status"]
        if cj["spec"].get("suspend"):
            return status
        now = self.clock.now()
        unmet = most_recent_unmet(current, schedule, now)
        if unmet.missed > TOO_MANY_MISSED:
            self.recorder.record(cj, WARNING, "TooManyMissedTimes", f"too many missed start times: {unmet.missed}. "
                                 "Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        t = unmet.time
        if t is None:
            return status
        deadline = cj["spec"].get("startingDeadlineSeconds")
        if deadline is not None and t + datetime.timedelta(seconds=deadline) < now:
            self.recorder.record(cj, WARNING, "MissSchedule",
                                 f"Missed scheduled time to start a job: {t.strftime('%a, %d %b %Y %H:%M:%S +0000')}")
            return status
        if any(j["metadata"]["name"] == job_name(cj, t) for j in jobs):
            return dict(status, lastScheduleTime=owned.format_time(t))
        active = [j for j in jobs if job_finished(j) is None]
        policy = cj["spec"].get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            self.recorder.record(cj, NORMAL, "JobAlreadyActive",
                                 "Not starting job because prior execution is running and concurrency policy is Forbid")
            return status
        if policy == "Replace":
            for job in active:
                await self._delete_job(cj, job)
            status = dict(status)
            status.pop("active", None)
        return await self._start(cj, status, t, schedule)

    async def _start(self, cj: dict, status: dict, t: datetime.datetime, schedule: cron.Schedule) -> dict:
        try:
            job = await self.client.create(JOBS, job_for(cj, t, schedule), namespace=cj["metadata"]["namespace"])
        except errors.AlreadyExists:
            job = await self.client.get(JOBS, job_name(cj, t), namespace=cj["metadata"]["namespace"])
            if not owned.owned_by(job, cj):
                raise
        else:
            self.recorder.record(cj, NORMAL, "SuccessfulCreate", f"Created job {job['metadata']['name']}")
        status = dict(status, lastScheduleTime=owned.format_time(t))
        refs = [r for r in status.get("active") or () if r.get("uid") != job["metadata"]["uid"]]
        status["active"] = refs + [job_ref(job)]
        return status

    async def _delete_job(self, cj: dict, job: dict) -> None:
        try:
            await self.client.delete(JOBS, job["metadata"]["name"], namespace=job["metadata"]["namespace"],
                                     propagation_policy="Background")
        except errors.NotFound:
            return
        self.recorder.record(cj, NORMAL, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")

    async def _clean_history(self, cj: dict, jobs: list[dict]) -> None:
        for job in history_to_delete(cj, jobs):
            await self._delete_job(cj, job)

    async def _write_status(self, cj: dict, status: dict) -> None:
        await owned.write_status(self.client, CRONJOBS, cj, status)

    def _requeue(self, key: str, cj: dict, schedule: cron.Schedule) -> None:
        if cj["spec"].get("suspend"):
            return
        now = self.clock.now()
        t = schedule.next(now)
        if t is not None:
            self.queue.add_after(key, (t - now).total_seconds() + NEXT_SYNC_SLACK)

