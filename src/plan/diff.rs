//! Field-level comparison of a desired object with the live one.
//!
//! Only what the config manages is compared: fields the config does not set are ignored where
//! the service fills them in (defaults, IDs, cloud attributes); lists of named entries (tasks,
//! job clusters, parameters) are compared by name, maps by key.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::PrincipalKey;

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path, with list entries by key (`tasks[ingest].timeout_seconds`).
    pub path: String,
    /// The live value (null when absent).
    pub before: Value,
    /// The desired value (null when removed).
    pub after: Value,
}

/// Fields the service fills in or owns, never compared when the config leaves them out.
const SERVER_FIELDS: &[&str] = &[
    // clusters
    "cluster_id",
    "state",
    "state_message",
    "start_time",
    "terminated_time",
    "last_restarted_time",
    "last_state_loss_time",
    "creator_user_name",
    "cluster_source",
    "default_tags",
    "spark_context_id",
    "jdbc_port",
    "cluster_cores",
    "cluster_memory_mb",
    "driver",
    "executors",
    "spec",
    "termination_reason",
    "driver_node_type_id",
    "enable_elastic_disk",
    "disk_spec",
    "single_user_name",
    "aws_attributes",
    "azure_attributes",
    "gcp_attributes",
    "pinned_by_user_name",
    "last_activity_time",
    "init_scripts_safe_mode",
    "effective_spark_version",
    "cluster_log_status",
    "driver_instance_pool_id",
    "data_security_mode",
    "enable_local_disk_encryption",
    // pools
    "instance_pool_id",
    "stats",
    "status",
    "idle_instance_autotermination_minutes",
    // jobs
    "run_as",
    "run_as_user_name",
    "deployment",
    "edit_mode",
    "queue",
    "format",
    "job_id",
    "created_time",
    "node_type_id",
];

/// Maps whose every entry comes from the config.
const USER_MAPS: &[&str] = &[
    "tags",
    "custom_tags",
    "spark_conf",
    "spark_env_vars",
    "base_parameters",
];

/// Values the service uses when a field is left out.
fn is_default(field: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(false) => true,
        Value::Number(n) if n.as_f64() == Some(0.0) => true,
        Value::String(s) if s.is_empty() => true,
        Value::Object(m) if m.is_empty() => true,
        Value::Array(a) if a.is_empty() => true,
        _ => matches!(
            (field, value.as_str(), value.as_i64()),
            ("run_if", Some("ALL_SUCCESS"), _)
                | ("source", Some("WORKSPACE"), _)
                | ("pause_status", Some("UNPAUSED"), _)
                | ("name", Some("Untitled"), _)
                | ("max_concurrent_runs", _, Some(1))
        ),
    }
}

/// Fields naming a principal inside an object's settings.
const PRINCIPAL_FIELDS: &[&str] = &["user_name", "service_principal_name", "single_user_name"];

/// Numbers and booleans whose absence does not mean zero or false (`max_concurrent_runs` is 1
/// when left out, a queue is enabled, a pool's disks are elastic), or whose zero a passive
/// workspace relies on: a zero or false the config sets is compared with an absent one.
const ABSENT_IS_NOT_ZERO: &[&str] = &[
    "max_concurrent_runs",
    "min_idle_instances",
    "enabled",
    "enable_elastic_disk",
];

/// Whether an absent live value is the zero or false `want` the config sets: a workspace may
/// leave out a field at its zero value (`timeout_seconds: 0`, `retry_on_timeout: false`).
fn absent_is(field: &str, want: &Value) -> bool {
    is_default(field, want)
        && (!matches!(want, Value::Number(_) | Value::Bool(_))
            || !ABSENT_IS_NOT_ZERO.contains(&field))
}

/// The field naming each entry of a keyed list (`tasks` → `task_key`).
pub fn list_key(field: &str) -> Option<&'static str> {
    match field {
        "tasks" | "depends_on" => Some("task_key"),
        "job_clusters" => Some("job_cluster_key"),
        "environments" => Some("environment_key"),
        "parameters" => Some("name"),
        _ => None,
    }
}

