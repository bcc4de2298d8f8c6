//! Instance pools API 2.0 (`/api/2.0/instance-pools/*`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::cluster_lifecycle::{pool_usage, progress};
use super::clusters::{Cloud, check_compute};
use super::ids::{mix, new_id};
use super::request::{check_custom_tags, object, optional_int, query_str_id, required_str};
use super::store::{Collection, Db, PoolRecord};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs, permissions};

/// The settings `edit` may change; a change to any other needs delete + create.
const EDITABLE: [&str; 8] = [
    "instance_pool_name",
    "custom_tags",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
    "instance_pool_id",
];

/// `idle_instance_autotermination_minutes` when the caller leaves it out.
const DEFAULT_IDLE_MINUTES: i64 = 60;

/// The instance pools routes.
pub fn routes() -> Router<AppState> {
    let path = |op: &str| format!("/api/2.0/instance-pools/{op}");
    Router::new()
        .route(&path("create"), post(create))
        .route(&path("edit"), post(edit))
        .route(&path("get"), get(get_pool))
        .route(&path("list"), get(list))
        .route(&path("delete"), post(delete))
}

/// Validates a pool's settings; `own_id` is the pool being edited (its own name is no clash).
fn check_pool(
    cloud: Cloud,
    db: &Db,
    spec: &Map<String, Value>,
    own_id: Option<&str>,
) -> ApiResult<()> {
    let name = required_str(spec, "instance_pool_name").map_err(|_| name_length_error())?;
    if name.chars().count() > 100 {
        return Err(name_length_error());
    }
    let clash = db.pools.values().any(|p| {
        Some(p.instance_pool_id.as_str()) != own_id
            && p.spec.get("instance_pool_name").and_then(Value::as_str) == Some(name.as_str())
    });
    if clash {
        return Err(ApiError::invalid(format!(
            "Instance pool with name '{name}' already exists"
        )));
    }
    required_str(spec, "node_type_id")?;
    let preloaded = spec
        .get("preloaded_spark_versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if preloaded.len() > 1 {
        return Err(ApiError::invalid(
            "preloaded_spark_versions may contain at most 1 Spark version",
        ));
    }
    // The node type and the preloaded runtime must be the cloud's, as for a cluster.
    let mut compute = Map::new();
    if let Some(node_type) = spec.get("node_type_id") {
        compute.insert("node_type_id".into(), node_type.clone());
    }
    if let Some(version) = preloaded.first() {
        compute.insert("spark_version".into(), version.clone());
    }
    check_compute(cloud, &compute)?;
    check_custom_tags(spec)?;
    check_counts(spec)
}

fn name_length_error() -> ApiError {
    ApiError::invalid("'pool_name' should contain between 1-100 characters")
}

/// The numeric limits: idle instances, capacity and idle auto-termination.
fn check_counts(spec: &Map<String, Value>) -> ApiResult<()> {
    let min_idle = optional_int(spec, "min_idle_instances")?.unwrap_or(0);
    if min_idle < 0 {
        return Err(ApiError::invalid(format!(
            "min_idle_instances must be non-negative, got {min_idle}"
        )));
    }
    if let Some(max) = optional_int(spec, "max_capacity")?
        && max < min_idle
    {
        return Err(ApiError::invalid(format!(
            "max_capacity ({max}) must be greater than or equal to min_idle_instances ({min_idle})"
        )));
    }
    if let Some(minutes) = optional_int(spec, "idle_instance_autotermination_minutes")?
        && !(0..=10_000).contains(&minutes)
    {
        return Err(ApiError::invalid(format!(
            "idle_instance_autotermination_minutes must be between 0 and 10000, got {minutes}"
        )));
    }
    Ok(())
}

/// Fills in what the backend defaults: elastic disk on, idle instances kept for 60 minutes.
fn fill_defaults(spec: &mut Map<String, Value>) {
    spec.entry("enable_elastic_disk").or_insert(json!(true));
    let idle = spec
        .entry("idle_instance_autotermination_minutes")
        .or_insert(Value::Null);
    if idle.is_null() {
        *idle = json!(DEFAULT_IDLE_MINUTES);
    }
}

