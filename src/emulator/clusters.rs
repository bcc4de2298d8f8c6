//! Clusters API 2.0 and 2.1 (`/api/2.0/clusters/*`, `/api/2.1/clusters/*`) with the cluster state
//! machine.
//!
//! Asynchronous progress (PENDING → RUNNING, TERMINATING → TERMINATED, ...) is applied lazily: every
//! request that reads or writes clusters first moves each cluster along the transitions that are
//! due, so no background task is needed and a restarted emulator carries on where it stopped.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::cluster_lifecycle::{
    PENDING, RESIZING, RESTARTING, RUNNING, TERMINATED, TERMINATING, edit_transition, is_up,
    progress, resize_transition, restart_transition, start_transition, terminate_transition,
    unexpected_state, workers,
};
use super::ids::{mix, new_id};
use super::principals::{self, PrincipalKind};
use super::request::{
    check_custom_tags, decode_offset_token, missing, object, optional_int, page_size, page_window,
    query_str_id, required_str, str_field,
};
use super::store::{ClusterRecord, Collection, Db, Tx};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs, Workspace, permissions};

const STATES: [&str; 8] = [
    PENDING,
    RUNNING,
    RESTARTING,
    RESIZING,
    TERMINATING,
    TERMINATED,
    "ERROR",
    "UNKNOWN",
];
const SOURCES: [&str; 7] = [
    "UI",
    "API",
    "JOB",
    "PIPELINE",
    "PIPELINE_MAINTENANCE",
    "MODELS",
    "SQL",
];

/// List shows unpinned terminated clusters for this long.
const LIST_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// The clusters routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/2.0/clusters/list", get(list_v20))
        .route("/api/2.1/clusters/list", get(list_v21))
        .route("/api/2.1/clusters/update", post(update));
    for version in ["2.0", "2.1"] {
        let path = |op: &str| format!("/api/{version}/clusters/{op}");
        router = router
            .route(&path("create"), post(create))
            .route(&path("edit"), post(edit))
            .route(&path("get"), get(get_cluster))
            .route(&path("start"), post(start))
            .route(&path("restart"), post(restart))
            .route(&path("resize"), post(resize))
            .route(&path("delete"), post(delete))
            .route(&path("permanent-delete"), post(permanent_delete))
            .route(&path("pin"), post(pin))
            .route(&path("unpin"), post(unpin))
            .route(&path("change-owner"), post(change_owner))
            .route(&path("spark-versions"), get(spark_versions))
            .route(&path("list-node-types"), get(list_node_types))
            .route(&path("list-zones"), get(list_zones));
    }
    router
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// Validates a size: exactly one of `num_workers` (≥ 0) and `autoscale` (max > min ≥ 0), unless
/// the cluster is a `kind: CLASSIC_PREVIEW` single-node one.
fn check_size(spec: &Map<String, Value>) -> ApiResult<()> {
    let has = |key: &str| spec.get(key).is_some_and(|v| !v.is_null());
    match (has("num_workers"), has("autoscale")) {
        (true, true) => Err(ApiError::invalid(
            "Only one of num_workers or autoscale may be specified",
        )),
        (false, false) if spec.get("is_single_node") == Some(&Value::Bool(true)) => Ok(()),
        (false, false) => Err(ApiError::invalid(
            "One of num_workers or autoscale must be specified",
        )),
        (true, false) => match optional_int(spec, "num_workers")? {
            Some(n) if n < 0 => Err(ApiError::invalid(format!(
                "num_workers must be non-negative, got {n}"
            ))),
            _ => Ok(()),
        },
        (false, true) => check_autoscale(spec.get("autoscale")),
    }
}

fn check_autoscale(autoscale: Option<&Value>) -> ApiResult<()> {
    let Some(autoscale) = autoscale.and_then(Value::as_object) else {
        return Err(ApiError::invalid(
            "autoscale must be an object with min_workers and max_workers",
        ));
    };
    let min =
        optional_int(autoscale, "min_workers")?.ok_or_else(|| missing("autoscale.min_workers"))?;
    let max =
        optional_int(autoscale, "max_workers")?.ok_or_else(|| missing("autoscale.max_workers"))?;
    if min < 0 || max <= min {
        return Err(ApiError::invalid(format!(
            "Autoscale max_workers ({max}) must be greater than min_workers ({min}), and min_workers must be non-negative"
        )));
    }
    Ok(())
}

