//! Jobs API 2.1 and 2.2 (`/api/2.1/jobs/*`, `/api/2.2/jobs/*`) and job runs.
//!
//! Settings are validated, then normalised the way the service echoes them on GET (defaults
//! filled in, `depends_on` sorted, write-only fields dropped), and stored normalised. Runs do not
//! execute: `run-now` records a run that has already ended (or was skipped).

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use super::permissions::{acl_key, drop_acl, init_acl};
use super::principals::{self, PrincipalKind};
use super::request::{
    Cursor, body_id, decode_job_page_token, into_object, job_page_token, non_negative, page_cursor,
    page_desc, query_id,
};
use super::store::{AclEntry, Collection, Db, JobRecord, RunRecord};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

/// The jobs routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(versioned::<21>())
        .merge(versioned::<22>())
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
}

/// Whether API version `V` is 2.2 (queued by default, paged arrays, list limit 100).
const fn is_v22(version: u8) -> bool {
    version >= 22
}

/// Tasks, job clusters, environments and parameters per page in 2.2 responses.
const PAGE: usize = 100;
/// The arrays 2.2 pages.
const PAGED_ARRAYS: [&str; 4] = ["tasks", "job_clusters", "environments", "parameters"];
/// Job permission levels, lowest first.
const JOB_LEVELS: [&str; 4] = ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"];
const CAN_VIEW: u8 = 1;
const CAN_MANAGE_RUN: u8 = 2;
const CAN_MANAGE: u8 = 3;
const RUN_IF: [&str; 6] = [
    "ALL_SUCCESS",
    "ALL_DONE",
    "NONE_FAILED",
    "AT_LEAST_ONE_SUCCESS",
    "ALL_FAILED",
    "AT_LEAST_ONE_FAILED",
];
const GIT_PROVIDERS: [&str; 8] = [
    "gitHub",
    "gitHubEnterprise",
    "bitbucketCloud",
    "bitbucketServer",
    "azureDevOpsServices",
    "gitLab",
    "gitLabEnterpriseEdition",
    "awsCodeCommit",
];

// ---------------------------------------------------------------------------------------------
// Handlers

async fn create<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut settings = into_object(body, "request body")?;
    let acl = settings.remove("access_control_list");
    validate_settings(&settings)?;
    let settings = normalize(settings, is_v22(V));
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        check_run_as(db, &caller, &settings)?;
        let acl = match acl {
            None | Some(Value::Null) => None,
            Some(list) => Some(creation_acl(&caller.user_name, requested_acl(db, &list)?)?),
        };
        let job_id = db.next_job_id(tx);
        let id = job_id.to_string();
        db.jobs.insert(
            id.clone(),
            JobRecord {
                job_id,
                creator_user_name: caller.user_name.clone(),
                run_as_user_name: caller.user_name.clone(),
                created_time: now,
                settings,
            },
        );
        tx.touch(Collection::Jobs, id.clone());
        init_acl(db, tx, "jobs", &id, &caller.user_name);
        if let Some(entries) = acl {
            let key = acl_key("jobs", &id);
            if let Some(record) = db.acls.get_mut(&key) {
                record.entries = entries;
                tx.touch(Collection::Acls, key);
            }
        }
        Ok(Json(json!({ "job_id": job_id })))
    })
}

async fn get_job<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Response> {
    let job_id = query_id(&query, "job_id")?;
    let page = match query.get("page_token").filter(|t| !t.is_empty()) {
        Some(token) if is_v22(V) => decode_job_page_token(token, job_id)?,
        _ => 0,
    };
    ws.store.read(|db| {
        check_access(db, &caller, job_id, CAN_VIEW)?;
        let job = find_job(db, job_id)?;
        let window = Window {
            strip_tasks: false,
            page: is_v22(V).then_some(page),
        };
        let has_more = window.has_more(&job.settings);
        let view = JobView {
            run_as_user_name: Some(run_as_user_name(db, job)),
            next_page_token: has_more.then(|| job_page_token(job_id, page + 1)),
            has_more,
            ..JobView::new(job, window)
        };
        json_response(&view)
    })
}

async fn list_jobs<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Response> {
    let max = if is_v22(V) { 100 } else { 25 };
    let limit = query.int("limit")?.unwrap_or(20);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "Invalid limit {limit}: it must be between 1 and {max}."
        )));
    }
    let offset = non_negative(query.int("offset")?.unwrap_or(0), "offset")?;
    let cursor = page_cursor(&query, "jobs")?;
    let name = query.get("name").filter(|n| !n.is_empty());
    let window = Window {
        strip_tasks: !query.bool("expand_tasks"),
        page: is_v22(V).then_some(0),
    };
    ws.store.read(|db| {
        let access = Access::of(db, &caller.user_name);
        let keep = |job: &JobRecord| {
            name.is_none_or(|n| name_matches(&job.settings, n))
                && access.level(db, job.job_id) >= CAN_VIEW
        };
        let page = page_desc(&db.jobs, cursor.as_ref(), offset, limit as usize, keep);
        let jobs = page
            .items
            .iter()
            .map(|job| JobView {
                has_more: window.page.is_some() && window.has_more(&job.settings),
                ..JobView::new(job, window)
            })
            .collect();
        json_response(&ListView {
            jobs,
            has_more: page.has_more,
            next_page_token: page.next.map(|k| Cursor::Before(k).token("jobs")),
            prev_page_token: page.prev.map(|k| Cursor::After(k).token("jobs")),
        })
    })
}

async fn reset<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut body = into_object(body, "request body")?;
    let job_id = body_id(&body, "job_id")?;
    let mut new = match body.remove("new_settings") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("Missing required field: new_settings"));
        }
        Some(value) => into_object(value, "new_settings")?,
    };
    validate_settings(&new)?;
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE)?;
        check_run_as(db, &caller, &new)?;
        let job = find_job_mut(db, job_id)?;
        // The service keeps the previous run_as when the new settings leave it out.
        if !new.contains_key("run_as")
            && let Some(run_as) = job.settings.get("run_as")
        {
            new.insert("run_as".into(), run_as.clone());
        }
        job.settings = normalize(new, is_v22(V));
        tx.touch(Collection::Jobs, job_id.to_string());
        Ok(Json(json!({})))
    })
}

