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
use crate::plan::{TAG_ENV, TAG_KEY, TAG_MANAGED};

/// An object found in the workspace, before it becomes configuration.
#[derive(Debug, Clone)]
struct Found {
    kind: Kind,
    id: String,
    name: String,
    body: Map<String, Value>,
    grants: Vec<crate::model::live::Grant>,
}

/// Reads every job, all-purpose cluster, pool and secret scope whose name matches `filter`, and
/// turns them into resources keyed by a name-derived logical key.
pub async fn export(
    client: &WorkspaceClient,
    filter: Option<&regex::Regex>,
) -> Result<Resources, ClientError> {
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
    Ok(resources)
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
    ];
    body.retain(|k, v| !defaults.iter().any(|(dk, dv)| dk == k && dv == v));
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
    let clusters = list_pages(client, "/api/2.1/clusters/list", &query, "clusters").await?;
    Ok(clusters
        .into_iter()
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
