"""Jobs API 2.2 (and 2.1) through the SDK: create/get/list/update/reset/delete, paging, runs."""

import itertools

from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound
from databricks.sdk.service import jobs

from support import (
    ADMIN,
    ALICE,
    create_job,
    expect_error,
    job_cluster,
    notebook_task,
    raw,
)


def test_create_and_get_echo_settings_and_metadata(w):
    job_id = create_job(
        w,
        name="nightly etl",
        tags={"team": "data"},
        max_concurrent_runs=3,
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 2 * * ?", timezone_id="UTC"),
    )
    assert isinstance(job_id, int) and job_id > 0
    job = w.jobs.get(job_id)
    assert job.job_id == job_id
    assert job.creator_user_name == ADMIN
    assert job.run_as_user_name == ADMIN
    assert job.created_time and job.created_time > 1_600_000_000_000
    assert job.settings.name == "nightly etl"
    assert job.settings.tags == {"team": "data"}
    assert job.settings.max_concurrent_runs == 3
    assert job.settings.schedule.quartz_cron_expression == "0 0 2 * * ?"
    assert job.settings.schedule.timezone_id == "UTC"
    assert [t.task_key for t in job.settings.tasks] == ["main"]
    assert job.settings.tasks[0].notebook_task.notebook_path == "/Shared/main"
    assert [c.job_cluster_key for c in job.settings.job_clusters] == ["main"]
    assert job.settings.job_clusters[0].new_cluster.num_workers == 1


def test_get_normalises_settings_like_the_service(w):
    job_id = create_job(
        w,
        tasks=[notebook_task("a"), notebook_task("b"), notebook_task("z", depends_on=("b", "a"))],
    )
    settings = raw(w, "GET", "/api/2.2/jobs/get", query={"job_id": job_id})["settings"]
    assert settings["email_notifications"] == {}
    assert settings["webhook_notifications"] == {}
    assert settings["timeout_seconds"] == 0
    assert settings["format"] == "MULTI_TASK"
    tasks = {t["task_key"]: t for t in settings["tasks"]}
    assert set(tasks) == {"a", "b", "z"}
    for task in tasks.values():
        assert task["run_if"] == "ALL_SUCCESS"
        assert task["timeout_seconds"] == 0
        assert task["email_notifications"] == {}
        assert task["notebook_task"]["source"] == "WORKSPACE"
    assert [d["task_key"] for d in tasks["z"]["depends_on"]] == ["a", "b"]


def test_job_clusters_get_backend_defaults(w):
    spec = {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "Standard_DS3_v2",
        "num_workers": 2,
        "apply_policy_default_values": True,
    }
    created = raw(
        w,
        "POST",
        "/api/2.2/jobs/create",
        body={
            "name": "defaults",
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}],
            "tasks": [
                {"task_key": "a", "job_cluster_key": "main", "notebook_task": {"notebook_path": "/Shared/a"}},
                {"task_key": "b", "new_cluster": spec, "notebook_task": {"notebook_path": "/Shared/b"}},
            ],
        },
    )
    settings = raw(w, "GET", "/api/2.2/jobs/get", query={"job_id": created["job_id"]})["settings"]
    clusters = [settings["job_clusters"][0]["new_cluster"]]
    clusters += [t["new_cluster"] for t in settings["tasks"] if "new_cluster" in t]
    assert len(clusters) == 2
    for cluster in clusters:
        assert cluster["num_workers"] == 2
        # Accepted on write, never returned.
        assert "apply_policy_default_values" not in cluster
        # The backend fills in the cloud attributes and the driver node type.
        assert {"aws_attributes", "azure_attributes", "gcp_attributes"} & set(cluster), cluster
        assert cluster.get("driver_node_type_id") == "Standard_DS3_v2", cluster
        assert "enable_elastic_disk" in cluster, cluster


def test_get_missing_job_is_not_found(w):
    error = expect_error((NotFound,), w.jobs.get, 987654321)
    assert "does not exist" in str(error)


