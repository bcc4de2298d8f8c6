//! The JSON types of job settings fields, checked before any rule: a string where the schema
//! has a list (or a list where it has an object) is a request the service cannot parse.

use serde_json::{Map, Value};

use crate::emulator::{ApiError, ApiResult};

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    List,
    Object,
}

impl Kind {
    fn matches(self, value: &Value) -> bool {
        match self {
            Kind::List => value.is_array(),
            Kind::Object => value.is_object(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::List => "an array",
            Kind::Object => "an object",
        }
    }
}

/// The notification lists of `email_notifications` and `webhook_notifications`.
const NOTIFICATION_LISTS: [&str; 7] = [
    "on_start",
    "on_success",
    "on_failure",
    "on_duration_warning_threshold_exceeded",
    "on_streaming_backlog_exceeded",
    "on_maintenance_start",
    "on_maintenance_complete",
];

/// Fields of JobSettings (and the 2.0 single-task shape at the top level) with their types.
const SETTINGS_FIELDS: [(&str, Kind); 17] = [
    ("tasks", Kind::List),
    ("job_clusters", Kind::List),
    ("environments", Kind::List),
    ("parameters", Kind::List),
    ("libraries", Kind::List),
    ("tags", Kind::Object),
    ("schedule", Kind::Object),
    ("trigger", Kind::Object),
    ("continuous", Kind::Object),
    ("email_notifications", Kind::Object),
    ("webhook_notifications", Kind::Object),
    ("notification_settings", Kind::Object),
    ("git_source", Kind::Object),
    ("run_as", Kind::Object),
    ("queue", Kind::Object),
    ("health", Kind::Object),
    ("new_cluster", Kind::Object),
];

/// Fields of a task with their types.
const TASK_FIELDS: [(&str, Kind); 9] = [
    ("depends_on", Kind::List),
    ("libraries", Kind::List),
    ("email_notifications", Kind::Object),
    ("webhook_notifications", Kind::Object),
    ("new_cluster", Kind::Object),
    ("notebook_task", Kind::Object),
    ("spark_python_task", Kind::Object),
    ("spark_jar_task", Kind::Object),
    ("python_wheel_task", Kind::Object),
];

/// `parameters` lists inside the task types.
const TASK_PARAMETER_LISTS: [&str; 4] = [
    "spark_python_task",
    "spark_jar_task",
    "python_wheel_task",
    "spark_submit_task",
];

fn type_error(path: &str, kind: Kind, got: &Value) -> ApiError {
    let got = match got {
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null => "null",
    };
    ApiError::malformed(format!(
        "Could not parse request object: Expected {} for field '{path}', got {got}.",
        kind.name()
    ))
}

/// Checks each field of `fields` that `object` sets; `prefix` names the object in messages.
fn check_fields(
    object: &Map<String, Value>,
    prefix: &str,
    fields: &[(&str, Kind)],
) -> ApiResult<()> {
    for (key, kind) in fields {
        match object.get(*key) {
            None | Some(Value::Null) => {}
            Some(value) if kind.matches(value) => {}
            Some(value) => return Err(type_error(&format!("{prefix}{key}"), *kind, value)),
        }
    }
    Ok(())
}

fn check_notifications(holder: &Map<String, Value>, prefix: &str) -> ApiResult<()> {
    let lists = NOTIFICATION_LISTS.map(|key| (key, Kind::List));
    for key in ["email_notifications", "webhook_notifications"] {
        if let Some(Value::Object(notifications)) = holder.get(key) {
            check_fields(notifications, &format!("{prefix}{key}."), &lists)?;
        }
    }
    Ok(())
}

fn check_task(task: &Value, prefix: &str) -> ApiResult<()> {
    let Value::Object(task) = task else {
        return Err(type_error(prefix.trim_end_matches('.'), Kind::Object, task));
    };
    check_fields(task, prefix, &TASK_FIELDS)?;
    check_notifications(task, prefix)?;
    for kind in TASK_PARAMETER_LISTS {
        if let Some(Value::Object(inner)) = task.get(kind) {
            check_fields(
                inner,
                &format!("{prefix}{kind}."),
                &[("parameters", Kind::List)],
            )?;
        }
    }
    if let Some(Value::Object(notebook)) = task.get("notebook_task") {
        check_fields(
            notebook,
            &format!("{prefix}notebook_task."),
            &[("base_parameters", Kind::Object)],
        )?;
    }
    if let Some(inner) = task.get("for_each_task").and_then(|f| f.get("task")) {
        check_task(inner, &format!("{prefix}for_each_task.task."))?;
    }
    Ok(())
}

/// Refuses settings whose fields have the wrong JSON type, naming the field.
pub(super) fn check_shapes(settings: &Map<String, Value>) -> ApiResult<()> {
    check_fields(settings, "", &SETTINGS_FIELDS)?;
    check_notifications(settings, "")?;
    for (i, task) in settings
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_task(task, &format!("tasks[{i}]."))?;
    }
    for (i, cluster) in settings
        .get("job_clusters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match cluster {
            Value::Object(cluster) => check_fields(
                cluster,
                &format!("job_clusters[{i}]."),
                &[("new_cluster", Kind::Object)],
            )?,
            other => {
                return Err(type_error(
                    &format!("job_clusters[{i}]"),
                    Kind::Object,
                    other,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;
    use serde_json::json;

    fn message(settings: Value) -> String {
        let error = check_shapes(&obj(settings)).expect_err("refused");
        assert_eq!(error.error_code, json!("MALFORMED_REQUEST"));
        assert_eq!(error.status.as_u16(), 400);
        error.message
    }

    #[test]
    fn a_string_where_a_list_belongs_is_refused_with_the_field() {
        let cases = [
            (
                json!({"email_notifications": {"on_failure": "x@y"}}),
                "'email_notifications.on_failure', got a string",
            ),
            (
                json!({"email_notifications": {"on_start": "x@y"}}),
                "email_notifications.on_start",
            ),
            (
                json!({"email_notifications": {"on_success": "x@y"}}),
                "email_notifications.on_success",
            ),
            (
                json!({"email_notifications": {"on_duration_warning_threshold_exceeded": "x@y"}}),
                "on_duration_warning_threshold_exceeded",
            ),
            (
                json!({"webhook_notifications": {"on_failure": {"id": "w"}}}),
                "webhook_notifications.on_failure', got an object",
            ),
            (
                json!({"tasks": "main"}),
                "Expected an array for field 'tasks'",
            ),
            (json!({"job_clusters": {}}), "'job_clusters'"),
            (json!({"parameters": "p"}), "'parameters'"),
            (
                json!({"tags": ["a"]}),
                "Expected an object for field 'tags', got an array",
            ),
            (json!({"schedule": "0 0 2 * * ?"}), "'schedule'"),
            (
                json!({"tasks": [{"task_key": "a", "depends_on": "b"}]}),
                "'tasks[0].depends_on'",
            ),
            (
                json!({"tasks": [{"task_key": "a", "libraries": {"pypi": {}}}]}),
                "'tasks[0].libraries'",
            ),
            (
                json!({"tasks": [{"task_key": "a", "email_notifications": {"on_failure": "x@y"}}]}),
                "'tasks[0].email_notifications.on_failure'",
            ),
            (
                json!({"tasks": [{"task_key": "a", "spark_python_task": {"python_file": "f", "parameters": "--x"}}]}),
                "'tasks[0].spark_python_task.parameters'",
            ),
            (json!({"tasks": ["a"]}), "'tasks[0]'"),
            (
                json!({"job_clusters": [{"job_cluster_key": "c", "new_cluster": "big"}]}),
                "'job_clusters[0].new_cluster'",
            ),
        ];
        for (settings, expected) in cases {
            let message = message(settings.clone());
            assert!(
                message.starts_with("Could not parse request object: "),
                "{message}"
            );
            assert!(message.contains(expected), "{settings}: {message}");
        }
    }

    #[test]
    fn well_typed_settings_pass() {
        check_shapes(&obj(json!({
            "email_notifications": {"on_failure": ["x@y"], "no_alert_for_skipped_runs": true},
            "webhook_notifications": {"on_start": [{"id": "w"}]},
            "tags": {"a": "b"},
            "tasks": [{"task_key": "a", "depends_on": [], "libraries": [{"pypi": {"package": "x"}}],
                       "notebook_task": {"notebook_path": "/x", "base_parameters": {"k": "v"}}}],
            "job_clusters": [{"job_cluster_key": "c", "new_cluster": {}}],
            "schedule": null,
        })))
        .expect("well typed");
    }
}
