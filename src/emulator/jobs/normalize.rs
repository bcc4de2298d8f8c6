//! Job settings as the service echoes them on GET (defaults filled in, `depends_on` sorted,
//! write-only fields dropped), and how an update merges into them.

use serde_json::{Map, Value, json};

use super::PAGED_ARRAYS;
use super::rules::{canonical_git_provider, is_set};
use crate::emulator::{ApiError, ApiResult};

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

/// The settings as GET echoes them: server defaults filled in, write-only fields dropped.
/// `queue_by_default` is set for jobs written through 2.2.
pub(super) fn normalize(mut s: Map<String, Value>, queue_by_default: bool) -> Map<String, Value> {
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
pub(super) fn apply_update(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;

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
}
