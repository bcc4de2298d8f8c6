//! `export`: configuration written from what the workspaces hold — jobs, clusters, pools, secret
//! scopes (keys with `env:` placeholders: values cannot be read), ACLs and permissions — with IDs
//! replaced by `${resources...}` references and server-filled defaults dropped (the pure
//! transforms are in [`clean`]); several workspaces are merged into one configuration, their
//! differences into per-workspace variables ([`merge`]). `adopt` is beside it, in
//! [`super::adopt`].

pub mod clean;
pub mod compare;
pub mod merge;

use futures::future::try_join_all;
use serde_json::{Map, Value, json};

use super::live::permissions_object;
use super::objects;
use crate::client::api::{permissions, secrets};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::Kind;
use crate::model::live::Grant;
pub use clean::{clean, placeholder_variable, unique_key};
pub use merge::{Merged, Observed, WorkspaceObjects, merge};

/// Reads every job, all-purpose cluster, pool and secret scope whose name matches `filter`
/// (tandem's own seal scopes aside), with their grants and ACLs and their scopes' secret keys;
/// objects tandem manages for `environment` carry their logical key.
pub async fn read_workspace(
    client: &WorkspaceClient,
    environment: &str,
    filter: Option<&regex::Regex>,
) -> Result<Vec<Observed>, ClientError> {
    let matches = |name: &str| filter.is_none_or(|r| r.is_match(name));
    let mut found: Vec<Observed> = Vec::new();
    // Jobs first, then the clusters and pools they use.
    for kind in Kind::tagged().rev() {
        let tags = kind.spec().tags_field;
        found.extend(
            objects::read_whole(client, kind)
                .await?
                .into_iter()
                .filter(|o| matches(&o.name))
                .map(|o| Observed {
                    kind,
                    managed_key: tags
                        .and_then(|t| objects::managed_key(o.body.get(t), environment)),
                    id: o.id,
                    name: o.name,
                    body: o.body,
                    grants: Vec::new(),
                    secrets: Default::default(),
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
    let read = try_join_all(names.iter().map(|name| async move {
        tokio::try_join!(
            secrets::list(client, name),
            secrets::list_acls(client, name)
        )
    }))
    .await?;
    for (name, (listed, acls)) in names.into_iter().zip(read) {
        let mut acls: Vec<Value> = acls
            .iter()
            .map(|a| json!({"principal": a.get("principal"), "permission": a.get("permission")}))
            .collect();
        acls.sort_by_key(|a| a["principal"].as_str().map(str::to_string));
        let mut body = Map::new();
        body.insert("name".into(), json!(name));
        if !acls.is_empty() {
            body.insert("acls".into(), Value::Array(acls));
        }
        found.push(Observed {
            kind: Kind::SecretScopes,
            id: name.clone(),
            name,
            managed_key: None,
            body,
            grants: Vec::new(),
            secrets: listed
                .iter()
                .filter_map(|s| s.get("key").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
        });
    }
    Ok(found)
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

        let objects = read_workspace(&client, "prod", None).await.expect("read");
        let workspaces = [WorkspaceObjects {
            workspace: "w".into(),
            passive: false,
            objects,
        }];
        let exported = merge(&workspaces, &["w".to_string()], &Default::default());

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
