//! Checks a JSON Schema cannot express: owners, principals, task graphs, secret sources,
//! references between resources and their cycles, placement conflicts, and values that become
//! wrong only once a workspace's variables are substituted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::WorkspaceScope;
use super::diagnostic::{Problem, did_you_mean};
use super::env::Environment;
use super::node::{Key, Node, NodeValue, PathSegment, Span};
use super::refs::{self, Reference};
use super::schedule::{self, ScheduleCheck};
use super::schema;
use super::secret_source::{Refusal, SourceGuard};
use crate::model::{Kind, Placement, Principal, PrincipalKey, ResourceId, Resources};

const PRINCIPAL_FIELDS: [&str; 3] = ["user_name", "group_name", "service_principal_name"];

/// The spans of a secret scope's literal secret values, to blank in the source text
/// ([`super::SourceSet::redact_all`]) so no diagnostic can show them.
pub fn literal_secret_spans(node: &Node, spans: &mut Vec<Span>) {
    let Some(secrets) = node.get("secrets").and_then(Node::as_map) else {
        return;
    };
    for (_, value) in secrets {
        visit_literals(value, &mut |span| spans.push(span));
    }
}

fn visit_literals(node: &Node, f: &mut dyn FnMut(Span)) {
    match &node.value {
        NodeValue::Map(entries) => {
            for (k, v) in entries {
                // `{env: X}` / `{file: X}` name sources; every other scalar is a value.
                if !(k.name == "env" || k.name == "file") || !matches!(v.value, NodeValue::Str(_)) {
                    visit_literals(v, f);
                }
            }
        }
        NodeValue::Seq(items) => items.iter().for_each(|i| visit_literals(i, f)),
        NodeValue::Null => {}
        _ => f(node.span),
    }
}

/// Checks one resource and returns the JSON to validate and build the model from.
pub fn check_resource(
    id: &ResourceId,
    key: &Key,
    node: &Node,
    environment: &Environment,
    guard: &SourceGuard,
    problems: &mut Vec<Problem>,
) -> Value {
    let mut instance = node.to_json();
    match id.kind {
        Kind::Jobs => {
            check_permissions(id.kind, node, problems);
            check_job(node, problems);
            for cluster in job_cluster_specs(node) {
                check_cluster(cluster, problems);
            }
        }
        Kind::Clusters => {
            check_permissions(id.kind, node, problems);
            check_cluster(node, problems);
        }
        Kind::InstancePools => check_permissions(id.kind, node, problems),
        Kind::SecretScopes => {
            check_acls(node, problems);
            check_secrets(key, node, environment, guard, &mut instance, problems)
        }
    }
    instance
}

fn check_permissions(kind: Kind, node: &Node, problems: &mut Vec<Problem>) {
    let Some(NodeValue::Seq(entries)) = node.get("permissions").map(|n| &n.value) else {
        return;
    };
    let mut owner: Option<Span> = None;
    let mut principals: BTreeMap<PrincipalKey, Span> = BTreeMap::new();
    for entry in entries {
        if entry.as_map().is_none() {
            continue; // the schema reports it
        }
        let given: Vec<(&Key, &Node)> = PRINCIPAL_FIELDS
            .iter()
            .filter_map(|f| entry.entry(f))
            .collect();
        match given.as_slice() {
            [] => problems.push(
                Problem::new(entry.span, "permission entry names no principal", "who?")
                    .help("add one of user_name, group_name or service_principal_name"),
            ),
            [_] => {}
            [_, second, ..] => problems.push(
                Problem::new(
                    second.0.span,
                    "permission entry names more than one principal",
                    "second principal",
                )
                .help("split it into one entry per principal"),
            ),
        }
        let Some((principal_key, principal)) = given.first() else {
            continue;
        };
        let name = principal.as_str().unwrap_or_default().to_string();
        let level = entry.get("level");
        let key = match principal_key.name.as_str() {
            "group_name" => Principal::GroupName(name.clone()),
            "user_name" => Principal::UserName(name.clone()),
            _ => Principal::ServicePrincipalName(name.clone()),
        }
        .key();
        if let Some(&first) = principals.get(&key) {
            problems.push(listed_twice(&name, "permissions", principal.span, first));
        } else {
            principals.insert(key, principal.span);
        }
        if kind == Kind::Jobs && level.and_then(Node::as_str) == Some("IS_OWNER") {
            let level_span = level.map(|l| l.span).unwrap_or(entry.span);
            if principal_key.name == "group_name" {
                problems.push(
                    Problem::new(
                        level_span,
                        format!("group `{name}` cannot own a job"),
                        "group as owner",
                    )
                    .help(
                        "make a user or service principal IS_OWNER and give the group CAN_MANAGE",
                    ),
                );
            }
            match owner {
                Some(first) => problems.push(
                    Problem::new(
                        level_span,
                        "a job has exactly one IS_OWNER; this is the second",
                        "second owner",
                    )
                    .related(first, "first owner")
                    .help("keep one IS_OWNER and give the other principal CAN_MANAGE"),
                ),
                None => owner = Some(level_span),
            }
        }
    }
}

