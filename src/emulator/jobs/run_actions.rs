//! `runs/cancel`, `runs/submit` (a one-time run of tasks, with no job) and `runs/get-output`.
//! Runs end as soon as they are recorded, so a cancel finds nothing left to stop.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::access::CAN_MANAGE_RUN;
use super::references::check_cluster_references;
use super::rules::validate_settings;
use super::runs::{
    idempotency_token, read_visible_run, run_json, run_level, task_run_json, task_runs, visible_run,
};
use super::v20::lift_single_task;
use crate::emulator::request::{body_id, into_object};
use crate::emulator::store::{Collection, RunRecord};
use crate::emulator::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

/// The fields of a `runs/submit` body that are job settings, checked as a job's would be.
const SUBMIT_SETTINGS: [&str; 8] = [
    "tasks",
    "environments",
    "git_source",
    "timeout_seconds",
    "email_notifications",
    "webhook_notifications",
    "notification_settings",
    "health",
];

pub(super) async fn cancel_run(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = into_object(body, "request body")?;
    let run_id = body_id(&body, "run_id")?;
    ws.store.read(|db| {
        let (run, _) = visible_run(db, &caller, run_id)?;
        if run_level(db, &caller, run) < CAN_MANAGE_RUN {
            return Err(ApiError::permission_denied(format!(
                "User {} does not have Manage Run permissions on run {run_id}.",
                caller.user_name
            )));
        }
        // Every run has already ended: cancelling one that ended is a no-op.
        Ok(Json(json!({})))
    })
}

pub(super) async fn submit_run(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    submit(ws, caller, into_object(body, "request body")?).await
}

/// `runs/submit` of API 2.0: one task's fields at the top level.
pub(super) async fn submit_run_v20(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = lift_single_task(into_object(body, "request body")?, "submit");
    submit(ws, caller, body).await
}

async fn submit(ws: AppState, caller: Caller, body: Map<String, Value>) -> ApiResult<Json<Value>> {
    let token = idempotency_token(&body)?;
    let settings: Map<String, Value> = SUBMIT_SETTINGS
        .iter()
        .filter_map(|key| Some((key.to_string(), body.get(*key)?.clone())))
        .collect();
    validate_settings(&settings)?;
    let tasks = settings
        .get("tasks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if tasks.is_empty() {
        return Err(ApiError::invalid("Missing required field: tasks"));
    }
    let run_name = match body.get("run_name") {
        None | Some(Value::Null) => "Untitled".to_string(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(ApiError::invalid("run_name must be a string")),
    };
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        check_cluster_references(db, &settings)?;
        if let Some(token) = &token
            && let Some(run) = db
                .runs
                .values()
                .rev()
                .find(|r| r.submitted && r.idempotency_token.as_ref() == Some(token))
        {
            return Ok(Json(json!({"run_id": run.run_id})));
        }
        let run_id = db.next_run_id(tx);
        let tasks = task_runs(db, tx, &tasks, now);
        db.runs.insert(
            run_id.to_string(),
            RunRecord {
                run_id,
                job_id: 0,
                start_time: now,
                life_cycle_state: "TERMINATED".into(),
                result_state: Some("SUCCESS".into()),
                state_message: String::new(),
                creator_user_name: caller.user_name.clone(),
                number_in_job: run_id,
                idempotency_token: token,
                run_name,
                job_parameters: Vec::new(),
                tasks,
                submitted: true,
            },
        );
        tx.touch(Collection::Runs, run_id.to_string());
        Ok(Json(json!({"run_id": run_id})))
    })
}

pub(super) async fn get_run_output(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    read_visible_run(&ws, &caller, &query, |run, task| {
        let Some(task) = task else {
            if run.tasks.is_empty() {
                return Ok(Json(json!({"metadata": run_json(run)})));
            }
            // Multi-task runs (every run of a 2.1+ job, even with one task) have no output of
            // their own.
            return Err(ApiError::invalid(
                "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
            ));
        };
        let mut output = json!({"metadata": task_run_json(run, task)});
        if task.get("notebook_task").is_some() {
            output["notebook_output"] = json!({});
        }
        Ok(Json(output))
    })
}
