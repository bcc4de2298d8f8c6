//! Cluster policies API 2.0 (`/api/2.0/policies/clusters/*`) and the enforcement of a policy's
//! rules on the cluster specs that name it (clusters and jobs' `new_cluster`).
//!
//! A policy's `definition` is a JSON document passed as a string: attribute paths (`spark_version`,
//! `custom_tags.team`, `autoscale.max_workers`) mapped to rules of type `fixed`, `forbidden`,
//! `allowlist`, `blocklist`, `regex`, `range` or `unlimited`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::clusters;
use super::ids::mix;
use super::request::{object, optional_int, query_str_id, required_str, str_field};
use super::store::{Collection, Db};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller};

/// The cluster policies routes.
pub fn routes() -> Router<AppState> {
    let path = |op: &str| format!("/api/2.0/policies/clusters/{op}");
    Router::new()
        .route(&path("create"), post(create))
        .route(&path("edit"), post(edit))
        .route(&path("get"), get(get_policy))
        .route(&path("list"), get(list))
        .route(&path("delete"), post(delete))
}

/// The fields a create or edit body may set.
const SETTINGS: [&str; 6] = [
    "name",
    "definition",
    "description",
    "max_clusters_per_user",
    "policy_family_id",
    "policy_family_definition_overrides",
];

/// The refusal for a policy ID that names no policy (observed as
/// `RESOURCE_DOES_NOT_EXIST: Can't find a cluster policy with id: …`).
fn does_not_exist(id: &str) -> ApiError {
    ApiError::not_found(format!("Can't find a cluster policy with id: {id}."))
}

/// A policy's rules: the `definition` string parsed as a JSON object.
fn rules_of(definition: &str) -> ApiResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(definition) {
        Ok(Value::Object(rules)) => Ok(rules),
        _ => Err(ApiError::invalid(
            "Policy definition must be a JSON object of attribute paths to rules",
        )),
    }
}

/// Validates and keeps a create or edit body's settings; `own_id` is the policy being edited.
fn settings(
    db: &Db,
    body: &Map<String, Value>,
    own_id: Option<&str>,
) -> ApiResult<Map<String, Value>> {
    let name = str_field(body, "name").unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "Cluster policy name must be between 1 and 100 characters",
        ));
    }
    let clash = db.policies.iter().any(|(id, p)| {
        Some(id.as_str()) != own_id && p.get("name").and_then(Value::as_str) == Some(name)
    });
    if clash {
        return Err(ApiError::invalid(format!(
            "Cluster policy with name {name} already exists"
        )));
    }
    if let Some(definition) = body.get("definition").filter(|v| !v.is_null()) {
        let text = definition
            .as_str()
            .ok_or_else(|| ApiError::invalid("definition must be a JSON document in a string"))?;
        rules_of(text)?;
    }
    optional_int(body, "max_clusters_per_user")?;
    Ok(SETTINGS
        .iter()
        .filter_map(|k| {
            body.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect())
}

/// A policy ID: 16 upper-case hexadecimal digits.
fn new_policy_id(seq: i64) -> String {
    format!("{:016X}", mix(seq as u64 ^ 0x0C1A_55E5))
}

async fn create(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        let mut policy = settings(db, &body, None)?;
        policy.entry("definition").or_insert(json!("{}"));
        let id = new_policy_id(db.next_seq(tx));
        policy.insert("policy_id".into(), json!(id));
        policy.insert("creator_user_name".into(), json!(caller.user_name));
        policy.insert("created_at_timestamp".into(), json!(now));
        policy.insert("is_default".into(), json!(false));
        db.policies.insert(id.clone(), Value::Object(policy));
        tx.touch(Collection::Policies, id.clone());
        Ok(Json(json!({"policy_id": id})))
    })
}

async fn edit(State(ws): State<AppState>, ApiJson(body): ApiJson<Value>) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let id = required_str(&body, "policy_id")?;
    ws.store.write(|db, tx| {
        let current = db.policies.get(&id).ok_or_else(|| does_not_exist(&id))?;
        let mut policy = settings(db, &body, Some(&id))?;
        policy.entry("definition").or_insert(json!("{}"));
        // Edit replaces the settings; the ID, creator and creation time stay.
        for key in [
            "policy_id",
            "creator_user_name",
            "created_at_timestamp",
            "is_default",
        ] {
            if let Some(value) = current.get(key) {
                policy.insert(key.to_string(), value.clone());
            }
        }
        db.policies.insert(id.clone(), Value::Object(policy));
        tx.touch(Collection::Policies, id.clone());
        Ok(Json(json!({})))
    })
}

async fn get_policy(
    State(ws): State<AppState>,
    query: super::QueryPairs,
) -> ApiResult<Json<Value>> {
    let id = query_str_id(&query, "policy_id")?;
    ws.store.read(|db| {
        db.policies
            .get(&id)
            .cloned()
            .map(Json)
            .ok_or_else(|| does_not_exist(&id))
    })
}

async fn list(State(ws): State<AppState>) -> Json<Value> {
    ws.store.read(|db| {
        let policies: Vec<Value> = db.policies.values().cloned().collect();
        Json(json!({"policies": policies, "total_count": policies.len()}))
    })
}