/// Validates a create/edit spec against the rules the service enforces.
fn check_spec(db: &Db, spec: &Map<String, Value>) -> ApiResult<()> {
    required_str(spec, "spark_version")?;
    check_size(spec)?;
    check_custom_tags(spec)?;
    if let Some(minutes) = optional_int(spec, "autotermination_minutes")?
        && minutes != 0
        && !(10..=10_000).contains(&minutes)
    {
        return Err(ApiError::invalid(format!(
            "Invalid autotermination_minutes {minutes}: it must be 0 (never) or between 10 and 10000"
        )));
    }
    if spec
        .get("ssh_public_keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| keys.len() > 10)
    {
        return Err(ApiError::invalid(
            "ssh_public_keys may have at most 10 entries",
        ));
    }
    for key in ["instance_pool_id", "driver_instance_pool_id"] {
        if let Some(pool) = str_field(spec, key)
            && !db.pools.contains_key(pool)
        {
            return Err(ApiError::invalid(format!(
                "Instance pool {pool} does not exist"
            )));
        }
    }
    // Node types come from the pool, or from the policy (policies are not emulated).
    if str_field(spec, "instance_pool_id").is_none() && str_field(spec, "policy_id").is_none() {
        required_str(spec, "node_type_id")?;
    }
    Ok(())
}

/// A resize body's new size, validated: `{num_workers}` or `{autoscale}`.
fn requested_size(body: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let size: Map<String, Value> = ["num_workers", "autoscale"]
        .into_iter()
        .filter_map(|k| {
            body.get(k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    check_size(&size)?;
    Ok(size)
}

// ---------------------------------------------------------------------------------------------
// Responses.

/// ClusterDetails: the spec at top level with the server's defaults, the read-only status fields,
/// and (on get, not list) `spec`.
fn details(db: &Db, rec: &ClusterRecord, with_spec: bool) -> Value {
    let mut out = Map::new();
    out.insert("cluster_id".into(), json!(rec.cluster_id));
    out.extend(
        rec.spec
            .iter()
            .filter(|(k, _)| k.as_str() != "apply_policy_default_values")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    add_defaults(db, rec, &mut out);
    add_status(rec, &mut out);
    if with_spec {
        out.insert("spec".into(), Value::Object(rec.spec.clone()));
    }
    Value::Object(out)
}

fn pool_node_type(db: &Db, pool_id: Option<&str>) -> Option<Value> {
    pool_id
        .and_then(|id| db.pools.get(id))
        .and_then(|p| p.spec.get("node_type_id").cloned())
}

/// What the service fills in: node types (from the pools if any), elastic disk, the single user,
/// the cluster name and the default tags.
fn add_defaults(db: &Db, rec: &ClusterRecord, out: &mut Map<String, Value>) {
    out.entry("cluster_name").or_insert(json!(""));
    if let Some(pool) = str_field(&rec.spec, "instance_pool_id") {
        let pool = pool.to_string();
        out.entry("driver_instance_pool_id").or_insert(json!(pool));
        if !out.contains_key("node_type_id")
            && let Some(node_type) = pool_node_type(db, Some(&pool))
        {
            out.insert("node_type_id".into(), node_type);
        }
    }
    if !out.contains_key("driver_node_type_id") {
        let driver_pool = str_field(out, "driver_instance_pool_id").map(str::to_string);
        let node_type =
            pool_node_type(db, driver_pool.as_deref()).or_else(|| out.get("node_type_id").cloned());
        if let Some(node_type) = node_type {
            out.insert("driver_node_type_id".into(), node_type);
        }
    }
    out.entry("enable_elastic_disk").or_insert(json!(true));
    let dedicated = matches!(
        str_field(&rec.spec, "data_security_mode"),
        Some("SINGLE_USER" | "DATA_SECURITY_MODE_DEDICATED")
    );
    if dedicated && str_field(&rec.spec, "single_user_name").is_none() {
        out.insert("single_user_name".into(), json!(rec.creator_user_name));
    }
    let name = out
        .get("cluster_name")
        .cloned()
        .unwrap_or_else(|| json!(""));
    out.insert(
        "default_tags".into(),
        json!({
            "Vendor": "Databricks",
            "Creator": rec.creator_user_name,
            "ClusterName": name,
            "ClusterId": rec.cluster_id,
        }),
    );
}

fn state_message(state: &str) -> &'static str {
    match state {
        PENDING => "Finding instances for new nodes, acquiring more instances if necessary",
        RESTARTING => "Restarting Spark",
        RESIZING => "Resizing the cluster",
        TERMINATING => "Terminating the cluster",
        _ => "",
    }
}

fn add_status(rec: &ClusterRecord, out: &mut Map<String, Value>) {
    out.insert("state".into(), json!(rec.state));
    out.insert("state_message".into(), json!(state_message(&rec.state)));
    out.insert("start_time".into(), json!(rec.start_time));
    if rec.state == TERMINATED
        && let Some(at) = rec.terminated_time
    {
        out.insert("terminated_time".into(), json!(at));
    }
    if let Some(at) = rec.last_restarted_time {
        out.insert("last_restarted_time".into(), json!(at));
    }
    if let Some(reason) = rec
        .termination_reason
        .as_ref()
        .filter(|_| !is_up(&rec.state))
    {
        out.insert("termination_reason".into(), reason.clone());
    }
    out.insert("creator_user_name".into(), json!(rec.creator_user_name));
    out.insert("cluster_source".into(), json!(rec.cluster_source));
    if let Some(by) = rec.pinned_by_user_name.as_ref().filter(|_| rec.pinned) {
        out.insert("pinned_by_user_name".into(), json!(by));
    }
    if is_up(&rec.state) {
        add_running_info(rec, out);
    }
}

/// Read-only figures of a running cluster: the Spark context and its total size.
fn add_running_info(rec: &ClusterRecord, out: &mut Map<String, Value>) {
    let context = mix(rec.state_since as u64 ^ mix(rec.cluster_id.len() as u64)) >> 2;
    out.insert("spark_context_id".into(), json!(context));
    out.insert("jdbc_port".into(), json!(10000));
    let node = str_field(out, "node_type_id").and_then(|id| NODE_TYPES.iter().find(|n| n.0 == id));
    if let Some((_, cores, memory_mb, ..)) = node {
        let nodes = workers(&rec.spec) + 1;
        out.insert("cluster_cores".into(), json!(cores * nodes as f64));
        out.insert("cluster_memory_mb".into(), json!(memory_mb * nodes));
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers.

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

async fn create(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut spec = object(body)?;
    spec.shift_remove("cluster_id");
    write(&ws, |db, tx, now| {
        check_spec(db, &spec)?;
        let seq = db.next_seq(tx);
        let id = new_id(now, seq);
        let rec = ClusterRecord {
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
        };
        db.clusters.insert(id.clone(), rec);
        tx.touch(Collection::Clusters, id.clone());
        permissions::init_acl(db, tx, "clusters", &id, &caller.user_name);
        Ok(Json(json!({"cluster_id": id})))
    })
}

/// Replaces a cluster's spec (after validating it) under the edit state rules.
fn replace_spec(
    db: &mut Db,
    tx: &mut Tx,
    id: &str,
    spec: Map<String, Value>,
    now: i64,
) -> ApiResult<Json<Value>> {
    if !db.clusters.contains_key(id) {
        return Err(does_not_exist(id));
    }
    check_spec(db, &spec)?;
    edit_transition(cluster_mut(db, id)?, spec, now)?;
    tx.touch(Collection::Clusters, id.to_string());
    Ok(Json(json!({})))
}

async fn edit(State(ws): State<AppState>, ApiJson(body): ApiJson<Value>) -> ApiResult<Json<Value>> {
    let mut spec = object(body)?;
    let id = required_str(&spec, "cluster_id")?;
    spec.shift_remove("cluster_id");
    write(&ws, |db, tx, now| replace_spec(db, tx, &id, spec, now))
}

async fn update(
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
        replace_spec(db, tx, &id, spec, now)
    })
}

/// `spec` with the fields named by `mask` (`a,b.c`; `*` for all) taken from `changes`; a named
/// field missing from `changes` is removed.
fn masked(
    mut spec: Map<String, Value>,
    changes: &Map<String, Value>,
    mask: &str,
) -> Map<String, Value> {
    if mask.trim() == "*" {
        return changes.clone();
    }
    for path in mask.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        set_path(&mut spec, path, lookup(changes, path).cloned());
    }
    spec
}

fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let value = map.get(head)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup(value.as_object()?, rest)
    }
}

fn set_path(map: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    match path.split_once('.') {
        None => {
            match value {
                Some(v) => map.insert(path.to_string(), v),
                None => map.shift_remove(path),
            };
        }
        Some((head, rest)) => {
            let child = map.entry(head).or_insert_with(|| json!({}));
            if !child.is_object() {
                *child = json!({});
            }
            if let Some(child) = child.as_object_mut() {
                set_path(child, rest, value);
            }
        }
    }
}

async fn get_cluster(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let id = query_str_id(&query, "cluster_id")?;
    write(&ws, |db, _, _| {
        let rec = db.clusters.get(&id).ok_or_else(|| does_not_exist(&id))?;
        Ok(Json(details(db, rec, true)))
    })
}

async fn start(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, start_transition)
}

