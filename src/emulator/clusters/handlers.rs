//! The clusters HTTP handlers: every one first moves the clusters along to now, then applies
//! the rules and the life cycle, and shapes the response.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::catalog::Cloud;
use super::listing::{ListQuery, listed, sort_default};
use super::rules::{check_spec, masked, requested_size};
use super::views::details;
use crate::emulator::cluster_lifecycle::{
    PENDING, TERMINATED, edit_transition, log_event, progress, resize_transition,
    restart_transition, start_transition, terminate_transition, unexpected_state,
};
use crate::emulator::ids::new_id;
use crate::emulator::principals::{self, PrincipalKind};
use crate::emulator::request::{missing, object, page_window, query_str_id, required_str};
use crate::emulator::store::{ClusterRecord, Collection, Db, Tx};
use crate::emulator::{
    ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs, Workspace, permissions,
};

fn does_not_exist(id: &str) -> ApiError {
    ApiError::invalid(format!("Cluster {id} does not exist"))
}

fn cluster_mut<'a>(db: &'a mut Db, id: &str) -> ApiResult<&'a mut ClusterRecord> {
    db.clusters.get_mut(id).ok_or_else(|| does_not_exist(id))
}

/// Runs `f` in a write after moving every cluster along to now; `f` gets the current time.
fn write<R>(ws: &Workspace, f: impl FnOnce(&mut Db, &mut Tx, i64) -> ApiResult<R>) -> ApiResult<R> {
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        progress(ws, db, tx);
        f(db, tx, now)
    })
}

/// Applies `f` to one cluster (named by the body's `cluster_id`) and answers `{}`.
fn change(
    ws: &Workspace,
    body: &Value,
    f: impl FnOnce(&mut ClusterRecord, i64) -> ApiResult<()>,
) -> ApiResult<Json<Value>> {
    let id = body_id(body)?;
    write(ws, |db, tx, now| {
        f(cluster_mut(db, &id)?, now)?;
        tx.touch(Collection::Clusters, id.clone());
        Ok(Json(json!({})))
    })
}

fn body_id(body: &Value) -> ApiResult<String> {
    match body.as_object() {
        Some(map) => required_str(map, "cluster_id"),
        None => Err(missing("cluster_id")),
    }
}

fn require_admin(db: &Db, caller: &Caller, action: &str) -> ApiResult<()> {
    if principals::is_admin(db, &caller.user_name) {
        return Ok(());
    }
    Err(ApiError::permission_denied(format!(
        "Only workspace admins can {action}."
    )))
}

pub(super) async fn create(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut spec = object(body)?;
    spec.shift_remove("cluster_id");
    write(&ws, |db, tx, now| {
        check_spec(ws.options.cloud, db, &mut spec)?;
        let seq = db.next_seq(tx);
        let id = new_id(now, seq);
        let mut rec = ClusterRecord {
            cluster_id: id.clone(),
            spec,
            state: PENDING.into(),
            state_since: now,
            creator_user_name: caller.user_name.clone(),
            cluster_source: "API".into(),
            pinned: false,
            start_time: now,
            terminated_time: None,
            last_restarted_time: None,
            termination_reason: None,
            pinned_by_user_name: None,
            events: Vec::new(),
        };
        let size = rec.spec.get("autoscale").map_or_else(
            || json!({"num_workers": rec.spec.get("num_workers").cloned().unwrap_or(json!(0))}),
            |autoscale| json!({"autoscale": autoscale}),
        );
        let details = json!({"cluster_size": size, "user": caller.user_name})
            .as_object()
            .cloned()
            .unwrap_or_default();
        log_event(&mut rec, "CREATING", details, now);
        db.clusters.insert(id.clone(), rec);
        tx.touch(Collection::Clusters, id.clone());
        permissions::init_acl(db, tx, "clusters", &id, &caller.user_name);
        Ok(Json(json!({"cluster_id": id})))
    })
}

/// Replaces a cluster's spec (after validating it) under the edit state rules.
fn replace_spec(
    cloud: Cloud,
    db: &mut Db,
    tx: &mut Tx,
    id: &str,
    mut spec: Map<String, Value>,
    now: i64,
) -> ApiResult<Json<Value>> {
    if !db.clusters.contains_key(id) {
        return Err(does_not_exist(id));
    }
    check_spec(cloud, db, &mut spec)?;
    edit_transition(cluster_mut(db, id)?, spec, now)?;
    tx.touch(Collection::Clusters, id.to_string());
    Ok(Json(json!({})))
}

pub(super) async fn edit(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut spec = object(body)?;
    let id = required_str(&spec, "cluster_id")?;
    spec.shift_remove("cluster_id");
    write(&ws, |db, tx, now| {
        replace_spec(ws.options.cloud, db, tx, &id, spec, now)
    })
}