/// A principal given a second entry (user names and application IDs ignore case, as the
/// workspace does, so `Alice@x` and `alice@x` are one principal).
fn listed_twice(name: &str, list: &str, again: Span, first: Span) -> Problem {
    Problem::new(
        again,
        format!("`{name}` is listed twice in {list}"),
        "listed again",
    )
    .related(first, "first listed here")
    .help("give each principal one entry with its highest level (user names and service principal application IDs ignore case; group names do not)")
}

/// A scope's ACLs name each principal once: the workspace keeps one permission per principal.
fn check_acls(node: &Node, problems: &mut Vec<Problem>) {
    let Some(NodeValue::Seq(entries)) = node.get("acls").map(|n| &n.value) else {
        return;
    };
    let mut principals: BTreeMap<PrincipalKey, Span> = BTreeMap::new();
    for principal in entries.iter().filter_map(|e| e.get("principal")) {
        let Some(name) = principal.as_str() else {
            continue; // the schema reports it
        };
        let key = PrincipalKey::of_name(name);
        if let Some(&first) = principals.get(&key) {
            problems.push(listed_twice(name, "acls", principal.span, first));
        } else {
            principals.insert(key, principal.span);
        }
    }
}

/// A schedule's cron expression and time zone, checked as the Jobs API checks them (values
/// with references are checked once substituted, by the workspace).
fn check_schedule(node: &Node, problems: &mut Vec<Problem>) {
    let Some(schedule) = node.get("schedule") else {
        return;
    };
    let checks: [(&str, &str, ScheduleCheck); 2] = [
        (
            "quartz_cron_expression",
            "not Quartz cron",
            schedule::check_quartz_cron,
        ),
        ("timezone_id", "unknown time zone", schedule::check_timezone),
    ];
    for (field, label, check) in checks {
        let Some(value) = schedule.get(field) else {
            continue;
        };
        let Some(text) = value.as_str().filter(|t| !t.contains("${")) else {
            continue; // the schema reports a value of another type
        };
        if let Err(fault) = check(text) {
            problems.push(Problem::new(value.span, fault.message, label).help(fault.help));
        }
    }
}