async fn delete(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let id = required_str(&body, "policy_id")?;
    ws.store.write(|db, tx| {
        db.policies.remove(&id).ok_or_else(|| does_not_exist(&id))?;
        tx.touch(Collection::Policies, id.clone());
        Ok(Json(json!({})))
    })
}

/// Where a spec being checked comes from: the policy attribute `cluster_type` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterType {
    /// An all-purpose cluster (Clusters API).
    AllPurpose,
    /// A job's `new_cluster`.
    Job,
}

impl ClusterType {
    fn name(self) -> &'static str {
        match self {
            ClusterType::AllPurpose => "all-purpose",
            ClusterType::Job => "job",
        }
    }
}

/// Enforces the policy a spec names (if any): a `policy_id` that names no policy is refused;
/// `fixed` values the spec leaves out are filled in (and, with `apply_policy_default_values`,
/// the rules' `defaultValue`s), when `fill` is set; every rule the spec then breaks is refused
/// at once, as `Validation failed for <path>, <reason>` joined by `; `.
pub fn enforce(
    db: &Db,
    spec: &mut Map<String, Value>,
    cluster_type: ClusterType,
    fill: bool,
) -> ApiResult<()> {
    let Some(id) = str_field(spec, "policy_id").map(str::to_string) else {
        return Ok(());
    };
    let policy = db.policies.get(&id).ok_or_else(|| does_not_exist(&id))?;
    let rules = rules_of(
        policy
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or("{}"),
    )?;
    let defaults = spec.get("apply_policy_default_values") == Some(&Value::Bool(true));
    let mut failures = Vec::new();
    for (path, rule) in &rules {
        // Wildcard and indexed paths (`init_scripts.*.…`, `ssh_public_keys.0`) are not modelled.
        if path.contains('*') || path.contains('[') {
            continue;
        }
        let Some(rule) = rule.as_object() else {
            continue;
        };
        if path == "cluster_type" {
            let actual = json!(cluster_type.name());
            if let Some(reason) = broken(rule, Some(&actual)) {
                failures.push(format!("Validation failed for {path}, {reason}"));
            }
            continue;
        }
        if fill && lookup(spec, path).is_none() {
            let kind = str_field(rule, "type").unwrap_or("");
            let value = match kind {
                "fixed" => rule.get("value"),
                _ if defaults => rule.get("defaultValue"),
                _ => None,
            };
            if let Some(value) = value {
                clusters::set_path(spec, path, Some(value.clone()));
            }
        }
        if let Some(reason) = broken(rule, lookup(spec, path)) {
            failures.push(format!("Validation failed for {path}, {reason}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(failures.join("; ")))
    }
}

/// Why `actual` breaks `rule`, if it does.
fn broken(rule: &Map<String, Value>, actual: Option<&Value>) -> Option<String> {
    let kind = str_field(rule, "type").unwrap_or("unlimited");
    let optional = rule.get("isOptional") == Some(&Value::Bool(true));
    let Some(actual) = actual else {
        let required = matches!(kind, "allowlist" | "regex" | "range") && !optional;
        return required.then(|| "the value must be present".to_string());
    };
    let shown = text(actual);
    let values = || -> Vec<String> {
        rule.get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().map(text).collect())
            .unwrap_or_default()
    };
    match kind {
        "fixed" => {
            let wanted = rule.get("value").map(text).unwrap_or_default();
            (shown != wanted).then(|| format!("the value must be {wanted} (is {shown})"))
        }
        "forbidden" => Some("the value must not be present".to_string()),
        "allowlist" => (!values().contains(&shown)).then(|| {
            format!(
                "the value must be an element in List({}) (is {shown})",
                values().join(", ")
            )
        }),
        "blocklist" => values().contains(&shown).then(|| {
            format!(
                "the value must not be an element in List({}) (is {shown})",
                values().join(", ")
            )
        }),
        "regex" => {
            let pattern = str_field(rule, "pattern").unwrap_or("");
            let matches = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map(|re| re.is_match(&shown))
                .unwrap_or(false);
            (!matches).then(|| format!("the value must match the regex {pattern} (is {shown})"))
        }
        "range" => {
            let number = actual.as_f64().or_else(|| shown.parse().ok())?;
            let bound = |key: &str| rule.get(key).and_then(Value::as_f64);
            if let Some(min) = bound("minValue").filter(|min| number < *min) {
                return Some(format!(
                    "the value must be at least {} (is {shown})",
                    num(min)
                ));
            }
            bound("maxValue")
                .filter(|max| number > *max)
                .map(|max| format!("the value must be at most {} (is {shown})", num(max)))
        }
        _ => None,
    }
}

/// A value as the rules compare it: strings bare, everything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A bound without a needless `.0`.
fn num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The value at `path`, a null counting as absent.
fn lookup<'a>(spec: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    clusters::lookup(spec, path).filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(definition: Value) -> Db {
        let mut db = Db::default();
        db.policies.insert(
            "P1".into(),
            json!({"policy_id": "P1", "name": "p", "definition": definition.to_string()}),
        );
        db
    }

    fn spec(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_unknown_policy_is_refused() {
        let mut s = spec(json!({"policy_id": "NOPE"}));
        let err = enforce(&Db::default(), &mut s, ClusterType::AllPurpose, true).unwrap_err();
        assert_eq!(err.error_code, json!("RESOURCE_DOES_NOT_EXIST"));
        assert!(err.message.contains("NOPE"), "{}", err.message);
        enforce(&Db::default(), &mut spec(json!({})), ClusterType::Job, true).unwrap();
    }

    #[test]
    fn fixed_values_are_filled_in_and_others_refused() {
        let db = db_with(json!({
            "spark_version": {"type": "fixed", "value": "15.4.x-scala2.12"},
            "custom_tags.team": {"type": "fixed", "value": "data"},
            "autotermination_minutes": {"type": "range", "maxValue": 60, "defaultValue": 30},
        }));
        let mut s = spec(json!({"policy_id": "P1", "autotermination_minutes": 20}));
        enforce(&db, &mut s, ClusterType::AllPurpose, true).unwrap();
        assert_eq!(s["spark_version"], json!("15.4.x-scala2.12"));
        assert_eq!(s["custom_tags"], json!({"team": "data"}));
        let mut s = spec(json!({"policy_id": "P1", "apply_policy_default_values": true}));
        enforce(&db, &mut s, ClusterType::AllPurpose, true).unwrap();
        assert_eq!(s["autotermination_minutes"], json!(30));
        let mut s = spec(json!({"policy_id": "P1", "spark_version": "14.3.x-scala2.12"}));
        let err = enforce(&db, &mut s, ClusterType::AllPurpose, true).unwrap_err();
        assert_eq!(err.error_code, json!("INVALID_PARAMETER_VALUE"));
        assert!(
            err.message.starts_with(
                "Validation failed for spark_version, the value must be 15.4.x-scala2.12"
            ),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("autotermination_minutes, the value must be present")
        );
        // Without filling (a job's new_cluster), a missing fixed value is no failure.
        let mut s = spec(json!({"policy_id": "P1", "autotermination_minutes": 90}));
        let err = enforce(&db, &mut s, ClusterType::Job, false).unwrap_err();
        assert_eq!(
            err.message,
            "Validation failed for autotermination_minutes, the value must be at most 60 (is 90)"
        );
    }

    #[test]
    fn lists_regex_range_forbidden_and_cluster_type() {
        let db = db_with(json!({
            "node_type_id": {"type": "allowlist", "values": ["Standard_DS3_v2", "Standard_DS4_v2"]},
            "runtime_engine": {"type": "blocklist", "values": ["PHOTON"]},
            "cluster_name": {"type": "regex", "pattern": "team-.*", "isOptional": true},
            "num_workers": {"type": "range", "minValue": 1, "maxValue": 4, "isOptional": true},
            "instance_pool_id": {"type": "forbidden"},
            "cluster_type": {"type": "fixed", "value": "job"},
        }));
        let ok = json!({"policy_id": "P1", "node_type_id": "Standard_DS3_v2", "num_workers": 2});
        enforce(&db, &mut spec(ok.clone()), ClusterType::Job, false).unwrap();
        let err = enforce(&db, &mut spec(ok), ClusterType::AllPurpose, true).unwrap_err();
        assert!(
            err.message.contains("cluster_type, the value must be job"),
            "{}",
            err.message
        );
        let bad = json!({
            "policy_id": "P1", "node_type_id": "Standard_E8ds_v5", "runtime_engine": "PHOTON",
            "cluster_name": "ops-1", "num_workers": 0, "instance_pool_id": "pool",
        });
        let message = enforce(&db, &mut spec(bad), ClusterType::Job, false)
            .unwrap_err()
            .message;
        for part in [
            "node_type_id, the value must be an element in List(Standard_DS3_v2, Standard_DS4_v2)",
            "runtime_engine, the value must not be an element in List(PHOTON)",
            "cluster_name, the value must match the regex team-.*",
            "num_workers, the value must be at least 1 (is 0)",
            "instance_pool_id, the value must not be present",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
        assert_eq!(message.matches("; ").count(), 4);
    }

    #[test]
    fn definitions_must_be_json_objects() {
        let db = Db::default();
        let body = spec(json!({"name": "p", "definition": "[1]"}));
        assert!(
            settings(&db, &body, None)
                .unwrap_err()
                .message
                .contains("JSON object")
        );
        let body = spec(json!({"name": "p", "definition": {"a": 1}}));
        assert!(settings(&db, &body, None).is_err());
        let body = spec(json!({"name": "", "definition": "{}"}));
        assert!(
            settings(&db, &body, None)
                .unwrap_err()
                .message
                .contains("between 1 and 100")
        );
        let db = db_with(json!({}));
        let body = spec(json!({"name": "p"}));
        assert!(
            settings(&db, &body, None)
                .unwrap_err()
                .message
                .contains("already exists")
        );
        assert!(settings(&db, &body, Some("P1")).is_ok());
        assert_eq!(new_policy_id(1).len(), 16);
    }
}