pub(super) async fn update(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let id = required_str(&body, "cluster_id")?;
    let mask = required_str(&body, "update_mask")?;
    let changes = match body.get("cluster") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ApiError::invalid("cluster must be an object")),
    };
    write(&ws, |db, tx, now| {
        let current = db
            .clusters
            .get(&id)
            .ok_or_else(|| does_not_exist(&id))?
            .spec
            .clone();
        let spec = masked(current, &changes, &mask);
        replace_spec(ws.options.cloud, db, tx, &id, spec, now)
    })
}

pub(super) async fn get_cluster(
    State(ws): State<AppState>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let id = query_str_id(&query, "cluster_id")?;
    write(&ws, |db, _, _| {
        let rec = db.clusters.get(&id).ok_or_else(|| does_not_exist(&id))?;
        Ok(Json(details(db, rec, true)))
    })
}

pub(super) async fn start(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, start_transition)
}

pub(super) async fn restart(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, restart_transition)
}

pub(super) async fn resize(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let size = requested_size(&object(body.clone())?)?;
    change(&ws, &body, |rec, now| resize_transition(rec, size, now))
}

pub(super) async fn delete(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, |rec, now| {
        terminate_transition(rec, &caller.user_name, now);
        Ok(())
    })
}

pub(super) async fn permanent_delete(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let id = body_id(&body)?;
    write(&ws, |db, tx, _| {
        let rec = db.clusters.get(&id).ok_or_else(|| does_not_exist(&id))?;
        if rec.pinned {
            return Err(ApiError::invalid_state(format!(
                "Cluster {id} is pinned and cannot be permanently deleted. Please unpin the cluster first."
            )));
        }
        db.clusters.remove(&id);
        tx.touch(Collection::Clusters, id.clone());
        permissions::drop_acl(db, tx, "clusters", &id);
        Ok(Json(json!({})))
    })
}

fn set_pinned(
    ws: &Workspace,
    caller: &Caller,
    body: &Value,
    pinned: bool,
) -> ApiResult<Json<Value>> {
    let id = body_id(body)?;
    write(ws, |db, tx, now| {
        require_admin(db, caller, "pin or unpin clusters")?;
        let rec = cluster_mut(db, &id)?;
        if rec.pinned != pinned {
            rec.pinned = pinned;
            rec.pinned_by_user_name = pinned.then(|| caller.user_name.clone());
            let kind = if pinned { "PINNED" } else { "UNPINNED" };
            let details = json!({"user": caller.user_name})
                .as_object()
                .cloned()
                .unwrap_or_default();
            log_event(rec, kind, details, now);
            tx.touch(Collection::Clusters, id.clone());
        }
        Ok(Json(json!({})))
    })
}

pub(super) async fn pin(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_pinned(&ws, &caller, &body, true)
}

pub(super) async fn unpin(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_pinned(&ws, &caller, &body, false)
}

pub(super) async fn change_owner(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let map = object(body)?;
    let id = required_str(&map, "cluster_id")?;
    let owner = required_str(&map, "owner_username")?;
    write(&ws, |db, tx, _| {
        require_admin(db, &caller, "change the owner of a cluster")?;
        let known = principals::exists(db, PrincipalKind::User, &owner)
            || principals::exists(db, PrincipalKind::ServicePrincipal, &owner);
        let rec = cluster_mut(db, &id)?;
        if rec.state != TERMINATED {
            return Err(unexpected_state(rec));
        }
        if !known {
            return Err(ApiError::invalid(format!("User {owner} does not exist")));
        }
        rec.creator_user_name = owner;
        tx.touch(Collection::Clusters, id.clone());
        Ok(Json(json!({})))
    })
}

pub(super) async fn list_v20(State(ws): State<AppState>) -> ApiResult<Json<Value>> {
    write(&ws, |db, _, now| {
        let db = &*db;
        let mut items: Vec<&ClusterRecord> =
            db.clusters.values().filter(|r| listed(r, now)).collect();
        sort_default(&mut items);
        if items.is_empty() {
            return Ok(Json(json!({})));
        }
        let clusters: Vec<Value> = items.iter().map(|r| details(db, r, false)).collect();
        Ok(Json(json!({"clusters": clusters})))
    })
}

pub(super) async fn list_v21(
    State(ws): State<AppState>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let query = ListQuery::parse(&query)?;
    write(&ws, |db, _, now| {
        let db = &*db;
        let mut items: Vec<&ClusterRecord> = db
            .clusters
            .values()
            .filter(|r| listed(r, now) && query.matches(r))
            .collect();
        query.sort(&mut items);
        let (start, end, next, prev) =
            page_window("clusters", query.offset, query.page_size, items.len());
        if start == end {
            return Ok(Json(json!({})));
        }
        let clusters: Vec<Value> = items[start..end]
            .iter()
            .map(|r| details(db, r, false))
            .collect();
        Ok(Json(json!({
            "clusters": clusters,
            "next_page_token": next,
            "prev_page_token": prev,
        })))
    })
}
