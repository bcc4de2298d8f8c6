//! `export`: configuration written from what a workspace holds — jobs, clusters, pools, secret
//! scopes (keys with `env:` placeholders: values cannot be read), ACLs and permissions — with IDs
//! replaced by `${resources...}` references and server-filled defaults dropped. And `adopt`:
//! tagging existing objects as tandem's, so the configuration takes them over in place.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use serde_json::{Map, Value, json};

use super::live::{ALL_PURPOSE_CLUSTERS, direct_grants, list_pages};
use crate::client::{ClientError, WorkspaceClient};
use crate::config::schema::{SchemaKind, schema_source};
use crate::model::{Kind, Resources};
use crate::plan::{TAG_ENV, TAG_KEY, TAG_MANAGED, TAG_MANAGED_VALUE};

/// An object found in the workspace, before it becomes configuration.
#[derive(Debug, Clone)]
struct Found {
    kind: Kind,
    id: String,
    name: String,
    body: Map<String, Value>,
    grants: Vec<crate::model::live::Grant>,
}

/// What an export found.
#[derive(Debug, Default)]
pub struct Exported {
    /// The resources, keyed by name-derived logical keys.
    pub resources: Resources,
    /// IDs of objects left out of the export (by `--match`) that exported resources use: they
    /// stay IDs, which mean nothing in another workspace (`jobs.etl: existing_cluster_id 0101-x`).
    pub unresolved: Vec<String>,
}

/// Reads every job, all-purpose cluster, pool and secret scope whose name matches `filter`, and
/// turns them into resources keyed by a name-derived logical key.
pub async fn export(
    client: &WorkspaceClient,
    filter: Option<&regex::Regex>,
) -> Result<Exported, ClientError> {
    let matches = |name: &str| filter.is_none_or(|r| r.is_match(name));
    let mut found: Vec<Found> = Vec::new();
    found.extend(
        list_jobs(client)
            .await?
            .into_iter()
            .filter(|f| matches(&f.name)),
    );
    found.extend(
        list_clusters(client)
            .await?
            .into_iter()
            .filter(|f| matches(&f.name)),
    );
    found.extend(
        list_pools(client)
            .await?
            .into_iter()
            .filter(|f| matches(&f.name)),
    );
    let grants = try_join_all(found.iter().map(|f| {
        let path = format!("/api/2.0/permissions/{}/{}", permissions_type(f.kind), f.id);
        async move { client.get(&path, &[]).await.map(|a| direct_grants(&a)) }
    }))
    .await?;
    for (f, g) in found.iter_mut().zip(grants) {
        f.grants = g;
    }
    let mut resources = Resources::default();
    let mut unresolved = Vec::new();
    let mut used: BTreeMap<Kind, BTreeSet<String>> = BTreeMap::new();
    let keys: Vec<String> = found
        .iter()
        .map(|f| unique_key(&f.name, used.entry(f.kind).or_default()))
        .collect();
    let ids: BTreeMap<(Kind, String), String> = found
        .iter()
        .zip(&keys)
        .map(|(f, k)| ((f.kind, f.id.clone()), k.clone()))
        .collect();
    for (f, key) in found.iter().zip(&keys) {
        let mut body = clean(f.kind, &f.body);
        replace_ids(&mut body, &ids);
        for (field, id) in raw_ids(&body) {
            unresolved.push(format!("{}.{key}: {field} {id}", f.kind.as_str()));
        }
        let mut value = Value::Object(body);
        if !f.grants.is_empty() {
            value["permissions"] = serde_json::to_value(&f.grants).unwrap_or_default();
        }
        let _ = resources.insert_json(f.kind, key.clone(), value);
    }
    let scopes = client.get("/api/2.0/secrets/scopes/list", &[]).await?;
    let names: Vec<String> = scopes
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| {
            s.get("backend_type")
                .and_then(Value::as_str)
                .unwrap_or("DATABRICKS")
                == "DATABRICKS"
        })
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
        // tandem's own seal scopes are not configuration.
        .filter(|n| !super::state::is_seal_scope(n))
        .filter(|n| matches(n))
        .collect();
    for name in names {
        let key = unique_key(&name, used.entry(Kind::SecretScopes).or_default());
        let query = [("scope", name.clone())];
        let (secrets, acls) = tokio::try_join!(
            client.get("/api/2.0/secrets/list", &query),
            client.get("/api/2.0/secrets/acls/list", &query)
        )?;
        let secrets: Map<String, Value> = secrets
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("key").and_then(Value::as_str))
            .map(|k| {
                (
                    k.to_string(),
                    json!({"env": placeholder_variable(&name, k)}),
                )
            })
            .collect();
        let acls: Vec<Value> = acls
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| json!({"principal": a.get("principal"), "permission": a.get("permission")}))
            .collect();
        let mut scope = json!({"name": name});
        if !secrets.is_empty() {
            scope["secrets"] = Value::Object(secrets);
        }
        if !acls.is_empty() {
            scope["acls"] = Value::Array(acls);
        }
        let _ = resources.insert_json(Kind::SecretScopes, key, scope);
    }
    Ok(Exported {
        resources,
        unresolved,
    })
}

