//! Reading what a workspace holds with as few requests as the API allows: list endpoints (jobs
//! with their tasks), one permissions read per managed object, one secrets list and one ACL list
//! per scope, the caller, and the state record.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use serde_json::{Map, Value};

use super::state::{StateRecord, read_state_record};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::Principal;
use crate::model::live::{Grant, LiveObject, LiveScope, LiveWorkspace};
use crate::plan::{TAG_ENV, TAG_KEY, TAG_MANAGED, TAG_MANAGED_VALUE};

/// A workspace as read: its objects, the state record and who tandem runs as.
#[derive(Debug, Clone)]
pub struct LiveRead {
    /// Managed objects and scopes.
    pub live: LiveWorkspace,
    /// The state record, if the workspace has one.
    pub record: Option<StateRecord>,
    /// The user name of the token's identity.
    pub caller: Option<String>,
}

/// Reads the workspace. `scope_names` maps config keys to the scope names to look at.
pub async fn read(
    client: &WorkspaceClient,
    environment: &str,
    scope_names: &BTreeMap<String, String>,
) -> Result<LiveRead, ClientError> {
    let (jobs, clusters, pools, scopes, record, caller) = tokio::try_join!(
        read_jobs(client, environment),
        read_clusters(client, environment),
        read_pools(client, environment),
        list_scope_names(client),
        read_state_record(client, environment),
        read_caller(client),
    )?;
    let mut live = LiveWorkspace::default();
    let mut duplicates = BTreeMap::new();
    for (kind, (_, names)) in [
        ("jobs", &jobs),
        ("clusters", &clusters),
        ("instance_pools", &pools),
    ] {
        if !names.is_empty() {
            live.unmanaged.insert(kind.to_string(), names.clone());
        }
    }
    live.jobs = keep_first(jobs.0, "jobs", &mut duplicates);
    live.clusters = keep_first(clusters.0, "clusters", &mut duplicates);
    live.instance_pools = keep_first(pools.0, "instance_pools", &mut duplicates);
    live.duplicates = duplicates;

    let wanted: Vec<(String, String)> = scope_names
        .iter()
        .filter_map(|(key, name)| {
            scopes
                .iter()
                .find(|s| s.eq_ignore_ascii_case(name))
                .map(|actual| (key.clone(), actual.clone()))
        })
        .collect();
    let read_scopes = try_join_all(wanted.iter().map(|(key, name)| async move {
        read_scope(client, name).await.map(|s| (key.clone(), s))
    }));
    // Permissions and scopes are read side by side, sharing the workspace's request slots.
    let (_, _, _, scopes) = tokio::try_join!(
        read_grants(client, "jobs", &mut live.jobs),
        read_grants(client, "clusters", &mut live.clusters),
        read_grants(client, "instance-pools", &mut live.instance_pools),
        read_scopes,
    )?;
    live.secret_scopes = scopes.into_iter().collect();
    Ok(LiveRead {
        live,
        record,
        caller,
    })
}

/// Whether an object's tags say it is tandem's in `environment`; its logical key if so.
fn managed_key(tags: Option<&Value>, environment: &str) -> Option<String> {
    let tags = tags?.as_object()?;
    let is = |k: &str, v: &str| tags.get(k).and_then(Value::as_str) == Some(v);
    if is(TAG_MANAGED, TAG_MANAGED_VALUE) && is(TAG_ENV, environment) {
        tags.get(TAG_KEY)
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    }
}