fn check_job(node: &Node, problems: &mut Vec<Problem>) {
    check_schedule(node, problems);
    let scheduling: Vec<(&Key, &Node)> = ["schedule", "continuous", "trigger"]
        .iter()
        .filter_map(|f| node.entry(f))
        .collect();
    if scheduling.len() > 1 {
        let names: Vec<&str> = scheduling.iter().map(|(k, _)| k.name.as_str()).collect();
        problems.push(
            Problem::new(
                scheduling[1].0.span,
                format!(
                    "a job takes only one of schedule, continuous and trigger; found {}",
                    names.join(" and ")
                ),
                "conflicts",
            )
            .related(scheduling[0].0.span, "already given here")
            .help("keep one way of starting the job"),
        );
    }
    let job_clusters: BTreeSet<&str> = match node.get("job_clusters").map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items
            .iter()
            .filter_map(|c| c.get("job_cluster_key")?.as_str())
            .collect(),
        _ => BTreeSet::new(),
    };
    let Some(NodeValue::Seq(tasks)) = node.get("tasks").map(|n| &n.value) else {
        return;
    };
    let mut keys: BTreeMap<&str, Span> = BTreeMap::new();
    for task in tasks {
        let Some(key) = task.get("task_key") else {
            continue;
        };
        let Some(name) = key.as_str() else { continue };
        if let Some(first) = keys.get(name) {
            problems.push(
                Problem::new(
                    key.span,
                    format!("task key `{name}` is used twice"),
                    "duplicate task key",
                )
                .related(*first, "first used here")
                .help("task keys are unique within a job"),
            );
        } else {
            keys.insert(name, key.span);
        }
        let compute: Vec<&Key> = [
            "existing_cluster_id",
            "job_cluster_key",
            "new_cluster",
            "environment_key",
            "compute",
        ]
        .iter()
        .filter_map(|f| task.entry(f).map(|(k, _)| k))
        .collect();
        if compute.len() > 1 {
            problems.push(
                Problem::new(compute[1].span, format!("task `{name}` names more than one compute: {} and {}", compute[0].name, compute[1].name), "second compute")
                    .help("a task runs on one of existing_cluster_id, job_cluster_key, new_cluster or environment_key"),
            );
        }
        if let Some(cluster_key) = task.get("job_cluster_key")
            && let Some(wanted) = cluster_key.as_str()
            && !job_clusters.contains(wanted)
            && refs::scan(wanted).is_empty()
        {
            let mut problem = Problem::new(
                cluster_key.span,
                format!("task `{name}` uses job cluster `{wanted}`, which the job does not define"),
                "unknown job cluster",
            );
            problem = match did_you_mean(wanted, job_clusters.iter().copied()) {
                Some(s) => problem.help(format!("did you mean `{s}`?")),
                None => problem
                    .help("add it under job_clusters (job_cluster {} in HCL), or fix the key"),
            };
            problems.push(problem);
        }
    }
    // depends_on targets exist and form no cycle.
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for task in tasks {
        let Some(name) = task.get("task_key").and_then(Node::as_str) else {
            continue;
        };
        let Some(NodeValue::Seq(deps)) = task.get("depends_on").map(|n| &n.value) else {
            continue;
        };
        for dep in deps {
            let Some(target_node) = dep.get("task_key") else {
                continue;
            };
            let Some(target) = target_node.as_str() else {
                continue;
            };
            if !keys.contains_key(target) {
                let mut problem = Problem::new(
                    target_node.span,
                    format!("task `{name}` depends on `{target}`, which is not a task of this job"),
                    "unknown task",
                );
                problem = match did_you_mean(target, keys.keys().copied()) {
                    Some(s) => problem.help(format!("did you mean `{s}`?")),
                    None => problem.help(format!(
                        "tasks of this job: {}",
                        keys.keys().copied().collect::<Vec<_>>().join(", ")
                    )),
                };
                problems.push(problem);
            } else {
                graph.entry(name).or_default().push(target);
            }
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        let span = keys.get(cycle[0]).copied().unwrap_or(node.span);
        problems.push(
            Problem::new(
                span,
                format!(
                    "tasks depend on each other in a cycle: {}",
                    cycle.join(" → ")
                ),
                "cycle starts here",
            )
            .help("remove one of the depends_on entries so the tasks can run in order"),
        );
    }
}

