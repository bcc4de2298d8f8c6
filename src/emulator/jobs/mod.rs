//! Jobs API 2.0, 2.1 and 2.2 (`/api/2.x/jobs/*`) and job runs.
//!
//! Settings are validated, then normalised the way the service echoes them on GET (defaults
//! filled in, `depends_on` sorted, write-only fields dropped), and stored normalised. Runs do not
//! execute: `run-now` records a run that has already ended (or was skipped).

mod access;
mod handlers;
mod normalize;
mod references;
mod rules;
mod run_actions;
mod runs;
mod schedule;
mod shapes;
mod v20;
mod views;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::emulator::request::{body_id, into_object};
use crate::emulator::store::{Db, JobRecord};
use crate::emulator::{ApiError, ApiResult, AppState};
use handlers::{create, delete, get_job, list_jobs, reset, update};
use run_actions::{cancel_run, get_run_output, submit_run};
use runs::{get_run, list_runs, run_now};

/// The jobs routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(versioned::<21>())
        .merge(versioned::<22>())
        .merge(v20::routes())
}

/// The routes of one API version (`V` is 21 or 22).
fn versioned<const V: u8>() -> Router<AppState> {
    let base = format!("/api/2.{}/jobs", V % 10);
    Router::new()
        .route(&format!("{base}/create"), post(create::<V>))
        .route(&format!("{base}/get"), get(get_job::<V>))
        .route(&format!("{base}/list"), get(list_jobs::<V>))
        .route(&format!("{base}/reset"), post(reset::<V>))
        .route(&format!("{base}/update"), post(update))
        .route(&format!("{base}/delete"), post(delete))
        .route(&format!("{base}/run-now"), post(run_now))
        .route(&format!("{base}/runs/list"), get(list_runs))
        .route(&format!("{base}/runs/get"), get(get_run))
        .route(&format!("{base}/runs/cancel"), post(cancel_run))
        .route(&format!("{base}/runs/submit"), post(submit_run))
        .route(&format!("{base}/runs/get-output"), get(get_run_output))
}

/// Every task of the settings, each `for_each_task`'s inner task after its own: the places a
/// task names its compute (`existing_cluster_id`, `new_cluster`).
pub(crate) fn tasks_of(settings: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    fn with_inner<'a>(task: &'a Map<String, Value>, out: &mut Vec<&'a Map<String, Value>>) {
        out.push(task);
        if let Some(inner) = task
            .get("for_each_task")
            .and_then(|f| f.get("task"))
            .and_then(Value::as_object)
        {
            with_inner(inner, out);
        }
    }
    let mut out = Vec::new();
    for task in settings
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        with_inner(task, &mut out);
    }
    out
}

/// Whether API version `V` is 2.2 (queued by default, paged arrays, list limit 100).
pub(super) const fn is_v22(version: u8) -> bool {
    version >= 22
}

/// The arrays 2.2 pages.
pub(super) const PAGED_ARRAYS: [&str; 4] = ["tasks", "job_clusters", "environments", "parameters"];

pub(super) fn job_missing(job_id: i64) -> ApiError {
    ApiError::invalid(format!("Job {job_id} does not exist."))
}

pub(super) fn find_job(db: &Db, job_id: i64) -> ApiResult<&JobRecord> {
    db.jobs
        .get(&job_id.to_string())
        .ok_or_else(|| job_missing(job_id))
}

pub(super) fn find_job_mut(db: &mut Db, job_id: i64) -> ApiResult<&mut JobRecord> {
    db.jobs
        .get_mut(&job_id.to_string())
        .ok_or_else(|| job_missing(job_id))
}

/// The body of a request on one job: the object, and the `job_id` it names.
fn job_body(body: Value) -> ApiResult<(Map<String, Value>, i64)> {
    let body = into_object(body, "request body")?;
    let job_id = body_id(&body, "job_id")?;
    Ok((body, job_id))
}

/// `value` as a JSON object, for tests.
#[cfg(test)]
pub(super) fn obj(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}