def test_delete_removes_the_job(w):
    keep = create_job(w, name="keep")
    gone = create_job(w, name="gone")
    w.jobs.delete(gone)
    expect_error((NotFound,), w.jobs.get, gone)
    assert [j.job_id for j in w.jobs.list()] == [keep]


def test_list_of_an_empty_workspace_omits_jobs(w):
    body = raw(w, "GET", "/api/2.2/jobs/list")
    assert "jobs" not in body or body["jobs"] == []
    assert not body.get("has_more")
    assert list(w.jobs.list()) == []


def test_list_pages_through_250_jobs_exactly_once(w, emulator):
    created = [w.jobs.create(name=f"paged job {i:03d}").job_id for i in range(250)]
    assert len(set(created)) == 250

    emulator.reset_stats()
    seen = [j.job_id for j in itertools.islice(w.jobs.list(), 1000)]
    assert len(seen) == 250, f"saw {len(seen)} jobs"
    assert sorted(seen) == sorted(created)
    # The default page size is 20: 13 pages.
    assert emulator.count("GET", "/api/2.2/jobs/list") == 13

    emulator.reset_stats()
    seen = [j.job_id for j in itertools.islice(w.jobs.list(limit=100), 1000)]
    assert sorted(seen) == sorted(created)
    assert emulator.count("GET", "/api/2.2/jobs/list") == 3


def test_list_page_tokens_and_has_more(w):
    created = {w.jobs.create(name=f"job {i}").job_id for i in range(7)}
    first = raw(w, "GET", "/api/2.2/jobs/list", query={"limit": 5})
    assert len(first["jobs"]) == 5
    assert first["has_more"] is True
    assert first["next_page_token"]
    second = raw(w, "GET", "/api/2.2/jobs/list", query={"limit": 5, "page_token": first["next_page_token"]})
    assert len(second["jobs"]) == 2
    assert not second.get("has_more")
    assert not second.get("next_page_token")
    assert {j["job_id"] for j in first["jobs"] + second["jobs"]} == created
    for job in first["jobs"]:
        assert job["creator_user_name"] == ADMIN
        assert job["created_time"] > 0
        assert job["settings"]["name"].startswith("job ")


def test_list_limit_bounds(w):
    w.jobs.create(name="one")
    for limit in (0, 101):
        expect_error((InvalidParameterValue,), w.jobs.list, limit=limit)
    assert len(list(w.jobs.list(limit=100))) == 1
    assert len(list(w.jobs.list(limit=1))) == 1


def test_list_limit_bounds_on_2_1(w):
    # The 2.1 reference allows 1..100, as 2.2 does (docs.databricks.com/api/azure/workspace/
    # jobs_21/list); 25 was an older cap.
    w.jobs.create(name="one")
    expect_error((InvalidParameterValue,), raw, w, "GET", "/api/2.1/jobs/list", query={"limit": 101})
    body = raw(w, "GET", "/api/2.1/jobs/list", query={"limit": 100})
    assert len(body["jobs"]) == 1


def test_list_name_filter_is_exact_and_case_insensitive(w):
    a = w.jobs.create(name="Nightly ETL").job_id
    b = w.jobs.create(name="nightly etl").job_id
    w.jobs.create(name="Nightly ETL v2")
    w.jobs.create(name="ETL")
    found = {j.job_id for j in w.jobs.list(name="NIGHTLY etl")}
    assert found == {a, b}
    assert list(w.jobs.list(name="no such job")) == []


