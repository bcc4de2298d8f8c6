//! What the service refuses in job settings: the checks every create, reset and update makes
//! (everything that needs no other object), and `run_as`'s principal.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::schedule::check_schedule;
use super::shapes::check_shapes;
use crate::emulator::principals::{self, PrincipalKind};
use crate::emulator::store::Db;
use crate::emulator::{ApiError, ApiResult, Caller};

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

pub(super) fn is_set(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key).is_some_and(|v| !v.is_null())
}

/// Checks JobSettings against the service's rules (everything that needs no other object).
pub(super) fn validate_settings(s: &Map<String, Value>) -> ApiResult<()> {
    check_shapes(s)?;
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
        check_schedule(
            field_str(schedule, "quartz_cron_expression")?.unwrap_or_default(),
            field_str(schedule, "timezone_id")?.unwrap_or_default(),
        )?;
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

pub(super) fn canonical_git_provider(provider: &str) -> Option<&'static str> {
    GIT_PROVIDERS
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(provider))
}

/// The principal `run_as` names: exactly one of user, service principal or group.
pub(super) fn run_as_principal(run_as: &Map<String, Value>) -> ApiResult<(PrincipalKind, &str)> {
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
pub(super) fn check_run_as(db: &Db, caller: &Caller, s: &Map<String, Value>) -> ApiResult<()> {
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

pub(super) fn principal_missing(kind: PrincipalKind, name: &str) -> ApiError {
    let kind = match kind {
        PrincipalKind::User => "UserName",
        PrincipalKind::Group => "GroupName",
        PrincipalKind::ServicePrincipal => "ServicePrincipalName",
    };
    ApiError::invalid(format!("Principal: {kind}({name}) does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;
    use serde_json::json;

    fn error_of(s: Value) -> String {
        validate_settings(&obj(s))
            .expect_err("should be rejected")
            .message
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
                json!({"schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}, "continuous": {}}),
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
}