async fn update(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = into_object(body, "request body")?;
    let job_id = body_id(&body, "job_id")?;
    let new = match body.get("new_settings") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(ApiError::invalid("new_settings must be an object")),
    };
    let remove = fields_to_remove(&body)?;
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE)?;
        let merged = apply_update(&find_job(db, job_id)?.settings, new, &remove)?;
        validate_settings(&merged)?;
        if let Some(new) = new {
            check_run_as(db, &caller, new)?;
        }
        find_job_mut(db, job_id)?.settings = normalize(merged, false);
        tx.touch(Collection::Jobs, job_id.to_string());
        Ok(Json(json!({})))
    })
}

async fn delete(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = into_object(body, "request body")?;
    let job_id = body_id(&body, "job_id")?;
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE)?;
        let id = job_id.to_string();
        db.jobs.remove(&id).ok_or_else(|| job_missing(job_id))?;
        tx.touch(Collection::Jobs, id.clone());
        drop_acl(db, tx, "jobs", &id);
        // A deleted job's run history goes with it.
        let runs: Vec<String> = db
            .runs
            .iter()
            .filter(|(_, run)| run.job_id == job_id)
            .map(|(key, _)| key.clone())
            .collect();
        for key in runs {
            db.runs.remove(&key);
            tx.touch(Collection::Runs, key);
        }
        Ok(Json(json!({})))
    })
}

async fn run_now(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = into_object(body, "request body")?;
    let job_id = body_id(&body, "job_id")?;
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
        let run_id = db.next_run_id(tx);
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
            },
        );
        tx.touch(Collection::Runs, run_id.to_string());
        Ok(Json(json!({"run_id": run_id, "number_in_job": run_id})))
    })
}

async fn list_runs(
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
                && access.level(db, run.job_id) >= CAN_VIEW
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

async fn get_run(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let run_id = query_id(&query, "run_id")?;
    ws.store.read(|db| {
        let missing = || ApiError::invalid(format!("Run {run_id} does not exist."));
        let run = db.runs.get(&run_id.to_string()).ok_or_else(missing)?;
        if Access::of(db, &caller.user_name).level(db, run.job_id) < CAN_VIEW {
            return Err(missing());
        }
        Ok(Json(run_json(run)))
    })
}

// ---------------------------------------------------------------------------------------------
// Request parsing

fn fields_to_remove(body: &Map<String, Value>) -> ApiResult<Vec<String>> {
    match body.get("fields_to_remove") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid("fields_to_remove must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(
            "fields_to_remove must be a list of strings",
        )),
    }
}

fn idempotency_token(body: &Map<String, Value>) -> ApiResult<Option<String>> {
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

// ---------------------------------------------------------------------------------------------
// Validation

fn field_array<'a>(s: &'a Map<String, Value>, key: &str) -> ApiResult<&'a [Value]> {
    match s.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ApiError::invalid(format!("{key} must be an array"))),
    }
}

fn field_object<'a>(
    s: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match s.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::invalid(format!("{key} must be an object"))),
    }
}

fn field_str<'a>(s: &'a Map<String, Value>, key: &str) -> ApiResult<Option<&'a str>> {
    match s.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => Ok(Some(v)),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a string"))),
    }
}

fn field_int(s: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match s.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("{key} must be an integer"))),
    }
}

fn is_set(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key).is_some_and(|v| !v.is_null())
}

/// Checks JobSettings against the service's rules (everything that needs no other object).
fn validate_settings(s: &Map<String, Value>) -> ApiResult<()> {
    validate_scalars(s)?;
    validate_triggers(s)?;
    let clusters = keyed_entries(s, "job_clusters", "job_cluster_key")?;
    for cluster in field_array(s, "job_clusters")? {
        if !cluster.get("new_cluster").is_some_and(Value::is_object) {
            return Err(ApiError::invalid(
                "Each job cluster needs a new_cluster specification.",
            ));
        }
    }
    let environments = keyed_entries(s, "environments", "environment_key")?;
    validate_tasks(field_array(s, "tasks")?, &clusters, &environments)?;
    validate_parameters(s)?;
    validate_git_source(s)?;
    validate_run_as_shape(s)?;
    if let Some(queue) = field_object(s, "queue")?
        && !queue.get("enabled").is_some_and(Value::is_boolean)
    {
        return Err(ApiError::invalid(
            "queue.enabled is required and must be a boolean.",
        ));
    }
    Ok(())
}

fn validate_scalars(s: &Map<String, Value>) -> ApiResult<()> {
    if let Some(name) = field_str(s, "name")?
        && name.len() > 4096
    {
        return Err(ApiError::invalid(format!(
            "The job name is {} bytes long; it must be at most 4096 bytes.",
            name.len()
        )));
    }
    if let Some(description) = field_str(s, "description")?
        && description.chars().count() > 27_700
    {
        return Err(ApiError::invalid(
            "The job description must be at most 27700 characters.",
        ));
    }
    if let Some(runs) = field_int(s, "max_concurrent_runs")?
        && !(0..=1000).contains(&runs)
    {
        return Err(ApiError::invalid(format!(
            "Invalid max_concurrent_runs {runs}: it must be between 0 and 1000."
        )));
    }
    if let Some(timeout) = field_int(s, "timeout_seconds")?
        && timeout < 0
    {
        return Err(ApiError::invalid(format!(
            "Invalid timeout_seconds {timeout}: it must not be negative."
        )));
    }
    if let Some(tags) = field_object(s, "tags")? {
        if tags.len() > 25 {
            return Err(ApiError::invalid(format!(
                "A job can have at most 25 tags; got {}.",
                tags.len()
            )));
        }
        if let Some((key, _)) = tags.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::invalid(format!(
                "The value of tag {key} must be a string."
            )));
        }
    }
    Ok(())
}