/// Fields holding an object ID that is not a reference.
const ID_FIELDS: [&str; 4] = [
    "existing_cluster_id",
    "instance_pool_id",
    "driver_instance_pool_id",
    "job_id",
];

/// The ID fields of `body` (at any depth) still holding a literal ID.
fn raw_ids(body: &Map<String, Value>) -> Vec<(String, String)> {
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

/// The environment variable an exported secret is read from: `<SCOPE>_<KEY>`, upper case.
pub fn placeholder_variable(scope: &str, key: &str) -> String {
    let raw = format!("{scope}_{key}");
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
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
    for tags in ["tags", "custom_tags"] {
        if let Some(Value::Object(t)) = out.get_mut(tags) {
            t.remove(TAG_MANAGED);
            t.remove(TAG_ENV);
            t.remove(TAG_KEY);
        }
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
    if kind == Kind::InstancePools
        && body.get("idle_instance_autotermination_minutes") == Some(&json!(60))
    {
        body.remove("idle_instance_autotermination_minutes");
    }
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
fn replace_ids(body: &mut Map<String, Value>, ids: &BTreeMap<(Kind, String), String>) {
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

fn permissions_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Jobs => "jobs",
        Kind::Clusters => "clusters",
        _ => "instance-pools",
    }
}

async fn list_jobs(client: &WorkspaceClient) -> Result<Vec<Found>, ClientError> {
    let query = [
        ("limit", "100".to_string()),
        ("expand_tasks", "true".to_string()),
    ];
    let jobs = list_pages(client, "/api/2.2/jobs/list", &query, "jobs").await?;
    Ok(jobs
        .into_iter()
        .map(|job| {
            let body = job
                .get("settings")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("Untitled")
                .to_string();
            let id = job
                .get("job_id")
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default();
            Found {
                kind: Kind::Jobs,
                id,
                name,
                body,
                grants: Vec::new(),
            }
        })
        .collect())
}

async fn list_clusters(client: &WorkspaceClient) -> Result<Vec<Found>, ClientError> {
    let query: Vec<(&str, String)> = ALL_PURPOSE_CLUSTERS
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    let listed = list_pages(client, "/api/2.1/clusters/list", &query, "clusters").await?;
    // `clusters/get` answers the spec as it was submitted, without the service's defaults.
    let clusters = try_join_all(listed.into_iter().map(|c| async move {
        let id = c
            .get("cluster_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if id.is_empty() {
            return Ok::<Value, ClientError>(c);
        }
        let full = client
            .get("/api/2.1/clusters/get", &[("cluster_id", id.to_string())])
            .await?;
        Ok(match full.get("spec").and_then(Value::as_object) {
            Some(spec) => {
                let mut body = spec.clone();
                body.insert("cluster_id".into(), json!(id));
                for field in ["cluster_name", "cluster_source"] {
                    if let Some(v) = c.get(field) {
                        body.entry(field).or_insert(v.clone());
                    }
                }
                Value::Object(body)
            }
            None => c,
        })
    }))
    .await?;
    Ok(clusters
        .into_iter()
        .filter(|c| c.get("cluster_source").and_then(Value::as_str) != Some("JOB"))
        .filter_map(|c| {
            let body = c.as_object()?.clone();
            let name = body
                .get("cluster_name")
                .and_then(Value::as_str)
                .unwrap_or("cluster")
                .to_string();
            let id = body
                .get("cluster_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Some(Found {
                kind: Kind::Clusters,
                id,
                name,
                body,
                grants: Vec::new(),
            })
        })
        .collect())
}

async fn list_pools(client: &WorkspaceClient) -> Result<Vec<Found>, ClientError> {
    let page = client.get("/api/2.0/instance-pools/list", &[]).await?;
    Ok(page
        .get("instance_pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let body = p.as_object()?.clone();
            let name = body.get("instance_pool_name")?.as_str()?.to_string();
            let id = body.get("instance_pool_id")?.as_str()?.to_string();
            Some(Found {
                kind: Kind::InstancePools,
                id,
                name,
                body,
                grants: Vec::new(),
            })
        })
        .collect())
}

