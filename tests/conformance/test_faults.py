"""Injected faults as the SDK experiences them: retried 503/429, unretried 500, and a create that
commits before failing (the source of duplicates a reconciler must handle). Only a token holder
may inject them."""

import requests
from databricks.sdk.errors import InternalError

from support import create_job, expect_error


def test_sdk_retries_a_503_and_succeeds(w, emulator):
    job_id = create_job(w, name="flaky read")
    emulator.add_fault(method="GET", path="/api/2.2/jobs/get", status=503, times=1)
    emulator.reset_stats()
    job = w.jobs.get(job_id)
    assert job.settings.name == "flaky read"
    assert emulator.count("GET", "/api/2.2/jobs/get") == 2
    stats = emulator.stats()
    assert stats["faults_injected"] == 1
    (rule,) = emulator.faults()
    assert rule["fired"] == 1


def test_sdk_honours_429_with_retry_after(w, emulator):
    create_job(w, name="listed")
    emulator.add_fault(method="GET", path="/api/2.2/jobs/list", status=429, retry_after=1, times=1)
    emulator.reset_stats()
    assert [j.settings.name for j in w.jobs.list()] == ["listed"]
    assert emulator.count("GET", "/api/2.2/jobs/list") == 2


def test_a_500_is_not_retried(w, emulator):
    job_id = create_job(w)
    emulator.add_fault(method="GET", path="/api/2.2/jobs/get", status=500, times=1)
    emulator.reset_stats()
    expect_error((InternalError,), w.jobs.get, job_id)
    assert emulator.count("GET", "/api/2.2/jobs/get") == 1
    assert w.jobs.get(job_id).job_id == job_id


def test_the_control_api_needs_a_token(w, emulator, host):
    job_id = create_job(w, name="kept")
    for method, path in [("POST", "/reset"), ("POST", "/faults"), ("GET", "/stats")]:
        for headers in [{}, {"Authorization": "Bearer not-a-token"}]:
            response = requests.request(
                method, f"{host}/__emulator{path}", json={"path": "/api/*", "status": 503},
                headers=headers, timeout=30,
            )
            assert response.status_code == 401, (method, path, headers, response.text)
    assert w.jobs.get(job_id).settings.name == "kept"
    assert emulator.faults() == []


def test_commit_then_fail_on_create_duplicates_the_job(w, emulator):
    emulator.add_fault(method="POST", path="/api/2.2/jobs/create", status=503, times=1, commit=True)
    job_id = w.jobs.create(name="created twice").job_id
    found = sorted(j.job_id for j in w.jobs.list(name="created twice"))
    # The first attempt committed before answering 503; the SDK retried without an idempotency
    # token and created a second job.
    assert len(found) == 2
    assert job_id in found
    assert emulator.count("POST", "/api/2.2/jobs/create") == 2