async fn restart(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, restart_transition)
}

async fn resize(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let size = requested_size(&object(body.clone())?)?;
    change(&ws, &body, |rec, now| resize_transition(rec, size, now))
}

async fn delete(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    change(&ws, &body, |rec, now| {
        terminate_transition(rec, &caller.user_name, now);
        Ok(())
    })
}

async fn permanent_delete(
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
    write(ws, |db, tx, _| {
        require_admin(db, caller, "pin or unpin clusters")?;
        let rec = cluster_mut(db, &id)?;
        if rec.pinned != pinned {
            rec.pinned = pinned;
            rec.pinned_by_user_name = pinned.then(|| caller.user_name.clone());
            tx.touch(Collection::Clusters, id.clone());
        }
        Ok(Json(json!({})))
    })
}

async fn pin(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_pinned(&ws, &caller, &body, true)
}

async fn unpin(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_pinned(&ws, &caller, &body, false)
}

async fn change_owner(
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

// ---------------------------------------------------------------------------------------------
// Listing.

/// Whether list shows the cluster: everything but unpinned clusters terminated over 30 days ago.
fn listed(rec: &ClusterRecord, now: i64) -> bool {
    rec.pinned
        || rec.state != TERMINATED
        || rec
            .terminated_time
            .is_none_or(|at| now - at <= LIST_RETENTION_MS)
}

fn state_rank(state: &str) -> usize {
    [
        RUNNING,
        PENDING,
        RESIZING,
        RESTARTING,
        TERMINATING,
        TERMINATED,
    ]
    .iter()
    .position(|s| *s == state)
    .unwrap_or(usize::MAX)
}

fn cluster_name(rec: &ClusterRecord) -> &str {
    rec.spec
        .get("cluster_name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The default order: state (active first), then pinned first, then name.
fn sort_default(items: &mut [&ClusterRecord]) {
    items.sort_by(|a, b| {
        (
            state_rank(&a.state),
            !a.pinned,
            cluster_name(a),
            &a.cluster_id,
        )
            .cmp(&(
                state_rank(&b.state),
                !b.pinned,
                cluster_name(b),
                &b.cluster_id,
            ))
    });
}

/// The 2.1 list's query: filters, order and page.
#[derive(Debug, Default)]
struct ListQuery {
    states: Vec<String>,
    sources: Vec<String>,
    pinned: Option<bool>,
    policy_id: Option<String>,
    by_name: bool,
    descending: bool,
    page_size: usize,
    offset: usize,
}

fn one_of(values: Vec<&str>, allowed: &[&str], key: &str) -> ApiResult<Vec<String>> {
    values
        .into_iter()
        .map(|v| {
            if allowed.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(ApiError::invalid(format!("Invalid value for {key}: {v}")))
            }
        })
        .collect()
}

impl ListQuery {
    fn parse(query: &QueryPairs) -> ApiResult<Self> {
        let pinned = match query.get("filter_by.is_pinned") {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(v) => {
                return Err(ApiError::invalid(format!(
                    "Invalid value for filter_by.is_pinned: {v}"
                )));
            }
        };
        let field = query.get("sort_by.field").unwrap_or("DEFAULT");
        let direction = query.get("sort_by.direction").unwrap_or("ASC");
        one_of(vec![field], &["DEFAULT", "CLUSTER_NAME"], "sort_by.field")?;
        one_of(vec![direction], &["ASC", "DESC"], "sort_by.direction")?;
        Ok(ListQuery {
            states: one_of(
                query.all("filter_by.cluster_states"),
                &STATES,
                "filter_by.cluster_states",
            )?,
            sources: one_of(
                query.all("filter_by.cluster_sources"),
                &SOURCES,
                "filter_by.cluster_sources",
            )?,
            pinned,
            policy_id: query
                .get("filter_by.policy_id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            by_name: field == "CLUSTER_NAME",
            descending: direction == "DESC",
            page_size: page_size(query.int("page_size")?)?,
            offset: query
                .get("page_token")
                .map(|token| decode_offset_token(token, "clusters"))
                .transpose()?
                .unwrap_or(0),
        })
    }

    fn matches(&self, rec: &ClusterRecord) -> bool {
        (self.states.is_empty() || self.states.contains(&rec.state))
            && (self.sources.is_empty() || self.sources.contains(&rec.cluster_source))
            && self.pinned.is_none_or(|p| p == rec.pinned)
            && self
                .policy_id
                .as_deref()
                .is_none_or(|p| str_field(&rec.spec, "policy_id") == Some(p))
    }

    fn sort(&self, items: &mut [&ClusterRecord]) {
        if self.by_name {
            items.sort_by(|a, b| {
                (cluster_name(a), &a.cluster_id).cmp(&(cluster_name(b), &b.cluster_id))
            });
        } else {
            sort_default(items);
        }
        if self.descending {
            items.reverse();
        }
    }
}

async fn list_v20(State(ws): State<AppState>) -> ApiResult<Json<Value>> {
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

async fn list_v21(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
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

// ---------------------------------------------------------------------------------------------
// Static helpers: Spark versions, node types, zones.

const SPARK_VERSIONS: [(&str, &str); 8] = [
    (
        "16.4.x-scala2.12",
        "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-photon-scala2.12",
        "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-cpu-ml-scala2.12",
        "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "15.4.x-scala2.12",
        "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "15.4.x-photon-scala2.12",
        "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "15.4.x-cpu-ml-scala2.12",
        "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "14.3.x-scala2.12",
        "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "13.3.x-scala2.12",
        "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)",
    ),
];

/// Node types: (id, cores, memory MB, category).
const NODE_TYPES: [(&str, f64, i64, &str); 9] = [
    ("Standard_DS3_v2", 4.0, 14336, "General Purpose"),
    ("Standard_DS4_v2", 8.0, 28672, "General Purpose"),
    ("Standard_E8ds_v4", 8.0, 65536, "Memory Optimized"),
    ("i3.xlarge", 4.0, 31232, "Storage Optimized"),
    ("i3.2xlarge", 8.0, 62464, "Storage Optimized"),
    ("m5d.large", 2.0, 8192, "General Purpose"),
    ("m5d.xlarge", 4.0, 16384, "General Purpose"),
    ("n1-standard-4", 4.0, 15360, "General Purpose"),
    ("n2-highmem-4", 4.0, 32768, "Memory Optimized"),
];

async fn spark_versions() -> Json<Value> {
    let versions: Vec<Value> = SPARK_VERSIONS
        .iter()
        .map(|(key, name)| json!({"key": key, "name": name}))
        .collect();
    Json(json!({"versions": versions}))
}

async fn list_node_types() -> Json<Value> {
    let node_types: Vec<Value> = NODE_TYPES
        .iter()
        .map(|(id, cores, memory_mb, category)| {
            json!({
                "node_type_id": id,
                "instance_type_id": id,
                "num_cores": cores,
                "memory_mb": memory_mb,
                "description": id,
                "category": category,
                "num_gpus": 0,
                "is_deprecated": false,
                "is_hidden": false,
                "support_cluster_tags": true,
                "support_ebs_volumes": id.contains('.'),
                "support_port_forwarding": true,
                "photon_worker_capable": true,
                "photon_driver_capable": true,
            })
        })
        .collect();
    Json(json!({"node_types": node_types}))
}

async fn list_zones() -> Json<Value> {
    Json(json!({
        "zones": ["us-west-2a", "us-west-2b", "us-west-2c"],
        "default_zone": "us-west-2a",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cluster_lifecycle::tests::{record, spec};

    #[test]
    fn spec_validation() {
        let db = Db::default();
        let ok = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0});
        check_spec(&db, &spec(ok.clone())).unwrap();
        let bad = |patch: Value| {
            let mut s = spec(ok.clone());
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    s.remove(k);
                } else {
                    s.insert(k.clone(), v.clone());
                }
            }
            check_spec(&db, &s).unwrap_err().message
        };
        assert!(bad(json!({"spark_version": null})).contains("spark_version"));
        assert!(bad(json!({"node_type_id": null})).contains("node_type_id"));
        assert!(
            bad(json!({"autoscale": {"min_workers": 1, "max_workers": 3}})).contains("Only one")
        );
        assert!(bad(json!({"num_workers": null})).contains("One of"));
        assert!(
            bad(json!({"num_workers": null, "autoscale": {"min_workers": 2, "max_workers": 2}}))
                .contains("greater")
        );
        assert!(bad(json!({"autotermination_minutes": 5})).contains("autotermination"));
        assert!(bad(json!({"instance_pool_id": "nope"})).contains("does not exist"));
        let tags: Map<String, Value> = (0..46).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(bad(json!({"custom_tags": tags})).contains("45"));
        for minutes in [0, 10, 10_000] {
            let mut s = spec(ok.clone());
            s.insert("autotermination_minutes".into(), json!(minutes));
            check_spec(&db, &s).unwrap();
        }
    }

    #[test]
    fn default_sort_is_state_pinned_name() {
        let mut a = record(TERMINATED, 0);
        a.cluster_id = "a".into();
        let mut b = record(RUNNING, 0);
        b.cluster_id = "b".into();
        b.spec.insert("cluster_name".into(), json!("zz"));
        let mut c = record(RUNNING, 0);
        c.cluster_id = "c".into();
        c.spec.insert("cluster_name".into(), json!("aa"));
        let mut d = record(RUNNING, 0);
        d.cluster_id = "d".into();
        d.pinned = true;
        d.spec.insert("cluster_name".into(), json!("zzz"));
        let mut items = vec![&a, &b, &c, &d];
        sort_default(&mut items);
        let ids: Vec<&str> = items.iter().map(|r| r.cluster_id.as_str()).collect();
        assert_eq!(ids, ["d", "c", "b", "a"]);
    }

    #[test]
    fn update_mask_replaces_named_fields() {
        let current = spec(
            json!({"spark_version": "15", "num_workers": 2, "spark_conf": {"a": "1", "b": "2"}}),
        );
        let changes = spec(json!({"num_workers": 4, "spark_conf": {"a": "9"}}));
        let out = masked(
            current.clone(),
            &changes,
            "num_workers, spark_conf.a, spark_conf.b",
        );
        assert_eq!(
            out,
            spec(json!({"spark_version": "15", "num_workers": 4, "spark_conf": {"a": "9"}}))
        );
        assert_eq!(masked(current, &changes, "*"), changes);
    }

    #[test]
    fn details_fill_server_defaults() {
        let mut rec = record(RUNNING, 0);
        rec.spec
            .insert("data_security_mode".into(), json!("SINGLE_USER"));
        rec.spec
            .insert("apply_policy_default_values".into(), json!(true));
        let out = details(&Db::default(), &rec, true);
        assert_eq!(out["driver_node_type_id"], json!("i3.xlarge"));
        assert_eq!(out["single_user_name"], json!("alice@example.com"));
        assert_eq!(out["default_tags"]["ClusterId"], json!(rec.cluster_id));
        assert_eq!(out["cluster_cores"], json!(12.0));
        assert!(out.get("apply_policy_default_values").is_none());
        assert_eq!(out["spec"]["apply_policy_default_values"], json!(true));
        assert!(details(&Db::default(), &rec, false).get("spec").is_none());
    }
}