/// The `new_cluster` specs of a job's job clusters and tasks.
fn job_cluster_specs(job: &Node) -> Vec<&Node> {
    let mut specs = Vec::new();
    for list in ["job_clusters", "tasks"] {
        if let Some(NodeValue::Seq(items)) = job.get(list).map(|n| &n.value) {
            specs.extend(items.iter().filter_map(|i| i.get("new_cluster")));
        }
    }
    specs
}

fn check_cluster(node: &Node, problems: &mut Vec<Problem>) {
    if let (Some((_, _)), Some((autoscale, _))) =
        (node.entry("num_workers"), node.entry("autoscale"))
    {
        problems.push(
            Problem::new(autoscale.span, "a cluster takes num_workers or autoscale, not both", "conflicts with num_workers")
                .help("keep num_workers for a fixed size or autoscale {min_workers, max_workers} for a range"),
        );
    }
    if let (Some(_), Some((node_type, _))) =
        (node.entry("instance_pool_id"), node.entry("node_type_id"))
    {
        problems.push(
            Problem::new(
                node_type.span,
                "a cluster on an instance pool takes its node type from the pool",
                "remove node_type_id",
            )
            .help("drop node_type_id (and driver_node_type_id) when instance_pool_id is set"),
        );
    }
    // The driver comes from driver_instance_pool_id, or else from the workers' pool.
    let driver_pool = node
        .entry("driver_instance_pool_id")
        .or_else(|| node.entry("instance_pool_id"));
    if let (Some((pool, _)), Some((node_type, _))) =
        (driver_pool, node.entry("driver_node_type_id"))
    {
        problems.push(
            Problem::new(
                node_type.span,
                "a driver on an instance pool takes its node type from the pool",
                "remove driver_node_type_id",
            )
            .related(pool.span, "the driver's pool")
            .help(format!(
                "drop driver_node_type_id when {} is set",
                pool.name
            )),
        );
    }
}