fn validate_triggers(s: &Map<String, Value>) -> ApiResult<()> {
    let set: Vec<&str> = ["schedule", "trigger", "continuous"]
        .into_iter()
        .filter(|k| is_set(s, k))
        .collect();
    if is_set(s, "triggers") && !set.is_empty() {
        return Err(ApiError::invalid(format!(
            "triggers cannot be combined with {}.",
            set.join(" or ")
        )));
    }
    if set.len() > 1 {
        return Err(ApiError::invalid(format!(
            "Only one of schedule, trigger and continuous can be set; this job sets {}.",
            set.join(" and ")
        )));
    }
    for key in ["schedule", "trigger", "continuous"] {
        if let Some(object) = field_object(s, key)?
            && let Some(status) = field_str(object, "pause_status")?
            && !["PAUSED", "UNPAUSED"].contains(&status)
        {
            return Err(ApiError::invalid(format!(
                "Invalid {key}.pause_status {status}: it must be PAUSED or UNPAUSED."
            )));
        }
    }
    if let Some(schedule) = field_object(s, "schedule")? {
        for key in ["quartz_cron_expression", "timezone_id"] {
            if field_str(schedule, key)?.is_none_or(str::is_empty) {
                return Err(ApiError::invalid(format!(
                    "Missing required field: schedule.{key}"
                )));
            }
        }
    }
    Ok(())
}

/// The keys of an array of objects keyed by `key_field`, each required and unique.
fn keyed_entries<'a>(
    s: &'a Map<String, Value>,
    array: &str,
    key_field: &str,
) -> ApiResult<HashSet<&'a str>> {
    let mut keys = HashSet::new();
    for entry in field_array(s, array)? {
        let entry = entry
            .as_object()
            .ok_or_else(|| ApiError::invalid(format!("Each entry of {array} must be an object")))?;
        let key = field_str(entry, key_field)?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(format!("Missing required field: {array}.{key_field}"))
            })?;
        if !keys.insert(key) {
            return Err(ApiError::invalid(format!(
                "{key_field} {key} is used more than once in {array}; keys must be unique."
            )));
        }
    }
    Ok(keys)
}

fn validate_task_key(key: &str) -> ApiResult<()> {
    let valid_chars = key
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if key.is_empty() || key.chars().count() > 100 || !valid_chars {
        return Err(ApiError::invalid(format!(
            "Invalid task_key '{key}': it must be 1 to 100 letters, digits, '_' or '-'."
        )));
    }
    Ok(())
}

fn validate_tasks(
    tasks: &[Value],
    clusters: &HashSet<&str>,
    environments: &HashSet<&str>,
) -> ApiResult<()> {
    if tasks.len() > 1000 {
        return Err(ApiError::invalid(format!(
            "A job can have at most 1000 tasks; got {}.",
            tasks.len()
        )));
    }
    let mut by_key: HashMap<&str, &Map<String, Value>> = HashMap::new();
    let mut order = Vec::with_capacity(tasks.len());
    for task in tasks {
        let task = task
            .as_object()
            .ok_or_else(|| ApiError::invalid("Each task must be an object"))?;
        let key = field_str(task, "task_key")?
            .ok_or_else(|| ApiError::invalid("Missing required field: tasks.task_key"))?;
        validate_task_key(key)?;
        if by_key.insert(key, task).is_some() {
            return Err(ApiError::invalid(format!(
                "Task key {key} is used by more than one task; task keys must be unique."
            )));
        }
        validate_task_fields(key, task, clusters, environments)?;
        order.push((key, task));
    }
    let mut graph = Vec::with_capacity(tasks.len());
    for (key, task) in order {
        graph.push((key, task_dependencies(key, task, &by_key)?));
    }
    match find_cycle(&graph) {
        Some(cycle) => Err(ApiError::invalid(format!(
            "The task dependencies form a cycle involving: {}.",
            cycle.join(", ")
        ))),
        None => Ok(()),
    }
}

fn validate_task_fields(
    key: &str,
    task: &Map<String, Value>,
    clusters: &HashSet<&str>,
    environments: &HashSet<&str>,
) -> ApiResult<()> {
    if let Some(run_if) = field_str(task, "run_if")?
        && !RUN_IF.contains(&run_if)
    {
        return Err(ApiError::invalid(format!(
            "Invalid run_if {run_if} on task {key}: it must be one of {}.",
            RUN_IF.join(", ")
        )));
    }
    if let Some(cluster) = field_str(task, "job_cluster_key")?
        && !clusters.contains(cluster)
    {
        return Err(ApiError::invalid(format!(
            "Task {key} uses job cluster {cluster}, which is not defined in job_clusters."
        )));
    }
    if let Some(environment) = field_str(task, "environment_key")?
        && !environments.contains(environment)
    {
        return Err(ApiError::invalid(format!(
            "Task {key} uses environment {environment}, which is not defined in environments."
        )));
    }
    if let Some(timeout) = field_int(task, "timeout_seconds")?
        && timeout < 0
    {
        return Err(ApiError::invalid(format!(
            "Invalid timeout_seconds {timeout} on task {key}: it must not be negative."
        )));
    }
    Ok(())
}

/// The task keys `task` depends on, each checked to exist (and `outcome` to be used only on a
/// condition task).
fn task_dependencies<'a>(
    key: &str,
    task: &'a Map<String, Value>,
    by_key: &HashMap<&str, &Map<String, Value>>,
) -> ApiResult<Vec<&'a str>> {
    let mut deps = Vec::new();
    for dep in field_array(task, "depends_on")? {
        let dep_key = dep.get("task_key").and_then(Value::as_str).ok_or_else(|| {
            ApiError::invalid(format!("Task {key}: depends_on.task_key is required"))
        })?;
        let target = by_key.get(dep_key).ok_or_else(|| {
            ApiError::invalid(format!(
                "Task {key} depends on task {dep_key}, which does not exist in this job."
            ))
        })?;
        if dep.get("outcome").is_some_and(|o| !o.is_null())
            && !target.contains_key("condition_task")
        {
            return Err(ApiError::invalid(format!(
                "Task {key}: depends_on.outcome is only allowed on dependencies on condition tasks, and {dep_key} is not one."
            )));
        }
        deps.push(dep_key);
    }
    Ok(deps)
}

/// The tasks on a dependency cycle (sorted), if any: Kahn's algorithm leaves them unvisited.
fn find_cycle<'a>(graph: &[(&'a str, Vec<&'a str>)]) -> Option<Vec<&'a str>> {
    let mut pending: HashMap<&str, usize> = graph.iter().map(|(k, d)| (*k, d.len())).collect();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (key, deps) in graph {
        for dep in deps {
            dependents.entry(*dep).or_default().push(key);
        }
    }
    let mut ready: Vec<&str> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    while let Some(key) = ready.pop() {
        pending.remove(key);
        for dependent in dependents.get(key).into_iter().flatten() {
            if let Some(n) = pending.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    ready.push(dependent);
                }
            }
        }
    }
    if pending.is_empty() {
        return None;
    }
    let mut cycle: Vec<&str> = pending.into_keys().collect();
    cycle.sort_unstable();
    Some(cycle)
}