/// An existing object the configuration will take over.
#[derive(Debug, Clone)]
pub struct Adoption {
    /// The resource it becomes.
    pub resource: crate::model::ResourceId,
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Untagged objects whose names match configured resources that tandem does not manage yet.
pub fn adoption_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
) -> Vec<Adoption> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, label: &str, key: &String, name: Option<&str>, managed: bool| {
        let (Some(name), false) = (name, managed) else {
            return;
        };
        if let Some(id) = live.unmanaged.get(label).and_then(|m| m.get(name)) {
            out.push(Adoption {
                resource: crate::model::ResourceId {
                    kind,
                    key: key.clone(),
                },
                id: id.clone(),
                name: name.to_string(),
            });
        }
    };
    for (key, job) in &desired.jobs {
        add(
            Kind::Jobs,
            "jobs",
            key,
            job.settings.get("name").and_then(Value::as_str),
            live.jobs.contains_key(key),
        );
    }
    for (key, cluster) in &desired.clusters {
        add(
            Kind::Clusters,
            "clusters",
            key,
            cluster.spec.get("cluster_name").and_then(Value::as_str),
            live.clusters.contains_key(key),
        );
    }
    for (key, pool) in &desired.instance_pools {
        add(
            Kind::InstancePools,
            "instance_pools",
            key,
            pool.spec.get("instance_pool_name").and_then(Value::as_str),
            live.instance_pools.contains_key(key),
        );
    }
    out
}