fn check_secrets(
    scope_key: &Key,
    node: &Node,
    environment: &Environment,
    guard: &SourceGuard,
    instance: &mut Value,
    problems: &mut Vec<Problem>,
) {
    let _ = scope_key;
    let Some(NodeValue::Map(secrets)) = node.get("secrets").map(|n| &n.value) else {
        return;
    };
    let workspaces: Vec<&str> = environment
        .workspaces
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    for (key, value) in secrets {
        let valid_key = !key.name.is_empty()
            && key.name.len() <= 128
            && key
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid_key {
            problems.push(
                Problem::new(
                    key.span,
                    format!("`{}` is not a valid secret key", key.name),
                    "invalid key",
                )
                .help("secret keys are 1-128 letters, digits, `-`, `_` or `.`"),
            );
        }
        let literal = |problems: &mut Vec<Problem>, span: Span| {
            problems.push(
                Problem::new(span, format!("secret `{}` has a literal value in the config", key.name), "literal secret (hidden)")
                    .help("secrets never live in Git: write {env: VAR_NAME} or {file: /path/outside/the/repo}, or one such source per workspace"),
            );
        };
        let forget = |instance: &mut Value| {
            // Reported once as a literal; the schema need not repeat it.
            if let Some(Value::Object(map)) = instance.get_mut("secrets") {
                map.remove(&key.name);
            }
        };
        let Some(entries) = value.as_map() else {
            if value.value != NodeValue::Null {
                literal(problems, value.span);
                forget(instance);
            }
            continue;
        };
        let mut literal_inside = None;
        visit_literals(value, &mut |span| {
            literal_inside.get_or_insert(span);
        });
        if let Some((k, _)) = entries
            .iter()
            .find(|(k, _)| ["value", "string_value", "bytes_value"].contains(&k.name.as_str()))
        {
            literal_inside.get_or_insert(k.span);
        }
        if let Some(span) = literal_inside {
            literal(problems, span);
            forget(instance);
            continue;
        }
        let direct: Vec<&(Key, Node)> = entries
            .iter()
            .filter(|(k, _)| k.name == "env" || k.name == "file")
            .collect();
        let per_workspace: Vec<&(Key, Node)> = entries
            .iter()
            .filter(|(k, _)| k.name != "env" && k.name != "file")
            .collect();
        match (direct.as_slice(), per_workspace.as_slice()) {
            ([one], []) => check_leaf(&key.name, &one.0, &one.1, guard, problems, &literal),
            ([_, second], []) => problems.push(
                Problem::new(second.0.span, format!("secret `{}` names both env and file", key.name), "choose one")
                    .help("a secret is read from one place: {env: VAR} or {file: PATH}"),
            ),
            ([], per) => {
                for (ws, leaf) in per {
                    if !workspaces.is_empty() && !workspaces.contains(&ws.name.as_str()) {
                        let mut problem = Problem::new(ws.span, format!("secret `{}` has a source for `{}`, which is not a workspace", key.name, ws.name), "no such workspace");
                        problem = match did_you_mean(&ws.name, workspaces.iter().copied()) {
                            Some(s) => problem.help(format!("did you mean `{s}`?")),
                            None => problem.help(format!("workspaces: {}; a single source is {{env: VAR}} or {{file: PATH}}", workspaces.join(", "))),
                        };
                        problems.push(problem);
                    }
                    match leaf.as_map() {
                        Some(leaf_entries) => match leaf_entries {
                            [(k, v)] if k.name == "env" || k.name == "file" => check_leaf(&key.name, k, v, guard, problems, &literal),
                            [] => problems.push(Problem::new(leaf.span, format!("secret `{}` has an empty source for `{}`", key.name, ws.name), "empty").help("write {env: VAR} or {file: PATH}")),
                            _ => {} // the schema reports unknown or extra fields
                        },
                        None if leaf.value != NodeValue::Null => literal(problems, leaf.span),
                        None => {}
                    }
                }
                for ws in &workspaces {
                    if !per.iter().any(|(k, _)| k.name == *ws) {
                        problems.push(
                            Problem::new(key.span, format!("secret `{}` has no source for workspace `{ws}`", key.name), format!("missing `{ws}`"))
                                .help(format!("add `{ws}: {{env: VAR}}`, or use one source for every workspace")),
                        );
                    }
                }
            }
            (_, _) => problems.push(
                Problem::new(key.span, format!("secret `{}` mixes a direct source with per-workspace sources", key.name), "mixed")
                    .help("write either {env: VAR} / {file: PATH}, or one such source under each workspace name"),
            ),
        }
    }
}

fn check_leaf(
    secret: &str,
    key: &Key,
    value: &Node,
    guard: &SourceGuard,
    problems: &mut Vec<Problem>,
    literal: &dyn Fn(&mut Vec<Problem>, Span),
) {
    match &value.value {
        NodeValue::Str(s) if key.name == "env" && !super::env::is_env_var_name(s) => problems.push(
            Problem::new(
                value.span,
                format!("secret `{secret}`: `{s}` is not an environment variable name"),
                "not a variable name",
            )
            .help(
                "write the name of the variable that holds the value, e.g. {env: ETL_DB_PASSWORD}",
            ),
        ),
        NodeValue::Str(s) if s.is_empty() => problems.push(
            Problem::new(
                value.span,
                format!("secret `{secret}` has an empty {}", key.name),
                "empty",
            )
            .help("give a variable name or a file path"),
        ),
        NodeValue::Str(s) if key.name == "file" && !(s.starts_with('/') || s.starts_with("~/")) => problems.push(
            Problem::new(value.span, format!("secret `{secret}`: file `{s}` is a relative path"), "relative path")
                .help("secret files live outside the repository: give an absolute path (e.g. /run/secrets/etl.pem) or one under ~/"),
        ),
        NodeValue::Str(s) => {
            let refusal = if key.name == "env" {
                guard.refuse_variable(s)
            } else {
                guard.refuse_file(s)
            };
            if let Some(refusal) = refusal {
                problems.push(refused_source(secret, &key.name, s, value.span, &refusal));
            }
        }
        _ => literal(problems, value.span),
    }
}

