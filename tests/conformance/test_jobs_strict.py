"""What real workspaces refuse in the Jobs API, and the routes they serve beyond 2.2's CRUD:
missing existing clusters, non-Quartz crons and unknown time zones, mistyped fields, deep list
offsets; API 2.0, runs/submit, runs/cancel, runs/get-output and the task runs of a run."""

from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound
from databricks.sdk.service import jobs

from support import create_cluster, create_job, expect_error, notebook_task, raw

MISSING_CLUSTER = "0101-000000-missing0"


def _task_on(cluster_id: str, key: str = "main") -> jobs.Task:
    return jobs.Task(
        task_key=key,
        existing_cluster_id=cluster_id,
        notebook_task=jobs.NotebookTask(notebook_path=f"/Shared/{key}"),
    )


# A job whose task names a cluster that does not exist is refused on write, with the clusters
# API's not-found message ("Cluster <id> does not exist", 400 INVALID_PARAMETER_VALUE):
# databricks/databricks-sdk-py#252 reports "Cluster [cluster_id] does not exist" when creating a
# job, and the SDK's own error override (errors/overrides.py) matches `Cluster .* does not exist`.
def test_a_task_on_a_missing_cluster_is_refused_on_create_reset_and_update(w):
    error = expect_error((InvalidParameterValue,), w.jobs.create, name="orphan", tasks=[_task_on(MISSING_CLUSTER)])
    assert f"Cluster {MISSING_CLUSTER} does not exist" in str(error)
    assert list(w.jobs.list()) == []

    cluster_id = create_cluster(w).cluster_id
    job_id = w.jobs.create(name="on a cluster", tasks=[_task_on(cluster_id)]).job_id
    expect_error(
        (InvalidParameterValue,),
        w.jobs.reset,
        job_id,
        new_settings=jobs.JobSettings(name="moved", tasks=[_task_on(MISSING_CLUSTER)]),
    )
    expect_error(
        (InvalidParameterValue,),
        w.jobs.update,
        job_id,
        new_settings=jobs.JobSettings(tasks=[_task_on(MISSING_CLUSTER, "second")]),
    )
    settings = w.jobs.get(job_id).settings
    assert settings.name == "on a cluster"
    assert [t.existing_cluster_id for t in settings.tasks] == [cluster_id]


# Schedules use Quartz syntax (seconds first, `?` in day-of-month or day-of-week). The service's
# refusal of a unix cron is quoted in MicrosoftDocs/azure-docs#44131: "INVALID_PARAMETER_VALUE:
# Invalid quartz_cron_expression: 0 30 2,7,11,15 * * *. Databricks uses Quartz cron syntax, which
# is different from the standard cron syntax. See http://www.quartz-scheduler.org/...".
def test_a_unix_cron_is_refused_and_quartz_accepted(w):
    for expression in ("0 2 * * *", "0 30 2,7,11,15 * * *"):
        error = expect_error(
            (InvalidParameterValue,),
            create_job,
            w,
            schedule=jobs.CronSchedule(quartz_cron_expression=expression, timezone_id="UTC"),
        )
        assert f"Invalid quartz_cron_expression: {expression}" in str(error)
        assert "Quartz cron syntax" in str(error)
    job_id = create_job(
        w, schedule=jobs.CronSchedule(quartz_cron_expression="0 15 22 ? * MON-FRI", timezone_id="Europe/Berlin")
    )
    assert w.jobs.get(job_id).settings.schedule.quartz_cron_expression == "0 15 22 ? * MON-FRI"


# `timezone_id` is "A Java timezone ID" (SDK service/jobs.py, CronSchedule); Java resolves IANA
# names and UTC/GMT, and refuses anything else.
def test_the_time_zone_must_be_a_java_time_zone_id(w):
    expect_error(
        (InvalidParameterValue,),
        create_job,
        w,
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 2 * * ?", timezone_id="Mars/Olympus"),
    )
    for zone in ("UTC", "GMT", "America/Los_Angeles"):
        job_id = create_job(w, schedule=jobs.CronSchedule(quartz_cron_expression="0 0 2 * * ?", timezone_id=zone))
        assert w.jobs.get(job_id).settings.schedule.timezone_id == zone