def test_list_omits_tasks_unless_expanded(w):
    job_id = create_job(w, tasks=[notebook_task("a"), notebook_task("b")])
    listed = raw(w, "GET", "/api/2.2/jobs/list")["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    assert "tasks" not in listed[0]["settings"]
    assert "job_clusters" not in listed[0]["settings"]
    (plain,) = list(w.jobs.list())
    assert not plain.settings.tasks
    (expanded,) = list(w.jobs.list(expand_tasks=True))
    assert sorted(t.task_key for t in expanded.settings.tasks) == ["a", "b"]
    assert [c.job_cluster_key for c in expanded.settings.job_clusters] == ["main"]


def _many_tasks(n: int):
    return [notebook_task(f"task-{i:03d}") for i in range(n)]


def test_get_pages_through_more_than_100_tasks(w, emulator):
    job_id = create_job(w, tasks=_many_tasks(150), job_clusters=[job_cluster("main"), job_cluster("spare")])

    first = raw(w, "GET", "/api/2.2/jobs/get", query={"job_id": job_id})
    assert len(first["settings"]["tasks"]) == 100
    assert first["next_page_token"]
    second = raw(w, "GET", "/api/2.2/jobs/get", query={"job_id": job_id, "page_token": first["next_page_token"]})
    assert len(second["settings"]["tasks"]) == 50
    assert not second.get("next_page_token")
    # Arrays complete on the first page come back empty on later pages.
    assert not second["settings"].get("job_clusters")

    emulator.reset_stats()
    job = w.jobs.get(job_id)
    keys = [t.task_key for t in job.settings.tasks]
    assert len(keys) == 150
    assert set(keys) == {f"task-{i:03d}" for i in range(150)}
    assert sorted(c.job_cluster_key for c in job.settings.job_clusters) == ["main", "spare"]
    assert emulator.count("GET", "/api/2.2/jobs/get") == 2


def test_list_expand_tasks_caps_at_100_and_sdk_completes_with_get(w):
    job_id = create_job(w, tasks=_many_tasks(150))
    (listed,) = raw(w, "GET", "/api/2.2/jobs/list", query={"expand_tasks": "true"})["jobs"]
    assert listed["job_id"] == job_id
    assert len(listed["settings"]["tasks"]) == 100
    assert listed["has_more"] is True
    (job,) = list(w.jobs.list(expand_tasks=True))
    assert len({t.task_key for t in job.settings.tasks}) == 150


def test_update_merges_tasks_by_key_and_replaces_top_level_fields(w):
    job_id = create_job(
        w,
        name="orig",
        tasks=[notebook_task("a"), notebook_task("b")],
        job_clusters=[job_cluster("main"), job_cluster("spare")],
        tags={"team": "data"},
        max_concurrent_runs=3,
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 1 * * ?", timezone_id="UTC"),
    )
    changed_a = jobs.Task(
        task_key="a",
        job_cluster_key="main",
        notebook_task=jobs.NotebookTask(notebook_path="/Shared/a-v2"),
    )
    w.jobs.update(
        job_id,
        new_settings=jobs.JobSettings(
            tasks=[changed_a, notebook_task("c")],
            job_clusters=[job_cluster("main", num_workers=4)],
            tags={"owner": "alice"},
        ),
    )
    settings = w.jobs.get(job_id).settings
    tasks = {t.task_key: t for t in settings.tasks}
    assert set(tasks) == {"a", "b", "c"}
    assert tasks["a"].notebook_task.notebook_path == "/Shared/a-v2"
    assert tasks["b"].notebook_task.notebook_path == "/Shared/b"
    clusters = {c.job_cluster_key: c for c in settings.job_clusters}
    assert set(clusters) == {"main", "spare"}
    assert clusters["main"].new_cluster.num_workers == 4
    assert clusters["spare"].new_cluster.num_workers == 1
    # Other top-level fields are replaced whole, or kept when not mentioned.
    assert settings.tags == {"owner": "alice"}
    assert settings.name == "orig"
    assert settings.max_concurrent_runs == 3
    assert settings.schedule.quartz_cron_expression == "0 0 1 * * ?"


def test_update_fields_to_remove(w):
    job_id = create_job(
        w,
        tasks=[notebook_task("a"), notebook_task("b")],
        job_clusters=[job_cluster("main"), job_cluster("spare")],
        tags={"team": "data"},
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 1 * * ?", timezone_id="UTC"),
    )
    w.jobs.update(job_id, fields_to_remove=["schedule", "tags", "tasks/b", "job_clusters/spare"])
    settings = w.jobs.get(job_id).settings
    assert settings.schedule is None
    assert not settings.tags
    assert [t.task_key for t in settings.tasks] == ["a"]
    assert [c.job_cluster_key for c in settings.job_clusters] == ["main"]


def test_reset_replaces_all_settings(w):
    job_id = create_job(
        w,
        name="orig",
        tasks=[notebook_task("a"), notebook_task("b")],
        tags={"team": "data"},
        max_concurrent_runs=5,
        schedule=jobs.CronSchedule(quartz_cron_expression="0 0 1 * * ?", timezone_id="UTC"),
    )
    w.jobs.reset(
        job_id,
        new_settings=jobs.JobSettings(
            name="replaced",
            tasks=[notebook_task("x")],
            job_clusters=[job_cluster("main")],
        ),
    )
    job = w.jobs.get(job_id)
    assert job.settings.name == "replaced"
    assert [t.task_key for t in job.settings.tasks] == ["x"]
    assert not job.settings.tags
    assert job.settings.schedule is None
    assert job.settings.max_concurrent_runs in (None, 1)
    assert job.creator_user_name == ADMIN


def test_reset_keeps_run_as_when_omitted(w):
    job_id = create_job(w, run_as=jobs.JobRunAs(user_name=ALICE))
    assert w.jobs.get(job_id).run_as_user_name == ALICE
    w.jobs.reset(
        job_id,
        new_settings=jobs.JobSettings(name="no run_as", tasks=[notebook_task("main")], job_clusters=[job_cluster()]),
    )
    job = w.jobs.get(job_id)
    assert job.settings.name == "no run_as"
    assert job.run_as_user_name == ALICE


def test_settings_limits_are_enforced(w):
    expect_error((InvalidParameterValue,), w.jobs.create, name="too many runs", max_concurrent_runs=1001)
    expect_error((InvalidParameterValue,), w.jobs.create, name="negative runs", max_concurrent_runs=-1)
    tags = {f"tag{i}": "x" for i in range(26)}
    expect_error((InvalidParameterValue,), w.jobs.create, name="too many tags", tags=tags)
    ok = w.jobs.create(name="edge", max_concurrent_runs=1000, tags={f"tag{i}": "x" for i in range(25)}).job_id
    assert w.jobs.get(ok).settings.max_concurrent_runs == 1000
    assert [j.job_id for j in w.jobs.list()] == [ok]


def test_malformed_body_is_a_bad_request(w):
    expect_error((BadRequest,), raw, w, "POST", "/api/2.2/jobs/update", body={"job_id": "not a number"})


def test_the_2_1_api_serves_the_same_jobs(w):
    job_id = create_job(w, name="via 2.2")
    body = raw(w, "GET", "/api/2.1/jobs/get", query={"job_id": job_id})
    assert body["job_id"] == job_id
    assert body["settings"]["name"] == "via 2.2"
    created = raw(w, "POST", "/api/2.1/jobs/create", body={"name": "via 2.1"})
    job = w.jobs.get(created["job_id"])
    assert job.settings.name == "via 2.1"
    # Jobs created through 2.2 are queued by default; through 2.1 they are not.
    assert w.jobs.get(job_id).settings.queue.enabled is True
    assert job.settings.queue is None or job.settings.queue.enabled is False


def test_run_now_with_zero_max_concurrent_runs_is_skipped(w):
    job_id = create_job(w, name="never runs", max_concurrent_runs=0)
    waiter = w.jobs.run_now(job_id)
    run_id = waiter.run_id
    assert isinstance(run_id, int) and run_id > 0
    runs = list(w.jobs.list_runs(job_id=job_id))
    assert [r.run_id for r in runs] == [run_id]
    run = runs[0]
    assert run.job_id == job_id
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.SKIPPED
    assert run.start_time and run.start_time > 0


def test_list_runs_filters_by_job(w):
    first = create_job(w, name="first")
    second = create_job(w, name="second")
    run_a = w.jobs.run_now(first).run_id
    run_b = w.jobs.run_now(second).run_id
    assert [r.run_id for r in w.jobs.list_runs(job_id=first)] == [run_a]
    assert {r.run_id for r in w.jobs.list_runs()} == {run_a, run_b}


def test_run_now_of_a_missing_job_fails(w):
    expect_error((BadRequest, NotFound), w.jobs.run_now, 987654321)