/// Refuses an object tandem manages for another environment (it looks unmanaged here: its
/// `tandem-env` differs): adopting it would take it away from that environment.
fn not_foreign(
    client: &WorkspaceClient,
    environment: &str,
    adoption: &Adoption,
    tags: &Map<String, Value>,
) -> Result<(), ClientError> {
    let tag = |k: &str| tags.get(k).and_then(Value::as_str);
    match tag(TAG_ENV) {
        Some(other) if tag(TAG_MANAGED) == Some(TAG_MANAGED_VALUE) && other != environment => {
            Err(ClientError::Local {
                workspace: client.name().to_string(),
                reason: format!(
                    "{} \"{}\" is managed by tandem for environment {other}; not adopted",
                    adoption.id, adoption.name
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Tags an existing object as tandem's, changing nothing else about it.
pub async fn adopt(
    client: &WorkspaceClient,
    environment: &str,
    adoption: &Adoption,
) -> Result<(), ClientError> {
    let tags = crate::plan::managed_tags(environment, &adoption.resource.key);
    match adoption.resource.kind {
        Kind::Jobs => {
            let job = client
                .get("/api/2.2/jobs/get", &[("job_id", adoption.id.clone())])
                .await?;
            let mut merged = job
                .pointer("/settings/tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &merged)?;
            merged.extend(tags);
            let job_id = adoption
                .id
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(json!(adoption.id));
            client
                .post(
                    "/api/2.2/jobs/update",
                    &json!({"job_id": job_id, "new_settings": {"tags": merged}}),
                )
                .await?;
        }
        Kind::Clusters => {
            let cluster = client
                .get(
                    "/api/2.1/clusters/get",
                    &[("cluster_id", adoption.id.clone())],
                )
                .await?;
            // Edit replaces the whole spec: send the cluster's own spec back, tags added.
            let source = cluster
                .get("spec")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_else(|| cluster.as_object().cloned().unwrap_or_default());
            let mut spec = clean(Kind::Clusters, &source);
            spec.remove("permissions");
            let mut merged = spec
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            // `clean` drops tandem's tags: check the cluster's own.
            let own = cluster
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &own)?;
            merged.extend(tags);
            spec.insert("custom_tags".into(), Value::Object(merged));
            spec.insert("cluster_id".into(), json!(adoption.id));
            client
                .post("/api/2.1/clusters/edit", &Value::Object(spec))
                .await?;
        }
        Kind::InstancePools => {
            let pool = client
                .get(
                    "/api/2.0/instance-pools/get",
                    &[("instance_pool_id", adoption.id.clone())],
                )
                .await?;
            let editable = [
                "instance_pool_name",
                "node_type_id",
                "custom_tags",
                "min_idle_instances",
                "max_capacity",
                "idle_instance_autotermination_minutes",
            ];
            let mut spec: Map<String, Value> = pool
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| editable.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut merged = spec
                .get("custom_tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            not_foreign(client, environment, adoption, &merged)?;
            merged.extend(tags);
            spec.insert("custom_tags".into(), Value::Object(merged));
            spec.insert("instance_pool_id".into(), json!(adoption.id));
            client
                .post("/api/2.0/instance-pools/edit", &Value::Object(spec))
                .await?;
        }
        Kind::SecretScopes => {}
    }
    Ok(())
}

/// A configured secret whose live value tandem has no record of: never written by tandem, or
/// rewritten outside it since tandem's last write. Adopt writes it from its source and records
/// its fingerprint, as apply does.
#[derive(Debug, Clone)]
pub struct SecretAdoption {
    /// The scope's configuration key.
    pub resource: crate::model::ResourceId,
    /// The scope's name.
    pub scope: String,
    /// The secret's key.
    pub key: String,
    /// `unrecorded` or `rewritten`.
    pub reason: &'static str,
    /// Where its value comes from in this workspace.
    pub source: Option<crate::model::ValueSource>,
}

/// Configured secrets that exist in the workspace without a matching record: never recorded, or
/// with a `last_updated_timestamp` newer than tandem's last write.
pub fn secret_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
    record: Option<&super::state::StateRecord>,
    workspace: &str,
) -> Vec<SecretAdoption> {
    let mut out = Vec::new();
    for (key, scope) in &desired.secret_scopes {
        let Some(live_scope) = live.secret_scopes.get(key) else {
            continue;
        };
        let written = record.and_then(|r| r.secrets.get(scope.name()));
        for (secret, source) in &scope.secrets {
            let Some(updated) = live_scope.secrets.get(secret) else {
                continue; // missing: apply creates it
            };
            let reason = match written.and_then(|w| w.get(secret)) {
                None => "unrecorded",
                Some(w) if *updated > w.last_updated => "rewritten",
                Some(_) => continue,
            };
            out.push(SecretAdoption {
                resource: crate::model::ResourceId {
                    kind: Kind::SecretScopes,
                    key: key.clone(),
                },
                scope: scope.name().to_string(),
                key: secret.clone(),
                reason,
                source: source.for_workspace(workspace).cloned(),
            });
        }
    }
    out
}

/// Configured scopes that exist in the workspace but that tandem did not create: adopting them
/// records them as tandem's (so removing one from the configuration deletes it, as for jobs).
pub fn scope_candidates(
    desired: &Resources,
    live: &crate::model::live::LiveWorkspace,
    record: Option<&super::state::StateRecord>,
) -> Vec<(crate::model::ResourceId, String)> {
    desired
        .secret_scopes
        .iter()
        .filter(|(key, _)| live.secret_scopes.contains_key(*key))
        .filter(|(_, scope)| {
            !record.is_some_and(|r| {
                r.managed_scopes
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(scope.name()))
            })
        })
        .map(|(key, scope)| {
            (
                crate::model::ResourceId {
                    kind: Kind::SecretScopes,
                    key: key.clone(),
                },
                scope.name().to_string(),
            )
        })
        .collect()
}

/// Writes each secret from its source and records its fingerprint, through apply's own secret
/// writing. The record's entries for these keys are dropped first: apply skips a value whose
/// fingerprint tandem recorded, and a rewritten secret still has one.
pub async fn adopt_secrets(
    connection: &super::connect::Connection,
    environment: &str,
    role: crate::model::Role,
    secrets: &[SecretAdoption],
    mut record: super::state::StateRecord,
    progress: &dyn super::apply::Progress,
) -> (super::apply::WorkspaceReport, super::state::StateRecord) {
    for s in secrets {
        if let Some(keys) = record.secrets.get_mut(&s.scope) {
            keys.remove(&s.key);
        }
    }
    let plan = crate::plan::WorkspacePlan {
        workspace: connection.spec.name.clone(),
        role,
        actions: secrets
            .iter()
            .map(|s| crate::plan::PlannedAction {
                resource: s.resource.clone(),
                action: crate::plan::Action::PutSecret {
                    scope: s.scope.clone(),
                    key: s.key.clone(),
                    reason: s.reason.to_string(),
                    source: s.source.clone(),
                },
            })
            .collect(),
        overrides: Vec::new(),
        live_fingerprint: String::new(),
        config_digests: BTreeMap::new(),
        notes: Vec::new(),
    };
    // Embedded workspaces get placeholder values for unreadable sources, as in apply.
    super::apply::apply_workspace(
        &connection.client,
        environment,
        connection.embedded.is_some(),
        &plan,
        BTreeMap::new(),
        (record, None),
        progress,
    )
    .await
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