# A value of the wrong JSON type cannot be parsed into JobSettings: the service answers 400
# "Could not parse request object: ..." (the wording quoted for the Jobs API in Microsoft's
# Azure Data Factory troubleshooting guide, data-factory-troubleshoot-guide.md, error 3202).
def test_a_string_where_a_list_belongs_is_a_bad_request(w):
    bodies = [
        {"name": "x", "email_notifications": {"on_failure": "x@example.com"}},
        {"name": "x", "email_notifications": {"on_start": "x@example.com"}},
        {"name": "x", "email_notifications": {"on_success": "x@example.com"}},
        {"name": "x", "email_notifications": {"on_duration_warning_threshold_exceeded": "x@example.com"}},
        {"name": "x", "webhook_notifications": {"on_failure": {"id": "hook"}}},
        {"name": "x", "tasks": "main"},
        {"name": "x", "job_clusters": {"job_cluster_key": "main"}},
        {"name": "x", "parameters": "p"},
        {"name": "x", "tags": ["team"]},
        {"name": "x", "tasks": [{"task_key": "a", "depends_on": "b", "notebook_task": {"notebook_path": "/a"}}]},
        {"name": "x", "tasks": [{"task_key": "a", "libraries": {"pypi": {"package": "x"}}}]},
    ]
    for body in bodies:
        error = expect_error((BadRequest,), raw, w, "POST", "/api/2.2/jobs/create", body=body)
        assert "Could not parse request object" in str(error), body
    assert list(w.jobs.list()) == []
    job_id = create_job(w)
    expect_error(
        (BadRequest,),
        raw,
        w,
        "POST",
        "/api/2.2/jobs/update",
        body={"job_id": job_id, "new_settings": {"email_notifications": {"on_failure": "x@example.com"}}},
    )


# `offset` is deprecated since June 2023 (SDK JobsAPI.list docstring) and capped at 1000:
# terraform-provider-databricks#2807 shows `GET /api/2.1/jobs/list?limit=25&offset=1025` answered
# 400 INVALID_PARAMETER_VALUE "The supplied offset 1025 has exceeded the value of 1000 allowed for
# this parameter.Please use th..." (databrickslabs/overwatch#994: "limited to 1000"). The limit
# cap is 100 on 2.2 (SDK docstring) and on 2.1 (docs.databricks.com/api/azure/workspace/jobs_21/
# list: "[1 .. 100]"; older 2.1 specs said 25).
def test_list_offset_is_capped_and_page_tokens_keep_working(w):
    created = {w.jobs.create(name=f"job {i}").job_id for i in range(5)}
    error = expect_error((InvalidParameterValue,), raw, w, "GET", "/api/2.1/jobs/list", query={"limit": 25, "offset": 1025})
    assert "The supplied offset 1025 has exceeded the value of 1000" in str(error)
    expect_error((InvalidParameterValue,), raw, w, "GET", "/api/2.2/jobs/list", query={"offset": 1001})
    assert "jobs" not in raw(w, "GET", "/api/2.2/jobs/list", query={"offset": 1000})
    expect_error((InvalidParameterValue,), raw, w, "GET", "/api/2.2/jobs/list", query={"limit": 101})
    expect_error((InvalidParameterValue,), raw, w, "GET", "/api/2.1/jobs/list", query={"limit": 101})
    seen = {j.job_id for j in w.jobs.list(limit=2)}
    assert seen == created