/// The problem for a source tandem refuses to read (see [`super::secret_source`]).
fn refused_source(
    secret: &str,
    kind: &str,
    source: &str,
    span: Span,
    refusal: &Refusal,
) -> Problem {
    let what = if kind == "env" { "variable" } else { "file" };
    let (label, help) = match refusal {
        Refusal::CredentialVariable(_) => (
            "credentials",
            "give the secret a variable of its own (e.g. ETL_DB_PASSWORD): a secret source must not copy tandem's or the CI job's credentials into a workspace, where its users could read them",
        ),
        Refusal::InsideRepository => (
            "inside the repository",
            "secrets never live in Git: give a path outside the repository (e.g. /run/secrets/etl.pem)",
        ),
        Refusal::NoHome => ("no HOME", "set HOME, or give an absolute path"),
        Refusal::CredentialStore(_) => (
            "credential store or process file",
            "point at a file that holds only this secret (e.g. /run/secrets/etl.pem): a secret source must not copy credentials or process data into a workspace, where its users could read them",
        ),
    };
    Problem::new(
        span,
        format!(
            "secret `{secret}`: {what} `{source}` {}",
            refusal.describe()
        ),
        label,
    )
    .help(help)
}

/// Reference checks over every resource: forms, targets, variables, cycles and placement.
pub fn check_cross_resource(
    declared: &[(&ResourceId, &Key, &Node)],
    declared_ids: &BTreeSet<ResourceId>,
    resources: &Resources,
    environment: &Environment,
    problems: &mut Vec<Problem>,
) {
    let mut graph: BTreeMap<ResourceId, Vec<(ResourceId, Span)>> = BTreeMap::new();
    let placement_of = |id: &ResourceId| resources.get(id).map(|r| r.placement());
    let variables: Vec<&str> = environment.variables.keys().map(String::as_str).collect();
    for (id, _, node) in declared {
        let mut path = Vec::new();
        let mut found: Vec<(Vec<PathSegment>, String, Span)> = Vec::new();
        node.walk_strings(&mut path, &mut |p, s, span| {
            if s.contains("${") {
                found.push((p.to_vec(), s.to_string(), span));
            }
        });
        for (path, text, span) in found {
            if path.first() == Some(&PathSegment::Key("secrets".into())) {
                continue; // secret sources are names, not values to substitute
            }
            for occurrence in refs::scan(&text) {
                match occurrence.reference {
                    Err(error) => {
                        let help = match &error {
                            refs::ReferenceError::UnknownKind(kind) => match did_you_mean(kind, Kind::ALL.map(Kind::as_str)) {
                                Some(s) => format!("did you mean `{s}`? kinds are jobs, clusters, instance_pools and secret_scopes"),
                                None => "kinds are jobs, clusters, instance_pools and secret_scopes".to_string(),
                            },
                            _ => "references are ${resources.<kind>.<key>.id}, ${var.<name>}, ${workspace.name} and ${workspace.role}; write $${ for a literal ${".to_string(),
                        };
                        problems.push(
                            Problem::new(
                                span,
                                error.message(&occurrence.text),
                                "invalid reference",
                            )
                            .help(help),
                        );
                    }
                    Ok(Reference::ResourceId(target)) => {
                        if !declared_ids.contains(&target) {
                            let keys = declared_ids
                                .iter()
                                .filter(|d| d.kind == target.kind)
                                .map(|d| d.key.as_str());
                            let mut problem = Problem::new(
                                span,
                                format!(
                                    "`${{{}}}` refers to {} `{}`, which is not declared",
                                    occurrence.text.trim(),
                                    target.kind.spec().singular,
                                    target.key
                                ),
                                "dangling reference",
                            );
                            problem = match did_you_mean(&target.key, keys) {
                                Some(s) => problem.help(format!("did you mean `{s}`?")),
                                None => problem.help(format!(
                                    "declare {} `{}` in a resource file, or fix the reference",
                                    target.kind.spec().singular,
                                    target.key
                                )),
                            };
                            problems.push(problem);
                            continue;
                        }
                        if &target == *id {
                            problems.push(
                                Problem::new(
                                    span,
                                    format!(
                                        "{} `{}` refers to itself",
                                        id.kind.spec().singular,
                                        id.key
                                    ),
                                    "self reference",
                                )
                                .help("an object cannot use its own ID in its definition"),
                            );
                            continue;
                        }
                        if placement_of(id) == Some(Placement::Both)
                            && placement_of(&target) == Some(Placement::ActiveOnly)
                        {
                            problems.push(
                                Problem::new(span, format!("{} `{}` is deployed to every workspace but refers to {} `{}`, which exists only on the active one", id.kind.spec().singular, id.key, target.kind.spec().singular, target.key), "active_only target")
                                    .help(format!("give {} `{}` placement: active_only too, or deploy {} `{}` everywhere", id.kind.spec().singular, id.key, target.kind.spec().singular, target.key)),
                            );
                        }
                        graph.entry((*id).clone()).or_default().push((target, span));
                    }
                    Ok(Reference::Var(name)) => {
                        if !environment.variables.contains_key(&name) {
                            let mut problem = Problem::new(
                                span,
                                format!(
                                    "`${{var.{name}}}` names a variable that environment `{}` does not define",
                                    environment.name
                                ),
                                "unknown variable",
                            );
                            problem = match did_you_mean(&name, variables.iter().copied()) {
                                Some(s) => problem.help(format!("did you mean `{s}`?")),
                                None => problem.help(format!(
                                    "add `{name}` under variables: in environments/{}.yaml",
                                    environment.name
                                )),
                            };
                            problems.push(problem);
                        }
                    }
                    Ok(Reference::WorkspaceName | Reference::WorkspaceRole) => {}
                }
            }
        }
    }
    report_resource_cycles(&graph, problems);
    check_scope_names(declared, problems);
}