/// The spec after an edit: the editable subset replaced wholesale by `body`, the rest kept.
/// A setting outside the subset may be sent (clients send the whole pool back) but not changed:
/// every changed one is named in the refusal (observed wording, terraform-provider-databricks#623).
fn edited_spec(
    current: &Map<String, Value>,
    body: &Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    required_str(body, "node_type_id")?;
    let changed: Vec<&str> = body
        .iter()
        .filter(|(k, v)| !EDITABLE.contains(&k.as_str()) && !v.is_null())
        .filter(|(k, v)| current.get(k.as_str()) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    if !changed.is_empty() {
        return Err(ApiError::invalid(format!(
            "Requested instance pool field change is not supported on existing pools: {}. \
             Please check Databricks documentations to see which fields can be edited.",
            changed.join(", ")
        )));
    }
    // Replace in place so the settings keep their order on GET.
    let mut spec = current.clone();
    for key in EDITABLE.iter().filter(|k| **k != "instance_pool_id") {
        match body.get(*key).filter(|v| !v.is_null()) {
            Some(value) => {
                spec.insert(key.to_string(), value.clone());
            }
            None => {
                spec.shift_remove(*key);
            }
        }
    }
    fill_defaults(&mut spec);
    Ok(spec)
}

/// A pool ID: a cluster-style ID plus `-pool-` and eight letters and digits.
fn new_pool_id(now_ms: i64, seq: i64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bits = mix(seq as u64 ^ 0x5EED);
    let tag: String = (0..8)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char;
            bits /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("{}-pool-{tag}", new_id(now_ms, seq))
}

/// GetInstancePool: the settings plus ID, default tags, state, stats and status.
fn pool_json(db: &Db, rec: &PoolRecord) -> Value {
    let mut out = Map::new();
    out.insert("instance_pool_id".into(), json!(rec.instance_pool_id));
    out.extend(rec.spec.iter().map(|(k, v)| (k.clone(), v.clone())));
    out.insert(
        "default_tags".into(),
        json!({
            "Vendor": "Databricks",
            "DatabricksInstancePoolCreatorId": rec.creator_id,
            "DatabricksInstancePoolId": rec.instance_pool_id,
        }),
    );
    out.insert("state".into(), json!(rec.state));
    let (used, pending_used) = pool_usage(db, &rec.instance_pool_id);
    let idle = rec
        .spec
        .get("min_idle_instances")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    out.insert(
        "stats".into(),
        json!({
            "used_count": used,
            "idle_count": idle,
            "pending_used_count": pending_used,
            "pending_idle_count": 0,
        }),
    );
    out.insert("status".into(), json!({}));
    Value::Object(out)
}

fn does_not_exist(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance pool {id} does not exist"))
}

/// The creator's numeric ID: the SCIM user ID, or a stable number for a caller not in SCIM.
fn creator_id(db: &Db, user_name: &str) -> String {
    db.users
        .values()
        .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
        .map(|u| u.id.clone())
        .unwrap_or_else(|| {
            let seed = user_name.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b)));
            (seed % 9_000_000_000_000_000 + 1_000_000_000_000_000).to_string()
        })
}

async fn create(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut spec = object(body)?;
    spec.shift_remove("instance_pool_id");
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        check_pool(ws.options.cloud, db, &spec, None)?;
        fill_defaults(&mut spec);
        let seq = db.next_seq(tx);
        let id = new_pool_id(now, seq);
        let rec = PoolRecord {
            instance_pool_id: id.clone(),
            spec,
            state: "ACTIVE".into(),
            creator_user_name: caller.user_name.clone(),
            creator_id: creator_id(db, &caller.user_name),
        };
        db.pools.insert(id.clone(), rec);
        tx.touch(Collection::Pools, id.clone());
        permissions::init_acl(db, tx, "instance-pools", &id, &caller.user_name);
        Ok(Json(json!({"instance_pool_id": id})))
    })
}