/// Objects by key; extra objects with the same key (a lost create retried) are set aside, the
/// oldest (lowest ID order as listed first) is kept.
fn keep_first(
    objects: Vec<(String, LiveObject)>,
    kind: &str,
    duplicates: &mut BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> BTreeMap<String, LiveObject> {
    let mut out: BTreeMap<String, LiveObject> = BTreeMap::new();
    for (key, object) in objects {
        match out.get(&key) {
            Some(_) => duplicates
                .entry(kind.to_string())
                .or_default()
                .entry(key)
                .or_default()
                .push(object.id),
            None => {
                out.insert(key, object);
            }
        }
    }
    out
}

/// Managed objects by key, and the names of unmanaged ones (name → ID).
type Listed = (Vec<(String, LiveObject)>, BTreeMap<String, String>);

async fn read_jobs(client: &WorkspaceClient, environment: &str) -> Result<Listed, ClientError> {
    let query = [
        ("limit", "100".to_string()),
        ("expand_tasks", "true".to_string()),
    ];
    let mut out = Vec::new();
    let mut unmanaged = BTreeMap::new();
    for job in list_pages(client, "/api/2.2/jobs/list", &query, "jobs").await? {
        let settings = job
            .get("settings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let id = job.get("job_id").map(id_text).unwrap_or_default();
        let Some(key) = managed_key(settings.get("tags"), environment) else {
            if let Some(name) = settings.get("name").and_then(Value::as_str) {
                unmanaged.insert(name.to_string(), id);
            }
            continue;
        };
        let settings = if job.get("has_more") == Some(&Value::Bool(true)) {
            full_job(client, &id).await?
        } else {
            settings
        };
        out.push((
            key,
            LiveObject {
                id,
                body: settings,
                state: None,
                grants: Vec::new(),
            },
        ));
    }
    // Oldest first, so the original survives and later duplicates are the ones set aside.
    out.sort_by_key(|(_, o)| o.id.parse::<i64>().unwrap_or(i64::MAX));
    Ok((out, unmanaged))
}

/// Query of `clusters/list` for all-purpose clusters (job clusters are not tandem's).
pub(crate) const ALL_PURPOSE_CLUSTERS: [(&str, &str); 3] = [
    ("page_size", "100"),
    ("filter_by.cluster_sources", "API"),
    ("filter_by.cluster_sources", "UI"),
];

/// Every item of a paged list endpoint (`page_token` / `next_page_token`), in order.
pub(crate) async fn list_pages(
    client: &WorkspaceClient,
    path: &str,
    query: &[(&str, String)],
    items: &str,
) -> Result<Vec<Value>, ClientError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = query.to_vec();
        if let Some(t) = &token {
            q.push(("page_token", t.clone()));
        }
        let mut page = client.get(path, &q).await?;
        if let Some(Value::Array(list)) = page.get_mut(items).map(Value::take) {
            out.extend(list);
        }
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() && page.get("has_more") != Some(&Value::Bool(false)) => {
                token = Some(t.to_string())
            }
            _ => return Ok(out),
        }
    }
}

/// A job with more than 100 tasks: `jobs/get` pages its arrays.
async fn full_job(client: &WorkspaceClient, id: &str) -> Result<Map<String, Value>, ClientError> {
    let mut settings: Map<String, Value> = Map::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("job_id", id.to_string())];
        if let Some(t) = &token {
            query.push(("page_token", t.clone()));
        }
        let page = client.get("/api/2.2/jobs/get", &query).await?;
        let part = page
            .get("settings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in part {
            match (settings.get_mut(&k), v) {
                (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                (None, v) => {
                    settings.insert(k, v);
                }
                _ => {}
            }
        }
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(settings)
}

async fn read_clusters(client: &WorkspaceClient, environment: &str) -> Result<Listed, ClientError> {
    let query: Vec<(&str, String)> = ALL_PURPOSE_CLUSTERS
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    let mut out = Vec::new();
    let mut unmanaged = BTreeMap::new();
    for cluster in list_pages(client, "/api/2.1/clusters/list", &query, "clusters").await? {
        let Some(body) = cluster.as_object() else {
            continue;
        };
        if body.get("cluster_source").and_then(Value::as_str) == Some("JOB") {
            continue;
        }
        let id = body.get("cluster_id").map(id_text).unwrap_or_default();
        let Some(key) = managed_key(body.get("custom_tags"), environment) else {
            if let Some(name) = body.get("cluster_name").and_then(Value::as_str) {
                unmanaged.insert(name.to_string(), id);
            }
            continue;
        };
        let state = body
            .get("state")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push((
            key,
            LiveObject {
                id,
                body: body.clone(),
                state,
                grants: Vec::new(),
            },
        ));
    }
    out.sort_by_key(|(_, o)| o.body.get("start_time").and_then(Value::as_i64));
    Ok((out, unmanaged))
}