fn report_resource_cycles(
    graph: &BTreeMap<ResourceId, Vec<(ResourceId, Span)>>,
    problems: &mut Vec<Problem>,
) {
    let names: BTreeMap<String, &ResourceId> = graph.keys().map(|k| (k.to_string(), k)).collect();
    let simple: BTreeMap<String, Vec<String>> = graph
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                v.iter().map(|(t, _)| t.to_string()).collect(),
            )
        })
        .collect();
    let view: BTreeMap<&str, Vec<&str>> = simple
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    let Some(cycle) = find_cycle(&view) else {
        return;
    };
    // Every edge of the cycle is labelled: the first carries the message, the rest are related.
    let edge_span = |from: &str, to: &str| {
        let from = names.get(from)?;
        graph
            .get(*from)?
            .iter()
            .find(|(t, _)| t.to_string() == to)
            .map(|(_, span)| *span)
    };
    let spans: Vec<Span> = cycle
        .windows(2)
        .filter_map(|w| edge_span(w[0], w[1]))
        .collect();
    if let Some((first, rest)) = spans.split_first() {
        let mut problem = Problem::new(
            *first,
            format!(
                "resources refer to each other in a cycle: {}",
                cycle.join(" → ")
            ),
            format!("{} → {}", cycle[0], cycle[1]),
        )
        .help("no creation order exists for a cycle; remove one of the references");
        for (i, span) in rest.iter().enumerate() {
            problem = problem.related(*span, format!("{} → {}", cycle[i + 1], cycle[i + 2]));
        }
        problems.push(problem);
    }
}

/// The first cycle found, as a path that ends where it starts.
fn find_cycle<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node)?;
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

