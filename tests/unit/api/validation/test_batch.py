"""Jobs and CronJobs (the cron schedule parser's own tables: tests/unit/api/test_cron.py)."""

import pytest

from tinykube.api.errors import INVALID, NOT_SUPPORTED, REQUIRED

from . import changed, check_create, check_update, job, meta, template


def spec_set(**values):
    return lambda o: o["spec"].update(values)


def job_template(**spec):
    return lambda o: o["spec"]["template"]["spec"].update(spec)


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: None, []),
    (job_template(restartPolicy="OnFailure"), []),
    (job_template(restartPolicy="Always"), [(REQUIRED, "spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"')]),
    (job_template(restartPolicy="Sometimes"), [(NOT_SUPPORTED, "spec.template.spec.restartPolicy",
                                                'Unsupported value: "Sometimes": supported values: "OnFailure", "Never"')]),
    (spec_set(parallelism=-1), [(INVALID, "spec.parallelism", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(completions=-1), [(INVALID, "spec.completions", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(backoffLimit=-1), [(INVALID, "spec.backoffLimit", "Invalid value: -1: must be greater than or equal to 0")]),
    (spec_set(completionMode="Random"), [(NOT_SUPPORTED, "spec.completionMode",
                                          'Unsupported value: "Random": supported values: "NonIndexed", "Indexed"')]),
    (lambda o: (o["spec"].update(completionMode="Indexed"), o["spec"].pop("completions")),
     [(REQUIRED, "spec.completions", "when completion mode is Indexed")]),
    (spec_set(backoffLimitPerIndex=1), [(INVALID, "spec.backoffLimitPerIndex", "Invalid value: 1: requires indexed completion mode")]),
    (lambda o: o["spec"].pop("selector"), [(REQUIRED, "spec.selector", "")]),
    (lambda o: o["spec"]["template"]["metadata"]["labels"].pop("job-name"),
     [(REQUIRED, "spec.template.metadata.labels[job-name]", "must be 'web'")]),
    (spec_set(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "other"}}),
     [(INVALID, "spec.selector", "Invalid value: ...: `selector` not auto-generated")]),
    (lambda o: o["spec"].update(manualSelector=True, selector={"matchLabels": {"app": "x"}}),
     [(INVALID, "spec.template.metadata.labels", "Invalid value: map[string]string{...}: `selector` does not match template `labels`")]),
])
def test_job(mutate, expected):
    check_create("Job", changed(job(), mutate), expected, "batch")


def test_indexed_job_name_must_leave_room_for_the_index():
    obj = changed(job(), spec_set(completionMode="Indexed", completions=100))
    obj["metadata"]["name"] = "a" * 62
    obj["spec"]["template"]["metadata"]["labels"]["job-name"] = "a" * 62
    obj["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] = "a" * 62
    check_create("Job", obj, [(INVALID, "metadata.name", "Invalid value: ...: will not able to create pod with invalid DNS label: "
                                                         + "a" * 62 + "-99")], "batch")


def test_job_update_immutability():
    old = job()
    check_update("Job", changed(old, spec_set(parallelism=3)), old, [], "batch")
    check_update("Job", changed(old, spec_set(completions=2)), old,
                 [(INVALID, "spec.completions", "Invalid value: 2: field is immutable")], "batch")
    check_update("Job", changed(old, job_template(restartPolicy="OnFailure")), old,
                 [(INVALID, "spec.template", "Invalid value: core.PodTemplateSpec{...}: field is immutable")], "batch")
    suspended = changed(old, spec_set(suspend=True))
    moved = changed(suspended, job_template(nodeSelector={"zone": "a"}))
    check_update("Job", moved, suspended, [], "batch")


def cron_job(**spec):
    base = {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
            "jobTemplate": {"spec": {"template": template(restartPolicy="OnFailure")}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly"), "spec": base}


@pytest.mark.parametrize("obj, expected", [
    (cron_job(), []),
    (cron_job(schedule="@daily", timeZone="Europe/Paris"), []),
    (cron_job(schedule=""), [(REQUIRED, "spec.schedule", "")]),
    (cron_job(schedule="* * * *"), [(INVALID, "spec.schedule", 'Invalid value: "* * * *": expected exactly 5 fields, found 4: [* * * *]')]),
    (cron_job(schedule="61 * * * *"), [(INVALID, "spec.schedule",
                                        'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61')]),
    (cron_job(schedule="TZ=UTC 0 * * * *"), [(INVALID, "spec.schedule",
        'Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead')]),
    (cron_job(timeZone="Mars/Olympus"), [(INVALID, "spec.timeZone", 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus')]),
    (cron_job(timeZone=""), [(INVALID, "spec.timeZone", 'Invalid value: "": timeZone must be nil or non-empty string')]),
    (cron_job(timeZone="Local"), [(INVALID, "spec.timeZone", 'Invalid value: "Local": timeZone must be an explicit time zone '
                                                             "as defined in https://www.iana.org/time-zones")]),
    (cron_job(concurrencyPolicy="Sometimes"), [(NOT_SUPPORTED, "spec.concurrencyPolicy",
                                                'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"')]),
    (cron_job(startingDeadlineSeconds=-1), [(INVALID, "spec.startingDeadlineSeconds", "Invalid value: -1: must be greater than or equal to 0")]),
    (cron_job(jobTemplate={"spec": {"template": template(restartPolicy="Always")}}),
     [(REQUIRED, "spec.jobTemplate.spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"')]),
    (cron_job(jobTemplate={"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template(restartPolicy="Never")}}),
     [(INVALID, "spec.jobTemplate.spec.selector", "Invalid value: ...: `selector` will be auto-generated")]),
    (changed(cron_job(), lambda o: o["metadata"].update(name="a" * 53)),
     [(INVALID, "metadata.name", "Invalid value: ...: must be no more than 52 characters")]),
])
def test_cron_job(obj, expected):
    check_create("CronJob", obj, expected, "batch")


def test_cron_job_update_allows_long_legacy_names_and_old_tz_schedules():
    old = changed(cron_job(schedule="CRON_TZ=UTC 0 * * * *"), lambda o: o["metadata"].update(name="a" * 60))
    check_update("CronJob", changed(old, lambda o: o["spec"].update(suspend=True)), old, [], "batch")
