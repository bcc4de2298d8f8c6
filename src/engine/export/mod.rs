//! `export`: configuration written from what a workspace holds — jobs, clusters, pools, secret
//! scopes (keys with `env:` placeholders: values cannot be read), ACLs and permissions — with IDs
//! replaced by `${resources...}` references and server-filled defaults dropped (the pure
//! transforms are in [`clean`]). `adopt` is beside it, in [`super::adopt`].

pub mod clean;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use serde_json::{Map, Value, json};

use super::live::permissions_object;
use super::objects;
use crate::client::api::{permissions, secrets};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::live::Grant;
use crate::model::{Kind, Resources};
pub use clean::{clean, placeholder_variable, unique_key};
use clean::{raw_ids, replace_ids};

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
    // Jobs first, then the clusters and pools they use.
    for kind in Kind::tagged().rev() {
        found.extend(
            objects::read_whole(client, kind)
                .await?
                .into_iter()
                .filter(|o| matches(&o.name))
                .map(|o| Found {
                    kind,
                    id: o.id,
                    name: o.name,
                    body: o.body,
                    grants: Vec::new(),
                }),
        );
    }
    let grants = try_join_all(found.iter().map(|f| async move {
        match permissions_object(f.kind) {
            Some(object) => permissions::get(client, object, &f.id)
                .await
                .map(|a| Grant::direct_in(&a)),
            None => Ok(Vec::new()),
        }
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
    let scopes = secrets::list_scopes(client).await?;
    let names: Vec<String> = scopes
        .iter()
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
        let (listed, acls) = tokio::try_join!(
            secrets::list(client, &name),
            secrets::list_acls(client, &name)
        )?;
        let listed: Map<String, Value> = listed
            .iter()
            .filter_map(|s| s.get("key").and_then(Value::as_str))
            .map(|k| {
                (
                    k.to_string(),
                    json!({"env": placeholder_variable(&name, k)}),
                )
            })
            .collect();
        let acls: Vec<Value> = acls
            .iter()
            .map(|a| json!({"principal": a.get("principal"), "permission": a.get("permission")}))
            .collect();
        let mut scope = json!({"name": name});
        if !listed.is_empty() {
            scope["secrets"] = Value::Object(listed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientOptions, Token};

    #[tokio::test]
    async fn a_job_with_more_than_100_tasks_exports_whole() {
        let emulator = crate::emulator::start(crate::emulator::EmulatorOptions::default())
            .await
            .expect("emulator");
        let client = WorkspaceClient::new(
            "w",
            &emulator.url,
            Token::new("dev"),
            ClientOptions::default(),
        )
        .expect("client");
        // jobs/list gives at most 100 tasks of a job and says `has_more`; jobs/get pages the rest.
        let tasks: Vec<Value> = (0..130)
            .map(|i| {
                json!({"task_key": format!("t{i:03}"), "notebook_task": {"notebook_path": format!("/Repos/big/t{i:03}")}})
            })
            .collect();
        crate::client::api::jobs::OBJECTS
            .create(&client, &json!({"name": "big", "tasks": tasks}))
            .await
            .expect("job");

        let exported = export(&client, None).await.expect("export");

        let big = &exported.resources.jobs["big"];
        let keys: Vec<&str> = big.settings["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["task_key"].as_str())
            .collect();
        assert_eq!(keys.len(), 130, "{keys:?}");
        assert_eq!(keys.last(), Some(&"t129"));
    }
}
