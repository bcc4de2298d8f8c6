//! Job runs: `run-now` records a run that has already ended (or was skipped), and the runs
//! list and get.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::access::{Access, CAN_MANAGE_RUN, CAN_VIEW, check_access};
use super::{find_job, job_body};
use crate::emulator::request::{Cursor, non_negative, page_cursor, page_desc, query_id};
use crate::emulator::store::{Collection, Db, RunRecord, Tx};
use crate::emulator::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

pub(super) async fn run_now(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (body, job_id) = job_body(body)?;
    let token = idempotency_token(&body)?;
    let given = job_parameter_values(&body)?;
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE_RUN)?;
        let job = find_job(db, job_id)?;
        if let Some(token) = &token
            && let Some(run) = db
                .runs
                .values()
                .rev()
                .find(|r| r.idempotency_token.as_ref() == Some(token))
        {
            return Ok(Json(
                json!({"run_id": run.run_id, "number_in_job": run.number_in_job}),
            ));
        }
        let skipped = job
            .settings
            .get("max_concurrent_runs")
            .and_then(Value::as_i64)
            == Some(0);
        let run_name = job
            .settings
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("Untitled")
            .to_string();
        let job_parameters = resolve_parameters(&job.settings, &given);
        let job_tasks = if skipped {
            Vec::new()
        } else {
            job.settings
                .get("tasks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let run_id = db.next_run_id(tx);
        let tasks = task_runs(db, tx, &job_tasks, now);
        let (life_cycle_state, result_state, state_message) = if skipped {
            ("SKIPPED", None, "Skipped because max concurrent runs is 0.")
        } else {
            ("TERMINATED", Some("SUCCESS".to_string()), "")
        };
        db.runs.insert(
            run_id.to_string(),
            RunRecord {
                run_id,
                job_id,
                start_time: now,
                life_cycle_state: life_cycle_state.into(),
                result_state,
                state_message: state_message.into(),
                creator_user_name: caller.user_name.clone(),
                number_in_job: run_id,
                idempotency_token: token,
                run_name,
                job_parameters,
                tasks,
                submitted: false,
            },
        );
        tx.touch(Collection::Runs, run_id.to_string());
        Ok(Json(json!({"run_id": run_id, "number_in_job": run_id})))
    })
}

pub(super) async fn list_runs(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let limit = match query.int("limit")?.unwrap_or(20) {
        // The service reads a limit of 0 as the maximum.
        0 => 25,
        n if (1..=25).contains(&n) => n,
        n => {
            return Err(ApiError::invalid(format!(
                "Invalid limit {n}: it must be between 1 and 25."
            )));
        }
    };
    let offset = non_negative(query.int("offset")?.unwrap_or(0), "offset")?;
    let job_id = query.int("job_id")?;
    let (active_only, completed_only) = (query.bool("active_only"), query.bool("completed_only"));
    if active_only && completed_only {
        return Err(ApiError::invalid(
            "active_only and completed_only cannot both be true.",
        ));
    }
    let cursor = page_cursor(&query, "runs")?;
    let (from, to) = (query.int("start_time_from")?, query.int("start_time_to")?);
    ws.store.read(|db| {
        if let Some(job_id) = job_id {
            check_access(db, &caller, job_id, CAN_VIEW)?;
            find_job(db, job_id)?;
        }
        let access = Access::of(db, &caller.user_name);
        // Runs end as soon as they are recorded, so none is ever active.
        let keep = |run: &RunRecord| {
            !active_only
                && job_id.is_none_or(|j| run.job_id == j)
                && from.is_none_or(|f| run.start_time >= f)
                && to.is_none_or(|t| run.start_time <= t)
                && (access.level(db, run.job_id) >= CAN_VIEW
                    || (run.submitted && run.creator_user_name == caller.user_name))
        };
        let page = page_desc(&db.runs, cursor.as_ref(), offset, limit as usize, keep);
        let mut body = Map::new();
        if !page.items.is_empty() {
            body.insert(
                "runs".into(),
                page.items.iter().map(|r| run_json(r)).collect(),
            );
        }
        body.insert("has_more".into(), json!(page.has_more));
        if let Some(key) = page.next {
            body.insert(
                "next_page_token".into(),
                json!(Cursor::Before(key).token("runs")),
            );
        }
        if let Some(key) = page.prev {
            body.insert(
                "prev_page_token".into(),
                json!(Cursor::After(key).token("runs")),
            );
        }
        Ok(Json(Value::Object(body)))
    })
}

pub(super) async fn get_run(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    read_visible_run(&ws, &caller, &query, |run, task| {
        Ok(Json(match task {
            Some(task) => task_run_json(run, task),
            None => run_json(run),
        }))
    })
}

/// The run `run_id` names: a run, or a task run with the run it belongs to.
pub(super) fn find_run(db: &Db, run_id: i64) -> Option<(&RunRecord, Option<&Value>)> {
    if let Some(run) = db.runs.get(&run_id.to_string()) {
        return Some((run, None));
    }
    db.runs.values().find_map(|run| {
        run.tasks
            .iter()
            .find(|t| t.get("run_id").and_then(Value::as_i64) == Some(run_id))
            .map(|task| (run, Some(task)))
    })
}

/// Runs `f` on the run (and task run) the query's `run_id` names, as `caller` may see it.
pub(super) fn read_visible_run<T>(
    ws: &AppState,
    caller: &Caller,
    query: &QueryPairs,
    f: impl FnOnce(&RunRecord, Option<&Value>) -> ApiResult<T>,
) -> ApiResult<T> {
    let run_id = query_id(query, "run_id")?;
    ws.store.read(|db| {
        let (run, task) = visible_run(db, caller, run_id)?;
        f(run, task)
    })
}