fn validate_parameters(s: &Map<String, Value>) -> ApiResult<()> {
    let mut names = HashSet::new();
    for parameter in field_array(s, "parameters")? {
        let name = parameter
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("Missing required field: parameters.name"))?;
        if parameter.get("default").is_none_or(Value::is_null) {
            return Err(ApiError::invalid(format!(
                "Missing required field: default of job parameter {name}"
            )));
        }
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err(ApiError::invalid(format!(
                "Invalid job parameter name '{name}': use letters, digits, '_', '.' and '-'."
            )));
        }
        if !names.insert(name) {
            return Err(ApiError::invalid(format!(
                "Job parameter {name} is defined more than once."
            )));
        }
    }
    Ok(())
}

fn validate_git_source(s: &Map<String, Value>) -> ApiResult<()> {
    let Some(git) = field_object(s, "git_source")? else {
        return Ok(());
    };
    if field_str(git, "git_url")?.is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "Missing required field: git_source.git_url",
        ));
    }
    let provider = field_str(git, "git_provider")?
        .ok_or_else(|| ApiError::invalid("Missing required field: git_source.git_provider"))?;
    if canonical_git_provider(provider).is_none() {
        return Err(ApiError::invalid(format!(
            "Invalid git_provider {provider}: it must be one of {}.",
            GIT_PROVIDERS.join(", ")
        )));
    }
    let refs = ["git_branch", "git_tag", "git_commit"]
        .into_iter()
        .filter(|k| is_set(git, k))
        .count();
    if refs > 1 {
        return Err(ApiError::invalid(
            "Only one of git_branch, git_tag and git_commit can be set.",
        ));
    }
    Ok(())
}

fn canonical_git_provider(provider: &str) -> Option<&'static str> {
    GIT_PROVIDERS
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(provider))
}

/// The principal `run_as` names: exactly one of user, service principal or group.
fn run_as_principal(run_as: &Map<String, Value>) -> ApiResult<(PrincipalKind, &str)> {
    let named: Vec<(PrincipalKind, &str)> = [
        ("user_name", PrincipalKind::User),
        ("service_principal_name", PrincipalKind::ServicePrincipal),
        ("group_name", PrincipalKind::Group),
    ]
    .into_iter()
    .filter_map(|(key, kind)| {
        let name = run_as.get(key)?.as_str()?;
        (!name.is_empty()).then_some((kind, name))
    })
    .collect();
    match named.as_slice() {
        [one] => Ok(*one),
        _ => Err(ApiError::invalid(
            "run_as must set exactly one of user_name, service_principal_name and group_name.",
        )),
    }
}

fn validate_run_as_shape(s: &Map<String, Value>) -> ApiResult<()> {
    field_object(s, "run_as")?.map_or(Ok(()), |r| run_as_principal(r).map(|_| ()))
}

/// `run_as` must name an existing principal; non-admins may name only themselves or a
/// service principal (whose user role the emulator assumes they hold).
fn check_run_as(db: &Db, caller: &Caller, s: &Map<String, Value>) -> ApiResult<()> {
    let Some(run_as) = field_object(s, "run_as")? else {
        return Ok(());
    };
    let (kind, name) = run_as_principal(run_as)?;
    if !principals::exists(db, kind, name) {
        return Err(principal_missing(kind, name));
    }
    let is_self = kind == PrincipalKind::User && name.eq_ignore_ascii_case(&caller.user_name);
    if !is_self
        && kind != PrincipalKind::ServicePrincipal
        && !principals::is_admin(db, &caller.user_name)
    {
        return Err(ApiError::permission_denied(format!(
            "{} cannot set run_as to {name}: only workspace admins may run jobs as other users or groups.",
            caller.user_name
        )));
    }
    Ok(())
}

fn principal_missing(kind: PrincipalKind, name: &str) -> ApiError {
    let kind = match kind {
        PrincipalKind::User => "UserName",
        PrincipalKind::Group => "GroupName",
        PrincipalKind::ServicePrincipal => "ServicePrincipalName",
    };
    ApiError::invalid(format!("Principal: {kind}({name}) does not exist"))
}

// ---------------------------------------------------------------------------------------------
// Normalisation

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

/// The settings as GET echoes them: server defaults filled in, write-only fields dropped.
/// `queue_by_default` is set for jobs written through 2.2.
fn normalize(mut s: Map<String, Value>, queue_by_default: bool) -> Map<String, Value> {
    set_default(&mut s, "name", json!("Untitled"));
    set_default(&mut s, "email_notifications", json!({}));
    set_default(&mut s, "webhook_notifications", json!({}));
    set_default(&mut s, "timeout_seconds", json!(0));
    set_default(&mut s, "max_concurrent_runs", json!(1));
    // `format` is ignored on write: every 2.1+ job is multi-task.
    s.insert("format".into(), json!("MULTI_TASK"));
    if queue_by_default {
        set_default(&mut s, "queue", json!({"enabled": true}));
    }
    for key in ["schedule", "trigger", "continuous"] {
        if let Some(Value::Object(object)) = s.get_mut(key) {
            set_default(object, "pause_status", json!("UNPAUSED"));
        }
    }
    if let Some(Value::Object(table)) = s.get_mut("trigger").and_then(|t| t.get_mut("table_update"))
    {
        // Accepted but never returned.
        table.remove("condition");
    }
    if let Some(Value::Object(git)) = s.get_mut("git_source")
        && let Some(provider) = git
            .get("git_provider")
            .and_then(Value::as_str)
            .and_then(canonical_git_provider)
    {
        git.insert("git_provider".into(), json!(provider));
    }
    let default_source = if is_set(&s, "git_source") {
        "GIT"
    } else {
        "WORKSPACE"
    };
    for_each_object(&mut s, "tasks", |task| normalize_task(task, default_source));
    for_each_object(&mut s, "job_clusters", drop_policy_defaults);
    for key in PAGED_ARRAYS {
        if s.get(key)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            s.remove(key);
        }
    }
    s
}