/// Compares a desired object with the live one; live-only fields count as removed at the top
/// level and at the top of keyed-list entries, unless the service fills them in.
pub fn compare_object(desired: &Map<String, Value>, live: &Map<String, Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    object(desired, live, "", 0, &mut out);
    out
}

fn object(
    desired: &Map<String, Value>,
    live: &Map<String, Value>,
    prefix: &str,
    depth: usize,
    out: &mut Vec<FieldChange>,
) {
    for (key, want) in desired {
        let path = join(prefix, key);
        match live.get(key) {
            Some(have) => value(key, want, have, &path, depth + 1, out),
            None if want.is_null() => {}
            None if absent_is(key, want) => {}
            None => out.push(FieldChange {
                path,
                before: Value::Null,
                after: want.clone(),
            }),
        }
    }
    // Fields set outside the config, or dropped from it, are only tracked near the top: deeper
    // down the service fills in too much (cloud attributes, node types) to tell them apart.
    if depth <= 1 {
        for (key, have) in live {
            if !desired.contains_key(key)
                && !SERVER_FIELDS.contains(&key.as_str())
                && !is_default(key, have)
            {
                out.push(FieldChange {
                    path: join(prefix, key),
                    before: have.clone(),
                    after: Value::Null,
                });
            }
        }
    }
}

fn value(
    field: &str,
    want: &Value,
    have: &Value,
    path: &str,
    depth: usize,
    out: &mut Vec<FieldChange>,
) {
    match (want, have) {
        // Maps the user owns entirely: an entry dropped from the config is a change.
        (Value::Object(w), Value::Object(h)) if USER_MAPS.contains(&field) => {
            object(w, h, path, 0, out)
        }
        (Value::Object(w), Value::Object(h)) => object(w, h, path, depth, out),
        (Value::Array(w), Value::Array(h)) => match list_key(field) {
            Some(key) => keyed_list(key, w, h, path, depth, out),
            None if w.len() == h.len() => {
                for (i, (a, b)) in w.iter().zip(h).enumerate() {
                    value(field, a, b, &format!("{path}[{i}]"), depth + 1, out);
                }
            }
            None => out.push(FieldChange {
                path: path.to_string(),
                before: have.clone(),
                after: want.clone(),
            }),
        },
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        // A workspace stores user names and application IDs lower-case (`run_as`,
        // `single_user_name`): compared as it tells principals apart.
        (Value::String(a), Value::String(b))
            if PRINCIPAL_FIELDS.contains(&field)
                && PrincipalKey::of_name(a) == PrincipalKey::of_name(b) => {}
        _ if want == have => {}
        _ => out.push(FieldChange {
            path: path.to_string(),
            before: have.clone(),
            after: want.clone(),
        }),
    }
}