async fn read_pools(client: &WorkspaceClient, environment: &str) -> Result<Listed, ClientError> {
    let page = client.get("/api/2.0/instance-pools/list", &[]).await?;
    let mut out = Vec::new();
    let mut unmanaged = BTreeMap::new();
    for pool in page
        .get("instance_pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(body) = pool.as_object() else {
            continue;
        };
        let id = body
            .get("instance_pool_id")
            .map(id_text)
            .unwrap_or_default();
        let Some(key) = managed_key(body.get("custom_tags"), environment) else {
            if let Some(name) = body.get("instance_pool_name").and_then(Value::as_str) {
                unmanaged.insert(name.to_string(), id);
            }
            continue;
        };
        out.push((
            key,
            LiveObject {
                id,
                body: body.clone(),
                state: None,
                grants: Vec::new(),
            },
        ));
    }
    Ok((out, unmanaged))
}

async fn read_grants(
    client: &WorkspaceClient,
    object_type: &str,
    objects: &mut BTreeMap<String, LiveObject>,
) -> Result<(), ClientError> {
    let reads = objects.values().map(|o| {
        let path = format!("/api/2.0/permissions/{object_type}/{}", o.id);
        async move { client.get(&path, &[]).await }
    });
    let answers = try_join_all(reads).await?;
    for (object, answer) in objects.values_mut().zip(answers) {
        object.grants = direct_grants(&answer);
    }
    Ok(())
}

/// The direct (not inherited) grants of a permissions answer.
pub fn direct_grants(answer: &Value) -> Vec<Grant> {
    let mut out = Vec::new();
    for entry in answer
        .get("access_control_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let principal = if let Some(u) = entry.get("user_name").and_then(Value::as_str) {
            Principal::UserName(u.into())
        } else if let Some(g) = entry.get("group_name").and_then(Value::as_str) {
            Principal::GroupName(g.into())
        } else if let Some(s) = entry.get("service_principal_name").and_then(Value::as_str) {
            Principal::ServicePrincipalName(s.into())
        } else {
            continue;
        };
        for permission in entry
            .get("all_permissions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if permission.get("inherited") == Some(&Value::Bool(true)) {
                continue;
            }
            if let Some(level) = permission.get("permission_level").and_then(Value::as_str) {
                out.push(Grant {
                    principal: principal.clone(),
                    level: level.into(),
                });
            }
        }
    }
    out.sort();
    out
}

async fn list_scope_names(client: &WorkspaceClient) -> Result<BTreeSet<String>, ClientError> {
    let answer = client.get("/api/2.0/secrets/scopes/list", &[]).await?;
    Ok(answer
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
        .collect())
}

async fn read_scope(client: &WorkspaceClient, name: &str) -> Result<LiveScope, ClientError> {
    let query = [("scope", name.to_string())];
    let (secrets, acls) = tokio::try_join!(
        client.get("/api/2.0/secrets/list", &query),
        client.get("/api/2.0/secrets/acls/list", &query)
    )?;
    let secrets = secrets
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let key = s.get("key").and_then(Value::as_str)?.to_string();
            // The timestamp has been seen both as a number and as a string.
            let ts = s
                .get("last_updated_timestamp")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                })
                .unwrap_or_default();
            Some((key, ts))
        })
        .collect();
    let acls = acls
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some((
                a.get("principal")?.as_str()?.to_string(),
                a.get("permission")?.as_str()?.to_string(),
            ))
        })
        .collect();
    Ok(LiveScope {
        name: name.to_string(),
        secrets,
        acls,
    })
}

async fn read_caller(client: &WorkspaceClient) -> Result<Option<String>, ClientError> {
    match client.get("/api/2.0/preview/scim/v2/Me", &[]).await {
        Ok(me) => Ok(me
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_string)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