# Jobs API 2.0 (docs.databricks.com/en/reference/jobs-2.0-api.html), which the legacy
# databricks-cli uses: a single task's fields (existing_cluster_id, notebook_task, ...) at the top
# level of the settings, on create/get/list/reset/update/delete/run-now.
def test_jobs_api_2_0_keeps_single_task_fields_at_the_top_level(w):
    cluster_id = create_cluster(w).cluster_id
    body = {
        "name": "legacy",
        "existing_cluster_id": cluster_id,
        "notebook_task": {"notebook_path": "/Shared/legacy"},
        "max_retries": 1,
        "schedule": {"quartz_cron_expression": "0 15 22 ? * *", "timezone_id": "America/Los_Angeles"},
    }
    job_id = raw(w, "POST", "/api/2.0/jobs/create", body=body)["job_id"]
    got = raw(w, "GET", "/api/2.0/jobs/get", query={"job_id": job_id})
    assert got["job_id"] == job_id
    assert got["settings"]["existing_cluster_id"] == cluster_id
    assert got["settings"]["notebook_task"]["notebook_path"] == "/Shared/legacy"
    assert "tasks" not in got["settings"]
    listed = raw(w, "GET", "/api/2.0/jobs/list")["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    # The same job through 2.2 has one task.
    assert [t.existing_cluster_id for t in w.jobs.get(job_id).settings.tasks] == [cluster_id]

    raw(w, "POST", "/api/2.0/jobs/update", body={"job_id": job_id, "new_settings": {"notebook_task": {"notebook_path": "/Shared/v2"}}})
    got = raw(w, "GET", "/api/2.0/jobs/get", query={"job_id": job_id})["settings"]
    assert got["notebook_task"]["notebook_path"] == "/Shared/v2"
    assert got["existing_cluster_id"] == cluster_id
    raw(w, "POST", "/api/2.0/jobs/reset", body={"job_id": job_id, "new_settings": {"name": "reset", "existing_cluster_id": cluster_id, "notebook_task": {"notebook_path": "/Shared/r"}}})
    assert raw(w, "GET", "/api/2.0/jobs/get", query={"job_id": job_id})["settings"]["name"] == "reset"
    expect_error(
        (InvalidParameterValue,),
        raw,
        w,
        "POST",
        "/api/2.0/jobs/create",
        body={**body, "existing_cluster_id": MISSING_CLUSTER},
    )
    run_id = raw(w, "POST", "/api/2.0/jobs/run-now", body={"job_id": job_id})["run_id"]
    assert raw(w, "GET", "/api/2.0/jobs/runs/get", query={"run_id": run_id})["job_id"] == job_id
    raw(w, "POST", "/api/2.0/jobs/delete", body={"job_id": job_id})
    expect_error((NotFound, InvalidParameterValue), raw, w, "GET", "/api/2.0/jobs/get", query={"job_id": job_id})


# runs/get of a multi-task run lists its task runs, each with its own run_id, task_key and state
# (SDK service/jobs.py: Run.tasks, RunTask). runs/get-output of the parent run is refused with
# "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output
# of each individual task run instead." (Databricks docs, "Use dbt transformations in Lakeflow
# Jobs"; kestra-io plugin-databricks notes the same failure), and works for a task run.
def test_runs_show_their_tasks_and_output_is_per_task(w):
    job_id = create_job(w, tasks=[notebook_task("a"), notebook_task("b", depends_on=("a",))])
    run_id = w.jobs.run_now(job_id).run_id
    run = w.jobs.get_run(run_id)
    assert sorted(t.task_key for t in run.tasks) == ["a", "b"]
    task_ids = {t.run_id for t in run.tasks}
    assert len(task_ids) == 2 and run_id not in task_ids
    for task in run.tasks:
        assert task.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    error = expect_error((InvalidParameterValue,), w.jobs.get_run_output, run_id)
    assert "Retrieving the output of runs with multiple tasks is not supported" in str(error)
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.metadata.run_id == run.tasks[0].run_id
    assert output.metadata.job_id == job_id
    expect_error((NotFound, InvalidParameterValue), w.jobs.get_run_output, 987654321)


# runs/submit starts a one-time run with no job (SDK JobsAPI.submit, POST /api/2.2/jobs/runs/submit);
# its tasks get the same checks as a job's, and the idempotency_token returns the first run.
# runs/cancel (SDK JobsAPI.cancel_run) of a run that already ended is accepted, and the SDK's
# waiter then sees it terminated.
def test_submit_a_one_time_run_and_cancel_it(w):
    cluster_id = create_cluster(w).cluster_id
    submitted = w.jobs.submit(run_name="one time", tasks=[jobs.SubmitTask(
        task_key="once", existing_cluster_id=cluster_id, notebook_task=jobs.NotebookTask(notebook_path="/Shared/once")
    )], idempotency_token="once-1")
    run = submitted.result()
    assert run.run_name == "one time"
    assert [t.task_key for t in run.tasks] == ["once"]
    assert list(w.jobs.list()) == []
    again = w.jobs.submit(run_name="one time", tasks=[jobs.SubmitTask(
        task_key="once", existing_cluster_id=cluster_id, notebook_task=jobs.NotebookTask(notebook_path="/Shared/once")
    )], idempotency_token="once-1")
    assert again.run_id == run.run_id
    expect_error((InvalidParameterValue,), w.jobs.submit, run_name="orphan", tasks=[jobs.SubmitTask(
        task_key="x", existing_cluster_id=MISSING_CLUSTER, notebook_task=jobs.NotebookTask(notebook_path="/Shared/x")
    )])
    cancelled = w.jobs.cancel_run(run.run_id).result()
    assert cancelled.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    expect_error((NotFound, InvalidParameterValue, BadRequest), w.jobs.cancel_run, 987654321)
    # API 2.0 submit: the task's fields at the top level.
    legacy = raw(w, "POST", "/api/2.0/jobs/runs/submit", body={
        "run_name": "legacy once", "existing_cluster_id": cluster_id, "notebook_task": {"notebook_path": "/Shared/l"},
    })["run_id"]
    assert raw(w, "GET", "/api/2.0/jobs/runs/get", query={"run_id": legacy})["run_name"] == "legacy once"
