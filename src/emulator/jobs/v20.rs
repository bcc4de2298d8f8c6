//! Jobs API 2.0 (`/api/2.0/jobs/*`), which the legacy `databricks-cli` and older clients use:
//! a job is one task whose fields sit at the top level of the settings. The emulator stores it
//! as the one task of a `SINGLE_TASK` job and shows it in the 2.0 shape again on 2.0 reads.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::access::{Access, CAN_MANAGE, CAN_VIEW, check_access, run_as_user_name};
use super::handlers::{create, delete, fields_to_remove, reset, update_settings};
use super::normalize::normalize;
use super::references::check_cluster_references;
use super::rules::validate_settings;
use super::run_actions::{cancel_run, get_run_output, submit_run_v20};
use super::runs::{get_run, list_runs, run_now};
use super::shapes::check_shapes;
use super::{find_job, find_job_mut, job_body};
use crate::emulator::request::{into_object, query_id};
use crate::emulator::store::{Collection, JobRecord};
use crate::emulator::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

/// The fields of a 2.0 job (or one-time run) that belong to its single task.
const TASK_FIELDS: [&str; 12] = [
    "existing_cluster_id",
    "new_cluster",
    "libraries",
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "python_wheel_task",
    "max_retries",
    "min_retry_interval_millis",
    "retry_on_timeout",
];

/// The routes of API 2.0.
pub(super) fn routes() -> Router<AppState> {
    let base = "/api/2.0/jobs";
    Router::new()
        .route(&format!("{base}/create"), post(create_v20))
        .route(&format!("{base}/get"), get(get_v20))
        .route(&format!("{base}/list"), get(list_v20))
        .route(&format!("{base}/reset"), post(reset_v20))
        .route(&format!("{base}/update"), post(update_v20))
        .route(&format!("{base}/delete"), post(delete))
        .route(&format!("{base}/run-now"), post(run_now))
        .route(&format!("{base}/runs/list"), get(list_runs))
        .route(&format!("{base}/runs/get"), get(get_run))
        .route(&format!("{base}/runs/cancel"), post(cancel_run))
        .route(&format!("{base}/runs/submit"), post(submit_run_v20))
        .route(&format!("{base}/runs/get-output"), get(get_run_output))
}

/// Whether the 2.0 settings carry a single task's fields at the top level.
fn has_single_task(settings: &Map<String, Value>) -> bool {
    !settings.contains_key("tasks") && TASK_FIELDS.iter().any(|k| settings.contains_key(*k))
}

/// Moves the single task's top-level fields into `tasks[0]` (keyed `task_key`), the shape the
/// service keeps; settings that already have `tasks`, or no task fields, are left alone.
pub(super) fn lift_single_task(
    mut settings: Map<String, Value>,
    task_key: &str,
) -> Map<String, Value> {
    if !has_single_task(&settings) {
        return settings;
    }
    let mut task = Map::new();
    task.insert("task_key".into(), json!(task_key));
    for key in TASK_FIELDS {
        if let Some(value) = settings.remove(key) {
            task.insert(key.into(), value);
        }
    }
    settings.insert("tasks".into(), json!([task]));
    settings
}

/// A `SINGLE_TASK` job's settings in the 2.0 shape: its task's fields back at the top level.
fn flatten_single_task(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut flat = settings.clone();
    let single = settings.get("format").and_then(Value::as_str) == Some("SINGLE_TASK");
    let Some([Value::Object(task)]) = settings
        .get("tasks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return flat;
    };
    if !single {
        return flat;
    }
    flat.remove("tasks");
    for key in TASK_FIELDS {
        if let Some(value) = task.get(key) {
            flat.insert(key.into(), value.clone());
        }
    }
    flat
}

/// The task key a 2.0 job's single task gets.
const SINGLE_TASK_KEY: &str = "main";

fn mark_single_task(ws: &AppState, job_id: i64) -> ApiResult<()> {
    ws.store.write(|db, tx| {
        find_job_mut(db, job_id)?
            .settings
            .insert("format".into(), json!("SINGLE_TASK"));
        tx.touch(Collection::Jobs, job_id.to_string());
        Ok(())
    })
}

async fn create_v20(
    State(ws): State<AppState>,
    caller: Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = into_object(body, "request body")?;
    check_shapes(&body)?;
    let single = has_single_task(&body);
    let lifted = lift_single_task(body, SINGLE_TASK_KEY);
    let Json(created) =
        create::<20>(State(ws.clone()), caller, ApiJson(Value::Object(lifted))).await?;
    if single && let Some(job_id) = created.get("job_id").and_then(Value::as_i64) {
        mark_single_task(&ws, job_id)?;
    }
    Ok(Json(created))
}