async fn edit(State(ws): State<AppState>, ApiJson(body): ApiJson<Value>) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let id = required_str(&body, "instance_pool_id")?;
    ws.store.write(|db, tx| {
        let current = db.pools.get(&id).ok_or_else(|| does_not_exist(&id))?;
        let spec = edited_spec(&current.spec, &body)?;
        check_pool(ws.options.cloud, db, &spec, Some(&id))?;
        if let Some(rec) = db.pools.get_mut(&id) {
            rec.spec = spec;
        }
        tx.touch(Collection::Pools, id.clone());
        Ok(Json(json!({})))
    })
}

async fn get_pool(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let id = query_str_id(&query, "instance_pool_id")?;
    ws.store.write(|db, tx| {
        // Stats count clusters, so bring their states up to date first.
        progress(&ws, db, tx);
        let rec = db.pools.get(&id).ok_or_else(|| does_not_exist(&id))?;
        Ok(Json(pool_json(db, rec)))
    })
}

async fn list(State(ws): State<AppState>) -> Json<Value> {
    ws.store.write(|db, tx| {
        progress(&ws, db, tx);
        let pools: Vec<Value> = db.pools.values().map(|p| pool_json(db, p)).collect();
        if pools.is_empty() {
            Json(json!({}))
        } else {
            Json(json!({"instance_pools": pools}))
        }
    })
}