fn check_scope_names(declared: &[(&ResourceId, &Key, &Node)], problems: &mut Vec<Problem>) {
    let mut names: BTreeMap<String, Span> = BTreeMap::new();
    for (id, _, node) in declared {
        if id.kind != Kind::SecretScopes {
            continue;
        }
        let Some(name_node) = node.get("name") else {
            continue;
        };
        let Some(name) = name_node.as_str() else {
            continue;
        };
        let folded = name.to_lowercase();
        if folded.starts_with(crate::model::RESERVED_SCOPE_PREFIX) {
            problems.push(
                Problem::new(name_node.span, format!("secret scope name `{name}` is reserved: scopes named `{}…` hold tandem's seal of its state record", crate::model::RESERVED_SCOPE_PREFIX), "reserved name")
                    .help("choose another name for this scope"),
            );
        }
        if let Some(first) = names.get(&folded) {
            problems.push(
                Problem::new(name_node.span, format!("secret scope name `{name}` is used by two scopes (names are case-insensitive)"), "same scope name")
                    .related(*first, "first used here")
                    .help("each secret scope needs its own name"),
            );
        } else {
            names.insert(folded, name_node.span);
        }
    }
}

/// Re-checks resources whose values are whole variable references, once per workspace, after
/// substitution: `max_concurrent_runs: ${var.runs}` is well typed until a workspace's `runs` is
/// `many`. A problem every workspace shares is reported once.
pub fn check_resolved(
    environment: &Environment,
    declared: &[(&ResourceId, &Key, &Node)],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (id, key, node) in declared {
        if !needs_recheck(id.kind, node, environment) {
            continue;
        }
        let original = node.to_json();
        let what = format!("{} `{}`", id.kind.spec().singular, id.key);
        let mut found: Vec<(String, Problem)> = Vec::new();
        for workspace in &environment.workspaces {
            let scope = WorkspaceScope {
                environment,
                workspace: &workspace.name,
                role: environment.role_of(&workspace.name),
            };
            let resolved = refs::substitute(&original, &scope);
            for problem in schema::check(
                schema::SchemaKind::Resource(id.kind),
                node,
                &resolved,
                &what,
                key.span,
            ) {
                found.push((workspace.name.clone(), problem));
            }
        }
        let everywhere = |p: &Problem| {
            environment.workspaces.iter().all(|w| {
                found
                    .iter()
                    .any(|(ws, q)| *ws == w.name && q.span == p.span && q.message == p.message)
            })
        };
        let mut reported: Vec<(Span, String)> = Vec::new();
        for (workspace, mut problem) in found.clone() {
            if reported.contains(&(problem.span, problem.message.clone())) {
                continue;
            }
            reported.push((problem.span, problem.message.clone()));
            let whose = if everywhere(&problem) {
                "the environment's variables".to_string()
            } else {
                format!("workspace `{workspace}`'s variables")
            };
            problem.message = format!("{} (with {whose})", problem.message);
            problem.help = Some(format!(
                "check the variable's value in environments/{}.yaml",
                environment.name
            ));
            problems.push(problem);
        }
    }
    problems
}

/// Whether substituting variables could break the resource: some whole-string `${var.x}` takes a
/// non-string value, or lands in a field that constrains its strings (an enum, a pattern).
fn needs_recheck(kind: Kind, node: &Node, environment: &Environment) -> bool {
    let mut needed = false;
    node.walk_strings(&mut Vec::new(), &mut |path, s, _| {
        if needed {
            return;
        }
        let occurrences = refs::scan(s);
        let whole = !occurrences.is_empty()
            && occurrences
                .iter()
                .all(|o| matches!(o.reference, Ok(Reference::Var(_))))
            && occurrences.iter().map(|o| o.range.len()).sum::<usize>() == s.len();
        if !whole {
            return;
        }
        let non_string = occurrences.iter().any(|o| match &o.reference {
            Ok(Reference::Var(name)) => environment.workspaces.iter().any(|w| {
                environment
                    .variable(name, &w.name)
                    .is_some_and(|v| !v.is_string())
            }),
            _ => false,
        });
        needed =
            non_string || !schema::accepts_any_string(schema::SchemaKind::Resource(kind), path);
    });
    needed
}