fn for_each_object(
    s: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(items)) = s.get_mut(key) {
        items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(&mut f);
    }
}

/// What the backend does to a job's `new_cluster`: drops `apply_policy_default_values` and fills
/// in elastic disk, the driver's node type and cloud attributes (AWS-style, as the reference's
/// recorded payloads show) unless the spec says otherwise or uses a pool.
fn drop_policy_defaults(holder: &mut Map<String, Value>) {
    if let Some(Value::Object(cluster)) = holder.get_mut("new_cluster") {
        cluster.remove("apply_policy_default_values");
        if cluster.contains_key("instance_pool_id") {
            return;
        }
        set_default(cluster, "enable_elastic_disk", json!(true));
        if let Some(node) = cluster.get("node_type_id").cloned() {
            set_default(cluster, "driver_node_type_id", node);
        }
        let has_cloud = ["aws_attributes", "azure_attributes", "gcp_attributes"]
            .iter()
            .any(|k| cluster.contains_key(*k));
        if !has_cloud {
            cluster.insert(
                "aws_attributes".into(),
                json!({"availability": "SPOT_WITH_FALLBACK", "zone_id": "auto", "first_on_demand": 1, "spot_bid_price_percent": 100}),
            );
        }
    }
}

fn normalize_task(task: &mut Map<String, Value>, default_source: &str) {
    set_default(task, "run_if", json!("ALL_SUCCESS"));
    set_default(task, "timeout_seconds", json!(0));
    set_default(task, "email_notifications", json!({}));
    for kind in ["notebook_task", "spark_python_task"] {
        if let Some(Value::Object(inner)) = task.get_mut(kind) {
            set_default(inner, "source", json!(default_source));
        }
    }
    if let Some(Value::Array(deps)) = task.get_mut("depends_on") {
        deps.sort_by(|a, b| {
            let key = |v: &Value| {
                v.get("task_key")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            key(a).cmp(&key(b))
        });
    }
    drop_policy_defaults(task);
    if let Some(Value::Object(inner)) = task
        .get_mut("for_each_task")
        .and_then(|f| f.get_mut("task"))
    {
        normalize_task(inner, default_source);
    }
}

// ---------------------------------------------------------------------------------------------
// Update

/// `current` with `new` applied (top-level fields replaced; `tasks` and `job_clusters` merged
/// by key), then `remove` applied (top-level fields, `tasks/<key>`, `job_clusters/<key>`).
fn apply_update(
    current: &Map<String, Value>,
    new: Option<&Map<String, Value>>,
    remove: &[String],
) -> ApiResult<Map<String, Value>> {
    let mut settings = current.clone();
    for (key, value) in new.into_iter().flatten() {
        match key.as_str() {
            "tasks" => merge_by_key(&mut settings, "tasks", "task_key", value)?,
            "job_clusters" => {
                merge_by_key(&mut settings, "job_clusters", "job_cluster_key", value)?
            }
            _ => {
                settings.insert(key.clone(), value.clone());
            }
        }
    }
    for field in remove {
        remove_field(&mut settings, field)?;
    }
    Ok(settings)
}

fn merge_by_key(
    settings: &mut Map<String, Value>,
    array: &str,
    key_field: &str,
    incoming: &Value,
) -> ApiResult<()> {
    let incoming = match incoming {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => return Err(ApiError::invalid(format!("{array} must be an array"))),
    };
    let entry = settings
        .entry(array.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    let Value::Array(existing) = entry else {
        return Ok(());
    };
    for item in incoming {
        let key = item.get(key_field).and_then(Value::as_str);
        match existing
            .iter_mut()
            .find(|e| key.is_some() && e.get(key_field).and_then(Value::as_str) == key)
        {
            Some(slot) => *slot = item.clone(),
            None => existing.push(item.clone()),
        }
    }
    Ok(())
}

fn remove_field(settings: &mut Map<String, Value>, field: &str) -> ApiResult<()> {
    let Some((array, key)) = field.split_once('/') else {
        settings.remove(field);
        return Ok(());
    };
    let key_field = match array {
        "tasks" => "task_key",
        "job_clusters" => "job_cluster_key",
        _ => {
            return Err(ApiError::invalid(format!(
                "Cannot remove {field}: only top-level fields, tasks/<task_key> and job_clusters/<job_cluster_key> can be removed."
            )));
        }
    };
    if let Some(Value::Array(items)) = settings.get_mut(array) {
        items.retain(|item| item.get(key_field).and_then(Value::as_str) != Some(key));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Access control

fn level_rank(level: &str) -> u8 {
    JOB_LEVELS
        .iter()
        .position(|l| *l == level)
        .map_or(0, |i| i as u8 + 1)
}

/// Who the caller is, for job ACL checks.
struct Access<'a> {
    user: &'a str,
    admin: bool,
    groups: Vec<&'a str>,
}

impl<'a> Access<'a> {
    fn of(db: &'a Db, user: &'a str) -> Self {
        let admin = principals::is_admin(db, user);
        let groups = if admin {
            Vec::new()
        } else {
            let id = db
                .users
                .values()
                .find(|u| u.user_name.eq_ignore_ascii_case(user))
                .map(|u| u.id.as_str());
            db.groups
                .values()
                .filter(|g| {
                    g.display_name == "users"
                        || id.is_some_and(|id| g.members.iter().any(|m| m == id))
                })
                .map(|g| g.display_name.as_str())
                .collect()
        };
        Access {
            user,
            admin,
            groups,
        }
    }

    /// The caller's effective level on the job (0 for none); admins manage every job.
    fn level(&self, db: &Db, job_id: i64) -> u8 {
        if self.admin {
            return u8::MAX;
        }
        db.acls
            .get(&acl_key("jobs", &job_id.to_string()))
            .into_iter()
            .flat_map(|record| &record.entries)
            .filter(|e| self.holds(e))
            .map(|e| level_rank(&e.level))
            .max()
            .unwrap_or(0)
    }

    fn holds(&self, entry: &AclEntry) -> bool {
        match entry.principal_type.as_str() {
            "group_name" => self.groups.contains(&entry.name.as_str()),
            _ => entry.name.eq_ignore_ascii_case(self.user),
        }
    }
}

/// The service checks permissions before existence: a caller without access to a job gets
/// 403 whether or not the job exists.
fn check_access(db: &Db, caller: &Caller, job_id: i64, needed: u8) -> ApiResult<()> {
    if Access::of(db, &caller.user_name).level(db, job_id) >= needed {
        return Ok(());
    }
    let what = match needed {
        CAN_VIEW => "View",
        CAN_MANAGE_RUN => "Manage Run",
        _ => "Manage",
    };
    Err(ApiError::permission_denied(format!(
        "{} does not have {what} permissions on Job {job_id}. Please contact the owner or an administrator for access.",
        caller.user_name
    )))
}

fn job_missing(job_id: i64) -> ApiError {
    ApiError::invalid(format!("Job {job_id} does not exist."))
}

fn find_job(db: &Db, job_id: i64) -> ApiResult<&JobRecord> {
    db.jobs
        .get(&job_id.to_string())
        .ok_or_else(|| job_missing(job_id))
}

fn find_job_mut(db: &mut Db, job_id: i64) -> ApiResult<&mut JobRecord> {
    db.jobs
        .get_mut(&job_id.to_string())
        .ok_or_else(|| job_missing(job_id))
}

/// `run_as_user_name`: the `run_as` principal, else the job's owner, else its creator.
fn run_as_user_name<'a>(db: &'a Db, job: &'a JobRecord) -> &'a str {
    if let Some(Ok((_, name))) = job
        .settings
        .get("run_as")
        .and_then(Value::as_object)
        .map(run_as_principal)
    {
        return name;
    }
    db.acls
        .get(&acl_key("jobs", &job.job_id.to_string()))
        .and_then(|r| r.entries.iter().find(|e| e.level == "IS_OWNER"))
        .map_or(job.run_as_user_name.as_str(), |e| e.name.as_str())
}

/// The entries of a create request's `access_control_list`, each checked.
fn requested_acl(db: &Db, list: &Value) -> ApiResult<Vec<AclEntry>> {
    let items = list
        .as_array()
        .ok_or_else(|| ApiError::invalid("access_control_list must be an array"))?;
    items.iter().map(|item| acl_entry(db, item)).collect()
}

fn acl_entry(db: &Db, item: &Value) -> ApiResult<AclEntry> {
    let kinds = [
        ("user_name", PrincipalKind::User),
        ("group_name", PrincipalKind::Group),
        ("service_principal_name", PrincipalKind::ServicePrincipal),
    ];
    let named: Vec<_> = kinds
        .into_iter()
        .filter_map(|(key, kind)| Some((key, kind, item.get(key)?.as_str()?)))
        .collect();
    let [(principal_type, kind, name)] = named.as_slice() else {
        return Err(ApiError::invalid(
            "Each access control entry must set exactly one of user_name, group_name and service_principal_name.",
        ));
    };
    let level = item
        .get("permission_level")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if level_rank(level) == 0 {
        return Err(ApiError::invalid(format!(
            "Invalid permission level '{level}' for jobs: it must be one of {}.",
            JOB_LEVELS.join(", ")
        )));
    }
    if !principals::exists(db, *kind, name) {
        return Err(principal_missing(*kind, name));
    }
    Ok(AclEntry {
        principal_type: principal_type.to_string(),
        name: name.to_string(),
        level: level.to_string(),
    })
}

fn same_principal(a: &AclEntry, b: &AclEntry) -> bool {
    a.principal_type == b.principal_type
        && if a.principal_type == "group_name" {
            a.name == b.name
        } else {
            a.name.eq_ignore_ascii_case(&b.name)
        }
}

/// A new job's direct grants: the creator's IS_OWNER, overridden by the request's entries (the
/// last entry per principal wins; a requested owner replaces the creator as owner).
fn creation_acl(creator: &str, requested: Vec<AclEntry>) -> ApiResult<Vec<AclEntry>> {
    let mut wanted: Vec<AclEntry> = Vec::new();
    for entry in requested {
        match wanted.iter_mut().find(|w| same_principal(w, &entry)) {
            Some(slot) => *slot = entry,
            None => wanted.push(entry),
        }
    }
    let creator_entry = AclEntry {
        principal_type: "user_name".into(),
        name: creator.to_string(),
        level: "IS_OWNER".into(),
    };
    let mut entries = Vec::new();
    let names_owner = wanted.iter().any(|e| e.level == "IS_OWNER");
    if !names_owner && !wanted.iter().any(|e| same_principal(e, &creator_entry)) {
        entries.push(creator_entry);
    }
    entries.extend(wanted);
    let owners: Vec<&AclEntry> = entries.iter().filter(|e| e.level == "IS_OWNER").collect();
    match owners.as_slice() {
        [owner] if owner.principal_type == "group_name" => Err(ApiError::invalid(format!(
            "Group {} cannot own a job: the owner must be a user or a service principal.",
            owner.name
        ))),
        [_] => Ok(entries),
        _ => Err(ApiError::invalid("The job must have exactly one owner.")),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn json_response<T: Serialize>(value: &T) -> ApiResult<Response> {
    serde_json::to_vec(value)
        .map(|bytes| ([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                e.to_string(),
            )
        })
}

/// Which part of a job's arrays a response shows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    /// Leave out `tasks` and `job_clusters` (list without `expand_tasks`).
    strip_tasks: bool,
    /// The 2.2 page of the paged arrays; `None` shows them whole (2.1).
    page: Option<usize>,
}

impl Window {
    fn shows(&self, key: &str) -> bool {
        !(self.strip_tasks && (key == "tasks" || key == "job_clusters"))
    }

    /// Whether a later page has more of the arrays this window shows.
    fn has_more(&self, settings: &Map<String, Value>) -> bool {
        let Some(page) = self.page else {
            return false;
        };
        let shown = page.saturating_add(1).saturating_mul(PAGE);
        PAGED_ARRAYS.iter().any(|key| {
            self.shows(key)
                && settings
                    .get(*key)
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.len() > shown)
        })
    }
}

fn page_slice(items: &[Value], page: usize) -> &[Value] {
    let start = page.saturating_mul(PAGE).min(items.len());
    let end = start.saturating_add(PAGE).min(items.len());
    &items[start..end]
}

/// Job settings serialised straight from the store through a [`Window`], with no copy.
#[derive(Clone, Copy)]
struct SettingsView<'a> {
    settings: &'a Map<String, Value>,
    window: Window,
}

impl Serialize for SettingsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.settings {
            if !self.window.shows(key) {
                continue;
            }
            match (self.window.page, value) {
                (Some(page), Value::Array(items)) if PAGED_ARRAYS.contains(&key.as_str()) => {
                    let part = page_slice(items, page);
                    // Arrays already complete on an earlier page come back empty (left out).
                    if !part.is_empty() {
                        map.serialize_entry(key, part)?;
                    }
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JobView<'a> {
    job_id: i64,
    creator_user_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_user_name: Option<&'a str>,
    created_time: i64,
    settings: SettingsView<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

impl<'a> JobView<'a> {
    fn new(job: &'a JobRecord, window: Window) -> Self {
        JobView {
            job_id: job.job_id,
            creator_user_name: &job.creator_user_name,
            run_as_user_name: None,
            created_time: job.created_time,
            settings: SettingsView {
                settings: &job.settings,
                window,
            },
            has_more: false,
            next_page_token: None,
        }
    }
}

#[derive(Serialize)]
struct ListView<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    jobs: Vec<JobView<'a>>,
    has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_page_token: Option<String>,
}

fn run_json(run: &RunRecord) -> Value {
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
    body
}

// ---------------------------------------------------------------------------------------------
// Paging

/// The `name` filter of list: exact, case-insensitive.
fn name_matches(settings: &Map<String, Value>, wanted: &str) -> bool {
    let name = settings
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    name.chars()
        .flat_map(char::to_lowercase)
        .eq(wanted.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn error_of(s: Value) -> String {
        validate_settings(&obj(s))
            .expect_err("should be rejected")
            .message
    }

    #[test]
    fn normalisation_fills_the_server_defaults() {
        let s = normalize(
            obj(json!({
                "tasks": [{
                    "task_key": "b",
                    "notebook_task": {"notebook_path": "/x"},
                    "depends_on": [{"task_key": "z"}, {"task_key": "a"}],
                    "new_cluster": {"spark_version": "15.4.x", "apply_policy_default_values": true}
                }],
                "job_clusters": [{"job_cluster_key": "c", "new_cluster": {"apply_policy_default_values": false}}],
                "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
                "format": "SINGLE_TASK",
                "parameters": []
            })),
            false,
        );
        assert_eq!(s["name"], "Untitled");
        assert_eq!(s["email_notifications"], json!({}));
        assert_eq!(s["webhook_notifications"], json!({}));
        assert_eq!(s["timeout_seconds"], 0);
        assert_eq!(s["max_concurrent_runs"], 1);
        assert_eq!(s["format"], "MULTI_TASK");
        assert_eq!(s["schedule"]["pause_status"], "UNPAUSED");
        assert!(!s.contains_key("queue"));
        assert!(!s.contains_key("parameters"));
        let task = &s["tasks"][0];
        assert_eq!(task["run_if"], "ALL_SUCCESS");
        assert_eq!(task["timeout_seconds"], 0);
        assert_eq!(task["email_notifications"], json!({}));
        assert_eq!(task["notebook_task"]["source"], "WORKSPACE");
        assert_eq!(
            task["depends_on"],
            json!([{"task_key": "a"}, {"task_key": "z"}])
        );
        let cluster = &task["new_cluster"];
        assert!(cluster.get("apply_policy_default_values").is_none());
        assert_eq!(cluster["spark_version"], "15.4.x");
        assert_eq!(cluster["enable_elastic_disk"], true);
        assert_eq!(
            cluster["aws_attributes"]["availability"],
            "SPOT_WITH_FALLBACK"
        );
        assert!(
            s["job_clusters"][0]["new_cluster"]
                .get("apply_policy_default_values")
                .is_none()
        );
    }

    #[test]
    fn normalisation_keeps_given_values_and_knows_git_and_2_2_queueing() {
        let s = normalize(
            obj(json!({
                "name": "n", "max_concurrent_runs": 0, "queue": {"enabled": false},
                "git_source": {"git_url": "https://x", "git_provider": "GITHUB"},
                "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "nb"}, "run_if": "ALL_DONE"}],
            })),
            true,
        );
        assert_eq!(s["name"], "n");
        assert_eq!(s["max_concurrent_runs"], 0);
        assert_eq!(s["queue"], json!({"enabled": false}));
        assert_eq!(s["git_source"]["git_provider"], "gitHub");
        assert_eq!(s["tasks"][0]["notebook_task"]["source"], "GIT");
        assert_eq!(s["tasks"][0]["run_if"], "ALL_DONE");
        let queued = normalize(Map::new(), true);
        assert_eq!(queued["queue"], json!({"enabled": true}));
        assert_eq!(normalize(queued.clone(), true), queued, "idempotent");
    }

    #[test]
    fn validation_rejects_what_the_service_rejects() {
        let cases = [
            (json!({"max_concurrent_runs": 1001}), "between 0 and 1000"),
            (json!({"max_concurrent_runs": -1}), "between 0 and 1000"),
            (
                json!({"tags": (0..26).map(|i| (format!("k{i}"), json!("v"))).collect::<Map<_, _>>()}),
                "at most 25 tags",
            ),
            (json!({"name": "x".repeat(4097)}), "at most 4096 bytes"),
            (
                json!({"tasks": [{"task_key": "a"}, {"task_key": "a"}]}),
                "must be unique",
            ),
            (
                json!({"tasks": [{"task_key": "a", "depends_on": [{"task_key": "b"}]}]}),
                "does not exist",
            ),
            (
                json!({"tasks": [{"task_key": "a", "job_cluster_key": "c"}]}),
                "not defined in job_clusters",
            ),
            (
                json!({"tasks": [
                    {"task_key": "a", "depends_on": [{"task_key": "b"}]},
                    {"task_key": "b", "depends_on": [{"task_key": "a"}]},
                    {"task_key": "c"}]}),
                "cycle involving: a, b",
            ),
            (
                json!({"schedule": {"quartz_cron_expression": "x", "timezone_id": "UTC"}, "continuous": {}}),
                "Only one of schedule",
            ),
            (
                json!({"triggers": [], "trigger": {"periodic": {"interval": 1, "unit": "HOURS"}}}),
                "triggers cannot be combined",
            ),
            (
                json!({"schedule": {"timezone_id": "UTC"}}),
                "schedule.quartz_cron_expression",
            ),
            (
                json!({"tasks": (0..1001).map(|i| json!({"task_key": format!("t{i}")})).collect::<Vec<_>>()}),
                "at most 1000 tasks",
            ),
            (
                json!({"git_source": {"git_url": "https://x"}}),
                "git_provider",
            ),
            (json!({"run_as": {}}), "exactly one"),
            (json!({"queue": {}}), "queue.enabled"),
            (json!({"tasks": [{"task_key": "a.b"}]}), "Invalid task_key"),
            (json!({"parameters": [{"name": "p"}]}), "default"),
        ];
        for (settings, expected) in cases {
            let message = error_of(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        validate_settings(&obj(json!({
            "name": "ok", "max_concurrent_runs": 0,
            "job_clusters": [{"job_cluster_key": "c", "new_cluster": {}}],
            "tasks": [
                {"task_key": "a", "job_cluster_key": "c"},
                {"task_key": "b", "depends_on": [{"task_key": "a"}]}],
            "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
        })))
        .expect("valid settings");
    }

    #[test]
    fn update_merges_tasks_and_clusters_by_key_and_removes_fields() {
        let current = obj(json!({
            "name": "old", "tags": {"a": "1"}, "schedule": {"quartz_cron_expression": "x"},
            "tasks": [{"task_key": "a", "x": 1}, {"task_key": "b", "x": 1}, {"task_key": "c"}],
            "job_clusters": [{"job_cluster_key": "k1", "v": 1}, {"job_cluster_key": "k2"}],
        }));
        let new = obj(json!({
            "name": "new",
            "tags": {"b": "2"},
            "tasks": [{"task_key": "b", "x": 2}, {"task_key": "d"}],
            "job_clusters": [{"job_cluster_key": "k1", "v": 2}],
        }));
        let remove = [
            "schedule".to_string(),
            "tasks/c".into(),
            "job_clusters/k2".into(),
        ];
        let merged = apply_update(&current, Some(&new), &remove).expect("update");
        assert_eq!(merged["name"], "new");
        assert_eq!(
            merged["tags"],
            json!({"b": "2"}),
            "top-level fields replace whole"
        );
        assert!(!merged.contains_key("schedule"));
        assert_eq!(
            merged["tasks"],
            json!([{"task_key": "a", "x": 1}, {"task_key": "b", "x": 2}, {"task_key": "d"}])
        );
        assert_eq!(
            merged["job_clusters"],
            json!([{"job_cluster_key": "k1", "v": 2}])
        );
        let nested = apply_update(&current, None, &["schedule/pause_status".to_string()]);
        assert!(nested.is_err());
    }

    #[test]
    fn get_pages_arrays_by_100() {
        let tasks: Vec<Value> = (0..150)
            .map(|i| json!({"task_key": format!("t{i}")}))
            .collect();
        let settings =
            obj(json!({"name": "big", "tasks": tasks, "job_clusters": [{"job_cluster_key": "c"}]}));
        let render = |page| {
            let window = Window {
                strip_tasks: false,
                page: Some(page),
            };
            let view = SettingsView {
                settings: &settings,
                window,
            };
            (
                serde_json::to_value(view).expect("serialises"),
                window.has_more(&settings),
            )
        };
        let (first, more) = render(0);
        assert!(more);
        assert_eq!(first["tasks"].as_array().map(Vec::len), Some(100));
        assert_eq!(first["job_clusters"].as_array().map(Vec::len), Some(1));
        let (second, more) = render(1);
        assert!(!more);
        assert_eq!(second["tasks"].as_array().map(Vec::len), Some(50));
        assert_eq!(second["tasks"][0]["task_key"], "t100");
        assert!(second.get("job_clusters").is_none(), "complete on page 1");
        assert_eq!(second["name"], "big");
        let token = job_page_token(7, 1);
        assert_eq!(decode_job_page_token(&token, 7).expect("decodes"), 1);
        assert!(decode_job_page_token(&token, 8).is_err());
        let summary = Window {
            strip_tasks: true,
            page: Some(0),
        };
        let listed = serde_json::to_value(SettingsView {
            settings: &settings,
            window: summary,
        })
        .expect("serialises");
        assert!(listed.get("tasks").is_none() && listed.get("job_clusters").is_none());
        assert!(!summary.has_more(&settings));
    }

    #[test]
    fn name_filter_is_exact_and_case_insensitive() {
        let s = obj(json!({"name": "Nightly ETL"}));
        assert!(name_matches(&s, "nightly etl"));
        assert!(name_matches(&s, "NIGHTLY ETL"));
        assert!(!name_matches(&s, "Nightly"));
        assert!(!name_matches(&s, "Nightly ETL "));
        assert!(name_matches(&obj(json!({"name": "ÄRGER"})), "ärger"));
    }

    fn entry(kind: &str, name: &str, level: &str) -> AclEntry {
        AclEntry {
            principal_type: kind.into(),
            name: name.into(),
            level: level.into(),
        }
    }

    #[test]
    fn creation_acl_keeps_one_owner() {
        let plain = creation_acl("me@x", vec![entry("group_name", "g", "CAN_VIEW")]).expect("ok");
        assert_eq!(
            plain,
            [
                entry("user_name", "me@x", "IS_OWNER"),
                entry("group_name", "g", "CAN_VIEW")
            ]
        );
        let moved = creation_acl(
            "me@x",
            vec![
                entry("user_name", "bob@x", "CAN_VIEW"),
                entry("user_name", "bob@x", "IS_OWNER"),
            ],
        )
        .expect("ok");
        assert_eq!(
            moved,
            [entry("user_name", "bob@x", "IS_OWNER")],
            "last entry wins"
        );
        let err = creation_acl("me@x", vec![entry("user_name", "ME@x", "CAN_VIEW")]);
        assert!(err.is_err(), "the creator demoted leaves no owner");
        let two = creation_acl(
            "me@x",
            vec![
                entry("user_name", "a@x", "IS_OWNER"),
                entry("user_name", "b@x", "IS_OWNER"),
            ],
        );
        assert!(two.is_err());
        assert!(creation_acl("me@x", vec![entry("group_name", "g", "IS_OWNER")]).is_err());
    }

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