async fn delete(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let id = required_str(&body, "instance_pool_id")?;
    ws.store.write(|db, tx| {
        db.pools.remove(&id).ok_or_else(|| does_not_exist(&id))?;
        tx.touch(Collection::Pools, id.clone());
        permissions::drop_acl(db, tx, "instance-pools", &id);
        Ok(Json(json!({})))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn stored() -> Map<String, Value> {
        let mut spec = map(json!({
            "instance_pool_name": "etl",
            "node_type_id": "Standard_DS3_v2",
            "custom_tags": {"team": "data"},
            "min_idle_instances": 1,
            "enable_elastic_disk": false,
            "aws_attributes": {"availability": "SPOT"},
        }));
        fill_defaults(&mut spec);
        spec
    }

    #[test]
    fn defaults_are_filled() {
        let spec = stored();
        assert_eq!(spec["idle_instance_autotermination_minutes"], json!(60));
        assert_eq!(
            spec["enable_elastic_disk"],
            json!(false),
            "an explicit value stays"
        );
        let mut bare = map(json!({"instance_pool_name": "x", "node_type_id": "Standard_DS3_v2"}));
        fill_defaults(&mut bare);
        assert_eq!(bare["enable_elastic_disk"], json!(true));
    }

    #[test]
    fn edit_replaces_only_the_editable_subset() {
        let body = map(json!({
            "instance_pool_id": "p", "instance_pool_name": "etl2", "node_type_id": "Standard_DS3_v2",
            "max_capacity": 10,
        }));
        let spec = edited_spec(&stored(), &body).unwrap();
        assert_eq!(spec["instance_pool_name"], json!("etl2"));
        assert_eq!(
            spec.keys().next().map(String::as_str),
            Some("instance_pool_name"),
            "order kept"
        );
        assert_eq!(spec["max_capacity"], json!(10));
        assert!(
            !spec.contains_key("custom_tags"),
            "omitted custom_tags are cleared"
        );
        assert!(!spec.contains_key("min_idle_instances"));
        assert!(!spec.contains_key("instance_pool_id"));
        assert_eq!(spec["idle_instance_autotermination_minutes"], json!(60));
        assert_eq!(
            spec["aws_attributes"],
            json!({"availability": "SPOT"}),
            "non-editable kept"
        );
        assert_eq!(spec["enable_elastic_disk"], json!(false));
    }

    #[test]
    fn edit_refuses_changes_of_other_fields_only() {
        let base = json!({"instance_pool_id": "p", "instance_pool_name": "etl", "node_type_id": "Standard_DS3_v2"});
        // Sent back unchanged, a non-editable setting is no change.
        let mut body = map(base.clone());
        body.insert("enable_elastic_disk".into(), json!(false));
        body.insert("aws_attributes".into(), json!({"availability": "SPOT"}));
        edited_spec(&stored(), &body).unwrap();
        let mut body = map(base.clone());
        body.insert("enable_elastic_disk".into(), json!(true));
        body.insert("node_type_id".into(), json!("Standard_DS4_v2"));
        body.insert(
            "preloaded_spark_versions".into(),
            json!(["15.4.x-scala2.12"]),
        );
        let err = edited_spec(&stored(), &body).unwrap_err();
        assert_eq!(err.error_code, json!("INVALID_PARAMETER_VALUE"));
        assert_eq!(
            err.message,
            "Requested instance pool field change is not supported on existing pools: \
             node_type_id, enable_elastic_disk, preloaded_spark_versions. Please check Databricks \
             documentations to see which fields can be edited."
        );
        let mut body = map(base);
        body.remove("node_type_id");
        assert!(
            edited_spec(&stored(), &body)
                .unwrap_err()
                .message
                .contains("node_type_id")
        );
    }

    #[test]
    fn node_types_and_runtimes_are_the_clouds() {
        let spec = map(json!({"instance_pool_name": "x", "node_type_id": "i3.xlarge"}));
        let db = Db::default();
        assert!(
            check_pool(Cloud::Azure, &db, &spec, None)
                .unwrap_err()
                .message
                .contains("not supported")
        );
        check_pool(Cloud::Aws, &db, &spec, None).unwrap();
        let spec = map(
            json!({"instance_pool_name": "x", "node_type_id": "i3.xlarge", "preloaded_spark_versions": ["9.9.x-scala2.12"]}),
        );
        assert!(
            check_pool(Cloud::Aws, &db, &spec, None)
                .unwrap_err()
                .message
                .contains("Invalid spark version")
        );
    }

    #[test]
    fn validation() {
        let mut db = Db::default();
        let ok = map(json!({"instance_pool_name": "etl", "node_type_id": "Standard_DS3_v2"}));
        check_pool(Cloud::Azure, &db, &ok, None).unwrap();
        let with = |k: &str, v: Value| {
            let mut s = ok.clone();
            s.insert(k.into(), v);
            s
        };
        let msg = |s: &Map<String, Value>| {
            check_pool(Cloud::Azure, &Db::default(), s, None)
                .unwrap_err()
                .message
        };
        assert!(msg(&with("instance_pool_name", json!(""))).contains("between 1-100"));
        assert!(msg(&with("instance_pool_name", json!("x".repeat(101)))).contains("between 1-100"));
        assert!(
            msg(&with(
                "preloaded_spark_versions",
                json!(["15.4.x-scala2.12", "14.3.x-scala2.12"])
            ))
            .contains("at most 1")
        );
        assert!(msg(&with("min_idle_instances", json!(-1))).contains("non-negative"));
        assert!(
            msg(&with(
                "idle_instance_autotermination_minutes",
                json!(10_001)
            ))
            .contains("10000")
        );
        let mut no_node = ok.clone();
        no_node.remove("node_type_id");
        assert!(msg(&no_node).contains("node_type_id"));
        db.pools.insert(
            "p1".into(),
            PoolRecord {
                instance_pool_id: "p1".into(),
                spec: ok.clone(),
                state: "ACTIVE".into(),
                creator_user_name: "a".into(),
                creator_id: "1".into(),
            },
        );
        assert!(
            check_pool(Cloud::Azure, &db, &ok, None)
                .unwrap_err()
                .message
                .contains("already exists")
        );
        check_pool(Cloud::Azure, &db, &ok, Some("p1")).unwrap();
    }

    #[test]
    fn pool_ids_look_real() {
        let id = new_pool_id(0, 7);
        let (head, tag) = id.split_once("-pool-").unwrap();
        assert!(head.starts_with("0101-000000-") && head.ends_with('7'));
        assert_eq!(tag.len(), 8);
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(new_pool_id(0, 7), new_pool_id(0, 8));
    }
}