async fn reset_v20(
    State(ws): State<AppState>,
    caller: Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (mut body, job_id) = job_body(body)?;
    let new = match body.remove("new_settings") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("Missing required field: new_settings"));
        }
        Some(value) => into_object(value, "new_settings")?,
    };
    check_shapes(&new)?;
    let single = has_single_task(&new);
    body.insert(
        "new_settings".into(),
        Value::Object(lift_single_task(new, SINGLE_TASK_KEY)),
    );
    let response = reset::<20>(State(ws.clone()), caller, ApiJson(Value::Object(body))).await?;
    if single {
        mark_single_task(&ws, job_id)?;
    }
    Ok(response)
}

/// 2.0 update: top-level fields of `new_settings` replace the job's (a single-task job's task
/// fields included), then `fields_to_remove` go.
async fn update_v20(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (body, job_id) = job_body(body)?;
    let new = update_settings(&body)?.cloned().unwrap_or_default();
    check_shapes(&new)?;
    let remove = fields_to_remove(&body)?;
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE)?;
        let current = &find_job(db, job_id)?.settings;
        let single = current.get("format").and_then(Value::as_str) == Some("SINGLE_TASK")
            || (current.get("tasks").is_none() && has_single_task(&new));
        let mut flat = flatten_single_task(current);
        flat.remove("format");
        for (key, value) in new {
            flat.insert(key, value);
        }
        for field in &remove {
            flat.remove(field);
        }
        let merged = lift_single_task(flat, SINGLE_TASK_KEY);
        validate_settings(&merged)?;
        check_cluster_references(db, &merged)?;
        let mut settings = normalize(merged, false);
        if single {
            settings.insert("format".into(), json!("SINGLE_TASK"));
        }
        find_job_mut(db, job_id)?.settings = settings;
        tx.touch(Collection::Jobs, job_id.to_string());
        Ok(Json(json!({})))
    })
}

fn job_v20(job: &JobRecord, run_as: Option<&str>) -> Value {
    let mut body = json!({
        "job_id": job.job_id,
        "creator_user_name": job.creator_user_name,
        "created_time": job.created_time,
        "settings": flatten_single_task(&job.settings),
    });
    if let Some(run_as) = run_as {
        body["run_as_user_name"] = json!(run_as);
    }
    body
}

async fn get_v20(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let job_id = query_id(&query, "job_id")?;
    ws.store.read(|db| {
        check_access(db, &caller, job_id, CAN_VIEW)?;
        let job = find_job(db, job_id)?;
        Ok(Json(job_v20(job, Some(run_as_user_name(db, job)))))
    })
}

/// 2.0 list: every job the caller can see, newest first, with no paging.
async fn list_v20(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    ws.store.read(|db| {
        let access = Access::of(db, &caller.user_name);
        let jobs: Vec<Value> = db
            .jobs
            .values()
            .rev()
            .filter(|job| access.level(db, job.job_id) >= CAN_VIEW)
            .map(|job| job_v20(job, None))
            .collect();
        let mut body = json!({"has_more": false});
        if !jobs.is_empty() {
            body["jobs"] = json!(jobs);
        }
        Ok(Json(body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;

    #[test]
    fn a_single_task_moves_into_tasks_and_back() {
        let v20 = obj(json!({
            "name": "legacy", "existing_cluster_id": "c1", "max_retries": 2,
            "notebook_task": {"notebook_path": "/x"}, "timeout_seconds": 60,
        }));
        let lifted = lift_single_task(v20.clone(), "main");
        assert_eq!(
            lifted["tasks"],
            json!([{"task_key": "main", "existing_cluster_id": "c1", "max_retries": 2,
                    "notebook_task": {"notebook_path": "/x"}}])
        );
        assert!(!lifted.contains_key("notebook_task"));
        assert_eq!(lifted["timeout_seconds"], 60);
        let mut stored = lifted.clone();
        stored.insert("format".into(), json!("SINGLE_TASK"));
        let flat = flatten_single_task(&stored);
        assert!(!flat.contains_key("tasks"));
        assert_eq!(flat["existing_cluster_id"], "c1");
        assert_eq!(flat["notebook_task"], json!({"notebook_path": "/x"}));
        // Multi-task settings are left alone both ways.
        let multi = obj(json!({"tasks": [{"task_key": "a"}], "format": "MULTI_TASK"}));
        assert_eq!(lift_single_task(multi.clone(), "main"), multi);
        assert_eq!(flatten_single_task(&multi), multi);
    }
}
