//! The jobs HTTP handlers: parse the request, apply the rules, shape the response.

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::access::{
    Access, CAN_MANAGE, CAN_VIEW, check_access, creation_acl, requested_acl, run_as_user_name,
};
use super::normalize::{apply_update, normalize};
use super::references::check_cluster_references;
use super::rules::{check_run_as, validate_settings};
use super::shapes::check_shapes;
use super::views::{JobView, ListView, Window, json_response};
use super::{find_job, find_job_mut, is_v22, job_body, job_missing};
use crate::emulator::permissions::{acl_key, drop_acl, init_acl};
use crate::emulator::request::{
    Cursor, decode_job_page_token, into_object, job_page_token, non_negative, page_cursor,
    page_desc, query_id,
};
use crate::emulator::store::{Collection, JobRecord};
use crate::emulator::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

pub(super) async fn create<const V: u8>(
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
        crate::emulator::clusters::check_job_clusters(&ws, db, &settings)?;
        check_cluster_references(db, &settings)?;
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

pub(super) async fn get_job<const V: u8>(
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

pub(super) async fn list_jobs<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Response> {
    // 2.1 takes up to 100 as 2.2 does (docs.databricks.com/api/azure/workspace/jobs_21/list).
    let max = 100;
    let limit = query.int("limit")?.unwrap_or(20);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "Invalid limit {limit}: it must be between 1 and {max}."
        )));
    }
    let offset = non_negative(query.int("offset")?.unwrap_or(0), "offset")?;
    check_list_offset(offset)?;
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

pub(super) async fn reset<const V: u8>(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (mut body, job_id) = job_body(body)?;
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
        crate::emulator::clusters::check_job_clusters(&ws, db, &new)?;
        check_cluster_references(db, &new)?;
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

pub(super) async fn update(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (body, job_id) = job_body(body)?;
    let new = update_settings(&body)?;
    if let Some(new) = new {
        check_shapes(new)?;
    }
    let remove = fields_to_remove(&body)?;
    ws.store.write(|db, tx| {
        check_access(db, &caller, job_id, CAN_MANAGE)?;
        let merged = apply_update(&find_job(db, job_id)?.settings, new, &remove)?;
        validate_settings(&merged)?;
        crate::emulator::clusters::check_job_clusters(&ws, db, &merged)?;
        check_cluster_references(db, &merged)?;
        if let Some(new) = new {
            check_run_as(db, &caller, new)?;
        }
        find_job_mut(db, job_id)?.settings = normalize(merged, false);
        tx.touch(Collection::Jobs, job_id.to_string());
        Ok(Json(json!({})))
    })
}

pub(super) async fn delete(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (_, job_id) = job_body(body)?;
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

/// The `new_settings` of an update body, if any.
pub(super) fn update_settings(body: &Map<String, Value>) -> ApiResult<Option<&Map<String, Value>>> {
    match body.get("new_settings") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::invalid("new_settings must be an object")),
    }
}

pub(super) fn fields_to_remove(body: &Map<String, Value>) -> ApiResult<Vec<String>> {
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

/// The largest `offset` jobs/list accepts since the parameter was deprecated (June 2023); deeper
/// pages need `page_token`.
const MAX_LIST_OFFSET: usize = 1000;

/// Refuses an `offset` beyond [`MAX_LIST_OFFSET`] with the service's message.
fn check_list_offset(offset: usize) -> ApiResult<()> {
    if offset > MAX_LIST_OFFSET {
        return Err(ApiError::invalid(format!(
            "The supplied offset {offset} has exceeded the value of {MAX_LIST_OFFSET} allowed for this parameter.Please use the page_token parameter to page through the results instead."
        )));
    }
    Ok(())
}

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
    use crate::emulator::jobs::obj;
    use serde_json::json;

    #[test]
    fn list_offsets_beyond_1000_are_refused() {
        assert!(check_list_offset(0).is_ok());
        assert!(check_list_offset(1000).is_ok());
        let error = check_list_offset(1025).expect_err("too deep");
        assert!(
            error
                .message
                .starts_with("The supplied offset 1025 has exceeded the value of 1000"),
            "{}",
            error.message
        );
        assert_eq!(error.error_code, json!("INVALID_PARAMETER_VALUE"));
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
}