/// The run (or task run) `run_id` names, if the caller may see it; else the service's
/// not-found answer (it does not tell a run the caller cannot see from a missing one).
pub(super) fn visible_run<'a>(
    db: &'a Db,
    caller: &Caller,
    run_id: i64,
) -> ApiResult<(&'a RunRecord, Option<&'a Value>)> {
    let missing = || ApiError::invalid(format!("Run {run_id} does not exist."));
    let (run, task) = find_run(db, run_id).ok_or_else(missing)?;
    if run_level(db, caller, run) < CAN_VIEW {
        return Err(missing());
    }
    Ok((run, task))
}

/// The caller's level on a run: its job's, or manage on a one-time run they submitted.
pub(super) fn run_level(db: &Db, caller: &Caller, run: &RunRecord) -> u8 {
    let level = Access::of(db, &caller.user_name).level(db, run.job_id);
    if run.submitted && run.creator_user_name == caller.user_name {
        return level.max(CAN_MANAGE_RUN);
    }
    level
}

/// A run of each task: the task's settings with a run ID of its own and the run's end state.
pub(super) fn task_runs(db: &mut Db, tx: &mut Tx, tasks: &[Value], now: i64) -> Vec<Value> {
    tasks
        .iter()
        .filter_map(Value::as_object)
        .map(|task| {
            let mut run = task.clone();
            run.insert("run_id".into(), json!(db.next_run_id(tx)));
            run.insert("attempt_number".into(), json!(0));
            run.insert(
                "state".into(),
                json!({"life_cycle_state": "TERMINATED", "result_state": "SUCCESS",
                       "state_message": "", "user_cancelled_or_timedout": false}),
            );
            for key in ["start_time", "end_time"] {
                run.insert(key.into(), json!(now));
            }
            for key in ["setup_duration", "execution_duration", "cleanup_duration"] {
                run.insert(key.into(), json!(0));
            }
            Value::Object(run)
        })
        .collect()
}

/// A task run as `runs/get` shows it when given the task run's ID.
pub(super) fn task_run_json(run: &RunRecord, task: &Value) -> Value {
    let mut body = task.clone();
    body["job_id"] = json!(run.job_id);
    body["run_name"] = json!(run.run_name);
    body["creator_user_name"] = json!(run.creator_user_name);
    body["number_in_job"] = body["run_id"].clone();
    body["original_attempt_run_id"] = body["run_id"].clone();
    body["trigger"] = json!("ONE_TIME");
    body["run_type"] = json!(if run.submitted {
        "SUBMIT_RUN"
    } else {
        "JOB_RUN"
    });
    body["run_duration"] = json!(0);
    body
}

pub(super) fn idempotency_token(body: &Map<String, Value>) -> ApiResult<Option<String>> {
    match body.get("idempotency_token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t.chars().count() <= 64 => Ok(Some(t.clone())),
        Some(Value::String(_)) => Err(ApiError::invalid(
            "idempotency_token must be at most 64 characters.",
        )),
        Some(_) => Err(ApiError::invalid("idempotency_token must be a string")),
    }
}

fn job_parameter_values(body: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    match body.get("job_parameters") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::invalid(
            "job_parameters must be a map of parameter names to values",
        )),
    }
}

/// The run's parameters: each job parameter with its default and the value given (or the
/// default), then values given for names the job does not declare.
fn resolve_parameters(settings: &Map<String, Value>, given: &Map<String, Value>) -> Vec<Value> {
    let declared = settings
        .get("parameters")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut resolved: Vec<Value> = declared
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let default = p.get("default").cloned().unwrap_or(Value::Null);
            let value = given.get(name).cloned().unwrap_or_else(|| default.clone());
            Some(json!({"name": name, "default": default, "value": value}))
        })
        .collect();
    for (name, value) in given {
        if !declared.iter().any(|p| p.get("name") == Some(&json!(name))) {
            resolved.push(json!({"name": name, "value": value}));
        }
    }
    resolved
}

pub(super) fn run_json(run: &RunRecord) -> Value {
    let mut state = json!({
        "life_cycle_state": run.life_cycle_state,
        "state_message": run.state_message,
        "user_cancelled_or_timedout": false,
    });
    if let Some(result) = &run.result_state {
        state["result_state"] = json!(result);
    }
    let mut body = json!({
        "job_id": run.job_id,
        "run_id": run.run_id,
        "number_in_job": if run.number_in_job == 0 { run.run_id } else { run.number_in_job },
        "original_attempt_run_id": run.run_id,
        "creator_user_name": run.creator_user_name,
        "run_name": run.run_name,
        "state": state,
        "start_time": run.start_time,
        "end_time": run.start_time,
        "setup_duration": 0,
        "execution_duration": 0,
        "cleanup_duration": 0,
        "run_duration": 0,
        "trigger": "ONE_TIME",
        "run_type": "JOB_RUN",
        "format": "MULTI_TASK",
    });
    if !run.job_parameters.is_empty() {
        body["job_parameters"] = json!(run.job_parameters);
    }
    if !run.tasks.is_empty() {
        body["tasks"] = json!(run.tasks);
    }
    if run.submitted {
        body["run_type"] = json!("SUBMIT_RUN");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;

    #[test]
    fn run_parameters_resolve_defaults() {
        let settings = obj(
            json!({"parameters": [{"name": "a", "default": "1"}, {"name": "b", "default": "2"}]}),
        );
        let given = obj(json!({"b": "3", "c": "4"}));
        assert_eq!(
            resolve_parameters(&settings, &given),
            [
                json!({"name": "a", "default": "1", "value": "1"}),
                json!({"name": "b", "default": "2", "value": "3"}),
                json!({"name": "c", "value": "4"}),
            ]
        );
    }
}
