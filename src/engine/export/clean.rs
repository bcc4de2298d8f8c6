//! Export's pure transforms: a live object's body cleaned into configuration (read-only fields,
//! server defaults and tandem's tags dropped), IDs replaced by references, keys made from names.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::config::schema::{SchemaKind, schema_source};
use crate::model::Kind;
use crate::plan::{TAG_ENV, TAG_KEY, TAG_MANAGED};

/// Fields holding an object ID that is not a reference.
const ID_FIELDS: [&str; 4] = [
    "existing_cluster_id",
    "instance_pool_id",
    "driver_instance_pool_id",
    "job_id",
];

/// The ID fields of `body` (at any depth) still holding a literal ID.
pub(super) fn raw_ids(body: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, value) in body {
        match value {
            Value::String(s) if ID_FIELDS.contains(&field.as_str()) && !s.contains("${") => {
                out.push((field.clone(), s.clone()))
            }
            Value::Number(n) if ID_FIELDS.contains(&field.as_str()) => {
                out.push((field.clone(), n.to_string()))
            }
            Value::Object(inner) => out.extend(raw_ids(inner)),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        out.extend(raw_ids(inner));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `text` with ASCII letters and digits kept (upper or lower case) and every other character `_`.
pub(super) fn word_characters(text: &str, upper: bool) -> String {
    text.chars()
        .map(|c| match c {
            c if !c.is_ascii_alphanumeric() => '_',
            c if upper => c.to_ascii_uppercase(),
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The environment variable an exported secret is read from: `<SCOPE>_<KEY>`, upper case.
pub fn placeholder_variable(scope: &str, key: &str) -> String {
    let mut out = word_characters(&format!("{scope}_{key}"), true);
    if out.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A logical key from a display name (`Nightly ETL` → `nightly_etl`), unique within the kind.
pub fn unique_key(name: &str, used: &mut BTreeSet<String>) -> String {
    let mut key = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    let mut key = key.trim_end_matches('_').to_string();
    if !key.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        key.insert_str(0, "x_");
    }
    let mut candidate = key.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        candidate = format!("{key}_{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// Keeps the fields a config file may hold (the kind's schema) and drops the values the service
/// fills in by itself, and tandem's own tags.
pub fn clean(kind: Kind, body: &Map<String, Value>) -> Map<String, Value> {
    let schema = schema_source(SchemaKind::Resource(kind));
    let allowed: BTreeSet<&str> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut out: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| allowed.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(tags) = kind.spec().tags_field
        && let Some(Value::Object(t)) = out.get_mut(tags)
    {
        t.remove(TAG_MANAGED);
        t.remove(TAG_ENV);
        t.remove(TAG_KEY);
    }
    drop_defaults(&mut out, kind);
    out
}

fn drop_defaults(body: &mut Map<String, Value>, kind: Kind) {
    let defaults: &[(&str, Value)] = &[
        ("format", json!("MULTI_TASK")),
        ("timeout_seconds", json!(0)),
        ("email_notifications", json!({})),
        ("webhook_notifications", json!({})),
        ("run_if", json!("ALL_SUCCESS")),
        ("source", json!("WORKSPACE")),
        ("enable_elastic_disk", json!(true)),
        ("queue", json!({"enabled": true})),
        ("tags", json!({})),
        ("custom_tags", json!({})),
        ("pause_status", json!("UNPAUSED")),
        ("max_concurrent_runs", json!(1)),
        // What the service gives a job cluster that names no cloud attributes.
        (
            "aws_attributes",
            json!({"availability": "SPOT_WITH_FALLBACK", "zone_id": "auto", "first_on_demand": 1, "spot_bid_price_percent": 100}),
        ),
    ];
    body.retain(|k, v| !defaults.iter().any(|(dk, dv)| dk == k && dv == v));
    if body.get("driver_instance_pool_id").is_some()
        && body.get("driver_instance_pool_id") == body.get("instance_pool_id")
    {
        body.remove("driver_instance_pool_id");
    }
    (kind.spec().drop_own_defaults)(body);
    if body.get("driver_node_type_id").is_some()
        && body.get("driver_node_type_id") == body.get("node_type_id")
    {
        body.remove("driver_node_type_id");
    }
    // Job clusters on a pool get node types from the pool.
    if body.contains_key("instance_pool_id") {
        body.remove("node_type_id");
        body.remove("driver_node_type_id");
    }
    for value in body.values_mut() {
        match value {
            Value::Object(inner) => drop_defaults(inner, kind),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        drop_defaults(inner, kind);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Replaces IDs of exported objects with references to them.
pub(super) fn replace_ids(body: &mut Map<String, Value>, ids: &BTreeMap<(Kind, String), String>) {
    for (field, value) in body.iter_mut() {
        let target = match field.as_str() {
            "existing_cluster_id" => Some(Kind::Clusters),
            "instance_pool_id" | "driver_instance_pool_id" => Some(Kind::InstancePools),
            "job_id" => Some(Kind::Jobs),
            _ => None,
        };
        if let Some(kind) = target {
            let id = match &*value {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            if let Some(key) = id.and_then(|id| ids.get(&(kind, id))) {
                *value = json!(format!("${{resources.{}.{key}.id}}", kind.as_str()));
                continue;
            }
        }
        match value {
            Value::Object(inner) => replace_ids(inner, ids),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        replace_ids(inner, ids);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_names_and_stay_unique() {
        let mut used = BTreeSet::new();
        assert_eq!(
            unique_key("Nightly ETL (prod)", &mut used),
            "nightly_etl_prod"
        );
        assert_eq!(
            unique_key("Nightly-ETL prod", &mut used),
            "nightly_etl_prod_2"
        );
        assert_eq!(unique_key("2024 report", &mut used), "x_2024_report");
        assert_eq!(
            placeholder_variable("etl", "db.password"),
            "ETL_DB_PASSWORD"
        );
    }

    #[test]
    fn cleaning_drops_read_only_fields_defaults_and_tandem_tags() {
        let body = json!({
            "cluster_id": "0101-x", "state": "RUNNING", "cluster_name": "c", "spark_version": "15.4",
            "num_workers": 2, "enable_elastic_disk": true, "node_type_id": "n", "driver_node_type_id": "n",
            "custom_tags": {"managed-by": "tandem", "tandem-env": "prod", "tandem-key": "c", "team": "x"},
            "default_tags": {"Vendor": "Databricks"}
        });
        let cleaned = clean(Kind::Clusters, body.as_object().expect("object"));
        assert_eq!(
            Value::Object(cleaned),
            json!({"cluster_name": "c", "spark_version": "15.4", "num_workers": 2, "node_type_id": "n", "custom_tags": {"team": "x"}})
        );
    }

    #[test]
    fn cleaning_drops_what_the_service_fills_into_jobs() {
        let body = json!({
            "name": "j", "max_concurrent_runs": 1, "format": "MULTI_TASK", "timeout_seconds": 0,
            "queue": {"enabled": true}, "email_notifications": {},
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
            "tasks": [{"task_key": "a", "run_if": "ALL_SUCCESS", "notebook_task": {"notebook_path": "/x", "source": "WORKSPACE"},
                       "new_cluster": {"spark_version": "15.4", "node_type_id": "n", "driver_node_type_id": "n", "num_workers": 1,
                                       "enable_elastic_disk": true,
                                       "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "zone_id": "auto", "first_on_demand": 1, "spot_bid_price_percent": 100}}}],
            "job_clusters": [{"job_cluster_key": "p", "new_cluster": {"spark_version": "15.4", "instance_pool_id": "pool", "driver_instance_pool_id": "pool", "num_workers": 1}}]
        });
        let cleaned = clean(Kind::Jobs, body.as_object().expect("object"));
        assert_eq!(
            Value::Object(cleaned),
            json!({
                "name": "j",
                "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
                "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"},
                           "new_cluster": {"spark_version": "15.4", "node_type_id": "n", "num_workers": 1}}],
                "job_clusters": [{"job_cluster_key": "p", "new_cluster": {"spark_version": "15.4", "instance_pool_id": "pool", "num_workers": 1}}]
            })
        );
        let mut paused = body.as_object().cloned().expect("object");
        paused["max_concurrent_runs"] = json!(0);
        paused["schedule"]["pause_status"] = json!("PAUSED");
        let cleaned = clean(Kind::Jobs, &paused);
        assert_eq!(cleaned["max_concurrent_runs"], json!(0));
        assert_eq!(cleaned["schedule"]["pause_status"], "PAUSED");
    }

    #[test]
    fn ids_of_objects_left_out_are_found() {
        let body = json!({"tasks": [{"task_key": "a", "existing_cluster_id": "0101-x"},
                                    {"task_key": "b", "existing_cluster_id": "${resources.clusters.c.id}"},
                                    {"task_key": "c", "run_job_task": {"job_id": 7}}]});
        assert_eq!(
            raw_ids(body.as_object().expect("object")),
            [
                ("existing_cluster_id".to_string(), "0101-x".to_string()),
                ("job_id".to_string(), "7".to_string())
            ]
        );
    }

    #[test]
    fn ids_become_references() {
        let mut body = json!({"tasks": [{"task_key": "a", "existing_cluster_id": "0101-x"}, {"task_key": "b", "run_job_task": {"job_id": 7}}]}).as_object().cloned().expect("object");
        let ids = BTreeMap::from([
            ((Kind::Clusters, "0101-x".to_string()), "shared".to_string()),
            ((Kind::Jobs, "7".to_string()), "upstream".to_string()),
        ]);
        replace_ids(&mut body, &ids);
        assert_eq!(
            body["tasks"][0]["existing_cluster_id"],
            "${resources.clusters.shared.id}"
        );
        assert_eq!(
            body["tasks"][1]["run_job_task"]["job_id"],
            "${resources.jobs.upstream.id}"
        );
    }
}
