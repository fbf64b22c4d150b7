"""CronJob controller tables with a FakeClock: which Job starts when, concurrency, history."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from tinykube.api import cron
from tinykube.controllers.cronjob import CronJobController, history_to_delete, job_name, most_recent_unmet

from .workload_fakes import NOW, make, writes

UID = "cj-uid"
UTC = datetime.timezone.utc


def cronjob(schedule="*/5 * * * *", *, status=None, created="2024-01-01T11:00:00Z", **spec):
    base = {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"team": "a"}},
                            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                           "restartPolicy": "Never"}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "default", "uid": UID, "creationTimestamp": created},
            "spec": base, "status": status or {}}


def job(name, outcome=None, start="2024-01-01T11:00:00Z"):
    status = {"startTime": start}
    if outcome:
        status["conditions"] = [{"type": outcome, "status": "True"}]
        if outcome == "Complete":
            status["completionTime"] = start
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                              "uid": UID, "controller": True}]},
            "spec": {}, "status": status}


def sync(*objects):
    controller, client = make(CronJobController, *objects)
    asyncio.run(controller.sync("default/hello"))
    return controller, client


def status_of(client):
    return client._objects[("batch", "cronjobs", "default", "hello")]["status"]


def test_starts_the_job_of_the_most_recent_schedule_time():
    controller, client = sync(cronjob(status={"lastScheduleTime": "2024-01-01T11:55:00Z"}))
    created = writes(client, "create")
    name = f"hello-{int(NOW.timestamp()) // 60}"
    assert [a.name for a in created] == [name]
    body = created[0].body
    assert body["metadata"]["labels"] == {"team": "a"}
    assert body["metadata"]["annotations"] == {"batch.kubernetes.io/cronjob-scheduled-timestamp": "2024-01-01T12:00:00Z"}
    assert body["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    status = status_of(client)
    assert status["lastScheduleTime"] == "2024-01-01T12:00:00Z" and [r["name"] for r in status["active"]] == [name]
    assert controller.recorder.events == [("hello", "Normal", "SuccessfulCreate", f"Created job {name}")]
    # requeued for 12:05 (+0.1 s), not polled
    assert controller.clock.pending == 1


def test_nothing_due_requeues_for_the_next_time():
    controller, client = sync(cronjob("0 * * * *", status={"lastScheduleTime": "2024-01-01T12:00:00Z"}))
    assert client.writes() == [] and controller.clock.pending == 1
    controller.clock.advance(3599.0)
    assert len(controller.queue) == 0
    controller.clock.advance(1.2)
    assert len(controller.queue) == 1


def test_forbid_skips_while_a_job_runs():
    controller, client = sync(cronjob(concurrencyPolicy="Forbid", status={"lastScheduleTime": "2024-01-01T11:55:00Z"}),
                              job("hello-old"))
    assert writes(client, "create") == []
    assert "JobAlreadyActive" in [e[2] for e in controller.recorder.events]


def test_replace_deletes_the_running_job_first():
    _, client = sync(cronjob(concurrencyPolicy="Replace", status={"lastScheduleTime": "2024-01-01T11:55:00Z"}),
                     job("hello-old"))
    assert [(a.verb, a.plural, a.name) for a in writes(client, "delete", "create")] == [
        ("delete", "jobs", "hello-old"), ("create", "jobs", f"hello-{int(NOW.timestamp()) // 60}")]


def test_suspended_starts_nothing():
    controller, client = sync(cronjob(suspend=True, status={"lastScheduleTime": "2024-01-01T11:00:00Z"}))
    assert writes(client, "create") == [] and controller.clock.pending == 0


def test_starting_deadline_missed():
    # last ran 11:00, schedule every 5 minutes; 12:00 is due, deadline 10 s: still in time
    _, client = sync(cronjob(startingDeadlineSeconds=10, status={"lastScheduleTime": "2024-01-01T11:00:00Z"}))
    assert len(writes(client, "create")) == 1
    hourly = cronjob("59 * * * *", startingDeadlineSeconds=30, status={"lastScheduleTime": "2024-01-01T10:59:00Z"})
    unmet = most_recent_unmet(hourly, cron.parse("59 * * * *"), NOW)
    assert unmet.time is None  # 11:59 is more than 30 s ago: not even looked at


def test_too_many_missed_start_times_warns_and_runs_the_latest():
    controller, client = sync(cronjob("* * * * *", status={"lastScheduleTime": "2023-12-31T00:00:00Z"}))
    reasons = [e[2] for e in controller.recorder.events]
    assert reasons == ["TooManyMissedTimes", "SuccessfulCreate"]
    assert controller.recorder.events[0][3].startswith("too many missed start times: 21")
    assert [a.name for a in writes(client, "create")] == [job_name(cronjob(), NOW)]


def test_finished_jobs_leave_active_and_set_last_successful_time():
    done = job("hello-1", "Complete", start="2024-01-01T11:30:00Z")
    cj = cronjob("0 0 1 1 *", status={"active": [{"name": "hello-1", "uid": "uid-hello-1"}],
                                      "lastScheduleTime": "2024-01-01T00:00:00Z"})
    controller, client = sync(cj, done)
    status = status_of(client)
    assert "active" not in status and status["lastSuccessfulTime"] == "2024-01-01T11:30:00Z"
    assert controller.recorder.events == [("hello", "Normal", "SawCompletedJob",
                                           "Saw completed job: hello-1, condition: Complete")]


def test_manual_job_from_the_cronjob_is_tracked_as_active():
    cj = cronjob("0 0 1 1 *", status={"lastScheduleTime": "2024-01-01T00:00:00Z"})
    _, client = sync(cj, job("hello-manual-x"))
    assert [r["name"] for r in status_of(client)["active"]] == ["hello-manual-x"]


@pytest.mark.parametrize("succeeded, failed, limits, deleted", [
    (5, 0, (3, 1), ["s0", "s1"]),
    (2, 3, (3, 1), ["f0", "f1"]),
    (2, 2, (0, 0), ["s0", "s1", "f0", "f1"]),
])
def test_history_limits(succeeded, failed, limits, deleted):
    jobs = [job(f"s{i}", "Complete", start=f"2024-01-01T0{i}:00:00Z") for i in range(succeeded)]
    jobs += [job(f"f{i}", "Failed", start=f"2024-01-01T0{i}:00:00Z") for i in range(failed)]
    cj = cronjob(successfulJobsHistoryLimit=limits[0], failedJobsHistoryLimit=limits[1])
    assert [j["metadata"]["name"] for j in history_to_delete(cj, jobs)] == deleted


def test_invalid_time_zone_is_reported():
    controller, client = sync(cronjob(timeZone="Mars/Olympus"))
    assert writes(client, "create") == []
    assert controller.recorder.events[0][1:3] == ("Warning", "UnknownTimeZone")


def test_time_zone_decides_the_schedule_time():
    # 07:00 in New York is 12:00 UTC in winter
    _, client = sync(cronjob("0 7 * * *", timeZone="America/New_York", status={"lastScheduleTime": "2024-01-01T11:00:00Z"}))
    body = writes(client, "create")[0].body
    assert body["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2024-01-01T07:00:00-05:00"