fn keyed_list(
    key: &str,
    want: &[Value],
    have: &[Value],
    path: &str,
    depth: usize,
    out: &mut Vec<FieldChange>,
) {
    let name = |v: &Value| v.get(key).and_then(Value::as_str).map(str::to_string);
    for w in want {
        let Some(n) = name(w) else { continue };
        let entry_path = format!("{path}[{n}]");
        match have.iter().find(|h| name(h).as_deref() == Some(n.as_str())) {
            // Entries are compared like top-level objects: removed fields count.
            Some(h) => match (w, h) {
                (Value::Object(wo), Value::Object(ho)) => {
                    object(wo, ho, &entry_path, if depth <= 2 { 1 } else { depth }, out)
                }
                _ => value("", w, h, &entry_path, depth + 1, out),
            },
            None => out.push(FieldChange {
                path: entry_path,
                before: Value::Null,
                after: w.clone(),
            }),
        }
    }
    for h in have {
        let Some(n) = name(h) else { continue };
        if !want.iter().any(|w| name(w).as_deref() == Some(n.as_str())) {
            out.push(FieldChange {
                path: format!("{path}[{n}]"),
                before: h.clone(),
                after: Value::Null,
            });
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn server_filled_fields_are_not_changes() {
        let desired = obj(
            json!({"name": "etl", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}]}),
        );
        let live = obj(json!({
            "name": "etl", "format": "MULTI_TASK", "timeout_seconds": 0, "email_notifications": {},
            "max_concurrent_runs": 1, "queue": {"enabled": true},
            "tasks": [{"task_key": "a", "run_if": "ALL_SUCCESS", "timeout_seconds": 0, "email_notifications": {},
                       "notebook_task": {"notebook_path": "/x", "source": "WORKSPACE"}}]
        }));
        assert_eq!(compare_object(&desired, &live), vec![]);
    }

    #[test]
    fn tasks_compare_by_key_whatever_their_order() {
        let desired =
            obj(json!({"tasks": [{"task_key": "a", "max_retries": 1}, {"task_key": "b"}]}));
        let live = obj(
            json!({"tasks": [{"task_key": "b"}, {"task_key": "a", "max_retries": 2}, {"task_key": "c"}]}),
        );
        let paths: Vec<String> = compare_object(&desired, &live)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(paths, ["tasks[a].max_retries", "tasks[c]"]);
    }

    #[test]
    fn removed_and_added_fields_are_changes() {
        let desired = obj(json!({"name": "etl", "max_concurrent_runs": 0}));
        let live = obj(
            json!({"name": "etl", "max_concurrent_runs": 1, "schedule": {"quartz_cron_expression": "x", "timezone_id": "UTC"}}),
        );
        let changes = compare_object(&desired, &live);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].path, "max_concurrent_runs");
        assert_eq!(changes[0].after, json!(0));
        assert_eq!(changes[1].path, "schedule");
        assert_eq!(changes[1].after, Value::Null);
    }

    #[test]
    fn a_zero_whose_absence_means_otherwise_is_compared() {
        let desired = obj(
            json!({"max_concurrent_runs": 0, "min_idle_instances": 0, "queue": {"enabled": false}}),
        );
        let paths: Vec<String> = compare_object(&desired, &obj(json!({"queue": {}})))
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(
            paths,
            ["max_concurrent_runs", "min_idle_instances", "queue.enabled"]
        );
    }

    #[test]
    fn a_zero_or_false_the_workspace_leaves_out_is_no_change() {
        let desired = obj(json!({"timeout_seconds": 0, "tasks": [{"task_key": "a",
            "max_retries": 0, "retry_on_timeout": false, "timeout_seconds": 0,
            "email_notifications": {}, "depends_on": []}]}));
        let live = obj(json!({"tasks": [{"task_key": "a"}]}));
        assert_eq!(compare_object(&desired, &live), vec![]);
    }

    #[test]
    fn a_tag_dropped_from_the_config_is_a_change() {
        let desired = obj(json!({"tags": {"a": "1"}}));
        let live = obj(json!({"tags": {"a": "1", "old": "x"}}));
        let changes = compare_object(&desired, &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "tags.old");
    }

    #[test]
    fn user_names_in_settings_compare_as_the_workspace_stores_them() {
        let desired = obj(json!({"run_as": {"user_name": "Alice@Example.com"},
            "single_user_name": "Bob@Example.com", "name": "Nightly"}));
        let live = obj(json!({"run_as": {"user_name": "alice@example.com"},
            "single_user_name": "bob@example.com", "name": "Nightly"}));
        assert_eq!(compare_object(&desired, &live), vec![]);
        // Other strings, and group names, keep their case.
        let live = obj(json!({"run_as": {"user_name": "alice@example.com"},
            "single_user_name": "bob@example.com", "name": "nightly"}));
        assert_eq!(compare_object(&desired, &live).len(), 1);
        let group = |g: &str| obj(json!({"single_user_name": g}));
        assert_eq!(
            compare_object(&group("Data-Eng"), &group("data-eng")).len(),
            1
        );
    }

    #[test]
    fn maps_compare_by_key_and_numbers_by_value() {
        let desired = obj(json!({"tags": {"a": "1", "b": "2"}, "timeout_seconds": 60}));
        let live = obj(json!({"tags": {"b": "2", "a": "1"}, "timeout_seconds": 60.0}));
        assert!(compare_object(&desired, &live).is_empty());
    }
}
